//! Stochastic plasticity (DESIGN §5.12, §4): the accuracy of one trained ensemble under every
//! evaluation mode.
//!
//! Modes, in the order of their index in the outputs:
//!
//! | index | mode | what runs |
//! |---|---|---|
//! | 0 | `mean-field` | Gaussian-layer forward with fresh ε (what training optimizes) |
//! | 1 | `eps0` | Gaussian-layer forward with ε = 0 |
//! | 2 | `mean` | the mean network `w = μ` |
//! | 3 | `sampled-k1` | concrete networks `w ~ P(w)` resampled every step (dynamic network) |
//! | 4 | `sampled-k10` | resampled every 10 steps |
//! | 5 | `sampled-k100` | resampled every 100 steps |
//! | 6 | `sampled-kT` | one concrete network per trial (`k = T`) |
//!
//! Each mode is evaluated with [`evaluate`] on the run's test set ([`test_size`]) with
//! [`repeats`] independent repeats: sampled networks for the sampled modes, draws of ε and the
//! recurrent noise for the others. With several seeds the spread pools all
//! (seed, repeat) accuracies. Networks retrained with `Ξ ≡ 0`, `π ≡ 0` or both are the
//! [`super::retrain`] analysis.
//!
//! Outputs: `plasticity.csv` (per mode: mean and std of the accuracy), `plasticity_raw.csv`
//! (every repeat), `plasticity.json` (mode names, MSI accuracy per modality), `summary.json`.

use super::{AnalysisOptions, AnalysisOutput, RunData, mean_std, write_csv, write_json};
use crate::error::{Result, SasError};
use crate::report::figure::{Figure, Plot, Series};
use crate::rng::derive_seed;
use crate::train::eval::{Mode, evaluate};
use crate::train::source::TaskData;
use serde_json::json;
use std::path::Path;

/// Name of the analysis (command line, output folder).
pub const NAME: &str = "plasticity";

const KEY_EVAL: u64 = 0x504C_0001;

/// Resampling intervals `k` of the sampled modes (`usize::MAX` = once per trial, `k = T`).
pub const INTERVALS: [usize; 4] = [1, 10, 100, usize::MAX];

/// Repeats (sampled networks / noise draws) per mode: 10 (quick 3).
pub fn repeats(quick: bool) -> usize {
    if quick { 3 } else { 10 }
}

/// Test set per evaluation: `(limit, trials_per_condition)` — MNIST and user tasks the first
/// 1000 test trials (quick 200); MSI 10 trials per condition, 240 trials (quick 4, 96).
pub fn test_size(quick: bool) -> (usize, usize) {
    if quick { (200, 4) } else { (1000, 10) }
}

/// The evaluated modes, in index order (see the module docs).
pub fn modes() -> Vec<Mode> {
    let mut m = vec![Mode::MeanField, Mode::Eps0, Mode::Mean];
    m.extend(INTERVALS.iter().map(|&every| Mode::Sampled { every }));
    m
}

/// Label of a mode in the outputs (`sampled-kT` for one network per trial).
pub fn mode_label(m: Mode) -> String {
    match m {
        Mode::Sampled { every: usize::MAX } => "sampled-kT".into(),
        m => m.name(),
    }
}

