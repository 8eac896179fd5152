//! Neural selectivity (docs/MODEL.md §5.7, paper Eq. 15, Figs. 8 and 15).
//!
//! The selectivity index of neuron `i` at time step `t` over `N_s` stimulus classes is
//!
//! ```text
//! SLI_i(t) = [1 − ( (1/N_s) Σ_s r_{i,s}(t) )² / ( (1/N_s) Σ_s r_{i,s}(t)² )] / (1 − 1/N_s)
//! ```
//!
//! where `r_{i,s}(t)` is the neuron's response to class `s`: its mean-field rate
//! `r = relu(h)` at step `t`, averaged over the test trials of that class. For non-negative
//! responses it lies in `[0, 1]`: 0 when the neuron responds identically to all classes, 1
//! when it responds to one class only (two equal responses out of ten give 0.889; for
//! `N_s = 2`, `SLI = (a − b)² / (a² + b²)`). A neuron silent for every class (`Σ r² = 0`) gets
//! `SLI = 0` (it does not distinguish the classes); fewer than two classes give NaN.
//!
//! Rates come from the library engine (`Engine::run` with `rates`, mean-field with fresh ε,
//! the test protocol's `α`), recorded at every `stride`-th step (index 0 = `relu(h(0))`, index
//! `t` = after step `t`), at most [`MAX_POINTS`] time points.
//!
//! **MSI** (test protocol, [`trials_per_condition`] trials per each of the 24 conditions):
//! two SLIs per neuron and time,
//! - **choice**: classes = the network's own choice (the larger mean-field output at the last
//!   step), "high" vs "low", over all trials (a class with no trial gives NaN);
//! - **modality**: classes = visual vs auditory, over the unisensory trials only.
//!
//! A neuron is **active** if its trial-averaged rate over the stimulus and decision periods is
//! at least [`ACTIVE_FRACTION`] of the largest such rate in the network. An active neuron is
//! selective to choice (or modality) if its SLI, averaged over the time points of the stimulus
//! and decision periods, is at least [`SLI_THRESHOLD`] (for two classes: one class's response
//! ≥ 1.6 × the other's). Classes: **choice** only, **modality** only, **mixed** (both),
//! **neither** (including inactive neurons). Counted overall and per input group (units of
//! [`msi::input_groups`]: auditory, visual, none). The paper gives no numeric criterion; these
//! thresholds are this module's.
//!
//! **Classification tasks** (MNIST, user tasks with labels): classes = the labels (digits,
//! `N_s = K`), over the first [`mnist_images`] test images. At the last step (the readout
//! time) a neuron is **silent** (inactive as above, over all steps), **non-selective**
//! (`SLI < 0.1`), **uni-selective** (`SLI ≥` [`UNI_THRESHOLD`]) or **mixed** (in between),
//! after the paper's Fig. 8.
//!
//! Outputs: `sli_<kind>.csv` (neuron × time matrices; header = `neuron` then the time of each
//! column, ms for MSI, steps otherwise), `neurons.csv` (per-neuron summary), `classes.csv`
//! (counts per class and group), `selectivity.json`, `summary.json`.

mod labels;
mod msi_run;

use super::{AnalysisOptions, RunData};
use labels::run_labels;
use msi_run::run_msi;

use crate::analysis::AnalysisResult;
use crate::data::source::TaskData;
use crate::error::Result;
use crate::infer::{RateProbe, rate_test_set};
use crate::output::figure::{Figure, Heatmap, Histogram, Plot, Series};
use crate::output::{Data, csv, json_data, mean_ci, mean_std};
use crate::rng::derive_seed;
use crate::stats::SeedStats;
use crate::task::msi::{self, Modality};
use serde_json::json;
use std::path::Path;

/// Name of the analysis (command line, output folder).
pub const NAME: &str = "selectivity";

/// Largest number of recorded time points per trial (the stride is chosen to stay below it;
/// MSI at Δt = 0.5 ms: every 20th of 3600 steps, 181 points).
pub const MAX_POINTS: usize = 180;

/// SLI at or above which a neuron counts as selective (time-averaged SLI for MSI, last-step
/// SLI for classification tasks).
pub const SLI_THRESHOLD: f64 = 0.1;

/// Classification tasks: last-step SLI at or above which an active neuron is uni-selective.
pub const UNI_THRESHOLD: f64 = 0.9;

/// A neuron is active if its mean rate is at least this fraction of the network's largest.
pub const ACTIVE_FRACTION: f64 = 0.05;

/// Bytes of rates `[T+1, B, N]` (f32) one engine call may return; bounds the batch size.
const RATE_BUDGET: usize = 256 << 20;

