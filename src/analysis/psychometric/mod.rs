//! Psychometric curves (docs/MODEL.md §5.8): of the multisensory-integration task (paper
//! Fig. 11, this module) and of any user task against one of its conditions ([`condition`]).
//!
//! For each modality (visual, auditory, both) and event rate `f ∈ {9, …, 16}` events/s the
//! trained ensemble runs [`trials_per_point`] test trials of the test protocol in mean-field
//! mode (library engine, fresh ε and recurrent noise); the fraction of "high" choices (the
//! larger output at the last step is output 0) is the psychometric point.
//!
//! Each modality's counts are fitted by maximum likelihood (binomial) with a cumulative
//! Gaussian with lapse rate,
//!
//! ```text
//! P(high | f) = λ + (1 − 2λ) Φ((f − μ) / σ),      0 ≤ λ ≤ LAPSE_MAX, SIGMA_MIN ≤ σ ≤ SIGMA_MAX
//! ```
//!
//! giving the threshold `μ` (events/s, the point of subjective equality) and the slope `1/σ`
//! (σ in events/s is reported). The optimizer is deterministic: a grid search over
//! `(μ, ln σ, λ)` followed by Nelder–Mead refinement (restarted once) inside the box.
//! Optimal cue combination predicts the multisensory
//! `σ_pred = sqrt(σ_v² σ_a² / (σ_v² + σ_a²))`; the summary says whether the multisensory curve
//! is steeper (smaller σ) than both unisensory ones.
//!
//! **Uncertainty.** Each point of each seed has its 95 % Wilson interval (binomial, over its
//! trials). Each fitted σ has a bootstrap 95 % interval ([`sigma_bootstrap`]: the trials of
//! every point resampled with replacement, the curve refitted, [`bootstrap_resamples`]
//! times, seeded), and so has `σ_pred` (from the paired resamples of σ_v and σ_a). The two
//! comparisons, multisensory vs the better unisensory σ and multisensory vs `σ_pred`
//! ([`Comparison`]), are **not resolved** in a seed whose bootstrap intervals overlap or
//! whose fits involved sit at the lower bound [`SIGMA_MIN`] (a step at the rates tested:
//! σ is then only bounded above); over seeds a comparison is resolved only when every seed
//! resolves it the same way and, with two seeds or more, the 95 % t-interval of the paired
//! difference over seeds excludes 0.
//!
//! Several seeds (the unit of replication): points are means over seeds with the 95 %
//! t-interval over seeds (one seed: its Wilson interval); σ, μ, λ are fitted per seed (mean
//! ± std and the t-interval over seeds in the summary); the curves drawn are fits to the
//! counts pooled over seeds.
//!
//! Outputs: `psychometric.csv` (per modality and rate: mean and std of P(high), the interval
//! drawn, pooled counts), `points.csv` (per seed, modality and rate: counts, P(high) and its
//! Wilson interval), `fits.csv` (per seed and modality, with σ's bootstrap interval),
//! `psychometric.json`, `summary.json`.

mod condition;

use super::nulls::NullSummary;
use super::result::Stat;
use super::{AnalysisOptions, RunData};
use condition::wilson;

use crate::analysis::AnalysisResult;
use crate::data::source::TaskData;
use crate::engine::noise::RandomNoise;
use crate::engine::{Engine, EngineConfig, RunOptions, Targets};
use crate::error::{Result, SasError};
use crate::output::figure::{Figure, Plot, Series};
use crate::output::{csv, json_data, mean_ci, mean_std};
use crate::rng::derive_seed;
use crate::task::msi::{self, Condition, Modality};
use rand::SeedableRng;
use rand_distr::{Binomial, Distribution};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::json;
use std::path::Path;

/// Name of the analysis (command line, output folder).
pub const NAME: &str = "psychometric";

/// Section title of the analysis in reports.
const TITLE: &str = "Psychometric curves";

/// Largest lapse rate λ the fit allows.
pub const LAPSE_MAX: f64 = 0.1;
/// Smallest σ (events/s) the fit allows (a step function is fitted as σ at this bound).
pub const SIGMA_MIN: f64 = 0.05;
/// Largest σ (events/s) the fit allows (a flat curve is fitted as σ at this bound).
pub const SIGMA_MAX: f64 = 100.0;

const KEY_TRIALS: u64 = 0x5053_0001;
const KEY_NOISE: u64 = 0x5053_0002;
const KEY_BOOT: u64 = 0x5053_0003;

/// Test trials per (modality, rate) point: 100 (quick 30).
pub(crate) fn trials_per_point(quick: bool) -> usize {
    if quick { 30 } else { 100 }
}

/// Bootstrap resamples of each fitted σ: 200 (quick 50).
pub fn bootstrap_resamples(quick: bool) -> usize {
    if quick { 50 } else { 200 }
}

/// Whether a fitted σ sits at the lower bound [`SIGMA_MIN`] (within 0.1 %).
pub(crate) fn at_lower_bound(sigma: f64) -> bool {
    sigma <= SIGMA_MIN * 1.001
}

/// The bootstrap distribution of the fitted σ (with lapse) of `k[i]` "high" choices out of
/// `n[i]` trials at `x[i]`: `resamples` times, every point's trials resampled with
/// replacement (`k*_i ~ Binomial(n_i, k_i / n_i)`) and the curve refitted. Returns the σ of
/// each resample, in resample order (resample `b` drawn from the stream
/// `derive_seed(seed, [b])`: deterministic for any thread count).
pub(crate) fn sigma_bootstrap(
    x: &[f64],
    k: &[f64],
    n: &[f64],
    resamples: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    (0..resamples)
        .into_par_iter()
        .map(|b| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(seed, &[b as u64]));
            let kb = k
                .iter()
                .zip(n)
                .map(|(&ki, &ni)| {
                    let trials = ni.max(0.0).round() as u64;
                    let p = if ni > 0.0 { (ki / ni).clamp(0.0, 1.0) } else { 0.0 };
                    let d = Binomial::new(trials, p).map_err(|e| SasError::InvalidArgument {
                        name: "psychometric bootstrap".into(),
                        reason: format!("{ki} of {ni} trials: {e}"),
                    })?;
                    Ok(d.sample(&mut rng) as f64)
                })
                .collect::<Result<Vec<f64>>>()?;
            Ok(fit_cumulative_gaussian(x, &kb, n, true)?.sigma)
        })
        .collect()
}

