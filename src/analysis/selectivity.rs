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

use super::{AnalysisOptions, RunData};

use crate::data::source::TaskData;
use crate::error::Result;
use crate::infer::{RateProbe, rate_test_set};
use crate::output::figure::{Figure, Heatmap, Histogram, Plot, Series};
use crate::output::{AnalysisOutput, mean_ci, mean_std, write_csv, write_json};
use crate::rng::derive_seed;
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

/// Per-run result of the MSI protocol.
struct MsiRun {
    steps: Vec<usize>,
    dt_ms: f64,
    choice: Vec<f64>,
    modality: Vec<f64>,
    mean_rate: Vec<f64>,
    class: Vec<usize>,
    sli_c: Vec<f64>,
    sli_m: Vec<f64>,
    trials: usize,
    choice_counts: Vec<u64>,
    /// Start of the stimulus and of the decision period, ms.
    period_starts_ms: (f64, f64),
}

fn msi_run(run: &RunData, task: &TaskData, opts: &AnalysisOptions, ri: usize) -> Result<MsiRun> {
    let TaskData::Msi { test, .. } = task else {
        unreachable!("msi_run is only called for MSI tasks")
    };
    let cfg = &run.cfg;
    let n = run.net.dims().n;
    let p = test.periods();
    let tt = p.total();
    let steps = record_steps(tt);
    let tpc = trials_per_condition(opts.quick);
    let mut probe = RateProbe::new(&run.net, cfg)?;
    let mut choice = ClassRates::new(2, steps.len(), n);
    let mut modality = ClassRates::new(2, steps.len(), n);
    let mut trials = 0;
    // One condition per batch keeps the rates small ([T+1, tpc, N]).
    for (ci, c) in msi::conditions().into_iter().enumerate() {
        let key = |k: u64| derive_seed(opts.seed, &[k, ri as u64, ci as u64]);
        let (b, rates, z) = probe.condition(test, c, tpc, (key(KEY_TRIALS), key(KEY_NOISE)))?;
        let ch = msi::choices(&z);
        for (bi, &choice_b) in ch.iter().enumerate() {
            choice.add(&rates, b.size, bi, choice_b, &steps);
            match c.modality {
                Modality::Visual => modality.add(&rates, b.size, bi, 0, &steps),
                Modality::Auditory => modality.add(&rates, b.size, bi, 1, &steps),
                Modality::Both => {}
            }
        }
        trials += b.size;
    }
    let np = steps.len();
    let sc = sli_map(&choice.means(), 2, np, n);
    let sm = sli_map(&modality.means(), 2, np, n);
    // Window: rate indices after the first stimulus step through the end of the decision.
    let lo = p.stimulus_range().start + 1;
    let window: Vec<usize> = (0..np).filter(|&i| steps[i] >= lo).collect();
    let overall = choice.overall();
    let mean_rate: Vec<f64> = (0..n)
        .map(|i| window.iter().map(|&q| overall[q * n + i]).sum::<f64>() / window.len().max(1) as f64)
        .collect();
    let max_rate = mean_rate.iter().cloned().fold(0.0, f64::max);
    let mut class = Vec::new();
    let (mut sli_c, mut sli_m) = (Vec::new(), Vec::new());
    for (i, &rate) in mean_rate.iter().enumerate() {
        let active = max_rate > 0.0 && rate >= ACTIVE_FRACTION * max_rate;
        let c = row_mean(&sc, np, i, &window);
        let m = row_mean(&sm, np, i, &window);
        class.push(msi_class(active, c, m));
        sli_c.push(c);
        sli_m.push(m);
    }
    Ok(MsiRun {
        steps,
        dt_ms: test.config().dt_ms,
        choice: sc,
        modality: sm,
        mean_rate,
        class,
        sli_c,
        sli_m,
        trials,
        choice_counts: choice.count.clone(),
        period_starts_ms: (
            p.stimulus_range().start as f64 * test.config().dt_ms,
            p.decision_range().start as f64 * test.config().dt_ms,
        ),
    })
}

/// Per-run result for a labelled classification task.
struct LabelRun {
    steps: Vec<usize>,
    sli: Vec<f64>,
    mean_rate: Vec<f64>,
    sli_last: Vec<f64>,
    class: Vec<usize>,
    trials: usize,
    classes: usize,
}

