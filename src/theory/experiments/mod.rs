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

mod angle;
mod convergence;
mod mnist;
mod training;

pub use angle::*;
pub use convergence::*;
pub use mnist::*;
pub use training::*;

use super::curves::{Linearized, Schedule, mse};
use super::finite::{FiniteNet, TEST_DRAWS, frobenius, rel_frobenius};
use super::kernel::{Kernel, NtkParams, block, ntk};
use crate::error::{Result, SasError};
use crate::output::figure::{Figure, Heatmap, Plot, Series};
use crate::output::{Computed, csv, mean_std};
use serde::Serialize;
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

/// Sizes of a run of [`run_theory`] (written into its summary).
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
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
    pub(crate) fn new(quick: bool) -> Plan {
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

/// The key numbers of the theory experiments (`summary.json`).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Whether the quick sizes ran.
    pub quick: bool,
    /// The sizes.
    pub plan: Plan,
    /// Kernel parameters of the small experiments.
    pub params: NtkParams,
    /// Two inputs at an angle.
    pub angle: AngleSummary,
    /// Convergence of the empirical kernel over widths.
    pub convergence: ConvergenceSummary,
    /// Training on the small problem.
    pub training_small: SmallTraining,
    /// Row-wise MNIST 0 vs 1 (or why it was skipped).
    pub mnist: MnistSummary,
}

/// The angle experiment's key numbers.
#[derive(Clone, Debug, Serialize)]
pub struct AngleSummary {
    /// Width of the empirical networks.
    pub n: usize,
    /// Relative error of their mean kernel.
    pub rel_err: f64,
}

/// The convergence experiment's key numbers, per width.
#[derive(Clone, Debug, Serialize)]
pub struct ConvergenceSummary {
    /// Widths `N`.
    pub sizes: Vec<usize>,
    /// Mean `‖Θ̂ − Θ‖/‖Θ‖` over seeds.
    pub rel_err_mean: Vec<f64>,
    /// Its std over seeds.
    pub rel_err_std: Vec<f64>,
    /// Mean relative size of the `Ξ` parts.
    pub xi_rel_mean: Vec<f64>,
    /// Mean ratio of the recurrent `π` part to the `m` part.
    pub pi_vs_m_rec_mean: Vec<f64>,
}

/// Training of finite networks on the small problem.
#[derive(Clone, Debug, Serialize)]
pub struct SmallTraining {
    /// Learning rate.
    pub eta: f64,
    /// Widths `N`.
    pub sizes: Vec<usize>,
    /// Mean relative kernel change per width.
    pub kernel_change_mean: Vec<f64>,
    /// Its std.
    pub kernel_change_std: Vec<f64>,
    /// Per network.
    pub runs: Vec<SmallRun>,
}

/// One trained network of the small problem.
#[derive(Clone, Debug, Serialize)]
pub struct SmallRun {
    /// Width.
    pub n: usize,
    /// Seed.
    pub seed: u64,
    /// Final training MSE.
    pub final_train_mse: Option<f64>,
    /// Final training MSE of the linearized dynamics.
    pub lin_final_train_mse: Option<f64>,
    /// Deviation from the linearized outputs per recorded step (relative to the initial
    /// residual).
    pub deviation: Vec<f64>,
    /// The recorded steps.
    pub steps: Vec<usize>,
}

/// The MNIST experiment: skipped (with the reason) or its key numbers.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum MnistSummary {
    /// Not run.
    Skipped {
        /// Why.
        skipped: &'static str,
    },
    /// Run.
    Ran(Box<MnistRan>),
}

/// The MNIST experiment's key numbers.
#[derive(Clone, Debug, Serialize)]
pub struct MnistRan {
    /// Training inputs.
    pub train: usize,
    /// Test inputs.
    pub test: usize,
    /// Kernel parameters.
    pub params: NtkParams,
    /// Learning rate.
    pub eta: f64,
    /// Largest kernel eigenvalue.
    pub lambda_max: f64,
    /// Final expected training MSE of the gradient flow.
    pub expected_final_train_mse: Option<f64>,
    /// Final expected test MSE.
    pub expected_final_test_mse: Option<f64>,
    /// Per trained network.
    pub runs: Vec<MnistRun>,
}

