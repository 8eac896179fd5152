//! Statistics of sampled ("dynamic") networks over time (docs/MODEL.md §5.9, paper Figs. 9 and 18).
//!
//! A network resampled every step (`k = 1`, the paper's dynamic network) draws a new concrete
//! recurrent matrix `w ~ P(w)` at each time step ([`sample_layer`]: 0 with probability `π`,
//! else `m + sqrt(Ξ)·N(0, 1)`). The draws use exactly the seeds of
//! [`crate::infer::sampled_forward`] with `every = 1` and network seed
//! `derive_seed(opts.seed, [KEY, run index])`, i.e. the networks that sampled evaluation would
//! run. At each step this module records
//!
//! - the **fraction of zero weights** of the `N × N` recurrent matrix (all `N²` entries,
//!   diagonal included);
//! - the **asymmetry** `η = mean_{i<j}(w_ij w_ji) / mean_{i≠j}(w_ij²)` over the reciprocal
//!   pairs: the numerator averages the `N(N−1)/2` products of a pair, the denominator the
//!   squares of both directions (`½ (w_ij² + w_ji²)` per pair), so `|η| ≤ 1`
//!   (Cauchy–Schwarz): 1 for a symmetric matrix, −1 for an antisymmetric one, ≈ 0 for
//!   independent zero-mean entries. NaN when all off-diagonal weights are 0.
//!
//! For reference it also gives the ensemble's expectations: `E[zero fraction] = mean(P(w = 0))`
//! and `η_ens = Σ_{i<j} μ_ij μ_ji / (½ Σ_{i≠j} ϱ_ij)` with `μ = (1−π) m` and
//! `ϱ = E[w²] = (1−π)(m² + Ξ)` (entries independent).
//!
//! The number of steps is one test trial of the run's task (MSI test protocol, e.g. 3600;
//! pixel MNIST 784; row MNIST 28); quick mode at most [`QUICK_STEPS`].
//!
//! Outputs: `sampled_stats.csv` (per step: mean and std over seeds), `sampled_stats_raw.csv`,
//! `summary.json`.

use super::{AnalysisOptions, RunData};

use crate::analysis::AnalysisResult;
use crate::config::Config;
use crate::data::source::{TaskData, msi_configs};
use crate::error::Result;
use crate::infer::sample_layer;
use crate::output::figure::{Figure, Plot, Series};
use crate::output::{csv, mean_ci, mean_std};
use crate::rng::derive_seed;
use crate::sas::SasLayer;
use std::path::Path;

/// Name of the analysis (command line, output folder).
pub const NAME: &str = "sampled-stats";

/// Section title of the analysis in reports.
const TITLE: &str = "Statistics of sampled networks over time";

/// Most steps in quick mode.
pub const QUICK_STEPS: usize = 200;

const KEY_NET: u64 = 0x5353_0001;

/// Fraction of exactly zero entries of `w`.
pub(crate) fn zero_fraction(w: &[f32]) -> f64 {
    if w.is_empty() {
        return f64::NAN;
    }
    w.iter().filter(|&&v| v == 0.0).count() as f64 / w.len() as f64
}

/// The asymmetry `η` of an `n × n` row-major matrix (see the module docs); NaN for `n < 2` or
/// all-zero off-diagonal entries.
pub fn eta(w: &[f32], n: usize) -> f64 {
    let (mut prod, mut sq, mut pairs) = (0.0f64, 0.0f64, 0usize);
    for i in 0..n {
        for j in i + 1..n {
            let (a, b) = (f64::from(w[i * n + j]), f64::from(w[j * n + i]));
            prod += a * b;
            sq += 0.5 * (a * a + b * b);
            pairs += 1;
        }
    }
    if pairs == 0 || sq <= 0.0 {
        return f64::NAN;
    }
    prod / sq
}

