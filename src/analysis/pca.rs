//! Low-dimensional projection of the neural activity (docs/MODEL.md §5.10, first half): principal
//! component analysis (PCA) of the mean-field rates pooled over test trials and time, the
//! variance each component explains, how many components carry 80 % and 85 % of it, and the
//! trajectories of the condition (MSI) or class (MNIST) means in the planes of PC1–PC3.
//!
//! **Activity.** The rates `r = relu(h)` of the mean-field network (fresh ε and recurrent
//! noise, the test protocol's `α`; [`crate::infer::mean_field_rates`]) recorded at the
//! rate indices of [`super::selectivity::record_steps`] (every step of short trials, at most
//! 181 points per trial; index 0 = `relu(h(0))`):
//! - **MSI**: the test protocol (periods 500/1000/300 ms), [`trials_per_condition`] trials
//!   of each of the 24 conditions (3 modalities × 8 event rates); groups = the conditions;
//! - **classification tasks** (MNIST): the first [`images`] test images; groups = the labels.
//!
//! **PCA.** Every recorded (trial, time) pair is one sample of `N` rates. [`Pca::fit`]
//! centres them and diagonalizes the sample covariance `C = X_cᵀ X_c / (S − 1)` (faer's
//! self-adjoint eigensolver); the variances are its eigenvalues in non-increasing order, the
//! explained fractions `λ_k / Σλ`, and `k80` / `k85` the smallest numbers of components whose
//! cumulative fraction reaches 80 % / 85 %. Also reported: the participation ratio
//! `(Σλ)² / Σλ²`, a continuous count of the dimensions the activity spreads over.
//!
//! **Trajectories** (the first run only): the group means (mean over the group's trials at
//! each recorded time) projected on PC1–PC3 of that run.
//!
//! **Null.** Independent neurons with unequal variances also concentrate variance on a few
//! components. Each run's pooled rates are set against their column-shuffled null
//! ([`super::nulls::shuffled_pca`]: every neuron's samples permuted independently over trials
//! and time, which keeps each neuron's variance and removes the covariation; [`shuffles`]
//! repeats seeded from the run's seed): its PC1 fraction, `k80` and `k85` (mean and 2.5–97.5 %
//! range per seed, over seeds) stand beside the data's, and per seed whether the data's PC1
//! fraction exceeds the null's 97.5 % quantile.
//!
//! Several runs (seeds): spectra, `k80`, `k85` and the participation ratio as mean and 95 %
//! t-interval over seeds (`n` stated); each run has its own principal axes.
//!
//! Outputs: `spectrum.csv` (per component: explained fraction and cumulative fraction, mean,
//! std over runs, and the null's mean explained fraction), `spectrum_per_seed.csv`, `trajectories.csv` (first run: group, time,
//! PC1–PC3), `summary.json`.

use super::accuracy::describe_runs;
use super::nulls::{ShuffledPca, shuffled_pca};
use super::result::Stat;
use super::{AnalysisOptions, RunData};
use crate::analysis::AnalysisResult;
use crate::data::source::TaskData;
use crate::error::{Result, SasError};
use crate::infer::{RateProbe, rate_test_set};
use crate::output::figure::{ColorScale, Figure, Path as FigPath, Paths, Plot, Series};
use crate::output::{csv, mean_ci, mean_std};
use crate::rng::derive_seed;
use crate::task::msi;
use faer::{Mat, Side};
use std::path::Path;

/// Name of the analysis (command line, output folder).
pub const NAME: &str = "pca";

/// Section title of the analysis in reports.
const TITLE: &str = "Low-dimensional projection: neural activity";

/// The cumulative variance fractions whose component counts are reported.
pub const THRESHOLDS: [f64; 2] = [0.8, 0.85];

/// Components shown in the spectrum figure (at most).
pub const SHOWN: usize = 30;

const KEY_NOISE: u64 = 0x5043_0001;
const KEY_TRIALS: u64 = 0x5043_0002;
/// Stream key of the column-shuffled null (under the run's seed).
const KEY_SHUFFLE: u64 = 0x5043_0003;

/// Shuffles per run in the column-shuffled null: 20 (quick 10). Each costs one PCA of the
/// pooled samples.
pub fn shuffles(quick: bool) -> usize {
    if quick { 10 } else { 20 }
}

/// MSI trials per condition: 10 (quick 4).
pub fn trials_per_condition(quick: bool) -> usize {
    if quick { 4 } else { 10 }
}

/// Classification tasks: test images used: 300 (quick 100).
pub fn images(quick: bool) -> usize {
    if quick { 100 } else { 300 }
}

/// Eigen-decomposition of the symmetric `n × n` row-major matrix `a`: eigenvalues in
/// non-increasing order and the eigenvectors as the columns of an `n × n` row-major matrix,
/// each with its largest-magnitude entry positive (a deterministic sign).
pub(crate) fn eigh_desc(a: &[f64], n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    if a.len() != n * n {
        return Err(SasError::Shape {
            name: "symmetric matrix".into(),
            got: vec![a.len()],
            expected: vec![n, n],
        });
    }
    if a.iter().any(|v| !v.is_finite()) {
        return Err(SasError::Numerical {
            name: "PCA".into(),
            reason: "the data contain a non-finite value".into(),
        });
    }
    let m = Mat::<f64>::from_fn(n, n, |i, j| 0.5 * (a[i * n + j] + a[j * n + i]));
    let evd = m
        .as_ref()
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| SasError::Numerical {
            name: "PCA".into(),
            reason: format!("eigendecomposition failed: {e:?}"),
        })?;
    let u = evd.U();
    let s = evd.S().column_vector();
    // faer gives non-decreasing eigenvalues: reverse.
    let mut vals = Vec::with_capacity(n);
    let mut vecs = vec![0.0; n * n];
    for (k, src) in (0..n).rev().enumerate() {
        vals.push(s[src]);
        let big = (0..n).fold(0usize, |b, i| {
            if u[(i, src)].abs() > u[(b, src)].abs() {
                i
            } else {
                b
            }
        });
        let sign = if u[(big, src)] < 0.0 { -1.0 } else { 1.0 };
        for i in 0..n {
            vecs[i * n + k] = sign * u[(i, src)];
        }
    }
    Ok((vals, vecs))
}

