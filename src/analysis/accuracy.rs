//! Learning curves (docs/MODEL.md §5.1): training loss and accuracy, and test loss and accuracy per
//! evaluation mode, over epochs, read from each run's `metrics.csv` and aggregated across
//! seeds as mean, sample std and 95 % t-interval of the mean ([`crate::stats`]).
//!
//! This module also holds the small helpers the other per-epoch analyses share: aggregating
//! per-seed `(epoch, value)` series over the union of epochs ([`by_epoch`]), turning the
//! result into a line with a band ([`EpochStats::series`]), summary statistics over seeds
//! ([`stat`]) and a one-line description of the runs for captions ([`describe_runs`]).

use super::{AnalysisOptions, Metrics, RunData};

use super::result::Stat;
use crate::analysis::AnalysisResult;
use crate::error::{Result, SasError};
use crate::output::csv;
use crate::output::figure::{Figure, Plot, Series};
use crate::stats::SeedStats;
use serde_json::{Value, json};
use std::path::Path;

/// Name of the analysis on the command line.
pub const NAME: &str = "accuracy";

/// Section title of the analysis in reports.
const TITLE: &str = "Learning curves";

/// The `metrics.csv` columns this analysis plots (losses are in nats per trial for
/// cross-entropy tasks and mean squared error for MSI; accuracies are fractions in [0, 1]).
pub const COLUMNS: [&str; 5] = [
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc_mean_field",
    "test_acc_mean",
];

/// One quantity aggregated over seeds at each epoch of the union of the seeds' epochs.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct EpochStats {
    /// Epochs (sorted, each once).
    pub epochs: Vec<usize>,
    /// Mean over the seeds that have a finite value at that epoch (NaN if none).
    pub mean: Vec<f64>,
    /// Sample standard deviation (n − 1) over the same seeds (NaN for a single seed).
    pub std: Vec<f64>,
    /// Half-width of the 95 % t-interval of the mean (NaN for a single seed).
    pub ci95: Vec<f64>,
    /// How many seeds contributed at that epoch.
    pub n: Vec<usize>,
}

impl EpochStats {
    /// A line (mean) with a band (the 95 % t-interval of the mean, where at least two seeds
    /// contribute) over the epochs, NaN epochs left as gaps; no band for a single seed.
    pub fn series(&self, label: &str) -> Series {
        let half = |i: usize| {
            if self.ci95[i].is_finite() {
                self.ci95[i]
            } else {
                0.0
            }
        };
        let lo = (0..self.mean.len()).map(|i| self.mean[i] - half(i)).collect();
        let hi = (0..self.mean.len()).map(|i| self.mean[i] + half(i)).collect();
        Series {
            label: label.into(),
            x: self.epochs.iter().map(|&e| e as f64).collect(),
            y: self.mean.clone(),
            band: self.n.iter().any(|&n| n >= 2).then_some((lo, hi)),
            markers: self.epochs.len() < 3,
        }
    }

    /// CSV column names of quantity `c`: `c_mean`, `c_std` (sample), `c_ci95` (half-width
    /// of the 95 % t-interval), `c_n`.
    pub fn csv_header(c: &str) -> [String; 4] {
        [
            format!("{c}_mean"),
            format!("{c}_std"),
            format!("{c}_ci95"),
            format!("{c}_n"),
        ]
    }

    /// The CSV cells of epoch index `i` (in the order of [`EpochStats::csv_header`]); `None`
    /// gives the cells of an epoch without data.
    pub fn csv_cells(&self, i: Option<usize>) -> [f64; 4] {
        match i {
            Some(i) => [self.mean[i], self.std[i], self.ci95[i], self.n[i] as f64],
            None => [f64::NAN, f64::NAN, f64::NAN, 0.0],
        }
    }

    /// The entry at the last epoch with a finite mean: `(epoch, mean, std)`.
    pub fn last(&self) -> Option<(usize, f64, f64)> {
        (0..self.epochs.len())
            .rev()
            .find(|&i| self.mean[i].is_finite())
            .map(|i| (self.epochs[i], self.mean[i], self.std[i]))
    }
}