const KEY_NOISE: u64 = 0x534C_0001;
const KEY_TRIALS: u64 = 0x534C_0002;

/// MSI class names, in the order of their codes in `neurons.csv` and `classes.csv`.
pub const MSI_CLASSES: [&str; 4] = ["neither", "choice", "modality", "mixed"];

/// Classification-task class names, in the order of their codes.
pub const LABEL_CLASSES: [&str; 4] = ["silent", "non-selective", "uni-selective", "mixed"];

/// MSI trials per condition: 20 (quick 5).
pub fn trials_per_condition(quick: bool) -> usize {
    if quick { 5 } else { 20 }
}

/// Classification tasks: test images used: 1000 (quick 200).
pub(crate) fn mnist_images(quick: bool) -> usize {
    if quick { 200 } else { 1000 }
}

/// The selectivity index (Eq. 15) of one neuron's responses `r[s]` to `N_s = r.len()` classes.
/// 0 if all responses are 0; NaN if `N_s < 2` or a response is NaN.
pub(crate) fn sli(r: &[f64]) -> f64 {
    let ns = r.len();
    if ns < 2 {
        return f64::NAN;
    }
    let nf = ns as f64;
    let mean = r.iter().sum::<f64>() / nf;
    let sq = r.iter().map(|v| v * v).sum::<f64>() / nf;
    if sq.is_nan() || mean.is_nan() {
        return f64::NAN;
    }
    if sq <= 0.0 {
        return 0.0;
    }
    (1.0 - mean * mean / sq) / (1.0 - 1.0 / nf)
}

/// Class-averaged responses accumulated over trials: sums `[S, P, N]` over `S` classes, `P`
/// recorded time points and `N` neurons, and trial counts per class.
#[derive(Clone, Debug)]
pub struct ClassRates {
    /// Classes `S`.
    pub classes: usize,
    /// Recorded time points `P`.
    pub points: usize,
    /// Neurons `N`.
    pub n: usize,
    /// Sums of rates `[S, P, N]`.
    pub sum: Vec<f64>,
    /// Trials per class `[S]`.
    pub count: Vec<u64>,
}

impl ClassRates {
    /// Empty sums.
    pub fn new(classes: usize, points: usize, n: usize) -> Self {
        ClassRates {
            classes,
            points,
            n,
            sum: vec![0.0; classes * points * n],
            count: vec![0; classes],
        }
    }

    /// Adds trial `b` of rates `[T+1, B, N]` (batch size `bsz`) to class `class`, recording
    /// the rate indices `steps` (`steps.len() = P`).
    pub fn add(&mut self, rates: &[f32], bsz: usize, b: usize, class: usize, steps: &[usize]) {
        let n = self.n;
        for (p, &t) in steps.iter().enumerate() {
            let src = &rates[(t * bsz + b) * n..(t * bsz + b + 1) * n];
            let dst = &mut self.sum[(class * self.points + p) * n..(class * self.points + p + 1) * n];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d += f64::from(s);
            }
        }
        self.count[class] += 1;
    }

    /// The class means `r_{i,s}(t)` `[S, P, N]` (NaN for a class without trials).
    pub fn means(&self) -> Vec<f64> {
        let pn = self.points * self.n;
        let mut m = self.sum.clone();
        for (s, &c) in self.count.iter().enumerate() {
            for v in &mut m[s * pn..(s + 1) * pn] {
                *v = if c > 0 { *v / c as f64 } else { f64::NAN };
            }
        }
        m
    }

    /// The mean over all trials of every class `[P, N]` (weighted by trial counts).
    pub fn overall(&self) -> Vec<f64> {
        let pn = self.points * self.n;
        let total: u64 = self.count.iter().sum();
        let mut o = vec![0.0; pn];
        for s in 0..self.classes {
            for (d, &v) in o.iter_mut().zip(&self.sum[s * pn..(s + 1) * pn]) {
                *d += v;
            }
        }
        for v in &mut o {
            *v /= total.max(1) as f64;
        }
        o
    }
}

/// SLI of every neuron at every time point from class means `[S, P, N]`; returns `[N, P]`
/// (row = neuron).
pub(crate) fn sli_map(means: &[f64], classes: usize, points: usize, n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * points];
    let mut r = vec![0.0; classes];
    for p in 0..points {
        for i in 0..n {
            for (s, v) in r.iter_mut().enumerate() {
                *v = means[(s * points + p) * n + i];
            }
            out[i * points + p] = sli(&r);
        }
    }
    out
}