/// PCA from the centred Gram matrix `G = X_c X_cᵀ` (`n × n`, row-major) of `n` samples, for
/// data with far more features than samples (the synaptic trajectory): returns the variances
/// `λ_k / (n − 1)` (non-increasing, negative rounding clamped to 0) and the scores
/// `[n, n]` row-major, column `k` = the samples' coordinates on component `k`
/// (`u_k √λ_k`, the same as projecting the centred samples on the `k`-th principal axis,
/// up to sign).
pub(crate) fn gram_scores(gram: &[f64], n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    if n < 2 {
        return Err(SasError::InvalidArgument {
            name: "PCA".into(),
            reason: format!("needs at least 2 samples, got {n}"),
        });
    }
    let (vals, vecs) = eigh_desc(gram, n)?;
    let lam: Vec<f64> = vals.iter().map(|&l| l.max(0.0)).collect();
    let mut scores = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            scores[i * n + k] = vecs[i * n + k] * lam[k].sqrt();
        }
    }
    Ok((lam.iter().map(|l| l / (n - 1) as f64).collect(), scores))
}

/// Principal components of `S` samples of `D` features.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Pca {
    /// Features `D`.
    pub dim: usize,
    /// Samples `S`.
    pub samples: usize,
    /// Feature means `[D]`.
    pub mean: Vec<f64>,
    /// Variance along each principal axis (sample covariance, `1/(S − 1)`), non-increasing,
    /// `[D]` (negative rounding clamped to 0).
    pub variances: Vec<f64>,
    /// Principal axes `[D, D]` row-major, row `k` = axis `k` (unit length, largest-magnitude
    /// entry positive).
    pub axes: Vec<f64>,
}

impl Pca {
    /// Fits the PCA of `data` (`rows × cols` row-major: one sample per row). Needs at least
    /// two samples and finite values.
    pub fn fit(data: &[f64], rows: usize, cols: usize) -> Result<Pca> {
        if data.len() != rows * cols || cols == 0 {
            return Err(SasError::Shape {
                name: "PCA data".into(),
                got: vec![data.len()],
                expected: vec![rows, cols],
            });
        }
        if rows < 2 {
            return Err(SasError::InvalidArgument {
                name: "PCA".into(),
                reason: format!("needs at least 2 samples, got {rows}"),
            });
        }
        let mut mean = vec![0.0; cols];
        for r in data.chunks_exact(cols) {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += v;
            }
        }
        for m in mean.iter_mut() {
            *m /= rows as f64;
        }
        let xc = Mat::<f64>::from_fn(rows, cols, |i, j| data[i * cols + j] - mean[j]);
        let c = xc.as_ref().transpose() * xc.as_ref();
        let scale = 1.0 / (rows - 1) as f64;
        let cov: Vec<f64> = (0..cols * cols)
            .map(|ix| c[(ix / cols, ix % cols)] * scale)
            .collect();
        let (vals, vecs) = eigh_desc(&cov, cols)?;
        let mut axes = vec![0.0; cols * cols];
        for k in 0..cols {
            for i in 0..cols {
                axes[k * cols + i] = vecs[i * cols + k];
            }
        }
        Ok(Pca {
            dim: cols,
            samples: rows,
            mean,
            variances: vals.iter().map(|&v| v.max(0.0)).collect(),
            axes,
        })
    }

    /// Total variance `Σλ` (the trace of the covariance).
    pub fn total(&self) -> f64 {
        self.variances.iter().sum()
    }

    /// Fraction of the total variance along each axis (all 0 when the total is 0).
    pub fn explained(&self) -> Vec<f64> {
        explained(&self.variances)
    }

    /// Cumulative explained fractions.
    pub fn cumulative(&self) -> Vec<f64> {
        cumulative(&self.explained())
    }

    /// The smallest number of components whose cumulative fraction reaches `frac`; `None`
    /// when the total variance is 0.
    pub fn components_for(&self, frac: f64) -> Option<usize> {
        components_for(&self.variances, frac)
    }

    /// Participation ratio `(Σλ)² / Σλ²` (NaN when the total variance is 0).
    pub fn participation_ratio(&self) -> f64 {
        participation_ratio(&self.variances)
    }

    /// Coordinates of the sample `x` `[D]` on the first `k` axes.
    pub fn project(&self, x: &[f64], k: usize) -> Vec<f64> {
        (0..k.min(self.dim))
            .map(|c| {
                let a = &self.axes[c * self.dim..(c + 1) * self.dim];
                a.iter()
                    .zip(x)
                    .zip(&self.mean)
                    .map(|((a, x), m)| a * (x - m))
                    .sum()
            })
            .collect()
    }
}

