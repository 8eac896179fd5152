//! Learning curves of feed-forward runs (docs/MODEL.md §5.1): training loss and accuracy
//! (mean-field, on the training minibatches) and test loss and accuracy (mean-field with fresh
//! `ε`, and the mean network) per epoch, mean ± std over seeds; and the final test accuracy of
//! every evaluation mode (mean-field, mean network, sampled networks) from the runs'
//! `summary.json`.

use crate::analysis::AnalysisOptions;
use crate::analysis::AnalysisResult;
use crate::analysis::accuracy::{EpochStats, by_epoch, column_series};
use crate::analysis::result::Stat;
use crate::analysis::{RunData, describe_runs};
use crate::error::Result;
use crate::family::FeedForward;
use crate::ff::EvalMode;
use crate::output::csv;
use crate::output::figure::{Figure, Plot};
use std::path::Path;

/// Name of the analysis and the metrics columns aggregated over seeds: the recurrent
/// accuracy analysis's.
pub use crate::analysis::accuracy::{COLUMNS, NAME};

/// The evaluation modes of the final summary, in report order.
pub const MODES: [EvalMode; 3] = [EvalMode::MeanField, EvalMode::Mean, EvalMode::Sampled];

/// The key numbers of the feed-forward accuracy analysis (`summary.json`). Besides the
/// fields, the JSON holds `final_<column>` (each seed's last value) for every column.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Seeds.
    pub seeds: usize,
    /// Completed epochs per run.
    pub epochs: Vec<usize>,
    /// The final evaluation per mode of [`MODES`] (seeds with a run summary).
    pub final_eval: std::collections::BTreeMap<&'static str, Stat>,
    /// Best mean-field test accuracy over epochs.
    pub best_test_acc_mean_field: Stat,
    /// Each metric column's last value, in column order.
    pub finals: Vec<(&'static str, Stat)>,
}

impl serde::Serialize for Summary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("seeds", &self.seeds)?;
        m.serialize_entry("epochs", &self.epochs)?;
        m.serialize_entry("final_eval", &self.final_eval)?;
        m.serialize_entry("best_test_acc_mean_field", &self.best_test_acc_mean_field)?;
        for (c, v) in &self.finals {
            m.serialize_entry(&format!("final_{c}"), v)?;
        }
        m.end()
    }
}

/// The accuracy analysis (an `AnalysisFn<FeedForward>`): `accuracy.csv` (epoch, then mean and
/// std per column of [`COLUMNS`]) and `summary.json`.
///
/// Summary: `final_<column>` (each seed's last value), `best_test_acc_mean_field`, and
/// `final_eval.<mode>` (the final evaluation of each mode in [`MODES`], over the seeds that
/// have a `summary.json`); each with per-seed values, mean, sample std and 95 % interval
/// ([`stat`]).
pub fn run(runs: &[RunData<FeedForward>], _work: &Path, _opts: &AnalysisOptions) -> Result<AnalysisResult> {
    let mut curves: Vec<(&str, EpochStats)> = Vec::new();
    let mut last = Vec::new();
    let mut best = Vec::new();
    for c in COLUMNS {
        let per: Vec<Vec<(usize, f64)>> = runs
            .iter()
            .map(|r| column_series(&r.metrics, c))
            .collect::<Result<_>>()?;
        let finals: Vec<f64> = per.iter().map(|s| s.last().map_or(f64::NAN, |p| p.1)).collect();
        last.push((c, Stat::of(&finals)));
        if c == "test_acc_mean_field" {
            best = per
                .iter()
                .filter_map(|s| s.iter().map(|p| p.1).reduce(f64::max))
                .collect();
        }
        curves.push((c, by_epoch(&per)));
    }
    let epochs = curves
        .iter()
        .max_by_key(|(_, s)| s.epochs.len())
        .map(|(_, s)| s.epochs.clone())
        .unwrap_or_default();
    let rows: Vec<Vec<f64>> = epochs
        .iter()
        .map(|&e| {
            let mut r = vec![e as f64];
            for (_, st) in &curves {
                let i = st.epochs.binary_search(&e).ok();
                r.push(i.map_or(f64::NAN, |i| st.mean[i]));
                r.push(i.map_or(f64::NAN, |i| st.std[i]));
            }
            r
        })
        .collect();
    let mut header = vec!["epoch".to_string()];
    for c in COLUMNS {
        header.push(format!("{c}_mean"));
        header.push(format!("{c}_std"));
    }
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    let files = vec![csv("accuracy.csv", &h, &rows)?];

    let who = describe_runs(
        runs,
        if runs.len() > 1 {
            "; bands: 95 % t-interval of the mean over the seeds"
        } else {
            ""
        },
    );
    let get = |c: &str| curves.iter().find(|(n, _)| *n == c).map(|(_, s)| s);
    let mut acc = Vec::new();
    for (c, label) in [
        ("train_acc", "train (mean-field, minibatches)"),
        ("test_acc_mean_field", "test, mean-field"),
        ("test_acc_mean", "test, mean network"),
    ] {
        if let Some(s) = get(c).filter(|s| !s.epochs.is_empty()) {
            acc.push(s.series(label));
        }
    }
    let mut loss = Vec::new();
    for (c, label) in [
        ("train_loss", "train (mean-field)"),
        ("test_loss", "test (mean-field)"),
    ] {
        if let Some(s) = get(c).filter(|s| !s.epochs.is_empty()) {
            let mut s = s.series(label);
            // A log axis cannot show a loss of exactly 0 (a training set fitted to float
            // precision): drop those points.
            for y in s.y.iter_mut() {
                if *y <= 0.0 {
                    *y = f64::NAN;
                }
            }
            if let Some((lo, _)) = &mut s.band {
                for v in lo.iter_mut() {
                    if *v <= 0.0 {
                        *v = f64::NAN;
                    }
                }
            }
            loss.push(s);
        }
    }
    let figures = vec![
        Figure {
            name: "accuracy".into(),
            title: "Accuracy over training".into(),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            log_y: false,
            caption: format!(
                "Training accuracy (mean-field, on the training minibatches) and test accuracy \
                 (mean-field with fresh ε; mean network w = μ) after each epoch; {who}."
            ),
            plot: Plot::Lines(acc),
        },
        Figure {
            name: "loss".into(),
            title: "Cross-entropy over training".into(),
            x_label: "epoch".into(),
            y_label: "cross-entropy (nats, log scale)".into(),
            log_y: true,
            caption: format!(
                "Mean-field training loss (over the epoch's minibatches) and test loss; epochs \
                 whose loss is exactly 0 in float precision are left out of the log axis; {who}."
            ),
            plot: Plot::Lines(loss),
        },
    ];

    let mut fin = std::collections::BTreeMap::new();
    for m in MODES {
        let v: Vec<f64> = runs.iter().filter_map(|r| r.final_accuracy(m)).collect();
        if !v.is_empty() {
            fin.insert(m.name(), Stat::of(&v));
        }
    }
    let summary = Summary {
        seeds: runs.len(),
        epochs: runs.iter().map(|r| r.epoch).collect(),
        final_eval: fin,
        best_test_acc_mean_field: Stat::of(&best),
        finals: last,
    };
    let title = "Learning curves and accuracy per evaluation mode";
    Ok(AnalysisResult::with(
        NAME,
        title,
        files,
        figures,
        crate::analysis::Summary::FfAccuracy(summary),
    ))
}
