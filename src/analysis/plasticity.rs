//! Stochastic plasticity (docs/MODEL.md §5.12, §4): the accuracy of one trained ensemble under every
//! evaluation mode, and of sampled concrete networks against their resampling interval `k`.
//!
//! Modes, in the order of their index in the outputs:
//!
//! | index | mode | what runs |
//! |---|---|---|
//! | 0 | `mean-field` | Gaussian-layer forward with fresh ε (what training optimizes) |
//! | 1 | `eps0` | Gaussian-layer forward with ε = 0 |
//! | 2 | `mean` | the mean network `w = μ` |
//! | 3 … | `sampled-k<k>` | concrete networks `w ~ P(w)` resampled every `k` steps, for each `k` of [`INTERVALS`] below `T` ([`intervals`]) |
//! | last | `sampled-kT` | one concrete network per trial (`k = T`) |
//!
//! For pixel MNIST (`T = 784`) and MSI at its test step (`T = 3600` at Δt = 0.5 ms) that is
//! `k ∈ {1, 2, 5, 10, 20, 50, 100, 200, T}`; a short task drops the `k ≥ T` duplicates of
//! `k = T`.
//!
//! Each mode is evaluated with [`evaluate`] on the run's test set ([`test_size`]) with
//! [`repeats`] independent repeats: sampled networks for the sampled modes, draws of ε and the
//! recurrent noise for the others. With several seeds all (seed, repeat) accuracies are
//! pooled; each mode's aggregate is a [`SeedStats`] over them (mean, sample std, 95 %
//! t-interval, `n` = repeats × seeds). Networks retrained with `Ξ ≡ 0`, `π ≡ 0` or both are
//! the [`super::retrain`] analysis; why `k = T` can fail is [`super::dynamics`].
//!
//! Outputs: `plasticity.csv` (per mode: `k`, mean, sample std, 95 % interval, `n`),
//! `plasticity_raw.csv` (every repeat), `plasticity.json` (mode names, MSI accuracy per
//! modality), `summary.json` (per mode the mean under its label, the sample std under
//! `<label>_std`, the full statistics under `modes`); figure `plasticity`: accuracy against
//! `log10 k` with the mean-field, ε = 0 and mean-network accuracies as reference lines.

use super::{AnalysisOptions, RunData};

use super::result::Stat;
use crate::analysis::AnalysisResult;
use crate::data::source::TaskData;
use crate::error::Result;
use crate::infer::{Mode, evaluate};
use crate::output::figure::{Figure, Plot, Series};
use crate::output::{csv, json_data};
use crate::rng::derive_seed;
use crate::stats::SeedStats;
use serde_json::json;
use std::path::Path;

/// Name of the analysis (command line, output folder).
pub const NAME: &str = "plasticity";

/// Section title of the analysis in reports.
const TITLE: &str = "Stochastic plasticity: evaluation modes";

const KEY_EVAL: u64 = 0x504C_0001;

/// Resampling intervals `k` (steps) of the sampled modes below `k = T`; [`intervals`] keeps
/// those shorter than the trial and adds `k = T`.
pub const INTERVALS: [usize; 8] = [1, 2, 5, 10, 20, 50, 100, 200];

/// The resampling intervals for trials of `steps` steps: the [`INTERVALS`] below `steps`,
/// then `usize::MAX` (one network per trial, `k = T`).
pub(crate) fn intervals(steps: usize) -> Vec<usize> {
    let mut k: Vec<usize> = INTERVALS.iter().copied().filter(|&k| k < steps).collect();
    k.push(usize::MAX);
    k
}

/// Repeats (sampled networks / noise draws) per mode: 10 (quick 3).
pub fn repeats(quick: bool) -> usize {
    if quick { 3 } else { 10 }
}

/// Test set per evaluation: `(limit, trials_per_condition)` — MNIST and user tasks the first
/// 1000 test trials (quick 200); MSI 10 trials per condition, 240 trials (quick 4, 96).
pub(crate) fn test_size(quick: bool) -> (usize, usize) {
    if quick { (200, 4) } else { (1000, 10) }
}

/// The evaluated modes for trials of `steps` steps, in index order (see the module docs).
pub fn modes(steps: usize) -> Vec<Mode> {
    let mut m = vec![Mode::MeanField, Mode::Eps0, Mode::Mean];
    m.extend(intervals(steps).into_iter().map(|every| Mode::Sampled { every }));
    m
}