/// Fractions `λ_k / Σλ` of non-negative variances (all 0 when the sum is 0).
pub(crate) fn explained(variances: &[f64]) -> Vec<f64> {
    let t: f64 = variances.iter().sum();
    variances
        .iter()
        .map(|v| if t > 0.0 { v / t } else { 0.0 })
        .collect()
}

/// Running sums of `fractions`.
pub(crate) fn cumulative(fractions: &[f64]) -> Vec<f64> {
    fractions
        .iter()
        .scan(0.0, |s, f| {
            *s += f;
            Some(*s)
        })
        .collect()
}

/// The smallest `k` with `Σ_{i<k} λ_i / Σλ ≥ frac` (relative slack 1e-12); `None` when the
/// total variance is 0.
pub(crate) fn components_for(variances: &[f64], frac: f64) -> Option<usize> {
    let t: f64 = variances.iter().sum();
    if t <= 0.0 {
        return None;
    }
    cumulative(&explained(variances))
        .iter()
        .position(|&c| c >= frac * (1.0 - 1e-12))
        .map(|i| i + 1)
}

/// Participation ratio `(Σλ)² / Σλ²`; NaN when all variances are 0.
pub(crate) fn participation_ratio(variances: &[f64]) -> f64 {
    let s: f64 = variances.iter().sum();
    let s2: f64 = variances.iter().map(|v| v * v).sum();
    if s2 > 0.0 { s * s / s2 } else { f64::NAN }
}

/// A group of test trials whose mean trajectory is drawn: an MSI condition or a class.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Group {
    /// Label (e.g. `visual 9/s` or `digit 3`).
    pub label: String,
    /// MSI: the signed evidence `f − 12.5` events/s; classes: the label.
    pub value: f64,
    /// MSI: the modality name.
    pub modality: Option<&'static str>,
    /// Trials in the group.
    pub trials: usize,
}

/// Rates of one run on its test trials, as the PCA needs them.
#[derive(Clone, Debug)]
pub struct Activity {
    /// Hidden units `N`.
    pub n: usize,
    /// Recorded rate indices (0 = `relu(h(0))`).
    pub points: Vec<usize>,
    /// Time of each recorded index (`time_unit`).
    pub times: Vec<f64>,
    /// `ms` (MSI) or `step`.
    pub time_unit: &'static str,
    /// Pooled samples `[S, N]` (one per trial and recorded time).
    pub samples: Vec<f64>,
    /// Groups (conditions or classes) in order.
    pub groups: Vec<Group>,
    /// Group-mean rates `[G, P, N]` (`P = points.len()`).
    pub means: Vec<f64>,
    /// Trials recorded.
    pub trials: usize,
    /// MSI: start of the stimulus and of the decision period, ms.
    pub periods_ms: Option<(f64, f64)>,
}

impl Activity {
    /// Number of pooled samples `S`.
    pub fn rows(&self) -> usize {
        self.samples.len() / self.n.max(1)
    }
}

/// Where recorded rates go: the pooled samples `[S, N]` and the per-group sums `[G, P, N]`.
struct Recorder<'a> {
    n: usize,
    points: &'a [usize],
    samples: Vec<f64>,
    sums: Vec<f64>,
}

impl Recorder<'_> {
    /// Adds trial `b` of `rates` `[T+1, B, N]` (batch size `bsz`) to group `g`.
    fn add(&mut self, rates: &[f32], bsz: usize, b: usize, g: usize) {
        let (n, np) = (self.n, self.points.len());
        for (q, &t) in self.points.iter().enumerate() {
            let src = &rates[(t * bsz + b) * n..(t * bsz + b + 1) * n];
            self.samples.extend(src.iter().map(|&v| v as f64));
            let dst = &mut self.sums[(g * np + q) * n..(g * np + q + 1) * n];
            for (d, &v) in dst.iter_mut().zip(src) {
                *d += v as f64;
            }
        }
    }
}

