//! The experiments of the infinite-width theory, each returning its data and figures:
//!
//! * [`angle_experiment`]: `Θ(x₀, x_φ)` for two inputs at angle `φ ∈ [0, 2π]` (`I = 2`,
//!   `T = 3`, `α = 0.5`), analytic against the empirical kernel of width-`N` networks.
//! * [`convergence`]: relative Frobenius distance `‖Θ̂ − Θ‖/‖Θ‖` on a small input set over
//!   widths, the `π`-vs-`m` parts and the `Ξ` parts.
//! * [`training`]: full-batch gradient descent of finite networks against the analytic
//!   learning curve (with each network's own `f(0)`), and the relative kernel change
//!   `‖Θ̂_end − Θ̂_0‖/‖Θ̂_0‖` over widths (small input set and MNIST).
//! * Row-wise MNIST 0 vs 1 (targets −1 / +1, [`mnist_binary`]): [`mnist_flow`] gives the
//!   closed-form gradient-flow train and test errors and kernel heat maps; [`training`] on
//!   the same data compares finite networks with the analytic curves.
//!
//! [`run_theory`] runs them all, writes CSV/JSON to a folder and returns the figures
//! (`quick`: about 10 s; full: about 12 min on one loaded core, dominated by MNIST training
//! at N = 1024 and the N = 4000 networks). The data dir is optional: without it the MNIST part
//! is skipped.

use super::curves::{Linearized, Schedule, mse};
use super::finite::{FiniteNet, TEST_DRAWS, frobenius, rel_frobenius};
use super::kernel::{Kernel, NtkParams, block, ntk};
use crate::error::{Result, SasError};
use crate::output::figure::{Figure, Heatmap, Plot, Series};
use crate::output::{AnalysisOutput, mean_std, write_csv};
use serde::Serialize;
use serde_json::json;
use std::f64::consts::PI;
use std::path::Path;

/// Name of the analysis (command line and output folder).
pub const NAME: &str = "theory";

/// Section title of the analysis in reports.
const TITLE: &str = "Infinite-width theory: the recurrent NTK of the SaS network";

/// Two-channel input at angle `phi`, the same at every one of `steps` steps:
/// `x(t) = √2 (cos φ, sin φ)` (so `|x(t)|²/I = 1`), `[T·2]`.
pub fn angle_input(phi: f64, steps: usize) -> Vec<f64> {
    let s = std::f64::consts::SQRT_2;
    (0..steps).flat_map(|_| [s * phi.cos(), s * phi.sin()]).collect()
}

/// A small fixed set of `count` two-channel inputs with different angles, norms and a slow
/// rotation over time: `x_a(t) = ρ_a √2 (cos(φ_a + 0.4 t), sin(φ_a + 0.4 t))`.
pub fn small_inputs(count: usize, steps: usize) -> Vec<Vec<f64>> {
    let s = std::f64::consts::SQRT_2;
    (0..count)
        .map(|a| {
            let phi = 2.0 * PI * a as f64 / count as f64 + 0.3;
            let rho = 0.7 + 0.6 * ((a * 7 % 5) as f64) / 4.0;
            (0..steps)
                .flat_map(|t| {
                    let ang = phi + 0.4 * t as f64;
                    [rho * s * ang.cos(), rho * s * ang.sin()]
                })
                .collect()
        })
        .collect()
}

fn series(label: &str, x: Vec<f64>, y: Vec<f64>, markers: bool) -> Series {
    Series {
        label: label.into(),
        x,
        y,
        band: None,
        markers,
    }
}

/// A line with the 95 % t-interval of the mean over `seeds` seeds as its band, from the
/// sample standard deviations `std` (no band for a single seed).
fn banded(label: &str, x: Vec<f64>, mean: Vec<f64>, std: &[f64], seeds: usize) -> Series {
    let k = if seeds >= 2 {
        crate::stats::t975(seeds - 1) / (seeds as f64).sqrt()
    } else {
        0.0
    };
    let half = |s: f64| if s.is_finite() { k * s } else { 0.0 };
    let lo = mean.iter().zip(std).map(|(m, s)| m - half(*s)).collect();
    let hi = mean.iter().zip(std).map(|(m, s)| m + half(*s)).collect();
    Series {
        label: label.into(),
        x,
        y: mean,
        band: (seeds >= 2).then_some((lo, hi)),
        markers: true,
    }
}