/// The ensemble's expected zero fraction and `η` of a square layer (see the module docs);
/// a deterministic layer (`stochastic = false`) has the single network `w = (1−π) m`.
pub fn expected(l: &SasLayer<f32>, stochastic: bool) -> (f64, f64) {
    let n = l.rows;
    let len = l.m.len();
    let mu = |i: usize| f64::from((1.0 - l.pi[i]) * l.m[i]);
    let rho = |i: usize| {
        if stochastic {
            f64::from(1.0 - l.pi[i]) * (f64::from(l.m[i]).powi(2) + f64::from(l.xi[i]))
        } else {
            mu(i).powi(2)
        }
    };
    let p_zero = |i: usize| {
        if stochastic {
            let slab_zero = l.m[i] == 0.0 && l.xi[i] == 0.0;
            f64::from(l.pi[i]) + if slab_zero { f64::from(1.0 - l.pi[i]) } else { 0.0 }
        } else {
            f64::from(u8::from(mu(i) == 0.0))
        }
    };
    let zf = (0..len).map(p_zero).sum::<f64>() / len.max(1) as f64;
    let (mut prod, mut sq) = (0.0, 0.0);
    for i in 0..n {
        for j in i + 1..n {
            prod += mu(i * n + j) * mu(j * n + i);
            sq += 0.5 * (rho(i * n + j) + rho(j * n + i));
        }
    }
    (zf, if sq > 0.0 { prod / sq } else { f64::NAN })
}

/// `(zero fraction, η)` of the recurrent matrices drawn at steps `0..steps` by a `k = 1`
/// sampled network with seed `net_seed` (the draws of `sampled_forward`).
pub(crate) fn series(
    l: &SasLayer<f32>,
    stochastic: bool,
    net_seed: u64,
    steps: usize,
) -> (Vec<f64>, Vec<f64>) {
    let n = l.rows;
    let mut w = vec![0f32; l.m.len()];
    let (mut zf, mut et) = (Vec::with_capacity(steps), Vec::with_capacity(steps));
    for t in 0..steps {
        let s = derive_seed(net_seed, &[t as u64]);
        sample_layer(l, stochastic, derive_seed(s, &[1]), &mut w);
        zf.push(zero_fraction(&w));
        et.push(eta(&w, n));
    }
    (zf, et)
}

/// Steps of one test trial of the run's task.
fn trial_steps(cfg: &Config, opts: &AnalysisOptions) -> Result<usize> {
    use crate::config::TaskKind;
    Ok(match cfg.task.kind {
        TaskKind::Msi => crate::task::msi::Msi::new(msi_configs(cfg).1)?.steps(),
        TaskKind::PixelMnist | TaskKind::PermMnist => 784,
        TaskKind::RowMnist => 28,
        TaskKind::User => {
            let task = TaskData::load(cfg, opts.data_dir.as_deref())?;
            task.test_set(cfg, 1, 1, 1)
                .batches
                .first()
                .map(|b| b.steps)
                .unwrap_or(100)
        }
    })
}

/// The band `m ± h` (`h`: half-widths of the 95 % intervals).
fn band(m: &[f64], s: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    Some((
        m.iter().zip(s).map(|(a, b)| a - b).collect(),
        m.iter().zip(s).map(|(a, b)| a + b).collect(),
    ))
}

fn mean(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() {
        f64::NAN
    } else {
        f.iter().sum::<f64>() / f.len() as f64
    }
}

fn std(v: &[f64]) -> f64 {
    let m = mean(v);
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() {
        f64::NAN
    } else {
        (f.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / f.len() as f64).sqrt()
    }
}

/// The key numbers of the sampled-network statistics (`summary.json`): time averages of the
/// seed-mean series and their spread over time, against the ensemble expectations.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    /// Time steps.
    pub steps: usize,
    /// Seeds.
    pub seeds: usize,
    /// Mean over time of the fraction of zero recurrent weights.
    pub zero_fraction_mean: f64,
    /// Its std over time.
    pub zero_fraction_time_std: f64,
    /// The ensemble expectation `mean P(w = 0)`.
    pub zero_fraction_expected: f64,
    /// Mean over time of the asymmetry `η`.
    pub eta_mean: f64,
    /// Its std over time.
    pub eta_time_std: f64,
    /// The ensemble value of `η`.
    pub eta_expected: f64,
}