/// Records the rates of `run` on its test trials (see the module docs); `ri` keys the
/// noise and the trials of this run.
pub(crate) fn record_activity(
    run: &RunData,
    task: &TaskData,
    opts: &AnalysisOptions,
    ri: usize,
) -> Result<Activity> {
    let cfg = &run.cfg;
    let n = run.net.dims().n;
    let mut probe = RateProbe::new(&run.net, cfg)?;
    if let TaskData::Msi { test, .. } = task {
        let p = test.periods();
        let points = super::selectivity::record_steps(p.total());
        let np = points.len();
        let dt = test.config().dt_ms;
        let tpc = trials_per_condition(opts.quick);
        let conds = msi::conditions();
        let mut rec = Recorder {
            n,
            points: &points,
            samples: Vec::new(),
            sums: vec![0.0; conds.len() * np * n],
        };
        let mut groups = Vec::new();
        for (ci, c) in conds.iter().enumerate() {
            let key = |k: u64| derive_seed(opts.seed, &[k, ri as u64, ci as u64]);
            let (b, rates, _) = probe.condition(test, *c, tpc, (key(KEY_TRIALS), key(KEY_NOISE)))?;
            for bi in 0..b.size {
                rec.add(&rates, b.size, bi, ci);
            }
            groups.push(Group {
                label: format!("{} {}/s", c.modality.name(), c.rate),
                value: c.rate as f64 - msi::BOUNDARY,
                modality: Some(c.modality.name()),
                trials: b.size,
            });
        }
        let means = group_means(rec.sums, &groups, np, n);
        return Ok(Activity {
            n,
            times: points.iter().map(|&t| t as f64 * dt).collect(),
            time_unit: "ms",
            samples: rec.samples,
            points,
            trials: groups.iter().map(|g| g.trials).sum(),
            groups,
            means,
            periods_ms: Some((
                p.stimulus_range().start as f64 * dt,
                p.decision_range().start as f64 * dt,
            )),
        });
    }
    // Classification tasks: groups are the labels; one batch's rates stay below 64 MiB.
    let (test, steps) = rate_test_set(task, cfg, n, 64 << 20, images(opts.quick), "the neural PCA")?;
    let points = super::selectivity::record_steps(steps);
    let np = points.len();
    let k = run.net.dims().k;
    let mut rec = Recorder {
        n,
        points: &points,
        samples: Vec::new(),
        sums: vec![0.0; k * np * n],
    };
    let mut counts = vec![0usize; k];
    let seed = |bi: usize| derive_seed(opts.seed, &[KEY_NOISE, ri as u64, bi as u64]);
    let trials = probe.labelled(&test, "the neural PCA", seed, |r, size, t, l| {
        rec.add(r, size, t, l);
        counts[l] += 1;
    })?;
    let groups: Vec<Group> = (0..k)
        .map(|c| Group {
            label: format!("class {c}"),
            value: c as f64,
            modality: None,
            trials: counts[c],
        })
        .collect();
    let means = group_means(rec.sums, &groups, np, n);
    Ok(Activity {
        n,
        times: points.iter().map(|&t| t as f64).collect(),
        time_unit: "step",
        samples: rec.samples,
        points,
        groups,
        means,
        trials,
        periods_ms: None,
    })
}

fn group_means(mut sums: Vec<f64>, groups: &[Group], np: usize, n: usize) -> Vec<f64> {
    for (g, grp) in groups.iter().enumerate() {
        let d = if grp.trials > 0 {
            grp.trials as f64
        } else {
            f64::NAN
        };
        for v in &mut sums[g * np * n..(g + 1) * np * n] {
            *v /= d;
        }
    }
    sums
}

/// The key numbers of the neural PCA (`summary.json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    /// Components needed for 80 % of the variance, over seeds.
    pub k80: Stat,
    /// Components needed for 85 % of the variance, over seeds.
    pub k85: Stat,
    /// Participation ratio `(Σλ)² / Σλ²`, over seeds.
    pub participation_ratio: Stat,
    /// Fraction of the variance on PC1, over seeds.
    pub pc1_fraction: Stat,
    /// Fraction on PC1–PC3, over seeds.
    pub pc3_cumulative: Stat,
    /// Neurons `N`.
    pub neurons: usize,
    /// Samples (time points × trials) of the first run's fit.
    pub samples: usize,
    /// Test trials.
    pub trials: usize,
    /// Time points per trial.
    pub time_points: usize,
    /// The same per run.
    pub per_seed: Vec<SeedSummary>,
    /// The column-shuffled null over seeds.
    pub null: ShuffleNull,
}

/// The column-shuffled null of the neural PCA ([`shuffled_pca`]) over seeds: one value per
/// seed (the mean over its shuffles) in each [`Stat`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct ShuffleNull {
    /// Shuffles per seed.
    pub reps: usize,
    /// The null's PC1 fraction.
    pub pc1_fraction: Stat,
    /// The null's components for 80 %.
    pub k80: Stat,
    /// The null's components for 85 %.
    pub k85: Stat,
    /// The data's PC1 fraction minus the null's, paired per seed.
    pub pc1_data_minus_null: Stat,
    /// Seeds whose PC1 fraction exceeds their null's 97.5 % quantile.
    pub exceeds_seeds: usize,
}

/// The neural PCA of one run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SeedSummary {
    /// Its training seed.
    pub seed: u64,
    /// Components for 80 % (NaN if never reached).
    pub k80: f64,
    /// Components for 85 %.
    pub k85: f64,
    /// Participation ratio.
    pub participation_ratio: f64,
    /// Explained fractions of the first 10 components.
    pub explained_first10: Vec<f64>,
    /// Samples of its fit.
    pub samples: usize,
    /// Its column-shuffled null (mean and 2.5–97.5 % quantiles over the shuffles).
    pub null: ShuffledPca,
    /// Whether its PC1 fraction exceeds the null's 97.5 % quantile.
    pub exceeds_null: bool,
}