/// Mean of row `i` of a `[N, P]` matrix over the columns `cols` (NaN entries skipped; NaN if
/// none are finite).
fn row_mean(m: &[f64], points: usize, i: usize, cols: &[usize]) -> f64 {
    finite_mean(&cols.iter().map(|&p| m[i * points + p]).collect::<Vec<_>>())
}

/// MSI class code (index into [`MSI_CLASSES`]) of a neuron from its window-mean SLIs.
pub(crate) fn msi_class(active: bool, sli_choice: f64, sli_modality: f64) -> usize {
    let c = active && sli_choice >= SLI_THRESHOLD;
    let m = active && sli_modality >= SLI_THRESHOLD;
    match (c, m) {
        (false, false) => 0,
        (true, false) => 1,
        (false, true) => 2,
        (true, true) => 3,
    }
}

/// Classification-task class code (index into [`LABEL_CLASSES`]) from the last-step SLI.
pub(crate) fn label_class(active: bool, sli_last: f64) -> usize {
    // NaN counts as non-selective.
    if !active {
        0
    } else if sli_last >= UNI_THRESHOLD {
        2
    } else if sli_last >= SLI_THRESHOLD {
        3
    } else {
        1
    }
}

/// Rate indices recorded for a trial of `steps` steps: `0, stride, 2·stride, …` and the last
/// index `steps` (at most [`MAX_POINTS`] + 1 points).
pub(crate) fn record_steps(steps: usize) -> Vec<usize> {
    let stride = steps.div_ceil(MAX_POINTS).max(1);
    let mut v: Vec<usize> = (0..=steps).step_by(stride).collect();
    if *v.last().unwrap_or(&0) != steps {
        v.push(steps);
    }
    v
}

fn matrix_rows(m: &[f64], n: usize, points: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|i| {
            let mut r = vec![i as f64];
            r.extend_from_slice(&m[i * points..(i + 1) * points]);
            r
        })
        .collect()
}

fn time_header(times: &[f64]) -> Vec<String> {
    let mut h = vec!["neuron".to_string()];
    h.extend(times.iter().map(|t| format!("{t}")));
    h
}

fn heatmap(m: &[f64], n: usize, points: usize) -> Plot {
    Plot::Heatmap(Heatmap {
        rows: n,
        cols: points,
        values: m.to_vec(),
        range: (0.0, 1.0),
    })
}

/// Mean SLI over neurons at each time point of a `[N, P]` map (NaN skipped).
fn population_mean(m: &[f64], n: usize, points: usize) -> Vec<f64> {
    (0..points)
        .map(|p| finite_mean(&(0..n).map(|i| m[i * points + p]).collect::<Vec<_>>()))
        .collect()
}

/// The band `m ± h` (`h`: half-widths of the 95 % intervals over seeds).
fn band(m: &[f64], s: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    Some((
        m.iter().zip(s).map(|(a, b)| a - b).collect(),
        m.iter().zip(s).map(|(a, b)| a + b).collect(),
    ))
}

/// Runs the analysis on the runs (seeds) of one configuration; see the module docs.
pub fn run(runs: &[RunData], out: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let first = &runs[0];
    if first.cfg.task.kind == crate::config::TaskKind::Msi {
        run_msi(runs, out, opts)
    } else {
        run_labels(runs, out, opts)
    }
}

/// `f(run, its task, run index, opts)` for every run, in order.
fn per_run<T>(
    runs: &[RunData],
    opts: &AnalysisOptions,
    f: fn(&RunData, &TaskData, &AnalysisOptions, usize) -> Result<T>,
) -> Result<Vec<T>> {
    runs.iter()
        .enumerate()
        .map(|(ri, run)| {
            f(
                run,
                &TaskData::load(&run.cfg, opts.data_dir.as_deref())?,
                opts,
                ri,
            )
        })
        .collect()
}

/// Assembles the analysis result.
fn finish(files: Vec<Data>, figures: Vec<Figure>, summary: serde_json::Value) -> Result<AnalysisResult> {
    Ok(AnalysisResult::with(
        NAME,
        "Neural selectivity (SLI)",
        files,
        figures,
        summary,
    ))
}

fn finite_mean(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() {
        f64::NAN
    } else {
        f.iter().sum::<f64>() / f.len() as f64
    }
}