fn figure(name: &str, title: &str, x: &str, y: &str, log_y: bool, caption: String, s: Vec<Series>) -> Figure {
    Figure {
        name: name.into(),
        title: title.into(),
        x_label: x.into(),
        y_label: y.into(),
        log_y,
        caption,
        plot: Plot::Lines(s),
    }
}

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
    fn figure(&self, params: &NtkParams, seeds: usize) -> Figure {
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
                 empirical kernel of width-{} networks (markers: mean with the 95 % t-interval over n = {seeds} seeds; \
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
                params.eps
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
    fn figure(&self, p: usize, seeds: usize) -> Figure {
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
                 networks and the analytic NTK on {p} inputs (mean with the 95 % t-interval over n = {seeds} seeds), \
                 with a c/√N reference; ‖Θ̂_Ξ‖/‖Θ‖, the recurrent and readout slab-variance \
                 contributions, falls like 1/N; ‖Θ̂^π_rec − Θ̂^m_rec‖/‖Θ̂^m_rec‖ shows the π part \
                 approaching the m part."
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

/// Steps at which a training run is recorded: 0, 1, 2, 3, 5, 7, 10, … up to `steps`.
pub(crate) fn record_steps(steps: usize) -> Vec<usize> {
    if steps == 0 {
        return vec![0];
    }
    let mut v = vec![0];
    let mut x = 1.0f64;
    while (x as usize) < steps {
        let k = x as usize;
        if *v.last().unwrap_or(&0) != k {
            v.push(k);
        }
        x *= 1.4;
    }
    v.push(steps);
    v
}

/// One finite-width training run against the linearized dynamics.
#[derive(Clone, Debug, Serialize)]
pub struct TrainRun {
    /// Width `N`.
    pub n: usize,
    /// Seed.
    pub seed: u64,
    /// Recorded steps.
    pub steps: Vec<usize>,
    /// Training MSE of the network.
    pub train_mse: Vec<f64>,
    /// Test MSE of the network.
    pub test_mse: Vec<f64>,
    /// Training MSE of the linearized dynamics with the analytic `Θ` and this network's `f(0)`.
    pub lin_train_mse: Vec<f64>,
    /// Test MSE of the same.
    pub lin_test_mse: Vec<f64>,
    /// `‖f_X(k) − f_X^lin(k)‖ / ‖f_X(0) − Y‖` per recorded step.
    pub deviation: Vec<f64>,
    /// `‖Θ̂_end − Θ̂_0‖ / ‖Θ̂_0‖` on the kernel subset.
    pub kernel_change: f64,
    /// `‖Θ̂_0 − Θ‖ / ‖Θ‖` on the kernel subset.
    pub kernel_err0: f64,
}

/// Trains a width-`n` network (seed `seed`) by `steps` full-batch gradient-descent steps of
/// size `eta` on `(x_train, y_train)` and compares it with the linearized dynamics of the
/// analytic kernel `k` (over `x_train` then `x_test`). The kernel change is measured on
/// `kernel_inputs` training inputs spread evenly over the training set. The ε draws are held
/// fixed through training (training input `a` has draw id `a`, test input `i` id
/// `TEST_DRAWS + i`), so the comparison is exact for [`super::EpsMode::Shared`] and
/// [`super::EpsMode::PerSample`]; under `Fresh` it compares one quenched draw with the
/// ε-averaged theory.
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_run(
    params: &NtkParams,
    k: &Kernel,
    x_train: &[Vec<f64>],
    y_train: &[f64],
    x_test: &[Vec<f64>],
    y_test: &[f64],
    n: usize,
    seed: u64,
    eta: f64,
    steps: usize,
    kernel_inputs: usize,
) -> Result<TrainRun> {
    let (p, q) = (x_train.len(), x_test.len());
    let i = params.channels(x_train[0].len())?;
    let mut net = FiniteNet::init(n, i, params, seed)?;
    let tr_draws: Vec<u64> = (0..p as u64).collect();
    let te_draws: Vec<u64> = (0..q as u64).map(|a| TEST_DRAWS + a).collect();
    let nk = kernel_inputs.clamp(1, p);
    let ki: Vec<usize> = (0..nk).map(|j| j * p / nk).collect();
    let kx: Vec<Vec<f64>> = ki.iter().map(|&a| x_train[a].clone()).collect();
    let kd: Vec<u64> = ki.iter().map(|&a| a as u64).collect();
    let th0 = net.empirical_ntk_draws(&kx, &kd)?.theta;
    let kernel_err0 = rel_frobenius(&th0, &k.theta_block(&ki, &ki));
    let tr: Vec<usize> = (0..p).collect();
    let te: Vec<usize> = (p..p + q).collect();
    let f0_train = net.outputs(x_train, &tr_draws)?;
    let f0_test = if q > 0 {
        net.outputs(x_test, &te_draws)?
    } else {
        vec![]
    };
    let lin = Linearized::new(
        &k.theta_block(&tr, &tr),
        &k.theta_block(&te, &tr),
        y_train,
        &f0_train,
        &f0_test,
    )?;
    let rec = record_steps(steps);
    let r0 = f0_train
        .iter()
        .zip(y_train)
        .map(|(f, y)| (f - y) * (f - y))
        .sum::<f64>()
        .sqrt();
    let mut run = TrainRun {
        n,
        seed,
        steps: rec.clone(),
        train_mse: vec![],
        test_mse: vec![],
        lin_train_mse: vec![],
        lin_test_mse: vec![],
        deviation: vec![],
        kernel_change: f64::NAN,
        kernel_err0,
    };
    for step in 0..=steps {
        let record = rec.contains(&step);
        // Test outputs at the parameters the training outputs of this step come from.
        let zt = if record && q > 0 {
            net.outputs(x_test, &te_draws)?
        } else {
            vec![]
        };
        let z = if step < steps {
            net.gd_step(x_train, &tr_draws, y_train, eta)?
        } else {
            net.outputs(x_train, &tr_draws)?
        };
        if record {
            let lp = lin.predict(Schedule::Steps { eta, k: step });
            run.train_mse.push(mse(&z, y_train));
            run.lin_train_mse.push(mse(&lp.train, y_train));
            run.test_mse.push(mse(&zt, y_test));
            run.lin_test_mse
                .push(if q > 0 { mse(&lp.test, y_test) } else { f64::NAN });
            let d = z
                .iter()
                .zip(&lp.train)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt();
            run.deviation.push(d / r0);
        }
    }
    let th1 = net.empirical_ntk_draws(&kx, &kd)?.theta;
    run.kernel_change = rel_frobenius(&th1, &th0);
    Ok(run)
}

/// Result of [`training`]: finite-width runs, the analytic expected errors and the kernel
/// change over widths.
#[derive(Clone, Debug, Serialize)]
pub struct TrainingResult {
    /// Step size `η` (a fraction of `1/λ_max(Θ)`).
    pub eta: f64,
    /// Largest eigenvalue of the analytic `Θ` on the training inputs.
    pub lambda_max: f64,
    /// Recorded steps.
    pub steps: Vec<usize>,
    /// Expected training MSE of the infinitely wide network (`f(0) ~ N(0, K)`), per step.
    pub expected_train: Vec<f64>,
    /// Expected test MSE, per step.
    pub expected_test: Vec<f64>,
    /// The widths.
    pub sizes: Vec<usize>,
    /// All runs.
    pub runs: Vec<TrainRun>,
    /// Mean over seeds of the kernel change per width.
    pub change_mean: Vec<f64>,
    /// Sample standard deviation (n − 1) over seeds of the kernel change per width.
    pub change_std: Vec<f64>,
}

/// Finite networks of every width in `sizes` and seed trained by `steps` gradient-descent
/// steps of size `eta_frac / λ_max(Θ)` on `data` against the analytic learning curves;
/// `kernel` is the analytic kernel over the training then the test inputs (computed when
/// `None`). The kernel change is measured on `kernel_inputs` training inputs spread evenly
/// over the training set.
#[allow(clippy::too_many_arguments)]
pub fn training(
    params: &NtkParams,
    data: &Dataset,
    kernel: Option<&Kernel>,
    sizes: &[usize],
    seeds: &[u64],
    steps: usize,
    eta_frac: f64,
    kernel_inputs: usize,
) -> Result<TrainingResult> {
    let (x_train, y_train, x_test, y_test) = (&data.x_train, &data.y_train, &data.x_test, &data.y_test);
    let (p, q) = (x_train.len(), x_test.len());
    let owned;
    let k = match kernel {
        Some(k) => k,
        None => {
            owned = data_kernel(params, data)?;
            &owned
        }
    };
    let tr: Vec<usize> = (0..p).collect();
    let te: Vec<usize> = (p..p + q).collect();
    let lin0 = Linearized::new(
        &k.theta_block(&tr, &tr),
        &k.theta_block(&te, &tr),
        y_train,
        &vec![0.0; p],
        &vec![0.0; q],
    )?;
    let lambda_max = lin0.lambda_max();
    let eta = eta_frac / lambda_max;
    let prior = lin0.prior(
        &k.nngp_block(&tr, &tr),
        &k.nngp_block(&te, &tr),
        &te.iter().map(|&a| k.nngp[a * k.p + a]).collect::<Vec<f64>>(),
    )?;
    let rec = record_steps(steps);
    let (expected_train, expected_test): (Vec<f64>, Vec<f64>) = rec
        .iter()
        .map(|&s| lin0.expected_mse(&prior, y_test, Schedule::Steps { eta, k: s }))
        .unzip();
    let mut runs = Vec::new();
    for &n in sizes {
        for &seed in seeds {
            runs.push(train_run(
                params,
                k,
                x_train,
                y_train,
                x_test,
                y_test,
                n,
                seed,
                eta,
                steps,
                kernel_inputs,
            )?);
        }
    }
    let mut change_mean = Vec::new();
    let mut change_std = Vec::new();
    for &n in sizes {
        let v: Vec<Vec<f64>> = runs
            .iter()
            .filter(|r| r.n == n)
            .map(|r| vec![r.kernel_change])
            .collect();
        let (m, s) = mean_std(&v);
        change_mean.push(m[0]);
        change_std.push(s[0]);
    }
    Ok(TrainingResult {
        eta,
        lambda_max,
        steps: rec,
        expected_train,
        expected_test,
        sizes: sizes.to_vec(),
        runs,
        change_mean,
        change_std,
    })
}

impl TrainingResult {
    /// Mean over seeds of a per-step series of the runs of width `n`.
    fn mean_of(&self, n: usize, f: &dyn Fn(&TrainRun) -> &Vec<f64>) -> (Vec<f64>, Vec<f64>) {
        let v: Vec<Vec<f64>> = self
            .runs
            .iter()
            .filter(|r| r.n == n)
            .map(|r| f(r).clone())
            .collect();
        mean_std(&v)
    }

    fn figures(&self, tag: &str, what: &str) -> Vec<Figure> {
        let x: Vec<f64> = self.steps.iter().map(|&s| s as f64).collect();
        let seeds = self.runs.iter().filter(|r| r.n == self.sizes[0]).count();
        let nmax = self.sizes.iter().copied().max().unwrap_or(0);
        // One figure per split: theory, finite networks of every width, and the linearized
        // dynamics from the widest networks' own f(0).
        let split = |train: bool| -> Vec<Series> {
            let (name, expected) = if train {
                ("train", &self.expected_train)
            } else {
                ("test", &self.expected_test)
            };
            let mut v = vec![series(
                &format!("theory: E[{name} MSE]"),
                x.clone(),
                expected.clone(),
                false,
            )];
            for &n in &self.sizes {
                let (m, s) = self.mean_of(n, &|r| if train { &r.train_mse } else { &r.test_mse });
                v.push(banded(&format!("N = {n}"), x.clone(), m, &s, seeds));
            }
            let (m, _) = self.mean_of(nmax, &|r| {
                if train { &r.lin_train_mse } else { &r.lin_test_mse }
            });
            v.push(series(
                &format!("linearized, f(0) of N = {nmax}"),
                x.clone(),
                m,
                false,
            ));
            v
        };
        let caption = |name: &str| {
            format!(
                "{what}: {name} MSE of finite networks trained by full-batch gradient descent \
                 (NTK parametrization; m̃ of all layers and π of rec/out trained; step \
                 η = {:.3e} = {:.2}/λ_max(Θ); markers: mean with the 95 % t-interval over n = {seeds} seeds) against \
                 the infinitely wide network under the discrete-step dynamics (I − ηΘ)^k: its \
                 expected MSE over f(0) ~ N(0, K) (theory), and the linearized dynamics with \
                 the analytic Θ started from the N = {nmax} networks' own f(0) (mean over \
                 seeds).",
                self.eta,
                self.eta * self.lambda_max
            )
        };
        let mut dev = Vec::new();
        for &n in &self.sizes {
            let (dm, ds) = self.mean_of(n, &|r| &r.deviation);
            dev.push(banded(&format!("N = {n}"), x.clone(), dm, &ds, seeds));
        }
        let lx: Vec<f64> = self.sizes.iter().map(|&n| (n as f64).log10()).collect();
        let c = self.change_mean.last().copied().unwrap_or(f64::NAN)
            * (*self.sizes.last().unwrap_or(&1) as f64).sqrt();
        let mut figs = vec![figure(
            &format!("{tag}_train_curves"),
            &format!("Training error, {what}"),
            "gradient step k",
            "training MSE",
            true,
            caption("training"),
            split(true),
        )];
        if self.expected_test.iter().any(|v| v.is_finite()) {
            figs.push(figure(
                &format!("{tag}_test_curves"),
                &format!("Test error, {what}"),
                "gradient step k",
                "test MSE",
                true,
                caption("test"),
                split(false),
            ));
        }
        figs.extend([
            figure(
                &format!("{tag}_deviation"),
                &format!("Finite network vs linearized dynamics, {what}"),
                "gradient step k",
                "‖f_X − f_X^lin‖ / ‖f_X(0) − Y‖",
                true,
                format!(
                    "{what}: distance between the training outputs of each finite network and \
                     the analytic linearized dynamics started from the same f_X(0) (analytic Θ), \
                     relative to the initial residual; it grows as training proceeds and shrinks \
                     with N (mean with the 95 % t-interval over n = {seeds} seeds)."
                ),
                dev,
            ),
            figure(
                &format!("{tag}_kernel_change"),
                &format!("Relative kernel change during training, {what}"),
                "log₁₀ N",
                "‖Θ̂_end − Θ̂_0‖ / ‖Θ̂_0‖",
                true,
                format!(
                    "{what}: relative change of the empirical kernel between initialization and \
                     the end of training ({} steps), mean with the 95 % t-interval over n = {seeds} seeds, with c/√N and \
                     c'/N references through the widest point (in the lazy limit it vanishes).",
                    self.steps.last().copied().unwrap_or(0)
                ),
                vec![
                    banded(
                        "kernel change",
                        lx.clone(),
                        self.change_mean.clone(),
                        &self.change_std,
                        seeds,
                    ),
                    series(
                        "c/√N",
                        lx.clone(),
                        self.sizes.iter().map(|&n| c / (n as f64).sqrt()).collect(),
                        false,
                    ),
                    series(
                        "c'/N",
                        lx,
                        self.sizes
                            .iter()
                            .map(|&n| c * (nmax as f64).sqrt() / n as f64)
                            .collect(),
                        false,
                    ),
                ],
            ),
        ]);
        figs
    }

    fn csv_rows(&self) -> Vec<Vec<f64>> {
        let mut rows = Vec::new();
        for r in &self.runs {
            for (j, &s) in r.steps.iter().enumerate() {
                rows.push(vec![
                    r.n as f64,
                    r.seed as f64,
                    s as f64,
                    r.train_mse[j],
                    r.test_mse[j],
                    r.lin_train_mse[j],
                    r.lin_test_mse[j],
                    r.deviation[j],
                ]);
            }
        }
        rows
    }
}

/// A regression data set: training and test inputs (each `[T·I]`) with scalar targets.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Training inputs, each `[28·28]`.
    pub x_train: Vec<Vec<f64>>,
    /// Training targets.
    pub y_train: Vec<f64>,
    /// Test inputs.
    pub x_test: Vec<Vec<f64>>,
    /// Test targets.
    pub y_test: Vec<f64>,
}

/// The analytic kernel (no time kernels) over the training then the test inputs of `data`.
pub(crate) fn data_kernel(params: &NtkParams, data: &Dataset) -> Result<Kernel> {
    let mut all = data.x_train.clone();
    all.extend_from_slice(&data.x_test);
    let mut kp = *params;
    kp.time_kernels = false;
    ntk(&all, &kp)
}

/// Row-wise MNIST (`T = 28`, `I = 28`, pixels/255) of digits 0 and 1 with targets −1
/// (digit 0) and +1 (digit 1): the first `train_per_class` zeros and ones of the MNIST
/// training file and the first `test_per_class` of the test file, in file order within each
/// class (zeros first).
pub(crate) fn mnist_binary(dir: &Path, train_per_class: usize, test_per_class: usize) -> Result<Dataset> {
    let m = crate::task::mnist::Mnist::load(dir)?;
    let pick = |im: &crate::io::idx::Images, lab: &[u8], per: usize| -> Result<(Vec<Vec<f64>>, Vec<f64>)> {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for digit in [0u8, 1] {
            let idx: Vec<usize> = (0..im.count).filter(|&k| lab[k] == digit).take(per).collect();
            if idx.len() < per {
                return Err(SasError::Data {
                    path: dir.to_path_buf(),
                    reason: format!("only {} images of digit {digit}, need {per}", idx.len()),
                });
            }
            for k in idx {
                let img = im.image(k).unwrap_or(&[]);
                xs.push(img.iter().map(|&v| f64::from(v) / 255.0).collect());
                ys.push(if digit == 0 { -1.0 } else { 1.0 });
            }
        }
        Ok((xs, ys))
    };
    let (x_train, y_train) = pick(&m.train, &m.train_labels, train_per_class)?;
    let (x_test, y_test) = pick(&m.test, &m.test_labels, test_per_class)?;
    Ok(Dataset {
        x_train,
        y_train,
        x_test,
        y_test,
    })
}

/// The settings of the MNIST experiment: `T = I = 28`, the reference leak `α = 0.1`, the
/// other settings as [`NtkParams::default`], no time kernels.
pub(crate) fn mnist_params() -> NtkParams {
    NtkParams {
        steps: 28,
        alpha: 0.1,
        time_kernels: false,
        ..NtkParams::default()
    }
}

/// Gradient-flow curves of the infinitely wide network on MNIST: expected train and test MSE
/// at `ητ` on a log grid from the analytic kernel `k` over the training then the test inputs
/// ([`data_kernel`]), plus the kernel heat maps (a `2·per × 2·per` block of `Θ` with
/// zeros first, and the backward kernel `Π^{t,t'}` of the first training image).
pub(crate) fn mnist_flow(
    params: &NtkParams,
    data: &Dataset,
    k: &Kernel,
    per: usize,
) -> Result<(Vec<[f64; 3]>, Vec<Figure>)> {
    let (p, q) = (data.x_train.len(), data.x_test.len());
    let tr: Vec<usize> = (0..p).collect();
    let te: Vec<usize> = (p..p + q).collect();
    let lin = Linearized::new(
        &k.theta_block(&tr, &tr),
        &k.theta_block(&te, &tr),
        &data.y_train,
        &vec![0.0; p],
        &vec![0.0; q],
    )?;
    let prior = lin.prior(
        &k.nngp_block(&tr, &tr),
        &k.nngp_block(&te, &tr),
        &te.iter().map(|&a| k.nngp[a * k.p + a]).collect::<Vec<f64>>(),
    )?;
    let lmin = lin
        .eigenvalues()
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .max(1e-12 * lin.lambda_max());
    // ητ from 0.01/λ_max to min(10/λ_min, 10⁴/λ_max) on a log grid, plus 0.
    let (a, b) = (
        (0.01 / lin.lambda_max()).ln(),
        (10.0 / lmin).min(1e4 / lin.lambda_max()).ln(),
    );
    let mut rows = vec![[0.0, 0.0, 0.0]];
    for j in 0..60 {
        let et = (a + (b - a) * j as f64 / 59.0).exp();
        let (tr_e, te_e) = lin.expected_mse(&prior, &data.y_test, Schedule::Flow { eta: 1.0, tau: et });
        rows.push([et, tr_e, te_e]);
    }
    let (t0, s0) = lin.expected_mse(&prior, &data.y_test, Schedule::Flow { eta: 1.0, tau: 0.0 });
    rows[0] = [0.0, t0, s0];
    let x: Vec<f64> = rows[1..].iter().map(|r| r[0].log10()).collect();
    let flow = figure(
        "mnist_flow",
        "Gradient-flow learning curves of the infinitely wide network, row MNIST 0 vs 1",
        "log₁₀ ητ",
        "expected mean squared error",
        true,
        format!(
            "Closed-form gradient flow f_X(τ) = Y + e^(−ηΘτ)(f_X(0) − Y) and test predictions \
             f_*(τ) = f_*(0) + Θ(*,X)Θ⁻¹(I − e^(−ηΘτ))(Y − f_X(0)), MSE averaged over \
             f(0) ~ N(0, K); {p} training / {q} test images (digits 0 → −1, 1 → +1), T = 28, \
             α = {}, λ_max(Θ) = {:.3e}, λ_min = {:.3e}.",
            params.alpha,
            lin.lambda_max(),
            lin.eigenvalues()[0]
        ),
        vec![
            series(
                "train",
                x.clone(),
                rows[1..].iter().map(|r| r[1]).collect(),
                false,
            ),
            series("test", x, rows[1..].iter().map(|r| r[2]).collect(), false),
        ],
    );
    // Θ block: `per` zeros and `per` ones of the training set.
    let n0 = data.y_train.iter().filter(|&&y| y < 0.0).count();
    let sel: Vec<usize> = (0..per.min(n0)).chain(n0..(n0 + per).min(p)).collect();
    let th = block(&k.theta, k.p, &sel, &sel);
    let (lo, hi) = th.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
        (l.min(v), h.max(v))
    });
    let heat = Figure {
        name: "mnist_theta".into(),
        title: "NTK Θ on row MNIST (zeros, then ones)".into(),
        x_label: "image".into(),
        y_label: "image".into(),
        log_y: false,
        caption: format!(
            "Analytic Θ(x, x') between {} training zeros (first) and {} ones: the block \
             structure by class is what gradient descent exploits.",
            per.min(n0),
            sel.len() - per.min(n0)
        ),
        plot: Plot::Heatmap(Heatmap {
            rows: sel.len(),
            cols: sel.len(),
            values: th,
            range: (lo, hi),
        }),
    };
    let mut one = *params;
    one.time_kernels = true;
    let k1 = ntk(&data.x_train[..1], &one)?;
    let t = params.steps;
    let pi = k1.time.map(|tk| tk.pi).unwrap_or_else(|| vec![0.0; t * t]);
    let (plo, phi) = pi.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
        (l.min(v), h.max(v))
    });
    let back = Figure {
        name: "mnist_backward_kernel".into(),
        title: "Backward kernel Π^{t,t'} of one image".into(),
        x_label: "step t'".into(),
        y_label: "step t".into(),
        log_y: false,
        caption: format!(
            "Π^(t,t') = lim Σ_i ∂z/∂u_i(t) ∂z/∂u_i(t') for the first training image (a zero), \
             T = {t}, α = {}: credit for the output at T reaches back in time through the leak \
             and the recurrent weights.",
            params.alpha
        ),
        plot: Plot::Heatmap(Heatmap {
            rows: t,
            cols: t,
            values: pi,
            range: (plo, phi),
        }),
    };
    Ok((rows, vec![flow, heat, back]))
}