/// Aggregates per-seed series `series[seed] = [(epoch, value), ...]` over the union of their
/// epochs: at each epoch, mean, sample std and 95 % interval over the seeds that have a
/// finite value there (runs that stopped early simply stop contributing).
pub(crate) fn by_epoch(series: &[Vec<(usize, f64)>]) -> EpochStats {
    let (epochs, aligned) = align_by_epoch(series);
    let mut st = EpochStats {
        epochs,
        ..Default::default()
    };
    for i in 0..st.epochs.len() {
        let col: Vec<f64> = aligned.iter().map(|s| s[i]).collect();
        let s = SeedStats::of(&col);
        st.mean.push(s.mean);
        st.std.push(s.sd);
        st.ci95.push(s.ci95);
        st.n.push(s.n);
    }
    st
}

/// Per-seed series `(epoch, value)` aligned on the union of their epochs: `(epochs,
/// aligned[seed][epoch index])`, NaN where a seed has no value.
pub(crate) fn align_by_epoch(series: &[Vec<(usize, f64)>]) -> (Vec<usize>, Vec<Vec<f64>>) {
    let mut epochs: Vec<usize> = series.iter().flatten().map(|&(e, _)| e).collect();
    epochs.sort_unstable();
    epochs.dedup();
    let aligned = series
        .iter()
        .map(|s| {
            let mut v = vec![f64::NAN; epochs.len()];
            for &(e, x) in s {
                if let Ok(i) = epochs.binary_search(&e) {
                    v[i] = x;
                }
            }
            v
        })
        .collect();
    (epochs, aligned)
}

/// Statistics of one value per seed ([`SeedStats`]) as JSON: `mean`, `std` (sample, n − 1),
/// `ci95` (half-width of the 95 % t-interval of the mean), `lo`, `hi` (its ends), `n` (seeds
/// with a finite value) and `values` (per seed, in seed order). NaN is written as `null`.
pub(crate) fn stat(values: &[f64]) -> Value {
    let s = SeedStats::of(values);
    json!({ "mean": s.mean, "std": s.sd, "ci95": s.ci95, "lo": s.lo, "hi": s.hi, "n": s.n, "values": s.values })
}

/// [`stat`] of the paired differences `a[s] − b[s]` (seeds where both are finite).
pub(crate) fn paired_stat(a: &[f64], b: &[f64]) -> Value {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    stat(&d)
}

/// One line describing the runs for figure captions: preset, task, `N`, epochs and seeds,
/// and (several seeds) that bands are 95 % t-intervals of the mean over the n seeds.
pub(crate) fn describe_runs(runs: &[RunData]) -> String {
    let d = describe_runs_plain(runs);
    if runs.len() > 1 {
        format!(
            "{d}; bands: 95 % t-interval of the mean over n = {} seeds",
            runs.len()
        )
    } else {
        d
    }
}

/// [`describe_runs`] without the note on bands (for figures that have none).
pub(crate) fn describe_runs_plain(runs: &[RunData]) -> String {
    super::describe_runs(runs, "")
}

/// A line-chart figure.
pub(crate) fn line_figure(
    name: &str,
    title: &str,
    x: &str,
    y: &str,
    caption: String,
    s: Vec<Series>,
) -> Figure {
    Figure {
        name: name.into(),
        title: title.into(),
        x_label: x.into(),
        y_label: y.into(),
        log_y: false,
        caption,
        plot: Plot::Lines(s),
    }
}

/// The finite values of column `col` of `m` with their epochs (rows whose value is NaN, i.e.
/// empty in the CSV, are skipped). Fails if the file has no `epoch` column; an absent `col`
/// gives an empty series.
pub(crate) fn column_series(m: &Metrics, col: &str) -> Result<Vec<(usize, f64)>> {
    let epochs = m.column("epoch").ok_or_else(|| SasError::FileFormat {
        name: "metrics.csv".into(),
        reason: "has no `epoch` column".into(),
    })?;
    let Some(vals) = m.column(col) else {
        return Ok(Vec::new());
    };
    Ok(epochs
        .iter()
        .zip(vals)
        .filter(|(e, v)| e.is_finite() && **e >= 0.0 && v.is_finite())
        .map(|(&e, v)| (e as usize, v))
        .collect())
}