/// One trained network of the MNIST experiment.
#[derive(Clone, Debug, Serialize)]
pub struct MnistRun {
    /// Width.
    pub n: usize,
    /// Seed.
    pub seed: u64,
    /// Final training MSE.
    pub final_train_mse: Option<f64>,
    /// Final test MSE.
    pub final_test_mse: Option<f64>,
    /// Final training MSE of the linearized dynamics.
    pub lin_final_train_mse: Option<f64>,
    /// Final test MSE of the linearized dynamics.
    pub lin_final_test_mse: Option<f64>,
    /// Deviation from the linearized outputs per recorded step.
    pub deviation: Vec<f64>,
    /// The recorded steps.
    pub steps: Vec<usize>,
    /// Relative kernel change during training.
    pub kernel_change: f64,
    /// Initial kernel error.
    pub kernel_err0: f64,
}

/// Runs every experiment of the theory (`quick`: small sizes, about a minute) in memory and
/// returns its summary, tables and figures (writing them is the caller's step). The MNIST experiment needs the MNIST
/// directory `data_dir`; without it (or when it does not exist) it is skipped and the summary
/// says so.
pub fn run_theory(data_dir: Option<&Path>, quick: bool) -> Result<Computed<Summary>> {
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
    files.push(csv(
        "angle.csv",
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
    files.push(csv(
        "angle_empirical.csv",
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
    files.push(csv(
        "convergence.csv",
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
    files.push(csv("training_small.csv", &header, &small_tr.csv_rows())?);
    figures.extend(small_tr.figures("small", "12 two-channel inputs (T = 3), 4 test inputs"));

    // Row-wise MNIST 0 vs 1.
    let dir = data_dir.filter(|d| d.is_dir());
    let mut mnist_summary = MnistSummary::Skipped {
        skipped: "no MNIST directory given (or it does not exist)",
    };
    if let Some(dir) = dir {
        let data = mnist_binary(dir, plan.mnist_per_class.0, plan.mnist_per_class.1)?;
        let mp = mnist_params();
        let k = data_kernel(&mp, &data)?;
        let (flow, figs) = mnist_flow(&mp, &data, &k, 32.min(plan.mnist_per_class.0))?;
        files.push(csv(
            "mnist_flow.csv",
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
        files.push(csv("training_mnist.csv", &header, &tr.csv_rows())?);
        figures.extend(tr.figures("mnist", "row MNIST 0 vs 1"));
        mnist_summary = MnistSummary::Ran(Box::new(MnistRan {
            train: data.x_train.len(),
            test: data.x_test.len(),
            params: mp,
            eta: tr.eta,
            lambda_max: tr.lambda_max,
            expected_final_train_mse: tr.expected_train.last().copied(),
            expected_final_test_mse: tr.expected_test.last().copied(),
            runs: tr
                .runs
                .iter()
                .map(|r| MnistRun {
                    n: r.n,
                    seed: r.seed,
                    final_train_mse: r.train_mse.last().copied(),
                    final_test_mse: r.test_mse.last().copied(),
                    lin_final_train_mse: r.lin_train_mse.last().copied(),
                    lin_final_test_mse: r.lin_test_mse.last().copied(),
                    deviation: r.deviation.clone(),
                    steps: r.steps.clone(),
                    kernel_change: r.kernel_change,
                    kernel_err0: r.kernel_err0,
                })
                .collect(),
        }));
    }

    let summary = Summary {
        quick,
        plan,
        params,
        angle: AngleSummary {
            n: ang.n,
            rel_err: ang.rel_err,
        },
        convergence: ConvergenceSummary {
            sizes: conv.sizes,
            rel_err_mean: conv.err_mean,
            rel_err_std: conv.err_std,
            xi_rel_mean: conv.xi_mean,
            pi_vs_m_rec_mean: conv.pi_m_mean,
        },
        training_small: SmallTraining {
            eta: small_tr.eta,
            sizes: small_tr.sizes.clone(),
            kernel_change_mean: small_tr.change_mean.clone(),
            kernel_change_std: small_tr.change_std.clone(),
            runs: small_tr
                .runs
                .iter()
                .map(|r| SmallRun {
                    n: r.n,
                    seed: r.seed,
                    final_train_mse: r.train_mse.last().copied(),
                    lin_final_train_mse: r.lin_train_mse.last().copied(),
                    deviation: r.deviation.clone(),
                    steps: r.steps.clone(),
                })
                .collect(),
        },
        mnist: mnist_summary,
    };
    Ok(Computed::with(NAME, TITLE, files, figures, summary))
}

/// How a caption states the spread over `seeds` theory seeds: the 95 % t-interval with its
/// n, or that one seed gives no interval.
pub(super) fn spread(seeds: usize) -> String {
    if seeds > 1 {
        format!("mean with the 95 % t-interval over n = {seeds} seeds")
    } else {
        "one seed: no interval".into()
    }
}