/// Sizes of a run of [`run_theory`].
#[derive(Clone, Debug, Serialize)]
struct Plan {
    angle_n: usize,
    angle_seeds: Vec<u64>,
    angle_grid: (usize, usize),
    conv_sizes: Vec<usize>,
    conv_seeds: Vec<u64>,
    train_sizes: Vec<usize>,
    train_seeds: Vec<u64>,
    train_steps: usize,
    mnist_per_class: (usize, usize),
    mnist_sizes: Vec<usize>,
    mnist_seeds: Vec<u64>,
    mnist_steps: usize,
    mnist_kernel_inputs: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                angle_n: 500,
                angle_seeds: vec![1, 2],
                angle_grid: (61, 13),
                conv_sizes: vec![250, 500, 1000],
                conv_seeds: vec![1, 2],
                train_sizes: vec![250, 1000],
                train_seeds: vec![1],
                train_steps: 50,
                mnist_per_class: (32, 16),
                mnist_sizes: vec![128],
                mnist_seeds: vec![1],
                mnist_steps: 30,
                mnist_kernel_inputs: 8,
            }
        } else {
            Plan {
                angle_n: 4000,
                angle_seeds: vec![1, 2, 3],
                angle_grid: (181, 25),
                conv_sizes: vec![250, 500, 1000, 2000, 4000],
                conv_seeds: vec![1, 2, 3],
                train_sizes: vec![250, 1000, 4000],
                train_seeds: vec![1, 2],
                train_steps: 100,
                mnist_per_class: (256, 64),
                mnist_sizes: vec![128, 256, 512, 1024],
                mnist_seeds: vec![1],
                mnist_steps: 60,
                mnist_kernel_inputs: 16,
            }
        }
    }
}