/// Label of a mode in the outputs (`sampled-kT` for one network per trial).
pub(crate) fn mode_label(m: Mode) -> String {
    match m {
        Mode::Sampled { every: usize::MAX } => "sampled-kT".into(),
        m => m.name(),
    }
}

/// The key numbers of the plasticity analysis (`summary.json`). Besides the fields, the JSON
/// holds each mode's pooled mean accuracy under its label (`mean-field`, `sampled-k1`, …,
/// `sampled-kT`) and its pooled sample std under `<label>_std`.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Per evaluation mode, in order.
    pub modes: Vec<ModeSummary>,
    /// Repeats (sampled networks / noise draws) per mode and seed.
    pub repeats: usize,
    /// Test trials per repeat.
    pub test_trials: usize,
    /// Seeds.
    pub seeds: usize,
    /// Steps `T` of a trial (the interval of `sampled-kT`).
    pub k_t: usize,
}

impl Summary {
    /// The numbers of evaluation mode `mode`, if it was evaluated.
    pub fn mode(&self, mode: Mode) -> Option<&ModeSummary> {
        self.modes.iter().find(|m| m.mode == mode)
    }

    /// The numbers of the sampled mode resampling every `k` steps (`usize::MAX`: one network
    /// per trial), if evaluated.
    pub fn sampled(&self, k: usize) -> Option<&ModeSummary> {
        self.mode(Mode::Sampled { every: k })
    }
}

impl serde::Serialize for Summary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for md in &self.modes {
            m.serialize_entry(&mode_label(md.mode), &md.accuracy)?;
            m.serialize_entry(&format!("{}_std", mode_label(md.mode)), &md.accuracy_std)?;
        }
        m.serialize_entry("modes", &self.modes)?;
        m.serialize_entry("repeats", &self.repeats)?;
        m.serialize_entry("test_trials", &self.test_trials)?;
        m.serialize_entry("seeds", &self.seeds)?;
        m.serialize_entry("k_T", &self.k_t)?;
        m.end()
    }
}

/// One evaluation mode of the plasticity analysis.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ModeSummary {
    /// Its position in [`Summary::modes`].
    pub index: usize,
    /// The mode (written as its label).
    #[serde(serialize_with = "label")]
    pub mode: Mode,
    /// Resampling interval in steps (0: not sampled).
    pub k: f64,
    /// Mean accuracy ([`ModeSummary::stats`]`.mean`).
    pub accuracy: f64,
    /// Sample std ([`ModeSummary::stats`]`.sd`).
    pub accuracy_std: f64,
    /// The statistics of the table and the figure: over seeds (each seed's mean over its
    /// repeats; the unit of replication is the training seed) when there are several
    /// seeds, over the repeats (sampled networks or noise draws) of the one run otherwise.
    pub stats: SeedStats,
    /// Statistics over seeds of each seed's accuracy (mean over its repeats): the unit of
    /// replication is the training seed.
    pub over_seeds: Stat,
}

fn label<S: serde::Serializer>(m: &Mode, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&mode_label(*m))
}