/// Learning curves of one configuration: [`COLUMNS`] aggregated over seeds.
pub fn curves(metrics: &[&Metrics]) -> Result<Vec<(&'static str, EpochStats)>> {
    COLUMNS
        .iter()
        .map(|&c| {
            let per: Vec<Vec<(usize, f64)>> = metrics
                .iter()
                .map(|m| column_series(m, c))
                .collect::<Result<_>>()?;
            Ok((c, by_epoch(&per)))
        })
        .collect()
}

/// The key numbers of the accuracy analysis (`summary.json`): each metric's last value and
/// the test accuracies' best value, over seeds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    /// Completed epochs per run.
    pub epochs: Vec<usize>,
    /// Final training loss.
    pub final_train_loss: Stat,
    /// Final training accuracy.
    pub final_train_acc: Stat,
    /// Final test loss.
    pub final_test_loss: Stat,
    /// Final mean-field test accuracy.
    pub final_test_acc_mean_field: Stat,
    /// Final mean-network test accuracy.
    pub final_test_acc_mean: Stat,
    /// Best mean-field test accuracy over epochs.
    pub best_test_acc_mean_field: Stat,
    /// Best mean-network test accuracy over epochs.
    pub best_test_acc_mean: Stat,
}

/// The accuracy analysis (an [`super::AnalysisFn`]): writes `accuracy.csv` (epoch, then
/// mean, std and seed count per column), `accuracy_per_seed.csv` and `summary.json`.
///
/// Summary keys: `epochs` (per seed), and per column of [`COLUMNS`] `final_<col>` (the last
/// finite value of each seed: mean, sample std, 95 % interval, per-seed values); for the test accuracies also
/// `best_<col>` (each seed's maximum over epochs).
pub fn run(runs: &[RunData], _work: &Path, _opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let metrics: Vec<&Metrics> = runs.iter().map(|r| &r.metrics).collect();
    let cs = curves(&metrics)?;

    // Aggregated CSV over the union of epochs.
    let mut epochs: Vec<usize> = cs.iter().flat_map(|(_, s)| s.epochs.clone()).collect();
    epochs.sort_unstable();
    epochs.dedup();
    let mut header = vec!["epoch".to_string()];
    for (c, _) in &cs {
        header.extend(EpochStats::csv_header(c));
    }
    let rows: Vec<Vec<f64>> = epochs
        .iter()
        .map(|&e| {
            let mut r = vec![e as f64];
            for (_, s) in &cs {
                r.extend(s.csv_cells(s.epochs.binary_search(&e).ok()));
            }
            r
        })
        .collect();
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut files = vec![csv("accuracy.csv", &h, &rows)?];

    let mut per_rows = Vec::new();
    for (si, r) in runs.iter().enumerate() {
        let ep = r.metrics.column("epoch").unwrap_or_default();
        let cols: Vec<Vec<f64>> = COLUMNS
            .iter()
            .map(|c| r.metrics.column(c).unwrap_or_else(|| vec![f64::NAN; ep.len()]))
            .collect();
        for (i, &e) in ep.iter().enumerate() {
            let mut row = vec![si as f64, r.cfg.seed as f64, e];
            row.extend(cols.iter().map(|c| c[i]));
            per_rows.push(row);
        }
    }
    let mut ph = vec!["run", "seed", "epoch"];
    ph.extend(COLUMNS);
    files.push(csv("accuracy_per_seed.csv", &ph, &per_rows)?);

    // Summary.
    let mut finals = Vec::new();
    let mut bests = Vec::new();
    for &c in &COLUMNS {
        let per: Vec<Vec<(usize, f64)>> = metrics
            .iter()
            .map(|m| column_series(m, c))
            .collect::<Result<_>>()?;
        let last: Vec<f64> = per.iter().map(|s| s.last().map_or(f64::NAN, |p| p.1)).collect();
        finals.push(Stat::of(&last));
        if c.starts_with("test_acc") {
            let best: Vec<f64> = per
                .iter()
                .map(|s| s.iter().map(|p| p.1).fold(f64::NAN, f64::max))
                .collect();
            bests.push(Stat::of(&best));
        }
    }
    let [
        final_train_loss,
        final_train_acc,
        final_test_loss,
        final_test_acc_mean_field,
        final_test_acc_mean,
    ]: [Stat; 5] = finals
        .try_into()
        .unwrap_or_else(|_| unreachable!("one per column"));
    let [best_test_acc_mean_field, best_test_acc_mean]: [Stat; 2] = bests
        .try_into()
        .unwrap_or_else(|_| unreachable!("two test accuracies"));
    let summary = Summary {
        epochs: runs.iter().map(|r| r.epoch).collect(),
        final_train_loss,
        final_train_acc,
        final_test_loss,
        final_test_acc_mean_field,
        final_test_acc_mean,
        best_test_acc_mean_field,
        best_test_acc_mean,
    };

    // Figures.
    let desc = describe_runs(runs);
    let get = |name: &str| cs.iter().find(|(c, _)| *c == name).map(|(_, s)| s);
    let mut figures = Vec::new();
    let loss: Vec<Series> = [("train_loss", "train"), ("test_loss", "test (mean field)")]
        .iter()
        .filter_map(|(c, l)| get(c).filter(|s| !s.epochs.is_empty()).map(|s| s.series(l)))
        .collect();
    if !loss.is_empty() {
        figures.push(line_figure(
            "loss",
            "Loss over training",
            "epoch",
            "loss (task loss per trial, log scale)",
            format!(
                "Training loss (epoch average over minibatches) and test loss of the mean-field \
                 network at the epochs where it was evaluated, on a logarithmic axis (so that a \
                 transient spike does not hide the rest); {desc}."
            ),
            loss,
        ));
        if let Some(f) = figures.last_mut() {
            f.log_y = true;
        }
    }
    let acc: Vec<Series> = [
        ("train_acc", "train"),
        ("test_acc_mean_field", "test, mean field"),
        ("test_acc_mean", "test, mean network"),
    ]
    .iter()
    .filter_map(|(c, l)| get(c).filter(|s| !s.epochs.is_empty()).map(|s| s.series(l)))
    .collect();
    if !acc.is_empty() {
        figures.push(line_figure(
            "accuracy",
            "Accuracy over training",
            "epoch",
            "accuracy (fraction correct)",
            format!(
                "Training accuracy (during the epoch's updates) and test accuracy per evaluation \
                 mode (mean-field propagation; mean network w = (1-π)m) at the evaluated epochs; \
                 {desc}."
            ),
            acc,
        ));
    }
    Ok(AnalysisResult::with(
        NAME,
        TITLE,
        files,
        figures,
        super::Summary::Accuracy(summary),
    ))
}