/// How the multisensory σ compares with another σ (a unisensory one or the optimal
/// prediction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Resolution {
    /// Multisensory steeper (smaller σ), resolved.
    #[serde(rename = "steeper")]
    Steeper,
    /// Multisensory shallower (larger σ), resolved.
    #[serde(rename = "shallower")]
    Shallower,
    /// The data do not resolve the order.
    #[serde(rename = "not resolved")]
    NotResolved,
}

impl Resolution {
    /// Text for reports.
    pub fn text(self) -> &'static str {
        match self {
            Resolution::Steeper => "steeper",
            Resolution::Shallower => "shallower",
            Resolution::NotResolved => "not resolved",
        }
    }
}

/// One seed's multisensory σ against another: the bootstrap intervals `(lo, hi)` of both and
/// whether a fit involved sits at the σ lower bound. Steeper when the multisensory interval
/// lies wholly below `other`'s, shallower when wholly above, else (or at the bound) not
/// resolved.
pub(crate) fn resolve(both: (f64, f64), other: (f64, f64), at_bound: bool) -> Resolution {
    if at_bound || ![both.0, both.1, other.0, other.1].iter().all(|v| v.is_finite()) {
        Resolution::NotResolved
    } else if both.1 < other.0 {
        Resolution::Steeper
    } else if both.0 > other.1 {
        Resolution::Shallower
    } else {
        Resolution::NotResolved
    }
}

/// A comparison of the multisensory σ with another σ, per seed and over seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// What the multisensory σ is set against.
    pub against: &'static str,
    /// Over seeds: resolved only when every seed resolves it the same way and, with two
    /// seeds or more, the 95 % t-interval of `difference` excludes 0 on that side.
    pub resolution: Resolution,
    /// Whether `resolution` is a verdict (not "not resolved").
    pub resolved: bool,
    /// Why it is not resolved (`None` when resolved).
    pub reason: Option<String>,
    /// Per seed ([`resolve`] of the bootstrap intervals).
    pub per_seed: Vec<Resolution>,
    /// Seeds in which a fit involved sits at the σ lower bound.
    pub lower_bound_seeds: usize,
    /// `σ_multisensory − σ_other` per seed, over seeds.
    pub difference: Stat,
}

impl Comparison {
    /// The comparison from per-seed resolutions, lower-bound flags and differences.
    pub(crate) fn over_seeds(
        against: &'static str,
        per_seed: Vec<Resolution>,
        bound: &[bool],
        diff: &[f64],
    ) -> Comparison {
        let difference = Stat::of(diff);
        let lower_bound_seeds = bound.iter().filter(|&&b| b).count();
        let n = per_seed.len();
        let all = |r: Resolution| n > 0 && per_seed.iter().all(|&p| p == r);
        let side = if all(Resolution::Steeper) {
            Some(Resolution::Steeper)
        } else if all(Resolution::Shallower) {
            Some(Resolution::Shallower)
        } else {
            None
        };
        let interval_ok = |r: Resolution| {
            difference.n < 2
                || match r {
                    Resolution::Steeper => difference.hi < 0.0,
                    _ => difference.lo > 0.0,
                }
        };
        let (resolution, reason) = match side {
            Some(r) if interval_ok(r) => (r, None),
            Some(_) => (
                Resolution::NotResolved,
                Some(format!(
                    "every seed's bootstrap intervals are apart, but the 95 % t-interval of the \
                     difference over {} seeds includes 0",
                    difference.n
                )),
            ),
            None => {
                let unresolved = per_seed.iter().filter(|&&p| p == Resolution::NotResolved).count();
                let why = if lower_bound_seeds > 0 {
                    format!(
                        "a fit sits at the σ lower bound {SIGMA_MIN} in {lower_bound_seeds} of {n} \
                         seed(s)"
                    )
                } else if unresolved > 0 {
                    format!("the bootstrap intervals overlap in {unresolved} of {n} seed(s)")
                } else {
                    "the seeds disagree".to_string()
                };
                (Resolution::NotResolved, Some(why))
            }
        };
        Comparison {
            against,
            resolution,
            resolved: resolution != Resolution::NotResolved,
            reason,
            per_seed,
            lower_bound_seeds,
            difference,
        }
    }
}

/// One modality's fits over seeds (`summary.json`: `visual`, `auditory`, `both`).
#[derive(Clone, Debug, Serialize)]
pub struct ModalitySummary {
    /// Mean σ over seeds.
    pub sigma: f64,
    /// Its sample std over seeds.
    pub sigma_std: f64,
    /// Mean μ over seeds.
    pub mu: f64,
    /// Its sample std.
    pub mu_std: f64,
    /// Mean lapse rate.
    pub lapse: f64,
    /// Whether σ sits at a bound in some seed.
    pub sigma_at_bound: bool,
    /// σ per seed, mean and 95 % t-interval over seeds.
    pub sigma_stats: Stat,
    /// Per seed: σ's bootstrap distribution (`mean`, `lo` = 2.5 %, `hi` = 97.5 % quantile).
    pub sigma_bootstrap: Vec<NullSummary>,
    /// Seeds whose σ sits at the lower bound [`SIGMA_MIN`].
    pub sigma_at_lower_bound_seeds: usize,
}