/// Runs the analysis on the runs (seeds) of one configuration; see the module docs.
pub fn run(runs: &[RunData], _work: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let mut steps = trial_steps(&runs[0].cfg, opts)?;
    if opts.quick {
        steps = steps.min(QUICK_STEPS);
    }
    let (mut zfs, mut etas, mut exp) = (Vec::new(), Vec::new(), Vec::new());
    let mut raw = Vec::new();
    for (ri, run) in runs.iter().enumerate() {
        let stoch = run.net.stochastic[1];
        let (z, e) = series(
            &run.net.rec,
            stoch,
            derive_seed(opts.seed, &[KEY_NET, ri as u64]),
            steps,
        );
        for t in 0..steps {
            raw.push(vec![ri as f64, t as f64, z[t], e[t]]);
        }
        zfs.push(z);
        etas.push(e);
        exp.push(expected(&run.net.rec, stoch));
    }
    let (zm, zs) = mean_std(&zfs);
    let (em, es) = mean_std(&etas);
    let (zh, eh) = (mean_ci(&zfs).1, mean_ci(&etas).1);
    let rows: Vec<Vec<f64>> = (0..steps)
        .map(|t| vec![t as f64, zm[t], zs[t], em[t], es[t]])
        .collect();
    let files_csv = [
        csv(
            "sampled_stats.csv",
            &[
                "step",
                "zero_fraction_mean",
                "zero_fraction_std",
                "eta_mean",
                "eta_std",
            ],
            &rows,
        )?,
        csv(
            "sampled_stats_raw.csv",
            &["run", "step", "zero_fraction", "eta"],
            &raw,
        )?,
    ];
    let exp_z = mean(&exp.iter().map(|e| e.0).collect::<Vec<_>>());
    let exp_e = mean(&exp.iter().map(|e| e.1).collect::<Vec<_>>());
    let xs: Vec<f64> = (0..steps).map(|t| t as f64).collect();
    let seeds = runs.len();
    let n = runs[0].net.dims().n;
    let settings = format!(
        "Recurrent layer ({n} × {n}) of a network resampled at every step (k = 1), {steps} steps \
         (one test trial{}); mean over {seeds} seed(s), band the 95 % t-interval of the mean (unit: \
         the training seed)",
        if opts.quick { ", quick: at most 200" } else { "" }
    );
    let figures = vec![
        Figure {
            name: "zero_fraction".into(),
            title: "Fraction of zero weights of the sampled network".into(),
            x_label: "time step".into(),
            y_label: "fraction of zero recurrent weights".into(),
            log_y: false,
            caption: format!(
                "Fraction of exactly zero entries of the sampled recurrent matrix (all N² entries) \
                 at each step. {settings}. The flat line is the ensemble expectation mean P(w = 0) \
                 = {exp_z:.4}."
            ),
            plot: Plot::Lines(against_expectation(&xs, &zm, &zh, exp_z, steps)),
        },
        Figure {
            name: "eta".into(),
            title: "Asymmetry η of the sampled network".into(),
            x_label: "time step".into(),
            y_label: "η = mean(w_ij w_ji) / mean(w_ij²) (dimensionless)".into(),
            log_y: false,
            caption: format!(
                "Asymmetry η over reciprocal pairs i < j (1 symmetric, −1 antisymmetric, 0 \
                 unrelated) of the sampled recurrent matrix at each step. {settings}. The flat \
                 line is the ensemble value Σ μ_ij μ_ji / Σ E[w²] = {exp_e:.4}."
            ),
            plot: Plot::Lines(against_expectation(&xs, &em, &eh, exp_e, steps)),
        },
    ];
    let summary = Summary {
        steps,
        seeds,
        zero_fraction_mean: mean(&zm),
        zero_fraction_time_std: std(&zm),
        zero_fraction_expected: exp_z,
        eta_mean: mean(&em),
        eta_time_std: std(&em),
        eta_expected: exp_e,
    };
    let files = files_csv.to_vec();
    Ok(AnalysisResult::with(
        NAME,
        TITLE,
        files,
        figures,
        super::Summary::SampledStats(summary),
    ))
}