fn mean_of(v: &[f64]) -> f64 {
    finite_mean(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sli_by_hand() {
        // identical responses → 0; one class only → 1
        assert_eq!(sli(&[2.0, 2.0, 2.0]), 0.0);
        assert!((sli(&[0.0, 3.0, 0.0, 0.0]) - 1.0).abs() < 1e-15);
        // two of ten equal: mean 0.2, mean square 0.2 → (1 − 0.2) / 0.9 = 0.8888…
        let mut r = [0.0; 10];
        r[3] = 1.0;
        r[7] = 1.0;
        assert!((sli(&r) - 0.8 / 0.9).abs() < 1e-15);
        // two classes: (a − b)² / (a² + b²); a = 3, b = 1 → 4 / 10
        assert!((sli(&[3.0, 1.0]) - 0.4).abs() < 1e-15);
        // [1, 2, 3]: mean 2, mean square 14/3 → (1 − 12/14) / (2/3) = 3/14
        assert!((sli(&[1.0, 2.0, 3.0]) - 3.0 / 14.0).abs() < 1e-15);
        // silent neuron → 0; too few classes or NaN → NaN
        assert_eq!(sli(&[0.0, 0.0]), 0.0);
        assert!(sli(&[1.0]).is_nan());
        assert!(sli(&[1.0, f64::NAN]).is_nan());
    }

    #[test]
    fn class_rates_and_sli_map_by_hand() {
        // T = 2 steps (3 rate indices), B = 2 trials, N = 2 neurons; rates [3, 2, 2].
        // trial 0 (class 0): neuron 0 = 1, 1, 1; neuron 1 = 0, 2, 4
        // trial 1 (class 1): neuron 0 = 1, 1, 1; neuron 1 = 0, 0, 0
        let rates: Vec<f32> = vec![
            1.0, 0.0, 1.0, 0.0, // t = 0: (b0 n0, b0 n1, b1 n0, b1 n1)
            1.0, 2.0, 1.0, 0.0, // t = 1
            1.0, 4.0, 1.0, 0.0, // t = 2
        ];
        let steps = [0, 2];
        let mut c = ClassRates::new(2, 2, 2);
        c.add(&rates, 2, 0, 0, &steps);
        c.add(&rates, 2, 1, 1, &steps);
        assert_eq!(c.count, vec![1, 1]);
        let m = c.means();
        // [S, P, N]: class 0 = [[1, 0], [1, 4]], class 1 = [[1, 0], [1, 0]]
        assert_eq!(m, vec![1.0, 0.0, 1.0, 4.0, 1.0, 0.0, 1.0, 0.0]);
        assert_eq!(c.overall(), vec![1.0, 0.0, 1.0, 2.0]);
        let s = sli_map(&m, 2, 2, 2);
        // [N, P]: neuron 0 never selective; neuron 1 silent at t = 0, fully selective at t = 2
        assert_eq!(s, vec![0.0, 0.0, 0.0, 1.0]);
        // a class without trials gives NaN
        let e = ClassRates::new(2, 1, 1);
        assert!(e.means().iter().all(|v| v.is_nan()));
    }

    #[test]
    fn classification_rules() {
        assert_eq!(msi_class(true, 0.3, 0.0), 1);
        assert_eq!(msi_class(true, 0.05, 0.2), 2);
        assert_eq!(msi_class(true, 0.1, 0.1), 3);
        assert_eq!(msi_class(false, 0.9, 0.9), 0);
        assert_eq!(msi_class(true, f64::NAN, 0.0), 0);
        assert_eq!(label_class(false, 1.0), 0);
        assert_eq!(label_class(true, 0.05), 1);
        assert_eq!(label_class(true, f64::NAN), 1);
        assert_eq!(label_class(true, 0.95), 2);
        assert_eq!(label_class(true, 0.5), 3);
        assert_eq!(record_steps(10), (0..=10).collect::<Vec<_>>());
        let r = record_steps(3600);
        assert_eq!((r.len(), r[1], *r.last().unwrap()), (181, 20, 3600));
        let r = record_steps(785);
        assert_eq!(*r.last().unwrap(), 785);
        assert!(r.len() <= MAX_POINTS + 2);
    }

    #[test]
    fn run_on_a_tiny_msi_network() {
        let (o, out) = crate::analysis::perturb::testutil::quick_run(super::run, NAME, "selectivity", 5);
        assert_eq!(o.figures.len(), 4);
        let text = std::fs::read_to_string(out.join("sli_modality.csv")).unwrap();
        assert_eq!(text.lines().count(), 1 + 12);
        for fig in &o.figures {
            if let Plot::Heatmap(h) = &fig.plot {
                assert_eq!(h.rows, 12);
                assert!(
                    h.values
                        .iter()
                        .filter(|v| v.is_finite())
                        .all(|&v| (-1e-9..=1.0 + 1e-9).contains(&v))
                );
            }
        }
        let all = &o.summary_json()["fractions"]["all"];
        let total: f64 = MSI_CLASSES.iter().map(|c| all[*c].as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-9, "{all}");
        assert_eq!(o.summary_json()["trials"].as_u64().unwrap(), 24 * 5);
    }
}