/// The key numbers of the MSI psychometric curves (`summary.json`).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Visual trials.
    pub visual: ModalitySummary,
    /// Auditory trials.
    pub auditory: ModalitySummary,
    /// Multisensory trials.
    pub both: ModalitySummary,
    /// The optimal prediction `σ_pred`, mean over seeds.
    pub sigma_pred: f64,
    /// Its sample std over seeds.
    pub sigma_pred_std: f64,
    /// `σ_pred` per seed, over seeds.
    pub sigma_pred_stats: Stat,
    /// Per seed: `σ_pred`'s bootstrap distribution.
    pub sigma_pred_bootstrap: Vec<NullSummary>,
    /// Whether the mean multisensory σ is below both unisensory means (no uncertainty; see
    /// `vs_unisensory`).
    pub multisensory_steeper: bool,
    /// Seeds whose multisensory σ is below both unisensory ones.
    pub multisensory_steeper_seeds: usize,
    /// Multisensory σ vs the better unisensory σ.
    pub vs_unisensory: Comparison,
    /// Multisensory σ vs the optimal prediction.
    pub vs_optimal: Comparison,
    /// Fits to the counts pooled over seeds (the curves drawn).
    pub pooled: serde_json::Value,
    /// Trials per point.
    pub trials_per_point: usize,
    /// Bootstrap resamples per fit.
    pub bootstrap_resamples: usize,
    /// What the figure's bands are.
    pub point_interval: &'static str,
    /// Seeds.
    pub seeds: usize,
}

/// Complementary error function, `|relative error| < 1.2e-7` (Chebyshev fit, Numerical
/// Recipes `erfcc`).
pub(crate) fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Standard normal cumulative distribution `Φ(z)`.
pub(crate) fn phi(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// A fitted psychometric function.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PsychFit {
    /// Threshold `μ` (events/s).
    pub mu: f64,
    /// Width `σ` (events/s); the slope is `1/σ`.
    pub sigma: f64,
    /// Lapse rate `λ` (0 when fitted without lapse).
    pub lapse: f64,
    /// Negative log-likelihood at the optimum (binomial, without the constant).
    pub nll: f64,
    /// Whether σ ended at [`SIGMA_MIN`] or [`SIGMA_MAX`] (the data do not pin it down).
    pub sigma_at_bound: bool,
}

impl PsychFit {
    /// `P(high | f)` of the fitted function.
    pub fn eval(&self, f: f64) -> f64 {
        self.lapse + (1.0 - 2.0 * self.lapse) * phi((f - self.mu) / self.sigma)
    }
}

/// Binomial negative log-likelihood of `(μ, σ, λ)` for `k[i]` successes of `n[i]` at `x[i]`.
fn nll(x: &[f64], k: &[f64], n: &[f64], mu: f64, sigma: f64, lapse: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        let p = (lapse + (1.0 - 2.0 * lapse) * phi((x[i] - mu) / sigma)).clamp(1e-12, 1.0 - 1e-12);
        s -= k[i] * p.ln() + (n[i] - k[i]) * (1.0 - p).ln();
    }
    s
}

/// Nelder–Mead minimization of `f` from `x0` with initial steps `step`; deterministic.
fn nelder_mead(f: &dyn Fn(&[f64]) -> f64, x0: &[f64], step: &[f64], iters: usize) -> (Vec<f64>, f64) {
    let d = x0.len();
    let mut pts: Vec<Vec<f64>> = vec![x0.to_vec()];
    for i in 0..d {
        let mut p = x0.to_vec();
        p[i] += step[i];
        pts.push(p);
    }
    let mut vals: Vec<f64> = pts.iter().map(|p| f(p)).collect();
    for _ in 0..iters {
        let mut order: Vec<usize> = (0..=d).collect();
        order.sort_by(|&a, &b| vals[a].total_cmp(&vals[b]));
        pts = order.iter().map(|&i| pts[i].clone()).collect();
        vals = order.iter().map(|&i| vals[i]).collect();
        let spread = vals[d] - vals[0];
        let size = pts[1..]
            .iter()
            .map(|p| {
                p.iter()
                    .zip(&pts[0])
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max)
            })
            .fold(0.0, f64::max);
        if spread.abs() < 1e-12 && size < 1e-9 {
            break;
        }
        let centroid: Vec<f64> = (0..d)
            .map(|j| pts[..d].iter().map(|p| p[j]).sum::<f64>() / d as f64)
            .collect();
        let along = |t: f64| -> Vec<f64> {
            (0..d)
                .map(|j| centroid[j] + t * (pts[d][j] - centroid[j]))
                .collect()
        };
        let xr = along(-1.0);
        let fr = f(&xr);
        if fr < vals[0] {
            let xe = along(-2.0);
            let fe = f(&xe);
            if fe < fr {
                pts[d] = xe;
                vals[d] = fe;
            } else {
                pts[d] = xr;
                vals[d] = fr;
            }
        } else if fr < vals[d - 1] {
            pts[d] = xr;
            vals[d] = fr;
        } else {
            let (xc, fc) = if fr < vals[d] {
                let xc = along(-0.5);
                let fc = f(&xc);
                (xc, fc)
            } else {
                let xc = along(0.5);
                let fc = f(&xc);
                (xc, fc)
            };
            if fc < vals[d].min(fr) {
                pts[d] = xc;
                vals[d] = fc;
            } else {
                for i in 1..=d {
                    pts[i] = (0..d)
                        .map(|j| pts[0][j] + 0.5 * (pts[i][j] - pts[0][j]))
                        .collect();
                    vals[i] = f(&pts[i]);
                }
            }
        }
    }
    let best = (0..=d).min_by(|&a, &b| vals[a].total_cmp(&vals[b])).unwrap_or(0);
    (pts[best].clone(), vals[best])
}