/// Runs the analysis on the runs (seeds) of one configuration; see the module docs.
pub fn run(runs: &[RunData], _work: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let reps = repeats(opts.quick);
    let (limit, tpc) = test_size(opts.quick);
    let mut modes: Vec<Mode> = Vec::new();
    // accs[mode] = pooled (seed × repeat) accuracies; per-seed reports for JSON.
    let mut accs: Vec<Vec<f64>> = Vec::new();
    // seed_accs[mode] = each seed's accuracy (mean over its repeats).
    let mut seed_accs: Vec<Vec<f64>> = Vec::new();
    let mut raw = Vec::new();
    let mut reports = Vec::new();
    let mut trials = 0;
    let mut steps = 0;
    for (ri, run) in runs.iter().enumerate() {
        let cfg = &run.cfg;
        let task = TaskData::load(cfg, opts.data_dir.as_deref())?;
        let test = task.test_set(cfg, cfg.eval.batch, limit, tpc);
        steps = test.batches.first().map_or(0, |b| b.steps);
        if ri == 0 {
            modes = self::modes(steps);
            accs = vec![Vec::new(); modes.len()];
            seed_accs = vec![Vec::new(); modes.len()];
        }
        let mut run_reports = Vec::new();
        for (mi, &mode) in modes.iter().enumerate() {
            let r = evaluate(
                &run.net,
                cfg,
                task.kind(),
                &test,
                mode,
                reps,
                derive_seed(opts.seed, &[KEY_EVAL, ri as u64, mi as u64]),
            )?;
            trials = r.trials;
            seed_accs[mi].push(r.accuracy);
            for (k, &a) in r.accuracies.iter().enumerate() {
                raw.push(vec![ri as f64, mi as f64, k as f64, a]);
                accs[mi].push(a);
            }
            run_reports.push(json!({
                "mode": mode_label(mode),
                "accuracy": r.accuracy,
                "accuracies": r.accuracies,
                "by_modality": r.by_modality,
            }));
        }
        reports.push(json!({ "run": run.dir.display().to_string(), "modes": run_reports }));
    }
    let k_of = |m: Mode| match m {
        Mode::Sampled { every } => every.min(steps) as f64,
        _ => 0.0,
    };
    // Several seeds: the seed is the unit (repeats averaged within a seed first); one run:
    // its repeats.
    let stats: Vec<SeedStats> = if runs.len() > 1 {
        seed_accs.iter().map(|a| SeedStats::of(a)).collect()
    } else {
        accs.iter().map(|a| SeedStats::of(a)).collect()
    };
    let mut rows = Vec::new();
    let mut summary_modes = Vec::new();
    for (mi, &mode) in modes.iter().enumerate() {
        let st = &stats[mi];
        rows.push(vec![
            mi as f64,
            k_of(mode),
            st.mean,
            st.sd,
            st.lo,
            st.hi,
            st.n as f64,
        ]);
        summary_modes.push(ModeSummary {
            index: mi,
            mode,
            k: k_of(mode),
            accuracy: st.mean,
            accuracy_std: st.sd,
            stats: st.clone(),
            over_seeds: Stat::of(&seed_accs[mi]),
        });
    }
    let mut files = vec![
        csv(
            "plasticity.csv",
            &[
                "mode_index",
                "k",
                "accuracy_mean",
                "accuracy_sd",
                "ci95_lo",
                "ci95_hi",
                "n",
            ],
            &rows,
        )?,
        csv(
            "plasticity_raw.csv",
            &["run", "mode_index", "repeat", "accuracy"],
            &raw,
        )?,
    ];
    let labels: Vec<String> = modes.iter().map(|&m| mode_label(m)).collect();
    files.push(json_data(
        "plasticity.json",
        &json!({
            "modes": labels,
            "k_T": steps,
            "repeats": reps,
            "test_trials": trials,
            "runs": reports,
        }),
    )?);
    let summary = Summary {
        modes: summary_modes,
        repeats: reps,
        test_trials: trials,
        seeds: runs.len(),
        k_t: steps,
    };
    let figure = k_figure(&modes, &stats, steps, reps, runs.len(), trials);
    Ok(AnalysisResult::with(
        NAME,
        TITLE,
        files,
        vec![figure],
        super::Summary::Plasticity(summary),
    ))
}

