//! The angle experiment: `Θ(x₀, x_φ)` for two inputs at angle `φ`, analytic against the
//! empirical kernel of width-`N` networks.

use super::*;

/// Result of [`angle_experiment`].
#[derive(Clone, Debug, Serialize)]
pub struct AngleResult {
    /// Angles of the analytic curve.
    pub phi: Vec<f64>,
    /// `Θ(x₀, x_φ)`.
    pub theta: Vec<f64>,
    /// Its parts `[in_m, rec_m, out_m, rec_pi, out_pi]` per angle.
    pub parts: Vec<[f64; 5]>,
    /// `Θ(x_φ, x_φ)` (the same-sample diagonal).
    pub theta_diag: Vec<f64>,
    /// Width of the empirical networks.
    pub n: usize,
    /// Angles of the empirical points.
    pub emp_phi: Vec<f64>,
    /// Mean over seeds of `Θ̂(x₀, x_φ)`.
    pub emp_mean: Vec<f64>,
    /// Sample standard deviation (n − 1) over seeds.
    pub emp_std: Vec<f64>,
    /// Mean over seeds of the relative error `‖Θ̂ − Θ‖/‖Θ‖` over the empirical angles.
    pub rel_err: f64,
}

/// `Θ(x₀, x_φ)` on `n_analytic` angles in `[0, 2π]` and its empirical estimate at `n_emp`
/// angles from width-`n` networks of `seeds` (`params.steps` steps, two channels).
pub(crate) fn angle_experiment(
    params: &NtkParams,
    n: usize,
    seeds: &[u64],
    n_analytic: usize,
    n_emp: usize,
) -> Result<AngleResult> {
    let t = params.steps;
    let x0 = angle_input(0.0, t);
    let grid = |k: usize| -> Vec<f64> {
        (0..k)
            .map(|j| 2.0 * PI * j as f64 / (k.max(2) - 1) as f64)
            .collect()
    };
    let phi = grid(n_analytic);
    let emp_phi = grid(n_emp);
    let mut q = *params;
    q.time_kernels = false;
    let pair = |ph: f64| ntk(&[x0.clone(), angle_input(ph, t)], &q);
    let mut theta = Vec::new();
    let mut parts = Vec::new();
    let mut theta_diag = Vec::new();
    for &ph in &phi {
        let k = pair(ph)?;
        theta.push(k.theta[1]);
        let pp = &k.parts;
        parts.push([pp.in_m[1], pp.rec_m[1], pp.out_m[1], pp.rec_pi[1], pp.out_pi[1]]);
        theta_diag.push(k.theta[3]);
    }
    let analytic_emp: Vec<f64> = emp_phi
        .iter()
        .map(|&ph| pair(ph).map(|k| k.theta[1]))
        .collect::<Result<_>>()?;
    let mut per_seed: Vec<Vec<f64>> = Vec::new();
    let mut errs = Vec::new();
    for &seed in seeds {
        let net = FiniteNet::init(n, 2, params, seed)?;
        let g0 = net.sample_grads(&x0, 0)?;
        let mut vals = Vec::new();
        for &ph in &emp_phi {
            let g = net.sample_grads(&angle_input(ph, t), 1)?;
            let d = g0.dot(&g);
            vals.push(d.m[0] + d.m[1] + d.m[2] + params.pi_lr * (d.pi[1] + d.pi[2]));
        }
        errs.push(rel_frobenius(&vals, &analytic_emp));
        per_seed.push(vals);
    }
    let (emp_mean, emp_std) = mean_std(&per_seed);
    Ok(AngleResult {
        phi,
        theta,
        parts,
        theta_diag,
        n,
        emp_phi,
        emp_mean,
        emp_std,
        rel_err: errs.iter().sum::<f64>() / errs.len().max(1) as f64,
    })
}

impl AngleResult {
    pub(super) fn figure(&self, params: &NtkParams, seeds: usize) -> Figure {
        let col = |k: usize| self.parts.iter().map(|p| p[k]).collect::<Vec<f64>>();
        let rec: Vec<f64> = self.parts.iter().map(|p| p[1] + params.pi_lr * p[3]).collect();
        let out: Vec<f64> = self.parts.iter().map(|p| p[2] + params.pi_lr * p[4]).collect();
        figure(
            "theta_angle",
            "Tangent kernel of two inputs at angle φ",
            "angle φ (rad)",
            "Θ(x₀, x_φ)",
            false,
            format!(
                "Analytic NTK Θ(x₀, x_φ) of the infinitely wide SaS network (lines) and the \
                 empirical kernel of width-{} networks (markers: {spread}; \
                 mean relative error {:.3}). Inputs x(t) = √2 (cos φ, sin φ) at each of T = {} \
                 steps, α = {}, σ_in = {}, σ_rec = {:.3}, σ_out = {}, Ξ̃ = ({}, {}, {}), π₀ = {}, \
                 ε {:?}. Parts: input m̃; recurrent m̃ + π; readout m̃ + π (π part = m part at \
                 π₀ = 0).",
                self.n,
                self.rel_err,
                params.steps,
                params.alpha,
                params.sigma_in,
                params.sigma_rec,
                params.sigma_out,
                params.xi_in,
                params.xi_rec,
                params.xi_out,
                params.pi0,
                params.eps,
                spread = super::spread(seeds)
            ),
            vec![
                series("Θ analytic", self.phi.clone(), self.theta.clone(), false),
                series("input m̃ part", self.phi.clone(), col(0), false),
                series("recurrent m̃+π parts", self.phi.clone(), rec, false),
                series("readout m̃+π parts", self.phi.clone(), out, false),
                banded(
                    &format!("Θ̂ empirical, N = {}", self.n),
                    self.emp_phi.clone(),
                    self.emp_mean.clone(),
                    &self.emp_std,
                    seeds,
                ),
            ],
        )
    }
}