/// Maximum-likelihood fit of `P(high|x) = λ + (1−2λ) Φ((x−μ)/σ)` to `k[i]` "high" choices out
/// of `n[i]` trials at stimulus values `x[i]`; `with_lapse = false` fixes `λ = 0`.
///
/// `μ` is searched in `[min x − span, max x + span]` (`span` = the range of `x`), `σ` in
/// `[SIGMA_MIN, SIGMA_MAX]`, `λ` in `[0, LAPSE_MAX]`. Errors on empty or inconsistent input.
pub(crate) fn fit_cumulative_gaussian(x: &[f64], k: &[f64], n: &[f64], with_lapse: bool) -> Result<PsychFit> {
    if x.is_empty() || x.len() != k.len() || x.len() != n.len() {
        return Err(SasError::InvalidArgument {
            name: "psychometric fit".into(),
            reason: format!(
                "needs equally many x, k, n values, got {}, {}, {}",
                x.len(),
                k.len(),
                n.len()
            ),
        });
    }
    if x.iter().chain(k).chain(n).any(|v| !v.is_finite()) || k.iter().zip(n).any(|(&a, &b)| a < 0.0 || a > b)
    {
        return Err(SasError::InvalidArgument {
            name: "psychometric fit".into(),
            reason: "values must be finite with 0 ≤ k ≤ n".into(),
        });
    }
    let xmin = x.iter().cloned().fold(f64::INFINITY, f64::min);
    let xmax = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let span = (xmax - xmin).max(1.0);
    let (mu_lo, mu_hi) = (xmin - span, xmax + span);
    let (ls_lo, ls_hi) = (SIGMA_MIN.ln(), SIGMA_MAX.ln());
    let lapse_hi = if with_lapse { LAPSE_MAX } else { 0.0 };
    // Objective on (μ, ln σ, λ) with a quadratic penalty outside the box, evaluated at the
    // clamped point (so the simplex is pushed back inside).
    let obj = |p: &[f64]| -> f64 {
        let mu = p[0].clamp(mu_lo, mu_hi);
        let ls = p[1].clamp(ls_lo, ls_hi);
        let la = if with_lapse {
            p[2].clamp(0.0, lapse_hi)
        } else {
            0.0
        };
        let pen = (p[0] - mu).powi(2)
            + (p[1] - ls).powi(2)
            + if with_lapse {
                (p[2] - la).powi(2) * 100.0
            } else {
                0.0
            };
        nll(x, k, n, mu, ls.exp(), la) + 1e3 * pen
    };
    // Grid search.
    let lapses: Vec<f64> = if with_lapse {
        vec![0.0, 0.01, 0.03, 0.06, LAPSE_MAX]
    } else {
        vec![0.0]
    };
    let mut best = (f64::INFINITY, vec![0.0; 3]);
    for i in 0..=80 {
        let mu = mu_lo + (mu_hi - mu_lo) * i as f64 / 80.0;
        for j in 0..=40 {
            let ls = ls_lo + (ls_hi - ls_lo) * j as f64 / 40.0;
            for &la in &lapses {
                let p = vec![mu, ls, la];
                let v = obj(&p);
                if v < best.0 {
                    best = (v, p);
                }
            }
        }
    }
    // Refinement, restarted once from its own optimum.
    let dim = if with_lapse { 3 } else { 2 };
    let step = [0.25 * span / 8.0 + 0.05, 0.2, 0.01];
    let obj_d = |p: &[f64]| -> f64 {
        if with_lapse {
            obj(p)
        } else {
            obj(&[p[0], p[1], 0.0])
        }
    };
    let (mut p, v) = nelder_mead(&obj_d, &best.1[..dim], &step[..dim], 4000);
    let (p2, v2) = nelder_mead(&obj_d, &p, &step[..dim], 4000);
    if v2 <= v {
        p = p2;
    }
    let mu = p[0].clamp(mu_lo, mu_hi);
    let ls = p[1].clamp(ls_lo, ls_hi);
    let lapse = if with_lapse {
        p[2].clamp(0.0, lapse_hi)
    } else {
        0.0
    };
    let sigma = ls.exp();
    Ok(PsychFit {
        mu,
        sigma,
        lapse,
        nll: nll(x, k, n, mu, sigma, lapse),
        sigma_at_bound: (ls - ls_lo).abs() < 1e-3 || (ls_hi - ls).abs() < 1e-3,
    })
}

/// The optimal cue-combination prediction `sqrt(σ_v² σ_a² / (σ_v² + σ_a²))`.
pub(crate) fn sigma_prediction(sigma_visual: f64, sigma_auditory: f64) -> f64 {
    let (v, a) = (sigma_visual * sigma_visual, sigma_auditory * sigma_auditory);
    (v * a / (v + a)).sqrt()
}

/// "High" choice counts of one run: `counts[m][r]` for modality `m` (visual, auditory, both)
/// and rate index `r` (`f = 9 + r`), out of `trials` each.
fn choice_counts(run: &RunData, opts: &AnalysisOptions, ri: usize, trials: usize) -> Result<Vec<Vec<f64>>> {
    let cfg = &run.cfg;
    let task = TaskData::load(cfg, opts.data_dir.as_deref())?;
    let TaskData::Msi { test, .. } = &task else {
        return Err(SasError::NotApplicable {
            analysis: NAME.into(),
            reason: format!(
                "psychometric curves need an MSI run, {} is `{}`",
                run.dir.display(),
                cfg.task.kind
            ),
        });
    };
    let mut engine = Engine::<f32>::new(EngineConfig {
        alpha: cfg.test_alpha(),
        sigma: cfg.model.sigma,
        chunks: cfg.train.chunks,
    })?;
    let moments = run.net.moments();
    let n = run.net.dims().n;
    let mut counts = vec![vec![0.0; msi::RATES.count()]; 3];
    for (mi, &modality) in Modality::ALL.iter().enumerate() {
        for (fi, rate) in msi::RATES.enumerate() {
            let c = Condition { modality, rate };
            let key = [ri as u64, mi as u64, fi as u64];
            let (b, _) = test.test_batch(
                &[c],
                trials,
                derive_seed(opts.seed, &[KEY_TRIALS, key[0], key[1], key[2]]),
            );
            let h0 = vec![cfg.model.h0 as f32; b.size * n];
            let batch = crate::infer::engine_batch(&b, &h0, Targets::None);
            let noise = RandomNoise {
                seed: derive_seed(opts.seed, &[KEY_NOISE, key[0], key[1], key[2]]),
            };
            let o = engine.run(&moments, &batch, &noise, RunOptions::default())?;
            counts[mi][fi] = msi::choices(&o.z).iter().filter(|&&c| c == msi::HIGH).count() as f64;
        }
    }
    Ok(counts)
}

