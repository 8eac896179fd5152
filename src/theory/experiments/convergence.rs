//! Kernel convergence: the relative distance of empirical kernels from the analytic one over
//! widths, with the `π`-vs-`m` and `Ξ` parts.

use super::*;

/// One row of [`ConvergenceResult`]: a width and seed.
#[derive(Clone, Debug, Serialize)]
pub struct ConvergenceRow {
    /// Width `N`.
    pub n: usize,
    /// Seed.
    pub seed: u64,
    /// `‖Θ̂ − Θ‖ / ‖Θ‖`.
    pub rel_err: f64,
    /// `‖Θ̂^π_rec − Θ̂^m_rec‖ / ‖Θ̂^m_rec‖`.
    pub pi_vs_m_rec: f64,
    /// `‖Θ̂^π_out − Θ̂^m_out‖ / ‖Θ̂^m_out‖`.
    pub pi_vs_m_out: f64,
    /// `‖Θ̂^Ξ_rec + Θ̂^Ξ_out‖ / ‖Θ‖` (vanishes like `1/N`).
    pub xi_rel: f64,
    /// `‖Θ̂^Ξ_in‖ / ‖Θ‖` (input layer, does not vanish).
    pub xi_in_rel: f64,
    /// `‖Θ̂^π_in‖ / ‖Θ‖` (input layer, held fixed, does not vanish).
    pub pi_in_rel: f64,
}

/// Result of [`convergence`].
#[derive(Clone, Debug, Serialize)]
pub struct ConvergenceResult {
    /// One row per width and seed.
    pub rows: Vec<ConvergenceRow>,
    /// The widths.
    pub sizes: Vec<usize>,
    /// Mean and std over seeds of `rel_err` per width.
    pub err_mean: Vec<f64>,
    /// Sample standard deviation (n − 1) over seeds.
    pub err_std: Vec<f64>,
    /// Mean over seeds of `xi_rel` per width.
    pub xi_mean: Vec<f64>,
    /// Mean over seeds of `pi_vs_m_rec` per width.
    pub pi_m_mean: Vec<f64>,
}

/// Empirical against analytic kernel on `inputs` for every width in `sizes` and seed.
pub fn convergence(
    params: &NtkParams,
    inputs: &[Vec<f64>],
    sizes: &[usize],
    seeds: &[u64],
) -> Result<ConvergenceResult> {
    let mut q = *params;
    q.time_kernels = false;
    let k = ntk(inputs, &q)?;
    let i = params.channels(inputs[0].len())?;
    let norm = frobenius(&k.theta);
    let mut rows = Vec::new();
    for &n in sizes {
        for &seed in seeds {
            let net = FiniteNet::init(n, i, params, seed)?;
            let e = net.empirical_ntk(inputs)?;
            let xi: Vec<f64> = e.xi[1].iter().zip(&e.xi[2]).map(|(a, b)| a + b).collect();
            rows.push(ConvergenceRow {
                n,
                seed,
                rel_err: rel_frobenius(&e.theta, &k.theta),
                pi_vs_m_rec: rel_frobenius(&e.parts.rec_pi, &e.parts.rec_m),
                pi_vs_m_out: rel_frobenius(&e.parts.out_pi, &e.parts.out_m),
                xi_rel: frobenius(&xi) / norm,
                xi_in_rel: frobenius(&e.xi[0]) / norm,
                pi_in_rel: frobenius(&e.in_pi) / norm,
            });
        }
    }
    let per = |f: &dyn Fn(&ConvergenceRow) -> f64| -> (Vec<f64>, Vec<f64>) {
        let mut m = Vec::new();
        let mut s = Vec::new();
        for &n in sizes {
            let v: Vec<Vec<f64>> = rows.iter().filter(|r| r.n == n).map(|r| vec![f(r)]).collect();
            let (a, b) = mean_std(&v);
            m.push(a[0]);
            s.push(b[0]);
        }
        (m, s)
    };
    let (err_mean, err_std) = per(&|r| r.rel_err);
    let (xi_mean, _) = per(&|r| r.xi_rel);
    let (pi_m_mean, _) = per(&|r| r.pi_vs_m_rec);
    Ok(ConvergenceResult {
        rows,
        sizes: sizes.to_vec(),
        err_mean,
        err_std,
        xi_mean,
        pi_m_mean,
    })
}

impl ConvergenceResult {
    pub(super) fn figure(&self, p: usize, seeds: usize) -> Figure {
        let x: Vec<f64> = self.sizes.iter().map(|&n| (n as f64).log10()).collect();
        let c = self.err_mean.last().copied().unwrap_or(f64::NAN)
            * (*self.sizes.last().unwrap_or(&1) as f64).sqrt();
        let refl: Vec<f64> = self.sizes.iter().map(|&n| c / (n as f64).sqrt()).collect();
        figure(
            "theta_convergence",
            "Empirical kernel → analytic NTK",
            "log₁₀ N",
            "relative difference",
            true,
            format!(
                "Relative Frobenius distance ‖Θ̂ − Θ‖/‖Θ‖ between the empirical kernel of width-N \
                 networks and the analytic NTK on {p} inputs ({spread}), \
                 with a c/√N reference; ‖Θ̂_Ξ‖/‖Θ‖, the recurrent and readout slab-variance \
                 contributions, falls like 1/N; ‖Θ̂^π_rec − Θ̂^m_rec‖/‖Θ̂^m_rec‖ shows the π part \
                 approaching the m part.",
                spread = super::spread(seeds)
            ),
            vec![
                banded(
                    "‖Θ̂ − Θ‖/‖Θ‖",
                    x.clone(),
                    self.err_mean.clone(),
                    &self.err_std,
                    seeds,
                ),
                series("c/√N", x.clone(), refl, false),
                series("‖Θ̂_Ξ‖/‖Θ‖ (rec + out)", x.clone(), self.xi_mean.clone(), true),
                series("π vs m part (rec)", x, self.pi_m_mean.clone(), true),
            ],
        )
    }
}