/// The neural PCA (an [`super::AnalysisFn`]); see the module docs.
///
/// Summary keys: `k80`, `k85`, `participation_ratio`, `pc1_fraction`, `pc3_cumulative`
/// (over seeds), `per_seed` (the same per run, with the explained fractions of the first 10
/// components and its null), `null` ([`ShuffleNull`]), `neurons`, `samples`, `trials`,
/// `time_points`.
pub fn run(runs: &[RunData], _work: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let mut fits = Vec::new();
    let mut nulls = Vec::new();
    let mut first: Option<Activity> = None;
    let reps = shuffles(opts.quick);
    for (ri, r) in runs.iter().enumerate() {
        let task = TaskData::load(&r.cfg, opts.data_dir.as_deref())?;
        let act = record_activity(r, &task, opts, ri)?;
        let pca = Pca::fit(&act.samples, act.rows(), act.n)?;
        fits.push(pca);
        let seed = derive_seed(r.cfg.seed, &[KEY_SHUFFLE]);
        nulls.push(shuffled_pca(&act.samples, act.rows(), act.n, reps, seed)?);
        if first.is_none() {
            first = Some(act);
        }
    }
    let act = first.expect("at least one run");
    let n = act.n;
    let mut files = Vec::new();

    // Spectra.
    let expl: Vec<Vec<f64>> = fits.iter().map(Pca::explained).collect();
    let cums: Vec<Vec<f64>> = expl.iter().map(|e| cumulative(e)).collect();
    let (em, es) = mean_std(&expl);
    let (cm, cs) = mean_std(&cums);
    let (ehalf, chalf) = (mean_ci(&expl).1, mean_ci(&cums).1);
    // The null's spectrum, mean over seeds of each seed's mean (and quantiles) over shuffles.
    let avg = |f: &dyn Fn(&ShuffledPca) -> &Vec<f64>| -> Vec<f64> {
        (0..em.len())
            .map(|i| nulls.iter().map(|z| f(z)[i]).sum::<f64>() / nulls.len() as f64)
            .collect()
    };
    let null_spec = (
        avg(&|z| &z.explained_mean),
        avg(&|z| &z.explained_lo),
        avg(&|z| &z.explained_hi),
    );
    let null_cum = cumulative(&null_spec.0);
    let rows: Vec<Vec<f64>> = (0..em.len())
        .map(|i| {
            vec![
                (i + 1) as f64,
                em[i],
                es[i],
                cm[i],
                cs[i],
                null_spec.0[i],
                null_cum[i],
            ]
        })
        .collect();
    files.push(csv(
        "spectrum.csv",
        &[
            "component",
            "explained_mean",
            "explained_std",
            "cumulative_mean",
            "cumulative_std",
            "null_explained_mean",
            "null_cumulative_mean",
        ],
        &rows,
    )?);
    let mut per = Vec::new();
    for (ri, (p, r)) in fits.iter().zip(runs).enumerate() {
        for (k, (&v, (&e, &c))) in p.variances.iter().zip(expl[ri].iter().zip(&cums[ri])).enumerate() {
            per.push(vec![ri as f64, r.cfg.seed as f64, (k + 1) as f64, v, e, c]);
        }
    }
    files.push(csv(
        "spectrum_per_seed.csv",
        &["run", "seed", "component", "variance", "explained", "cumulative"],
        &per,
    )?);

    // Trajectories of the first run.
    let pca0 = &fits[0];
    let np = act.points.len();
    let ncomp = 3.min(n);
    let proj: Vec<Vec<Vec<f64>>> = (0..act.groups.len())
        .map(|g| {
            (0..np)
                .map(|q| pca0.project(&act.means[(g * np + q) * n..(g * np + q + 1) * n], ncomp))
                .collect()
        })
        .collect();
    let mut trows = Vec::new();
    for (g, gp) in proj.iter().enumerate() {
        for (q, c) in gp.iter().enumerate() {
            let mut row = vec![g as f64, act.groups[g].value, act.times[q]];
            row.extend((0..3).map(|k| c.get(k).copied().unwrap_or(f64::NAN)));
            trows.push(row);
        }
    }
    let tcol = format!("time_{}", act.time_unit);
    files.push(csv(
        "trajectories.csv",
        &["group", "group_value", &tcol, "pc1", "pc2", "pc3"],
        &trows,
    )?);

    // Summary.
    let kf = |frac: f64| -> Vec<f64> {
        fits.iter()
            .map(|p| p.components_for(frac).map_or(f64::NAN, |k| k as f64))
            .collect()
    };
    let (k80, k85) = (kf(THRESHOLDS[0]), kf(THRESHOLDS[1]));
    let prs: Vec<f64> = fits.iter().map(Pca::participation_ratio).collect();
    let pc1: Vec<f64> = expl
        .iter()
        .map(|e| e.first().copied().unwrap_or(f64::NAN))
        .collect();
    let pc3: Vec<f64> = cums
        .iter()
        .map(|c| c.get(2).copied().unwrap_or(f64::NAN))
        .collect();
    let per_seed: Vec<SeedSummary> = fits
        .iter()
        .enumerate()
        .map(|(i, p)| SeedSummary {
            seed: runs[i].cfg.seed,
            k80: k80[i],
            k85: k85[i],
            participation_ratio: prs[i],
            explained_first10: expl[i].iter().take(10).copied().collect(),
            samples: p.samples,
            null: nulls[i].clone(),
            exceeds_null: pc1[i] > nulls[i].pc1_fraction.hi,
        })
        .collect();
    let null_stat = |f: &dyn Fn(&ShuffledPca) -> f64| Stat::of(&nulls.iter().map(f).collect::<Vec<_>>());
    let null_pc1: Vec<f64> = nulls.iter().map(|z| z.pc1_fraction.mean).collect();
    let null = ShuffleNull {
        reps,
        pc1_fraction: Stat::of(&null_pc1),
        k80: null_stat(&|z| z.k80.mean),
        k85: null_stat(&|z| z.k85.mean),
        pc1_data_minus_null: Stat::paired(&pc1, &null_pc1),
        exceeds_seeds: per_seed.iter().filter(|s| s.exceeds_null).count(),
    };
    let summary = Summary {
        k80: Stat::of(&k80),
        k85: Stat::of(&k85),
        participation_ratio: Stat::of(&prs),
        pc1_fraction: Stat::of(&pc1),
        pc3_cumulative: Stat::of(&pc3),
        neurons: n,
        samples: fits[0].samples,
        trials: act.trials,
        time_points: np,
        per_seed,
        null,
    };

    let null_fig = NullLines {
        explained: null_spec,
        cumulative: null_cum,
        summary: &summary.null,
    };
    let figures = figures(
        runs,
        &act,
        &proj,
        (&em, &ehalf, &cm, &chalf),
        (&k80, &k85),
        &null_fig,
    );
    Ok(AnalysisResult::with(
        NAME,
        TITLE,
        files,
        figures,
        super::Summary::Pca(summary),
    ))
}