/// The sampled series `y ± half` over `xs` and the flat ensemble expectation `expected` over
/// the `steps` steps.
fn against_expectation(xs: &[f64], y: &[f64], half: &[f64], expected: f64, steps: usize) -> Vec<Series> {
    vec![
        Series {
            label: "sampled".into(),
            x: xs.to_vec(),
            y: y.to_vec(),
            band: band(y, half),
            markers: false,
        },
        Series {
            label: "ensemble expectation".into(),
            x: vec![0.0, steps.saturating_sub(1) as f64],
            y: vec![expected, expected],
            band: None,
            markers: false,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_by_hand() {
        // symmetric → 1
        let s = [0.0, 1.0, 2.0, 1.0, 5.0, -3.0, 2.0, -3.0, 7.0];
        assert!((eta(&s, 3) - 1.0).abs() < 1e-12);
        // antisymmetric → −1
        let a = [0.0, 1.0, 2.0, -1.0, 0.0, -3.0, -2.0, 3.0, 0.0];
        assert!((eta(&a, 3) + 1.0).abs() < 1e-12);
        // one-directional connections → 0
        let u = [0.0, 1.0, 2.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0];
        assert_eq!(eta(&u, 3), 0.0);
        // [[0, 1], [3, 0]]: 3 / ((1 + 9)/2) = 0.6
        assert!((eta(&[0.0, 1.0, 3.0, 0.0], 2) - 0.6).abs() < 1e-12);
        assert!(eta(&[5.0], 1).is_nan());
        assert!(eta(&[1.0, 0.0, 0.0, 1.0], 2).is_nan());
        assert_eq!(zero_fraction(&[0.0, 1.0, 0.0, 2.0]), 0.5);
    }

    #[test]
    fn sampled_statistics_match_the_ensemble() {
        // π = 0.3 everywhere, symmetric m, small Ξ: zero fraction ≈ 0.3 and η ≈ η_ens.
        let n = 40;
        let mut l = SasLayer::<f32>::zeros(n, n);
        for i in 0..n {
            for j in 0..n {
                let v = ((i + j) % 7) as f32 * 0.1 - 0.3;
                l.m[i * n + j] = v;
                l.pi[i * n + j] = 0.3;
                l.xi[i * n + j] = 0.01;
            }
        }
        let (ez, ee) = expected(&l, true);
        // m = 0 entries (i + j ≡ 3 mod 7) still have Ξ > 0, so P(w = 0) = π exactly
        assert!((ez - 0.3).abs() < 1e-6);
        let (z, e) = series(&l, true, 11, 200);
        assert!((mean(&z) - 0.3).abs() < 0.01, "{}", mean(&z));
        assert!((mean(&e) - ee).abs() < 0.03, "{} vs {ee}", mean(&e));
        // draws differ from step to step, and are reproducible
        assert_ne!(z[0], z[1]);
        assert_eq!(series(&l, true, 11, 3), series(&l, true, 11, 3));
        // a deterministic layer: the same matrix at every step
        let (zd, ed) = series(&l, false, 11, 3);
        assert_eq!(zd[0], zd[2]);
        assert_eq!(ed[0], ed[1]);
        let (xz, xe) = expected(&l, false);
        assert!((xz - zd[0]).abs() < 1e-12 && (xe - ed[0]).abs() < 1e-6);
    }

    #[test]
    fn run_on_a_tiny_msi_network() {
        let (o, out) = crate::analysis::perturb::testutil::quick_run(super::run, NAME, "sampled-stats", 2);
        // test protocol at Δt = 20 ms: 25 + 50 + 15 = 90 steps
        assert_eq!(o.summary_json()["steps"].as_u64().unwrap(), 90);
        let z = o.summary_json()["zero_fraction_mean"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&z));
        let e = o.summary_json()["eta_mean"].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&e));
        let text = std::fs::read_to_string(out.join("sampled_stats.csv")).unwrap();
        assert_eq!(text.lines().count(), 91);
    }
}