/// The small training problem: 16 [`small_inputs`]; every fourth (indices 3, 7, 11, 15) for
/// testing, the other 12 for training; the target is `x₁(T)/√2 = ρ cos φ(T)` (linear in the
/// input at the last step).
pub(crate) fn small_problem(steps: usize) -> Dataset {
    let xs = small_inputs(16, steps);
    let y = |x: &Vec<f64>| x[2 * (steps - 1)] / std::f64::consts::SQRT_2;
    let x_train: Vec<Vec<f64>> = (0..16).filter(|a| a % 4 != 3).map(|a| xs[a].clone()).collect();
    let x_test: Vec<Vec<f64>> = (0..16).filter(|a| a % 4 == 3).map(|a| xs[a].clone()).collect();
    Dataset {
        y_train: x_train.iter().map(y).collect(),
        y_test: x_test.iter().map(y).collect(),
        x_train,
        x_test,
    }
}

fn io_err(path: &Path, source: std::io::Error) -> SasError {
    SasError::Io {
        action: "creating",
        path: path.to_path_buf(),
        source,
    }
}

/// Runs every experiment of the theory (`quick`: small sizes, about a minute), writes CSV and
/// JSON files to `out` and returns the figures. The MNIST experiment needs the MNIST
/// directory `data_dir`; without it (or when it does not exist) it is skipped and the summary
/// says so.
pub fn run_theory(out: &Path, data_dir: Option<&Path>, quick: bool) -> Result<AnalysisOutput> {
    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let plan = Plan::new(quick);
    let params = NtkParams::default();
    let mut files = Vec::new();
    let mut figures = Vec::new();

    // (a) two inputs at an angle
    let ang = angle_experiment(
        &params,
        plan.angle_n,
        &plan.angle_seeds,
        plan.angle_grid.0,
        plan.angle_grid.1,
    )?;
    let rows: Vec<Vec<f64>> = (0..ang.phi.len())
        .map(|j| {
            let mut r = vec![ang.phi[j], ang.theta[j], ang.theta_diag[j]];
            r.extend_from_slice(&ang.parts[j]);
            r
        })
        .collect();
    files.push(write_csv(
        &out.join("angle.csv"),
        &[
            "phi",
            "theta",
            "theta_diag",
            "in_m",
            "rec_m",
            "out_m",
            "rec_pi",
            "out_pi",
        ],
        &rows,
    )?);
    let rows: Vec<Vec<f64>> = (0..ang.emp_phi.len())
        .map(|j| vec![ang.emp_phi[j], ang.n as f64, ang.emp_mean[j], ang.emp_std[j]])
        .collect();
    files.push(write_csv(
        &out.join("angle_empirical.csv"),
        &["phi", "n", "theta_mean", "theta_std"],
        &rows,
    )?);
    figures.push(ang.figure(&params, plan.angle_seeds.len()));

    // Convergence of the empirical kernel.
    let small = small_inputs(4, params.steps);
    let conv = convergence(&params, &small, &plan.conv_sizes, &plan.conv_seeds)?;
    let rows: Vec<Vec<f64>> = conv
        .rows
        .iter()
        .map(|r| {
            vec![
                r.n as f64,
                r.seed as f64,
                r.rel_err,
                r.pi_vs_m_rec,
                r.pi_vs_m_out,
                r.xi_rel,
                r.xi_in_rel,
                r.pi_in_rel,
            ]
        })
        .collect();
    files.push(write_csv(
        &out.join("convergence.csv"),
        &[
            "n",
            "seed",
            "rel_err",
            "pi_vs_m_rec",
            "pi_vs_m_out",
            "xi_rel",
            "xi_in_rel",
            "pi_in_rel",
        ],
        &rows,
    )?);
    figures.push(conv.figure(small.len(), plan.conv_seeds.len()));

    // Training on the small problem.
    let sp = small_problem(params.steps);
    let small_tr = training(
        &params,
        &sp,
        None,
        &plan.train_sizes,
        &plan.train_seeds,
        plan.train_steps,
        0.5,
        sp.x_train.len(),
    )?;
    let header = [
        "n",
        "seed",
        "step",
        "train_mse",
        "test_mse",
        "lin_train_mse",
        "lin_test_mse",
        "deviation",
    ];
    files.push(write_csv(
        &out.join("training_small.csv"),
        &header,
        &small_tr.csv_rows(),
    )?);
    figures.extend(small_tr.figures("small", "12 two-channel inputs (T = 3), 4 test inputs"));

    // Row-wise MNIST 0 vs 1.
    let dir = data_dir.filter(|d| d.is_dir());
    let mut mnist_summary = json!({ "skipped": "no MNIST directory given (or it does not exist)" });
    if let Some(dir) = dir {
        let data = mnist_binary(dir, plan.mnist_per_class.0, plan.mnist_per_class.1)?;
        let mp = mnist_params();
        let k = data_kernel(&mp, &data)?;
        let (flow, figs) = mnist_flow(&mp, &data, &k, 32.min(plan.mnist_per_class.0))?;
        files.push(write_csv(
            &out.join("mnist_flow.csv"),
            &["eta_tau", "expected_train_mse", "expected_test_mse"],
            &flow.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        )?);
        figures.extend(figs);
        let tr = training(
            &mp,
            &data,
            Some(&k),
            &plan.mnist_sizes,
            &plan.mnist_seeds,
            plan.mnist_steps,
            0.5,
            plan.mnist_kernel_inputs,
        )?;
        files.push(write_csv(
            &out.join("training_mnist.csv"),
            &header,
            &tr.csv_rows(),
        )?);
        figures.extend(tr.figures("mnist", "row MNIST 0 vs 1"));
        mnist_summary = json!({
            "train": data.x_train.len(),
            "test": data.x_test.len(),
            "params": mp,
            "eta": tr.eta,
            "lambda_max": tr.lambda_max,
            "expected_final_train_mse": tr.expected_train.last(),
            "expected_final_test_mse": tr.expected_test.last(),
            "runs": tr.runs.iter().map(|r| json!({
                "n": r.n, "seed": r.seed,
                "final_train_mse": r.train_mse.last(), "final_test_mse": r.test_mse.last(),
                "lin_final_train_mse": r.lin_train_mse.last(),
                "lin_final_test_mse": r.lin_test_mse.last(),
                "deviation": r.deviation, "steps": r.steps,
                "kernel_change": r.kernel_change, "kernel_err0": r.kernel_err0,
            })).collect::<Vec<_>>(),
        });
    }

    let summary = json!({
        "quick": quick,
        "plan": plan,
        "params": params,
        "angle": { "n": ang.n, "rel_err": ang.rel_err },
        "convergence": {
            "sizes": conv.sizes, "rel_err_mean": conv.err_mean, "rel_err_std": conv.err_std,
            "xi_rel_mean": conv.xi_mean, "pi_vs_m_rec_mean": conv.pi_m_mean,
        },
        "training_small": {
            "eta": small_tr.eta,
            "sizes": small_tr.sizes,
            "kernel_change_mean": small_tr.change_mean,
            "kernel_change_std": small_tr.change_std,
            "runs": small_tr.runs.iter().map(|r| json!({
                "n": r.n, "seed": r.seed, "final_train_mse": r.train_mse.last(),
                "lin_final_train_mse": r.lin_train_mse.last(),
                "deviation": r.deviation, "steps": r.steps,
            })).collect::<Vec<_>>(),
        },
        "mnist": mnist_summary,
    });
    AnalysisOutput::written(out, NAME, TITLE, files, figures, summary)
}