type Spectra<'a> = (&'a [f64], &'a [f64], &'a [f64], &'a [f64]);

/// The null drawn in the spectrum figure: per component the mean over seeds of the null's
/// mean, 2.5 % and 97.5 % quantiles, its cumulative mean, and the summary for the caption.
struct NullLines<'a> {
    explained: (Vec<f64>, Vec<f64>, Vec<f64>),
    cumulative: Vec<f64>,
    summary: &'a ShuffleNull,
}

fn figures(
    runs: &[RunData],
    act: &Activity,
    proj: &[Vec<Vec<f64>>],
    spec: Spectra<'_>,
    ks: (&[f64], &[f64]),
    null: &NullLines<'_>,
) -> Vec<Figure> {
    // `es`, `cs`: half-widths of the 95 % t-intervals over seeds (0 for one seed).
    let (em, es, cm, cs) = spec;
    let desc = describe_runs(runs);
    let shown = em.len().min(SHOWN);
    let xs: Vec<f64> = (1..=shown).map(|k| k as f64).collect();
    let band = |m: &[f64], s: &[f64]| {
        Some((
            (0..shown).map(|i| m[i] - s[i]).collect(),
            (0..shown).map(|i| m[i] + s[i]).collect(),
        ))
    };
    let mean_of = |v: &[f64]| {
        let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        f.iter().sum::<f64>() / f.len().max(1) as f64
    };
    let (k80, k85) = (mean_of(ks.0), mean_of(ks.1));
    let mut series = vec![
        Series {
            label: "per component".into(),
            x: xs.clone(),
            y: em[..shown].to_vec(),
            band: band(em, es),
            markers: true,
        },
        Series {
            label: "cumulative".into(),
            x: xs.clone(),
            y: cm[..shown].to_vec(),
            band: band(cm, cs),
            markers: false,
        },
    ];
    let (nm, nlo, nhi) = &null.explained;
    series.push(Series {
        label: "column-shuffled null (per component)".into(),
        x: xs.clone(),
        y: nm[..shown].to_vec(),
        band: Some((nlo[..shown].to_vec(), nhi[..shown].to_vec())),
        markers: false,
    });
    series.push(Series {
        label: "column-shuffled null (cumulative)".into(),
        x: xs.clone(),
        y: null.cumulative[..shown].to_vec(),
        band: None,
        markers: false,
    });
    for (t, k, name) in [(THRESHOLDS[0], k80, "80 %"), (THRESHOLDS[1], k85, "85 %")] {
        if k.is_finite() {
            // The level as a horizontal line up to k, then down to the axis: where the
            // cumulative curve crosses it.
            series.push(Series {
                label: format!("{name} at k = {}", crate::output::num(k)),
                x: vec![1.0, k, k],
                y: vec![t, t, 0.0],
                band: None,
                markers: false,
            });
        }
    }
    let unit = act.time_unit;
    let setting = match act.periods_ms {
        Some((s, d)) => format!(
            "MSI test protocol, {} trials ({} per condition), mean-field rates at {} time points \
             per trial (stimulus from {s} ms, decision from {d} ms)",
            act.trials,
            act.groups.first().map_or(0, |g| g.trials),
            act.points.len()
        ),
        None => format!(
            "{} test trials, mean-field rates at {} time points per trial",
            act.trials,
            act.points.len()
        ),
    };
    let mut figs = vec![Figure {
        name: "spectrum".into(),
        title: "Neural activity: variance per principal component".into(),
        x_label: "principal component".into(),
        y_label: "fraction of variance".into(),
        log_y: false,
        caption: format!(
            "Fraction of the variance of the N = {} rates (pooled over trials and time) along each \
             principal component and the cumulative fraction (first {shown} components); the \
             corners mark the number of components that reach 80 % and 85 % (mean over seeds: \
             {} and {}). Null: the same rates with every neuron's samples shuffled \
             independently over trials and time (each neuron's variance kept, the covariation \
             between neurons removed; {} shuffles per seed; line: mean, band: 2.5–97.5 % \
             quantiles per component, averaged over seeds): PC1 {}, 80 % in {} and 85 % in {} \
             components. {setting}; {desc}.",
            act.n,
            crate::output::num(k80),
            crate::output::num(k85),
            null.summary.reps,
            null.summary.pc1_fraction.pm(100.0, " %"),
            null.summary.k80.pm(1.0, ""),
            null.summary.k85.pm(1.0, ""),
        ),
        plot: Plot::Lines(series),
    }];
    let tmax = act.times.last().copied().unwrap_or(1.0);
    let time_scale = ColorScale {
        label: format!("time ({unit})"),
        range: (0.0, tmax),
    };
    let path = |g: usize, a: usize, b: usize, c: Option<Vec<f64>>| FigPath {
        label: act.groups[g].label.clone(),
        x: proj[g]
            .iter()
            .map(|p| p.get(a).copied().unwrap_or(f64::NAN))
            .collect(),
        y: proj[g]
            .iter()
            .map(|p| p.get(b).copied().unwrap_or(f64::NAN))
            .collect(),
        c,
    };
    let groups = if act.modality_groups() {
        "condition"
    } else {
        "class"
    };
    let seed1 = runs[0].cfg.seed;
    let traj_caption = |what: &str| {
        format!(
            "Mean trajectory of each {groups} ({} {groups}s; mean rates over its trials) projected \
             on the principal components of seed {seed1}, {what}; the dot marks t = 0. {setting}.",
            act.groups.len()
        )
    };
    for (a, b) in [(0usize, 1usize), (0, 2)] {
        if b >= act.n {
            continue;
        }
        let paths = (0..act.groups.len())
            .map(|g| path(g, a, b, Some(act.times.clone())))
            .collect();
        figs.push(Figure {
            name: format!("trajectories_time_pc{}{}", a + 1, b + 1),
            title: format!("Neural trajectories in PC{}–PC{}, by time", a + 1, b + 1),
            x_label: format!("PC{}", a + 1),
            y_label: format!("PC{}", b + 1),
            log_y: false,
            caption: traj_caption(&format!("coloured by time ({unit})")),
            plot: Plot::Paths(Paths {
                paths,
                scale: Some(time_scale.clone()),
            }),
        });
    }
    if act.n >= 2 {
        if act.modality_groups() {
            let ev: Vec<f64> = act.groups.iter().map(|g| g.value).collect();
            let lim = ev.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let paths = (0..act.groups.len())
                .map(|g| path(g, 0, 1, Some(vec![act.groups[g].value; act.points.len()])))
                .collect();
            figs.push(Figure {
                name: "trajectories_condition_pc12".into(),
                title: "Neural trajectories in PC1–PC2, by event rate".into(),
                x_label: "PC1".into(),
                y_label: "PC2".into(),
                log_y: false,
                caption: traj_caption(&format!(
                    "coloured by the signed evidence f − {} events/s (red: high rate, correct \
                     choice \"high\"; blue: low)",
                    msi::BOUNDARY
                )),
                plot: evidence_paths(paths, lim),
            });
            let paths = (0..act.groups.len())
                .map(|g| FigPath {
                    label: act.groups[g].modality.unwrap_or("").into(),
                    ..path(g, 0, 1, None)
                })
                .collect();
            figs.push(Figure {
                name: "trajectories_modality_pc12".into(),
                title: "Neural trajectories in PC1–PC2, by modality".into(),
                x_label: "PC1".into(),
                y_label: "PC2".into(),
                log_y: false,
                caption: traj_caption("coloured by modality (8 event rates each)"),
                plot: Plot::Paths(Paths { paths, scale: None }),
            });
            // PC1 over time, by evidence.
            let paths = (0..act.groups.len())
                .map(|g| FigPath {
                    label: act.groups[g].label.clone(),
                    x: act.times.clone(),
                    y: proj[g].iter().map(|p| p[0]).collect(),
                    c: Some(vec![act.groups[g].value; act.points.len()]),
                })
                .collect();
            figs.push(Figure {
                name: "pc1_time".into(),
                title: "PC1 of the neural activity over the trial".into(),
                x_label: format!("time ({unit})"),
                y_label: "PC1".into(),
                log_y: false,
                caption: traj_caption(&format!(
                    "PC1 against time, coloured by the signed evidence f − {} events/s",
                    msi::BOUNDARY
                )),
                plot: evidence_paths(paths, lim),
            });
        } else {
            for (a, b) in [(0usize, 1usize), (0, 2)] {
                if b >= act.n {
                    continue;
                }
                let paths = (0..act.groups.len()).map(|g| path(g, a, b, None)).collect();
                figs.push(Figure {
                    name: format!("trajectories_class_pc{}{}", a + 1, b + 1),
                    title: format!("Neural trajectories in PC{}–PC{}, by class", a + 1, b + 1),
                    x_label: format!("PC{}", a + 1),
                    y_label: format!("PC{}", b + 1),
                    log_y: false,
                    caption: traj_caption("coloured by class"),
                    plot: Plot::Paths(Paths { paths, scale: None }),
                });
            }
        }
    }
    figs
}