/// Runs the analysis on the runs (seeds) of one configuration; see the module docs.
pub fn run(runs: &[RunData], out: &Path, opts: &AnalysisOptions) -> Result<AnalysisOutput> {
    if runs.is_empty() {
        return Err(SasError::InvalidValue {
            name: NAME.into(),
            reason: "no runs given".into(),
        });
    }
    std::fs::create_dir_all(out).map_err(|source| SasError::Io {
        action: "creating",
        path: out.to_path_buf(),
        source,
    })?;
    let reps = repeats(opts.quick);
    let (limit, tpc) = test_size(opts.quick);
    let modes = modes();
    // accs[mode] = pooled (seed × repeat) accuracies; per-seed reports for JSON.
    let mut accs: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    let mut raw = Vec::new();
    let mut reports = Vec::new();
    let mut trials = 0;
    let mut steps = 0;
    for (ri, run) in runs.iter().enumerate() {
        let cfg = &run.cfg;
        let task = TaskData::load(cfg, opts.data_dir.as_deref())?;
        let test = task.test_set(cfg, cfg.eval.batch, limit, tpc);
        steps = test.batches.first().map_or(0, |b| b.steps);
        let mut run_reports = Vec::new();
        for (mi, &mode) in modes.iter().enumerate() {
            let r = evaluate(
                &run.net,
                cfg,
                task.name(),
                &test,
                mode,
                reps,
                derive_seed(opts.seed, &[KEY_EVAL, ri as u64, mi as u64]),
            )?;
            trials = r.trials;
            for (k, &a) in r.accuracies.iter().enumerate() {
                raw.push(vec![ri as f64, mi as f64, k as f64, a]);
                accs[mi].push(a);
            }
            run_reports.push(json!({
                "mode": mode_label(mode),
                "accuracy": r.accuracy,
                "accuracy_std": r.accuracy_std,
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
    let mut means = Vec::new();
    let mut stds = Vec::new();
    let mut rows = Vec::new();
    let mut summary_modes = Vec::new();
    let mut summary = serde_json::Map::new();
    for (mi, &mode) in modes.iter().enumerate() {
        // One single-value series per (seed, repeat): mean and std over all of them.
        let series: Vec<Vec<f64>> = accs[mi].iter().map(|&v| vec![v]).collect();
        let (m, s) = mean_std(&series);
        means.push(m[0]);
        stds.push(s[0]);
        rows.push(vec![mi as f64, k_of(mode), m[0], s[0], series.len() as f64]);
        summary_modes.push(json!({
            "index": mi, "mode": mode_label(mode), "k": k_of(mode),
            "accuracy": m[0], "accuracy_std": s[0],
        }));
        summary.insert(mode_label(mode), json!(m[0]));
        summary.insert(format!("{}_std", mode_label(mode)), json!(s[0]));
    }
    let mut files = vec![
        write_csv(
            &out.join("plasticity.csv"),
            &["mode_index", "k", "accuracy_mean", "accuracy_std", "samples"],
            &rows,
        )?,
        write_csv(
            &out.join("plasticity_raw.csv"),
            &["run", "mode_index", "repeat", "accuracy"],
            &raw,
        )?,
    ];
    let labels: Vec<String> = modes.iter().map(|&m| mode_label(m)).collect();
    files.push(write_json(
        &out.join("plasticity.json"),
        &json!({
            "modes": labels,
            "k_T": steps,
            "repeats": reps,
            "test_trials": trials,
            "runs": reports,
        }),
    )?);
    summary.insert("modes".into(), json!(summary_modes));
    summary.insert("repeats".into(), json!(reps));
    summary.insert("test_trials".into(), json!(trials));
    summary.insert("seeds".into(), json!(runs.len()));
    let summary = serde_json::Value::Object(summary);
    files.push(write_json(&out.join("summary.json"), &summary)?);
    let xs: Vec<f64> = (0..modes.len()).map(|i| i as f64).collect();
    let legend: Vec<String> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{i} = {l}"))
        .collect();
    let figure = Figure {
        name: "plasticity".into(),
        title: "Accuracy of the ensemble under each evaluation mode".into(),
        x_label: "evaluation mode (index)".into(),
        y_label: "test accuracy (fraction correct)".into(),
        log_y: false,
        caption: format!(
            "Test accuracy of the trained ensemble per evaluation mode ({}; k = resampling \
             interval in steps, T = {steps} steps per trial); mean ± std over {reps} repeats \
             (sampled networks or noise draws) × {} seed(s); {trials} test trials per repeat.",
            legend.join(", "),
            runs.len()
        ),
        plot: Plot::Lines(vec![Series {
            label: "accuracy".into(),
            x: xs,
            y: means.clone(),
            band: Some((
                means.iter().zip(&stds).map(|(m, s)| m - s).collect(),
                means.iter().zip(&stds).map(|(m, s)| m + s).collect(),
            )),
            markers: true,
        }]),
    };
    Ok(AnalysisOutput {
        name: NAME.into(),
        title: "Stochastic plasticity: evaluation modes".into(),
        files,
        figures: vec![figure],
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_list_and_labels() {
        let m = modes();
        assert_eq!(m.len(), 7);
        let l: Vec<String> = m.iter().map(|&x| mode_label(x)).collect();
        assert_eq!(
            l,
            [
                "mean-field",
                "eps0",
                "mean",
                "sampled-k1",
                "sampled-k10",
                "sampled-k100",
                "sampled-kT"
            ]
        );
    }

    #[test]
    fn run_on_a_tiny_msi_network() {
        let run = crate::analysis::perturb::testutil::tiny_msi_run();
        let out = crate::analysis::perturb::testutil::out_dir("plasticity");
        let opts = AnalysisOptions {
            quick: true,
            seed: 4,
            ..Default::default()
        };
        let o = super::run(std::slice::from_ref(&run), &out, &opts).unwrap();
        assert_eq!(o.name, NAME);
        for f in &o.files {
            assert!(f.exists(), "{}", f.display());
        }
        let modes = o.summary["modes"].as_array().unwrap();
        assert_eq!(modes.len(), 7);
        for m in modes {
            let a = m["accuracy"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&a), "{m}");
        }
        assert_eq!(modes[6]["k"].as_f64().unwrap(), 90.0);
        let raw = std::fs::read_to_string(out.join("plasticity_raw.csv")).unwrap();
        assert_eq!(raw.lines().count(), 1 + 7 * repeats(true));
        assert_eq!(o.summary["test_trials"].as_u64().unwrap(), 96);
    }
}