fn label_run(run: &RunData, task: &TaskData, opts: &AnalysisOptions, ri: usize) -> Result<LabelRun> {
    let cfg = &run.cfg;
    let d = run.net.dims();
    let n = d.n;
    // Batches small enough that one batch's rates fit the budget.
    let (test, tt) = rate_test_set(task, cfg, n, RATE_BUDGET, mnist_images(opts.quick), NAME)?;
    let steps = record_steps(tt);
    let classes = d.k;
    let mut acc = ClassRates::new(classes, steps.len(), n);
    let mut probe = RateProbe::new(&run.net, cfg)?;
    let seed = |bi: usize| derive_seed(opts.seed, &[KEY_NOISE, ri as u64, bi as u64]);
    let trials = probe.labelled(&test, "selectivity", seed, |r, size, t, l| {
        acc.add(r, size, t, l, &steps)
    })?;
    let np = steps.len();
    let map = sli_map(&acc.means(), classes, np, n);
    let overall = acc.overall();
    let mean_rate: Vec<f64> = (0..n)
        .map(|i| (0..np).map(|q| overall[q * n + i]).sum::<f64>() / np as f64)
        .collect();
    let max_rate = mean_rate.iter().cloned().fold(0.0, f64::max);
    let sli_last: Vec<f64> = (0..n).map(|i| map[i * np + np - 1]).collect();
    let class = (0..n)
        .map(|i| {
            let active = max_rate > 0.0 && mean_rate[i] >= ACTIVE_FRACTION * max_rate;
            label_class(active, sli_last[i])
        })
        .collect();
    Ok(LabelRun {
        steps,
        sli: map,
        mean_rate,
        sli_last,
        class,
        trials,
        classes,
    })
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
pub fn run(runs: &[RunData], out: &Path, opts: &AnalysisOptions) -> Result<AnalysisOutput> {
    super::start(runs, NAME, out)?;
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

/// Writes `summary.json` into `out` and assembles the analysis output.
fn finish(
    out: &Path,
    files: Vec<std::path::PathBuf>,
    figures: Vec<Figure>,
    summary: serde_json::Value,
) -> Result<AnalysisOutput> {
    AnalysisOutput::written(out, NAME, "Neural selectivity (SLI)", files, figures, summary)
}

fn run_msi(runs: &[RunData], out: &Path, opts: &AnalysisOptions) -> Result<AnalysisOutput> {
    let results = per_run(runs, opts, msi_run)?;
    let r0 = &results[0];
    let n = r0.class.len();
    let np = r0.steps.len();
    let times: Vec<f64> = r0.steps.iter().map(|&t| t as f64 * r0.dt_ms).collect();
    let header = time_header(&times);
    let hdr: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut files = vec![
        write_csv(&out.join("sli_choice.csv"), &hdr, &matrix_rows(&r0.choice, n, np))?,
        write_csv(
            &out.join("sli_modality.csv"),
            &hdr,
            &matrix_rows(&r0.modality, n, np),
        )?,
    ];
    let groups = msi::input_groups(n);
    let group_of = |i: usize| groups.iter().position(|g| g.contains(&i)).unwrap_or(2);
    let neuron_rows: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            vec![
                i as f64,
                group_of(i) as f64,
                r0.mean_rate[i],
                r0.sli_c[i],
                r0.sli_m[i],
                r0.class[i] as f64,
            ]
        })
        .collect();
    files.push(write_csv(
        &out.join("neurons.csv"),
        &[
            "neuron",
            "group",
            "mean_rate",
            "sli_choice",
            "sli_modality",
            "class",
        ],
        &neuron_rows,
    )?);
    // Fractions per class: overall (index 3) and per group (0 auditory, 1 visual, 2 none),
    // one series per seed.
    let group_names = ["auditory", "visual", "none", "all"];
    let mut frac: Vec<Vec<Vec<f64>>> = vec![Vec::new(); 4];
    let mut count_rows = Vec::new();
    for (ri, r) in results.iter().enumerate() {
        let rn = r.class.len();
        let rg = msi::input_groups(rn);
        for (gi, members) in rg.iter().cloned().chain(std::iter::once(0..rn)).enumerate() {
            let mut c = [0usize; 4];
            for i in members.clone() {
                c[r.class[i]] += 1;
            }
            let total = members.len().max(1) as f64;
            frac[gi].push(c.iter().map(|&x| x as f64 / total).collect());
            let mut row = vec![ri as f64, gi as f64];
            row.extend(c.iter().map(|&x| x as f64));
            count_rows.push(row);
        }
    }
    files.push(write_csv(
        &out.join("classes.csv"),
        &["run", "group", "neither", "choice", "modality", "mixed"],
        &count_rows,
    )?);
    let xs: Vec<f64> = (0..4).map(|i| i as f64).collect();
    let mut frac_series = Vec::new();
    let mut summary_groups = serde_json::Map::new();
    for (gi, name) in group_names.iter().enumerate() {
        let (m, s) = mean_std(&frac[gi]);
        let h = mean_ci(&frac[gi]).1;
        let mut g = serde_json::Map::new();
        for (ci, cname) in MSI_CLASSES.iter().enumerate() {
            g.insert((*cname).into(), json!(m[ci]));
            g.insert(format!("{cname}_std"), json!(s[ci]));
        }
        summary_groups.insert((*name).into(), serde_json::Value::Object(g));
        frac_series.push(Series {
            label: format!("group: {name}"),
            x: xs.clone(),
            y: m.clone(),
            band: band(&m, &h),
            markers: true,
        });
    }
    // Population-mean SLI over time, mean ± std over seeds.
    let pm_c: Vec<Vec<f64>> = results
        .iter()
        .map(|r| population_mean(&r.choice, r.class.len(), r.steps.len()))
        .collect();
    let pm_m: Vec<Vec<f64>> = results
        .iter()
        .map(|r| population_mean(&r.modality, r.class.len(), r.steps.len()))
        .collect();
    let (cm, cs) = mean_ci(&pm_c);
    let (mm, ms) = mean_ci(&pm_m);
    let seeds = runs.len();
    let tpc = trials_per_condition(opts.quick);
    let settings = format!(
        "Mean-field rates, MSI test protocol (Δt = {} ms, {} trials per condition, {} trials), \
         recorded every {} ms",
        r0.dt_ms,
        tpc,
        r0.trials,
        times.get(1).copied().unwrap_or(0.0)
    );
    // The two heat maps share their axes: neurons (rows) by recorded time (columns).
    let sli_map_figure = |name: &str, title: &str, caption: String, values: &[f64]| Figure {
        name: name.into(),
        title: title.into(),
        x_label: format!(
            "time point (0 … {np}−1, ×{:.1} ms)",
            times.get(1).copied().unwrap_or(0.0)
        ),
        y_label: "neuron (index; groups auditory, visual, none)".into(),
        log_y: false,
        caption,
        plot: heatmap(values, n, np),
    };
    let figures = vec![
        sli_map_figure(
            "sli_choice",
            "Choice selectivity (SLI, high vs low choice)",
            format!(
                "SLI (Eq. 15) of each neuron (rows, index order: units {:?} auditory, {:?} visual, \
                 {:?} no input) at each recorded time (columns) with the network's own choice \
                 (high / low) as the two classes; first seed. {settings}.",
                groups[0], groups[1], groups[2]
            ),
            &r0.choice,
        ),
        sli_map_figure(
            "sli_modality",
            "Modality selectivity (SLI, visual vs auditory trials)",
            format!(
                "SLI (Eq. 15) of each neuron (rows, index order) at each recorded time (columns) \
                 with the modality of unisensory trials (visual / auditory) as the two classes; \
                 first seed. {settings}."
            ),
            &r0.modality,
        ),
        Figure {
            name: "sli_population".into(),
            title: "Population-mean selectivity over the trial".into(),
            x_label: "time in the trial (ms)".into(),
            y_label: "mean SLI over neurons".into(),
            log_y: false,
            caption: format!(
                "SLI averaged over all neurons, for choice and modality classes; mean ± std over \
                 {seeds} seed(s). {settings}. The stimulus starts at {} ms and the decision period \
                 at {} ms.",
                r0.period_starts_ms.0, r0.period_starts_ms.1
            ),
            plot: Plot::Lines(vec![
                Series {
                    label: "choice".into(),
                    x: times.clone(),
                    y: cm.clone(),
                    band: band(&cm, &cs),
                    markers: false,
                },
                Series {
                    label: "modality".into(),
                    x: times.clone(),
                    y: mm.clone(),
                    band: band(&mm, &ms),
                    markers: false,
                },
            ]),
        },
        Figure {
            name: "selectivity_classes".into(),
            title: "Selectivity classes of the recurrent units".into(),
            x_label: "class (0 neither, 1 choice, 2 modality, 3 mixed)".into(),
            y_label: "fraction of units in the group".into(),
            log_y: false,
            caption: format!(
                "Fraction of units per selectivity class, per input group and overall; mean ± \
                 std over {seeds} seed(s). A unit is selective to choice / modality if it is \
                 active (mean rate ≥ {ACTIVE_FRACTION} × the largest) and its SLI averaged over \
                 the stimulus and decision periods is ≥ {SLI_THRESHOLD}; mixed = both. {settings}."
            ),
            plot: Plot::Lines(frac_series),
        },
    ];
    let choice_counts: Vec<Vec<u64>> = results.iter().map(|r| r.choice_counts.clone()).collect();
    files.push(write_json(
        &out.join("selectivity.json"),
        &json!({
            "task": "msi",
            "classes": MSI_CLASSES,
            "groups": group_names,
            "sli_threshold": SLI_THRESHOLD,
            "active_fraction": ACTIVE_FRACTION,
            "trials_per_condition": tpc,
            "record_steps": r0.steps,
            "record_times_ms": times,
            "choice_trials_high_low": choice_counts,
        }),
    )?);
    let summary = json!({
        "fractions": summary_groups,
        "trials": r0.trials,
        "trials_per_condition": tpc,
        "seeds": seeds,
        "sli_threshold": SLI_THRESHOLD,
        "mean_sli_choice_window": mean_of(&results.iter().map(|r| finite_mean(&r.sli_c)).collect::<Vec<_>>()),
        "mean_sli_modality_window": mean_of(&results.iter().map(|r| finite_mean(&r.sli_m)).collect::<Vec<_>>()),
    });
    finish(out, files, figures, summary)
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

fn run_labels(runs: &[RunData], out: &Path, opts: &AnalysisOptions) -> Result<AnalysisOutput> {
    let results = per_run(runs, opts, label_run)?;
    let r0 = &results[0];
    let n = r0.class.len();
    let np = r0.steps.len();
    let times: Vec<f64> = r0.steps.iter().map(|&t| t as f64).collect();
    let header = time_header(&times);
    let hdr: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut files = vec![write_csv(
        &out.join("sli_label.csv"),
        &hdr,
        &matrix_rows(&r0.sli, n, np),
    )?];
    let neuron_rows: Vec<Vec<f64>> = (0..n)
        .map(|i| vec![i as f64, r0.mean_rate[i], r0.sli_last[i], r0.class[i] as f64])
        .collect();
    files.push(write_csv(
        &out.join("neurons.csv"),
        &["neuron", "mean_rate", "sli_last", "class"],
        &neuron_rows,
    )?);
    let mut frac = Vec::new();
    let mut count_rows = Vec::new();
    for (ri, r) in results.iter().enumerate() {
        let mut c = [0usize; 4];
        for &k in &r.class {
            c[k] += 1;
        }
        frac.push(
            c.iter()
                .map(|&x| x as f64 / r.class.len().max(1) as f64)
                .collect::<Vec<_>>(),
        );
        let mut row = vec![ri as f64];
        row.extend(c.iter().map(|&x| x as f64));
        count_rows.push(row);
    }
    files.push(write_csv(
        &out.join("classes.csv"),
        &["run", "silent", "non_selective", "uni_selective", "mixed"],
        &count_rows,
    )?);
    let (fm, fs) = mean_ci(&frac);
    let pm: Vec<Vec<f64>> = results
        .iter()
        .map(|r| population_mean(&r.sli, r.class.len(), r.steps.len()))
        .collect();
    let (pmm, pms) = mean_ci(&pm);
    let seeds = runs.len();
    let settings = format!(
        "Mean-field rates over {} test trials, {} classes (labels), recorded every {} steps",
        r0.trials,
        r0.classes,
        times.get(1).copied().unwrap_or(0.0)
    );
    // Histogram of the last-step SLI of active neurons, pooled over seeds.
    let edges: Vec<f64> = (0..=20).map(|i| i as f64 / 20.0).collect();
    let mut counts = vec![0.0; 20];
    for r in &results {
        for (i, &s) in r.sli_last.iter().enumerate() {
            if r.class[i] != 0 && s.is_finite() {
                counts[((s * 20.0) as usize).min(19)] += 1.0;
            }
        }
    }
    let figures = vec![
        Figure {
            name: "sli_label".into(),
            title: "Selectivity (SLI over classes) of each unit over time".into(),
            x_label: format!(
                "time point (0 … {np}−1, ×{} steps)",
                times.get(1).copied().unwrap_or(0.0)
            ),
            y_label: "neuron (index)".into(),
            log_y: false,
            caption: format!(
                "SLI (Eq. 15) of each neuron (rows) at each recorded step (columns); first seed. {settings}."
            ),
            plot: heatmap(&r0.sli, n, np),
        },
        Figure {
            name: "sli_population".into(),
            title: "Population-mean selectivity over the sequence".into(),
            x_label: "time step".into(),
            y_label: "mean SLI over neurons".into(),
            log_y: false,
            caption: format!("SLI averaged over all neurons; mean ± std over {seeds} seed(s). {settings}."),
            plot: Plot::Lines(vec![Series {
                label: "SLI".into(),
                x: times.clone(),
                y: pmm.clone(),
                band: band(&pmm, &pms),
                markers: false,
            }]),
        },
        Figure {
            name: "sli_last_hist".into(),
            title: "Selectivity at the readout step".into(),
            x_label: "SLI at the last step".into(),
            y_label: "active units (count)".into(),
            log_y: false,
            caption: format!(
                "Histogram of the last-step SLI of active units (mean rate ≥ {ACTIVE_FRACTION} × \
                 the largest), pooled over {seeds} seed(s). {settings}."
            ),
            plot: Plot::Histograms(vec![Histogram {
                label: "active units".into(),
                edges,
                counts,
            }]),
        },
        Figure {
            name: "selectivity_classes".into(),
            title: "Selectivity classes of the recurrent units".into(),
            x_label: "class (0 silent, 1 non-selective, 2 uni-selective, 3 mixed)".into(),
            y_label: "fraction of units".into(),
            log_y: false,
            caption: format!(
                "Fraction of units per class at the last step: silent (mean rate < \
                 {ACTIVE_FRACTION} × the largest), non-selective (SLI < {SLI_THRESHOLD}), \
                 uni-selective (SLI ≥ {UNI_THRESHOLD}), mixed (in between); mean ± std over \
                 {seeds} seed(s). {settings}."
            ),
            plot: Plot::Lines(vec![Series {
                label: "all units".into(),
                x: (0..4).map(|i| i as f64).collect(),
                y: fm.clone(),
                band: band(&fm, &fs),
                markers: true,
            }]),
        },
    ];
    files.push(write_json(
        &out.join("selectivity.json"),
        &json!({
            "task": runs[0].cfg.task.kind,
            "classes": LABEL_CLASSES,
            "sli_threshold": SLI_THRESHOLD,
            "uni_threshold": UNI_THRESHOLD,
            "active_fraction": ACTIVE_FRACTION,
            "record_steps": r0.steps,
        }),
    )?);
    let mut fr = serde_json::Map::new();
    for (ci, cname) in LABEL_CLASSES.iter().enumerate() {
        fr.insert((*cname).into(), json!(fm[ci]));
        fr.insert(format!("{cname}_std"), json!(fs[ci]));
    }
    let summary = json!({
        "fractions": fr,
        "trials": r0.trials,
        "seeds": seeds,
        "mean_sli_last": mean_of(&results.iter().map(|r| finite_mean(&r.sli_last)).collect::<Vec<_>>()),
    });
    finish(out, files, figures, summary)
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
        let all = &o.summary["fractions"]["all"];
        let total: f64 = MSI_CLASSES.iter().map(|c| all[*c].as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-9, "{all}");
        assert_eq!(o.summary["trials"].as_u64().unwrap(), 24 * 5);
    }
}