/// Runs the analysis on the runs (seeds) of one configuration: the MSI curves (module docs),
/// or for a user task the curve against a condition ([`condition`]).
pub fn run(runs: &[RunData], out: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    if runs[0].cfg.task.kind == crate::config::TaskKind::User {
        return condition::run_user(runs, out, opts);
    }
    let trials = trials_per_point(opts.quick);
    let rates: Vec<f64> = msi::RATES.map(f64::from).collect();
    let nr = rates.len();
    let tot = vec![trials as f64; nr];
    // counts[run][modality][rate]
    let mut counts = Vec::new();
    for (ri, run) in runs.iter().enumerate() {
        counts.push(choice_counts(run, opts, ri, trials)?);
    }
    let names: Vec<&str> = Modality::ALL.iter().map(|m| m.name()).collect();
    let mut fit_rows = Vec::new();
    // fits[run][modality]
    let mut fits: Vec<Vec<PsychFit>> = Vec::new();
    for (ri, c) in counts.iter().enumerate() {
        let mut fr = Vec::new();
        for (mi, cm) in c.iter().enumerate() {
            let f = fit_cumulative_gaussian(&rates, cm, &tot, true)?;
            fit_rows.push(vec![
                ri as f64,
                mi as f64,
                f.mu,
                f.sigma,
                f.lapse,
                f.nll,
                f64::from(u8::from(f.sigma_at_bound)),
            ]);
            fr.push(f);
        }
        fits.push(fr);
    }
    // Bootstrap of every fitted σ: boot[run][modality] = σ per resample.
    let resamples = bootstrap_resamples(opts.quick);
    let mut boot: Vec<Vec<Vec<f64>>> = Vec::new();
    for (ri, c) in counts.iter().enumerate() {
        let mut br = Vec::new();
        for (mi, cm) in c.iter().enumerate() {
            let seed = derive_seed(opts.seed, &[KEY_BOOT, ri as u64, mi as u64]);
            br.push(sigma_bootstrap(&rates, cm, &tot, resamples, seed)?);
        }
        boot.push(br);
    }
    let boot_of = |ri: usize, mi: usize| NullSummary::of(&boot[ri][mi]);
    // σ_pred per resample from the paired resamples of σ_v and σ_a.
    let pred_boot: Vec<NullSummary> = boot
        .iter()
        .map(|b| {
            let v: Vec<f64> = b[0]
                .iter()
                .zip(&b[1])
                .map(|(&v, &a)| sigma_prediction(v, a))
                .collect();
            NullSummary::of(&v)
        })
        .collect();
    for (row, (ri, mi)) in fit_rows
        .iter_mut()
        .zip((0..runs.len()).flat_map(|ri| (0..3).map(move |mi| (ri, mi))))
    {
        let b = boot_of(ri, mi);
        row.extend([
            b.lo,
            b.hi,
            f64::from(u8::from(at_lower_bound(fits[ri][mi].sigma))),
        ]);
    }

    let mut rows = Vec::new();
    let mut point_rows = Vec::new();
    let mut series = Vec::new();
    let mut pooled_fits = Vec::new();
    let fine: Vec<f64> = (0..=160).map(|i| 8.5 + 8.0 * i as f64 / 160.0).collect();
    for (mi, name) in names.iter().enumerate() {
        let per_seed: Vec<Vec<f64>> = counts
            .iter()
            .map(|c| c[mi].iter().map(|&k| k / trials as f64).collect())
            .collect();
        let (m, s) = mean_std(&per_seed);
        let h = mean_ci(&per_seed).1;
        let pooled_k: Vec<f64> = (0..nr).map(|r| counts.iter().map(|c| c[mi][r]).sum()).collect();
        let pooled_n = vec![(trials * runs.len()) as f64; nr];
        let pf = fit_cumulative_gaussian(&rates, &pooled_k, &pooled_n, true)?;
        for (ri, c) in counts.iter().enumerate() {
            for r in 0..nr {
                let (lo, hi) = wilson(c[mi][r], trials as f64);
                point_rows.push(vec![
                    ri as f64,
                    runs[ri].cfg.seed as f64,
                    mi as f64,
                    rates[r],
                    c[mi][r],
                    trials as f64,
                    c[mi][r] / trials as f64,
                    lo,
                    hi,
                ]);
            }
        }
        // The band: the 95 % t-interval over seeds (inside [0, 1]); one seed: its Wilson
        // interval.
        let (lo, hi): (Vec<f64>, Vec<f64>) = if runs.len() > 1 {
            (
                m.iter().zip(&h).map(|(a, b)| (a - b).max(0.0)).collect(),
                m.iter().zip(&h).map(|(a, b)| (a + b).min(1.0)).collect(),
            )
        } else {
            counts[0][mi].iter().map(|&k| wilson(k, trials as f64)).unzip()
        };
        for r in 0..nr {
            rows.push(vec![
                mi as f64,
                rates[r],
                m[r],
                s[r],
                pooled_k[r],
                pooled_n[r],
                lo[r],
                hi[r],
            ]);
        }
        series.push(Series {
            label: format!("{name} (data)"),
            x: rates.clone(),
            y: m.clone(),
            band: Some((lo, hi)),
            markers: true,
        });
        series.push(Series {
            label: format!("{name} (fit, σ = {:.2})", pf.sigma),
            x: fine.clone(),
            y: fine.iter().map(|&f| pf.eval(f)).collect(),
            band: None,
            markers: false,
        });
        pooled_fits.push(pf);
    }
    let mut files = vec![
        csv(
            "psychometric.csv",
            &[
                "modality",
                "rate",
                "p_high_mean",
                "p_high_std",
                "high_pooled",
                "trials_pooled",
                "p_high_lo95",
                "p_high_hi95",
            ],
            &rows,
        )?,
        csv(
            "points.csv",
            &[
                "run",
                "seed",
                "modality",
                "rate",
                "high",
                "trials",
                "p_high",
                "wilson_lo",
                "wilson_hi",
            ],
            &point_rows,
        )?,
        csv(
            "fits.csv",
            &[
                "run",
                "modality",
                "mu",
                "sigma",
                "lapse",
                "nll",
                "sigma_at_bound",
                "sigma_boot_lo",
                "sigma_boot_hi",
                "sigma_at_lower_bound",
            ],
            &fit_rows,
        )?,
    ];
    // Per-seed statistics of the fitted parameters.
    let per = |f: &dyn Fn(&[PsychFit]) -> f64| -> Vec<f64> { fits.iter().map(|fr| f(fr)).collect() };
    let stat = |f: &dyn Fn(&[PsychFit]) -> f64| -> (f64, f64) {
        let v: Vec<Vec<f64>> = per(f).into_iter().map(|x| vec![x]).collect();
        let (m, s) = mean_std(&v);
        (m[0], s[0])
    };
    let modality = |mi: usize| {
        let (sm, ss) = stat(&|fr| fr[mi].sigma);
        let (mm, ms) = stat(&|fr| fr[mi].mu);
        let (lm, _) = stat(&|fr| fr[mi].lapse);
        ModalitySummary {
            sigma: sm,
            sigma_std: ss,
            mu: mm,
            mu_std: ms,
            lapse: lm,
            sigma_at_bound: fits.iter().any(|fr| fr[mi].sigma_at_bound),
            sigma_stats: Stat::of(&per(&|fr| fr[mi].sigma)),
            sigma_bootstrap: (0..runs.len()).map(|ri| boot_of(ri, mi)).collect(),
            sigma_at_lower_bound_seeds: fits.iter().filter(|fr| at_lower_bound(fr[mi].sigma)).count(),
        }
    };
    let (pm, ps) = stat(&|fr| sigma_prediction(fr[0].sigma, fr[1].sigma));
    let (bm, _) = stat(&|fr| fr[2].sigma);
    let (vm, _) = stat(&|fr| fr[0].sigma);
    let (am, _) = stat(&|fr| fr[1].sigma);
    let steeper_seeds = fits
        .iter()
        .filter(|fr| fr[2].sigma < fr[0].sigma.min(fr[1].sigma))
        .count();
    // The comparisons, per seed from the bootstrap intervals, then over seeds.
    let iv = |b: &NullSummary| (b.lo, b.hi);
    let lower = |fr: &[PsychFit], ms: &[usize]| ms.iter().any(|&m| at_lower_bound(fr[m].sigma));
    let (mut uni, mut uni_bound, mut uni_diff) = (Vec::new(), Vec::new(), Vec::new());
    let (mut opt, mut opt_bound, mut opt_diff) = (Vec::new(), Vec::new(), Vec::new());
    for (ri, fr) in fits.iter().enumerate() {
        let both = iv(&boot_of(ri, 2));
        // The better unisensory modality (smaller σ) of this seed.
        let best = if fr[0].sigma <= fr[1].sigma { 0 } else { 1 };
        let (v, a) = (iv(&boot_of(ri, 0)), iv(&boot_of(ri, 1)));
        let b = lower(fr, &[2, best]);
        // Steeper: below both unisensory intervals; shallower: above one of them.
        uni.push(resolve(both, (v.0.min(a.0), v.1.min(a.1)), b));
        uni_bound.push(b);
        uni_diff.push(fr[2].sigma - fr[best].sigma);
        let b = lower(fr, &[0, 1, 2]);
        opt.push(resolve(both, iv(&pred_boot[ri]), b));
        opt_bound.push(b);
        opt_diff.push(fr[2].sigma - sigma_prediction(fr[0].sigma, fr[1].sigma));
    }
    let summary = Summary {
        visual: modality(0),
        auditory: modality(1),
        both: modality(2),
        sigma_pred: pm,
        sigma_pred_std: ps,
        sigma_pred_stats: Stat::of(&per(&|fr| sigma_prediction(fr[0].sigma, fr[1].sigma))),
        sigma_pred_bootstrap: pred_boot,
        multisensory_steeper: bm < vm.min(am),
        multisensory_steeper_seeds: steeper_seeds,
        vs_unisensory: Comparison::over_seeds("the better unisensory σ", uni, &uni_bound, &uni_diff),
        vs_optimal: Comparison::over_seeds("the optimal prediction σ_pred", opt, &opt_bound, &opt_diff),
        pooled: json!({
            "visual": pooled_fits[0], "auditory": pooled_fits[1], "both": pooled_fits[2],
            "sigma_pred": sigma_prediction(pooled_fits[0].sigma, pooled_fits[1].sigma),
        }),
        trials_per_point: trials,
        bootstrap_resamples: resamples,
        point_interval: if runs.len() > 1 {
            "95 % t-interval over seeds"
        } else {
            "95 % Wilson interval of the trials"
        },
        seeds: runs.len(),
    };
    let dt = runs[0].cfg.task.msi.test_dt_ms;
    files.push(json_data(
        "psychometric.json",
        &json!({
            "model": "P(high) = λ + (1 − 2λ) Φ((f − μ)/σ), maximum likelihood",
            "lapse_max": LAPSE_MAX,
            "sigma_bounds": [SIGMA_MIN, SIGMA_MAX],
            "modality_index": names,
            "rates": rates,
            "trials_per_point": trials,
            "fits": fits,
            "bootstrap_resamples": resamples,
            "test_dt_ms": dt,
        }),
    )?);
    let band = if runs.len() > 1 {
        format!("bands: 95 % t-interval of the mean over n = {} seeds", runs.len())
    } else {
        "bands: 95 % Wilson interval of the seed's trials".to_string()
    };
    let comparison = |c: &Comparison| match &c.reason {
        None => c.resolution.text().to_string(),
        Some(r) => format!("not resolved ({r})"),
    };
    let figure = Figure {
        name: "psychometric".into(),
        title: "Psychometric curves (MSI)".into(),
        x_label: "event rate f (events/s)".into(),
        y_label: "fraction of \"high\" choices".into(),
        log_y: false,
        caption: format!(
            "Fraction of high choices of the mean-field network vs event rate for visual, \
             auditory and multisensory trials ({trials} test trials per point, test protocol \
             Δt = {dt} ms; points: mean over {} seed(s), {band}), with cumulative Gaussians \
             λ + (1−2λ)Φ((f−μ)/σ) fitted by maximum likelihood to the pooled counts. σ (events/s): \
             visual {:.2}, auditory {:.2}, multisensory {:.2}; optimal-combination prediction \
             {:.2}. Per seed, each σ has a bootstrap 95 % interval ({resamples} resamples of the \
             trials of every point); multisensory vs the better unisensory σ: {}; vs the optimal \
             prediction: {}.",
            runs.len(),
            pooled_fits[0].sigma,
            pooled_fits[1].sigma,
            pooled_fits[2].sigma,
            sigma_prediction(pooled_fits[0].sigma, pooled_fits[1].sigma),
            comparison(&summary.vs_unisensory),
            comparison(&summary.vs_optimal),
        ),
        plot: Plot::Lines(series),
    };
    Ok(AnalysisResult::with(
        NAME,
        TITLE,
        files,
        vec![figure],
        super::Summary::Psychometric(Box::new(summary)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::splitmix64;

    #[test]
    fn phi_values() {
        assert!((phi(0.0) - 0.5).abs() < 1e-7);
        assert!((phi(1.0) - 0.841_344_746).abs() < 1e-7);
        assert!((phi(-1.96) - 0.024_997_895).abs() < 1e-7);
        assert!((phi(3.0) - 0.998_650_102).abs() < 1e-7);
        assert!((sigma_prediction(3.0, 4.0) - 2.4).abs() < 1e-12);
    }

    fn synthetic(mu: f64, sigma: f64, lapse: f64, n: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let x: Vec<f64> = (9..=16).map(f64::from).collect();
        let mut s = seed;
        let k = x
            .iter()
            .map(|&f| {
                let p = lapse + (1.0 - 2.0 * lapse) * phi((f - mu) / sigma);
                (0..n)
                    .filter(|_| ((splitmix64(&mut s) >> 11) as f64 / (1u64 << 53) as f64) < p)
                    .count() as f64
            })
            .collect();
        (x, k, vec![n as f64; 8])
    }

    #[test]
    fn fit_recovers_exact_probabilities() {
        let x: Vec<f64> = (9..=16).map(f64::from).collect();
        let n = vec![1e6; 8];
        let truth = PsychFit {
            mu: 12.3,
            sigma: 1.4,
            lapse: 0.04,
            nll: 0.0,
            sigma_at_bound: false,
        };
        let k: Vec<f64> = x.iter().map(|&f| 1e6 * truth.eval(f)).collect();
        let f = fit_cumulative_gaussian(&x, &k, &n, true).unwrap();
        assert!((f.mu - 12.3).abs() < 2e-3, "{f:?}");
        assert!((f.sigma - 1.4).abs() < 2e-3, "{f:?}");
        assert!((f.lapse - 0.04).abs() < 1e-3, "{f:?}");
        assert!(!f.sigma_at_bound);
    }

    #[test]
    fn fit_recovers_sampled_choices() {
        for (seed, (mu, sigma, lapse)) in [(12.5, 1.5, 0.02), (11.8, 0.8, 0.0), (13.1, 2.5, 0.05)]
            .into_iter()
            .enumerate()
        {
            let (x, k, n) = synthetic(mu, sigma, lapse, 3000, seed as u64 + 1);
            let f = fit_cumulative_gaussian(&x, &k, &n, true).unwrap();
            assert!((f.mu - mu).abs() < 0.1, "μ {mu} → {f:?}");
            assert!((f.sigma - sigma).abs() < 0.15 * sigma, "σ {sigma} → {f:?}");
            assert!((f.lapse - lapse).abs() < 0.02, "λ {lapse} → {f:?}");
            // without lapse on lapse-free data
            if lapse == 0.0 {
                let g = fit_cumulative_gaussian(&x, &k, &n, false).unwrap();
                assert_eq!(g.lapse, 0.0);
                assert!((g.sigma - sigma).abs() < 0.15 * sigma, "{g:?}");
            }
        }
    }

    #[test]
    fn fit_handles_degenerate_data() {
        let x: Vec<f64> = (9..=16).map(f64::from).collect();
        let n = vec![100.0; 8];
        // a perfect step between 12 and 13: σ at the lower bound, μ in between
        let k = vec![0.0, 0.0, 0.0, 0.0, 100.0, 100.0, 100.0, 100.0];
        let f = fit_cumulative_gaussian(&x, &k, &n, false).unwrap();
        assert!(f.sigma_at_bound && f.sigma < 0.06, "{f:?}");
        assert!(f.mu > 12.0 && f.mu < 13.0, "{f:?}");
        // flat at one half: very wide
        let f = fit_cumulative_gaussian(&x, &[50.0; 8], &n, false).unwrap();
        assert!(f.sigma > 20.0, "{f:?}");
        assert!(fit_cumulative_gaussian(&x, &[200.0; 8], &n, false).is_err());
        assert!(fit_cumulative_gaussian(&x, &[1.0; 3], &n, false).is_err());
    }

    #[test]
    fn wilson_intervals_of_msi_points_by_hand() {
        // 15 of 30: centre 1/2, half-width z·√(1/120 + z²/3600)/(1 + z²/30) = 0.16846.
        let (a, b) = wilson(15.0, 30.0);
        assert!(
            (a - 0.331_541).abs() < 1e-6 && (b - 0.668_459).abs() < 1e-6,
            "{a} {b}"
        );
        // 30 of 30: upper end 1, lower end n/(n + z²) = 30/33.8415.
        let (a, b) = wilson(30.0, 30.0);
        assert!((a - 30.0 / (30.0 + 1.959_964f64.powi(2))).abs() < 1e-6 && b == 1.0);
        assert_eq!(wilson(0.0, 30.0).0, 0.0);
    }

    #[test]
    fn bootstrap_of_sigma_is_seeded_and_covers_the_truth() {
        let (x, k, n) = synthetic(12.5, 1.5, 0.0, 400, 3);
        let b = sigma_bootstrap(&x, &k, &n, 40, 17).unwrap();
        assert_eq!(b.len(), 40);
        assert_eq!(b, sigma_bootstrap(&x, &k, &n, 40, 17).unwrap());
        let s = NullSummary::of(&b);
        let fit = fit_cumulative_gaussian(&x, &k, &n, true).unwrap();
        assert!(s.lo < fit.sigma && fit.sigma < s.hi, "{s:?} vs {fit:?}");
        assert!(s.lo < 1.5 && 1.5 < s.hi, "{s:?}");
        // Ten times the trials: a narrower interval.
        let (x, k, n) = synthetic(12.5, 1.5, 0.0, 4000, 3);
        let t = NullSummary::of(&sigma_bootstrap(&x, &k, &n, 40, 17).unwrap());
        assert!(t.hi - t.lo < 0.6 * (s.hi - s.lo), "{t:?} vs {s:?}");
    }

    #[test]
    fn comparisons_resolve_only_apart_intervals_off_the_bound() {
        assert_eq!(resolve((0.1, 0.2), (0.3, 0.4), false), Resolution::Steeper);
        assert_eq!(resolve((0.5, 0.6), (0.3, 0.4), false), Resolution::Shallower);
        assert_eq!(resolve((0.1, 0.35), (0.3, 0.4), false), Resolution::NotResolved);
        assert_eq!(resolve((0.05, 0.05), (0.3, 0.4), true), Resolution::NotResolved);
        assert!(at_lower_bound(SIGMA_MIN) && !at_lower_bound(0.06));
        let s = Resolution::Steeper;
        // Every seed steeper and the differences −0.1, −0.2, −0.15 (interval below 0).
        let c = Comparison::over_seeds("x", vec![s; 3], &[false; 3], &[-0.1, -0.2, -0.15]);
        assert_eq!((c.resolution, c.resolved, c.reason.clone()), (s, true, None));
        // One seed at the lower bound: not resolved, and the reason says so.
        let per = vec![s, s, Resolution::NotResolved];
        let c = Comparison::over_seeds("x", per, &[false, false, true], &[-0.1, -0.2, -0.15]);
        assert_eq!(c.resolution, Resolution::NotResolved);
        assert!(c.reason.unwrap().contains("lower bound"));
        // Every seed steeper but the seeds' differences straddle 0.
        let c = Comparison::over_seeds("x", vec![s; 2], &[false; 2], &[-0.3, 0.1]);
        assert_eq!(c.resolution, Resolution::NotResolved);
        assert!(c.reason.unwrap().contains("includes 0"));
        // One seed: its bootstrap decides.
        let c = Comparison::over_seeds("x", vec![Resolution::Shallower], &[false], &[0.2]);
        assert_eq!(c.resolution, Resolution::Shallower);
        assert_eq!(serde_json::to_value(c.resolution).unwrap(), "shallower");
        assert_eq!(
            serde_json::to_value(Resolution::NotResolved).unwrap(),
            "not resolved"
        );
    }

    #[test]
    fn run_on_a_tiny_msi_network() {
        let (o, out) = crate::analysis::perturb::testutil::quick_run(super::run, NAME, "psychometric", 9);
        for m in ["visual", "auditory", "both"] {
            let s = o.summary_json()[m]["sigma"].as_f64().unwrap();
            assert!((SIGMA_MIN..=SIGMA_MAX).contains(&s), "{m}: {s}");
        }
        assert!(o.summary_json()["sigma_pred"].as_f64().unwrap() > 0.0);
        assert!(o.summary_json()["multisensory_steeper"].is_boolean());
        let Plot::Lines(series) = &o.figures[0].plot else {
            panic!()
        };
        assert_eq!(series.len(), 6);
        assert!(
            series
                .iter()
                .flat_map(|s| &s.y)
                .all(|&y| (0.0..=1.0).contains(&y))
        );
        // One seed: Wilson bands; a bootstrap interval per fitted σ; both comparisons.
        let j = o.summary_json();
        assert_eq!(j["point_interval"], "95 % Wilson interval of the trials");
        assert_eq!(j["bootstrap_resamples"], bootstrap_resamples(true));
        for m in ["visual", "auditory", "both"] {
            let b = &j[m]["sigma_bootstrap"][0];
            assert!(b["lo"].as_f64().unwrap() <= b["hi"].as_f64().unwrap(), "{m}: {b}");
            assert_eq!(j[m]["sigma_stats"]["n"], 1);
        }
        for c in ["vs_unisensory", "vs_optimal"] {
            let r = j[c]["resolution"].as_str().unwrap();
            assert!(["steeper", "shallower", "not resolved"].contains(&r), "{c}: {r}");
            assert_eq!(j[c]["resolved"], r != "not resolved");
        }
        for s in series.iter().filter(|s| s.markers) {
            let (lo, hi) = s.band.as_ref().unwrap();
            assert!(lo.iter().zip(&s.y).zip(hi).all(|((l, y), h)| l <= y && y <= h));
        }
        let points = std::fs::read_to_string(out.join("points.csv")).unwrap();
        assert_eq!(points.lines().count(), 1 + 3 * 8);
    }
}