impl Activity {
    /// Whether the groups are MSI conditions (with a modality).
    fn modality_groups(&self) -> bool {
        self.groups.iter().any(|g| g.modality.is_some())
    }
}

/// MSI trajectories coloured by the signed evidence `f − 12.5` events/s on `[−lim, lim]`.
fn evidence_paths(paths: Vec<FigPath>, lim: f64) -> Plot {
    Plot::Paths(Paths {
        paths,
        scale: Some(ColorScale {
            label: "f − 12.5 (events/s)".into(),
            range: (-lim, lim),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-10 * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn points_on_a_line_by_hand() {
        // x_i = (t, 2t) for t = -1, 0, 1 (+ an offset): covariance (1/(S-1) = 1/2) is
        // [[1, 2], [2, 4]], variances 5 and 0, axis (1, 2)/√5, score of t: t·√5.
        let data = [2.0, 1.0, 3.0, 3.0, 4.0, 5.0];
        let p = Pca::fit(&data, 3, 2).unwrap();
        assert!(
            close(p.variances[0], 5.0) && p.variances[1].abs() < 1e-12,
            "{:?}",
            p.variances
        );
        assert!(close(p.mean[0], 3.0) && close(p.mean[1], 3.0));
        let s5 = 5f64.sqrt();
        assert!(
            close(p.axes[0], 1.0 / s5) && close(p.axes[1], 2.0 / s5),
            "{:?}",
            p.axes
        );
        assert!(close(p.project(&[4.0, 5.0], 1)[0], s5));
        assert!(close(p.project(&[2.0, 1.0], 1)[0], -s5));
        assert_eq!(p.explained(), vec![1.0, 0.0]);
        assert_eq!(p.components_for(0.8), Some(1));
        assert!(close(p.participation_ratio(), 1.0));
        // The Gram route gives the same variance and scores (up to sign).
        let xc = [-1.0, -2.0, 0.0, 0.0, 1.0, 2.0];
        let g: Vec<f64> = (0..9)
            .map(|ix| {
                let (i, j) = (ix / 3, ix % 3);
                xc[2 * i] * xc[2 * j] + xc[2 * i + 1] * xc[2 * j + 1]
            })
            .collect();
        let (v, s) = gram_scores(&g, 3).unwrap();
        assert!(close(v[0], 5.0) && v[1].abs() < 1e-12 && v[2].abs() < 1e-12);
        assert!(close(s[0].abs(), s5) && s[3].abs() < 1e-12 && close(s[3 * 2].abs(), s5));
        assert!(close(s[0], -s[6]));
    }

    #[test]
    fn points_on_a_plane_by_hand() {
        // (±2, 0, 0), (0, ±1, 0) in 3-D: variances (S - 1 = 3) 8/3, 2/3, 0; explained 0.8,
        // 0.2, 0: one component reaches 80 %, two are needed for 85 %.
        let data = [2.0, 0.0, 0.0, -2.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, -1.0, 0.0];
        let p = Pca::fit(&data, 4, 3).unwrap();
        assert!(close(p.variances[0], 8.0 / 3.0) && close(p.variances[1], 2.0 / 3.0));
        assert!(p.variances[2].abs() < 1e-12);
        let e = p.explained();
        assert!(close(e[0], 0.8) && close(e[1], 0.2), "{e:?}");
        assert_eq!(p.components_for(0.8), Some(1));
        assert_eq!(p.components_for(0.85), Some(2));
        assert_eq!(p.components_for(1.0), Some(2));
        // Axes: e_x then e_y (largest entry positive).
        assert!(close(p.axes[0], 1.0) && close(p.axes[4], 1.0));
        // PR = (10/3)² / (64/9 + 4/9) = 100/68.
        assert!(close(p.participation_ratio(), 100.0 / 68.0));
        assert_eq!(p.project(&[0.0, -1.0, 5.0], 2), vec![0.0, -1.0]);
    }

    #[test]
    fn degenerate_inputs_are_errors_or_zero() {
        assert!(Pca::fit(&[1.0, 2.0], 1, 2).is_err());
        assert!(Pca::fit(&[1.0, 2.0, 3.0], 2, 2).is_err());
        assert!(Pca::fit(&[1.0, f64::NAN, 3.0, 4.0], 2, 2).is_err());
        let flat = Pca::fit(&[1.0, 1.0, 1.0, 1.0], 2, 2).unwrap();
        assert_eq!(flat.components_for(0.8), None);
        assert!(flat.participation_ratio().is_nan());
        assert_eq!(flat.explained(), vec![0.0, 0.0]);
        assert!(gram_scores(&[1.0], 1).is_err());
    }

    #[test]
    fn run_on_a_tiny_msi_network() {
        let (o, out) = crate::analysis::perturb::testutil::quick_run(super::run, NAME, "pca", 3);
        let k80 = o.summary_json()["k80"]["mean"].as_f64().unwrap();
        let k85 = o.summary_json()["k85"]["mean"].as_f64().unwrap();
        assert!(k80 >= 1.0 && k85 >= k80, "{k80} {k85}");
        assert_eq!(o.summary_json()["trials"], 24 * trials_per_condition(true));
        let names: Vec<&str> = o.figures.iter().map(|f| f.name.as_str()).collect();
        for n in [
            "spectrum",
            "trajectories_time_pc12",
            "trajectories_condition_pc12",
            "pc1_time",
        ] {
            assert!(names.contains(&n), "{names:?}");
        }
        let text = std::fs::read_to_string(out.join("trajectories.csv")).unwrap();
        let pts = o.summary_json()["time_points"].as_u64().unwrap() as usize;
        assert_eq!(text.lines().count(), 1 + 24 * pts);
        // The column-shuffled null beside the data, per seed and over seeds.
        let null = &o.summary_json()["null"];
        assert_eq!(null["reps"], shuffles(true));
        let s0 = &o.summary_json()["per_seed"][0];
        let (lo, hi) = (
            s0["null"]["pc1_fraction"]["lo"].as_f64().unwrap(),
            s0["null"]["pc1_fraction"]["hi"].as_f64().unwrap(),
        );
        let n = o.summary_json()["neurons"].as_f64().unwrap();
        assert!(1.0 / n <= lo && lo <= hi && hi <= 1.0, "{s0}");
        let pc1 = o.summary_json()["pc1_fraction"]["mean"].as_f64().unwrap();
        assert_eq!(s0["exceeds_null"], pc1 > hi);
        assert!(null["k85"]["mean"].as_f64().unwrap() >= 1.0);
        let spectrum = std::fs::read_to_string(out.join("spectrum.csv")).unwrap();
        assert!(spectrum.lines().next().unwrap().contains("null_explained_mean"));
        assert!(o.figures[0].caption.contains("shuffles per seed"));
    }
}