/// Accuracy against `log10 k` for the sampled modes (mean with the 95 % interval as a band),
/// with the non-sampled modes as horizontal reference lines across the same range.
fn k_figure(
    modes: &[Mode],
    stats: &[SeedStats],
    steps: usize,
    reps: usize,
    seeds: usize,
    trials: usize,
) -> Figure {
    let unit = if seeds > 1 {
        format!("over n = {seeds} training seeds (each seed's mean over its networks first)")
    } else {
        format!("over the n = {reps} sampled networks of one run (one seed: no interval over seeds)")
    };
    let sampled: Vec<(usize, f64)> = modes
        .iter()
        .enumerate()
        .filter_map(|(i, m)| match m {
            Mode::Sampled { every } => Some((i, ((*every).min(steps.max(1)) as f64).log10())),
            _ => None,
        })
        .collect();
    let xs: Vec<f64> = sampled.iter().map(|&(_, x)| x).collect();
    let pick =
        |f: &dyn Fn(&SeedStats) -> f64| sampled.iter().map(|&(i, _)| f(&stats[i])).collect::<Vec<f64>>();
    let (x0, x1) = (
        xs.first().copied().unwrap_or(0.0),
        xs.last().copied().unwrap_or(1.0),
    );
    let mut series = vec![Series {
        label: "sampled, every k steps".into(),
        x: xs.clone(),
        y: pick(&|s| s.mean),
        band: (stats.iter().any(|s| s.n >= 2)).then(|| {
            (
                pick(&|s| if s.n >= 2 { s.lo } else { s.mean }),
                pick(&|s| if s.n >= 2 { s.hi } else { s.mean }),
            )
        }),
        markers: true,
    }];
    for (i, m) in modes.iter().enumerate() {
        if matches!(m, Mode::Sampled { .. }) {
            continue;
        }
        series.push(Series {
            label: match m {
                Mode::MeanField => "mean field".into(),
                Mode::Eps0 => "ε = 0".into(),
                _ => "mean w = μ".into(),
            },
            x: vec![x0, x1],
            y: vec![stats[i].mean; 2],
            band: None,
            markers: false,
        });
    }
    let ks: Vec<String> = modes
        .iter()
        .filter_map(|m| match m {
            Mode::Sampled { every } if *every >= steps => Some(format!("T = {steps}")),
            Mode::Sampled { every } => Some(every.to_string()),
            _ => None,
        })
        .collect();
    Figure {
        name: "plasticity".into(),
        title: "Accuracy of sampled networks against the resampling interval k".into(),
        x_label: format!("log10 k (k in steps; log10 T = {x1:.2})"),
        y_label: "test accuracy (fraction correct)".into(),
        log_y: false,
        caption: format!(
            "Test accuracy of concrete networks w ~ P(w) redrawn every k steps (k = {}), against \
             log10 k; mean with the 95 % t-interval of the mean as a band, {unit}; {reps} sampled \
             networks per seed, {trials} test trials per network. Horizontal lines: the same \
             ensemble's mean-field (fresh ε), ε = 0 and mean-network (w = μ) accuracies; without \
             recurrent noise (σ = 0) the ε = 0 forward is the mean network and those two lines \
             coincide. k = T is one network held for the whole trial.",
            ks.join(", ")
        ),
        plot: Plot::Lines(series),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_list_and_labels() {
        // Long trials (pixel MNIST 784, MSI 3600): the whole k list, then k = T.
        for steps in [784, 3600] {
            let m = modes(steps);
            assert_eq!(m.len(), 3 + 9);
            let l: Vec<String> = m.iter().map(|&x| mode_label(x)).collect();
            assert_eq!(
                l,
                [
                    "mean-field",
                    "eps0",
                    "mean",
                    "sampled-k1",
                    "sampled-k2",
                    "sampled-k5",
                    "sampled-k10",
                    "sampled-k20",
                    "sampled-k50",
                    "sampled-k100",
                    "sampled-k200",
                    "sampled-kT"
                ]
            );
        }
        // Short trials drop the k ≥ T duplicates of k = T.
        assert_eq!(intervals(28), vec![1, 2, 5, 10, 20, usize::MAX]);
        assert_eq!(intervals(20), vec![1, 2, 5, 10, usize::MAX]);
        assert_eq!(intervals(1), vec![usize::MAX]);
        assert_eq!(intervals(201), vec![1, 2, 5, 10, 20, 50, 100, 200, usize::MAX]);
    }

    #[test]
    fn run_on_a_tiny_msi_network() {
        let (o, out) = crate::analysis::perturb::testutil::quick_run(super::run, NAME, "plasticity", 4);
        // T = 90: k = 1, 2, 5, 10, 20, 50 and T.
        let summary = o.summary_json();
        let modes = summary["modes"].as_array().unwrap();
        assert_eq!(modes.len(), 10);
        for m in modes {
            let a = m["accuracy"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&a), "{m}");
            assert_eq!(m["stats"]["n"].as_u64().unwrap() as usize, repeats(true));
        }
        assert_eq!(modes[9]["k"].as_f64().unwrap(), 90.0);
        assert_eq!(modes[8]["mode"], "sampled-k50");
        let raw = std::fs::read_to_string(out.join("plasticity_raw.csv")).unwrap();
        assert_eq!(raw.lines().count(), 1 + 10 * repeats(true));
        let Plot::Lines(series) = &o.figures[0].plot else {
            panic!("a line figure")
        };
        assert_eq!(series.len(), 4);
        assert_eq!(series[0].x.len(), 7);
        assert!((series[0].x[6] - 90f64.log10()).abs() < 1e-12);
        assert_eq!(o.summary_json()["test_trials"].as_u64().unwrap(), 96);
    }
}