/// Shared fixture of the analysis tests: two seeds of a tiny MSI run (N = 12, 3 epochs, with
/// parameter history), trained once per test binary.
#[cfg(test)]
pub(crate) mod fixture {
    use super::RunData;
    use crate::config::Config;
    use crate::data::source::TaskData;
    use crate::train::{TrainOptions, train};
    use std::path::PathBuf;
    use std::sync::OnceLock;

    /// The run directories (seeds 1 and 2).
    pub fn dirs() -> &'static [PathBuf] {
        static DIRS: OnceLock<Vec<PathBuf>> = OnceLock::new();
        DIRS.get_or_init(|| {
            let base = std::env::temp_dir().join(format!("sasnet-analysis-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&base);
            [1u64, 2]
                .iter()
                .map(|&seed| {
                    let cfg = Config {
                        seed,
                        ..crate::config::tests::tiny_msi(3, true)
                    };
                    let data = TaskData::load(&cfg, None).unwrap();
                    let dir = base.join(format!("seed{seed}"));
                    train(&cfg, &data, &dir, &TrainOptions::default()).unwrap();
                    dir
                })
                .collect()
        })
    }

    /// The runs, loaded.
    pub fn runs() -> Vec<RunData> {
        dirs().iter().map(|d| RunData::load(d).unwrap()).collect()
    }

    /// A copy of seed 1's run without its parameter history (the fallback paths).
    pub fn without_history() -> RunData {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        let d = DIR.get_or_init(|| {
            let src = &dirs()[0];
            let d = src.parent().unwrap().join("seed1-nohistory");
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            for f in ["config.toml", "checkpoint.safetensors", "metrics.csv"] {
                std::fs::copy(src.join(f), d.join(f)).unwrap();
            }
            d
        });
        RunData::load(d).unwrap()
    }

    /// Runs analysis `run` on [`runs`] with the default options into a fresh folder `name`.
    pub fn analyze(
        run: crate::analysis::AnalysisFn,
        name: &str,
    ) -> (crate::analysis::AnalysisResult, PathBuf) {
        let out = out(name);
        let o = run(&runs(), &out, &crate::analysis::AnalysisOptions::default())
            .unwrap()
            .written(&out)
            .unwrap();
        (o, out)
    }

    /// A fresh output folder for one test.
    pub fn out(name: &str) -> PathBuf {
        let d = dirs()[0].parent().unwrap().join("out").join(name);
        let _ = std::fs::remove_dir_all(&d);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_epoch_over_the_union_of_epochs() {
        let s = by_epoch(&[vec![(1, 1.0), (2, 3.0)], vec![(1, 3.0), (3, 5.0)]]);
        assert_eq!(s.epochs, vec![1, 2, 3]);
        assert_eq!(s.mean, vec![2.0, 3.0, 5.0]);
        // Sample std (n − 1): √2 for {1, 3}; undefined (NaN) for one seed.
        assert!((s.std[0] - 2f64.sqrt()).abs() < 1e-12 && s.std[1].is_nan() && s.std[2].is_nan());
        // 95 % t-interval: t(0.975, 1) · √2 / √2 = 12.7062.
        assert!((s.ci95[0] - 12.7062).abs() < 1e-9);
        assert_eq!(s.n, vec![2, 1, 1]);
        assert_eq!(s.last().map(|l| (l.0, l.1)), Some((3, 5.0)));
        // The band is the interval where two seeds contribute and collapses elsewhere.
        let band = s.series("x").band.unwrap();
        assert!((band.1[0] - (2.0 + 12.7062)).abs() < 1e-9 && band.0[1] == 3.0 && band.1[2] == 5.0);
        assert!(by_epoch(&[vec![(1, 1.0)]]).series("one seed").band.is_none());
        let st = stat(&[1.0, 3.0, f64::NAN]);
        assert_eq!(st["mean"], 2.0);
        assert!((st["std"].as_f64().unwrap() - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(st["n"], 2);
        assert_eq!(st["values"][2], serde_json::Value::Null);
    }

    #[test]
    fn columns_skip_empty_rows() {
        let m = Metrics::parse("epoch,train_loss,test_acc_mean\n1,0.5,\n2,0.25,0.75\n", "test").unwrap();
        assert_eq!(
            column_series(&m, "train_loss").unwrap(),
            vec![(1, 0.5), (2, 0.25)]
        );
        assert_eq!(column_series(&m, "test_acc_mean").unwrap(), vec![(2, 0.75)]);
        assert!(column_series(&m, "absent").unwrap().is_empty());
        let bad = Metrics::parse("x\n1\n", "t").unwrap();
        assert!(column_series(&bad, "x").is_err());
    }

    #[test]
    fn run_on_a_tiny_training_run() {
        let runs = fixture::runs();
        let out = fixture::out(NAME);
        let o = run(&runs, &out, &AnalysisOptions::default())
            .unwrap()
            .written(&out)
            .unwrap();
        assert!(out.join("accuracy.csv").exists());
        assert!(out.join("summary.json").exists());
        assert_eq!(o.summary_json()["epochs"], json!([3, 3]));
        assert_eq!(o.summary_json()["final_train_loss"]["n"], 2);
        // Evaluated only at the end (eval.every = 0): one test point per seed.
        assert_eq!(o.summary_json()["final_test_acc_mean_field"]["n"], 2);
        let acc = o.figures.iter().find(|f| f.name == "accuracy").unwrap();
        let Plot::Lines(s) = &acc.plot else { panic!() };
        assert_eq!(s[0].x, vec![1.0, 2.0, 3.0]);
        assert_eq!(s[1].x, vec![3.0]);
        assert!(acc.caption.contains("msi") && acc.caption.contains("2 seeds"));
    }
}
