//! Sparsity per connection (docs/MODEL.md §5.2, paper Figs 3b and 12): `Σπ / M` per layer over
//! epochs, the recurrent layer also split by direction.
//!
//! Directions of the recurrent layer (row = receiving unit, as everywhere in sasnet): entry
//! `(i, j)` is the connection from unit `j` to unit `i`; **I** are the entries with `i < j`
//! (upper triangle), **II** those with `i > j` (lower triangle); the diagonal belongs to
//! neither. (The paper's Fig. 3 caption uses this convention; its Fig. 12 caption names the
//! triangles the other way round.)
//!
//! Structural masks (the fixed MSI input wiring, entries held at `π ≡ 1`, see
//! [`crate::train::init::masks`]) are reported both ways: `<layer>` counts every entry,
//! `<layer>_free` only the entries the mask leaves trainable.
//!
//! This module also defines [`Selection`], the entry subsets the other analyses share.

use super::accuracy::{self, EpochStats, by_epoch, describe_runs, line_figure};
use super::result::Stat;
use super::{AnalysisOptions, RunData};
use crate::analysis::AnalysisResult;
use crate::error::Result;
use crate::net::SasNet;
use crate::optim::Masks;
use crate::output::csv;
use crate::sas::SasLayer;
use std::path::Path;

/// Name of the analysis on the command line.
pub const NAME: &str = "sparsity";

/// A subset of the entries of a `rows × cols` layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every entry.
    All,
    /// Entries the structural mask leaves trainable (all entries without a mask).
    Free,
    /// Free entries off the diagonal (`i ≠ j`).
    OffDiagonal,
    /// Direction I: free entries with `i < j` (upper triangle; `j → i`).
    UpperI,
    /// Direction II: free entries with `i > j` (lower triangle).
    LowerII,
}

impl Selection {
    /// Whether entry `(i, j)` (row `i`, column `j`) with mask value `keep` is selected.
    pub fn contains(self, i: usize, j: usize, keep: bool) -> bool {
        match self {
            Selection::All => true,
            Selection::Free => keep,
            Selection::OffDiagonal => keep && i != j,
            Selection::UpperI => keep && i < j,
            Selection::LowerII => keep && i > j,
        }
    }

    /// Row-major indices of the selected entries of a `rows × cols` layer; `mask[k] = false`
    /// marks a structurally fixed entry (`None`: no mask).
    pub fn indices(self, rows: usize, cols: usize, mask: Option<&[bool]>) -> Vec<usize> {
        (0..rows * cols)
            .filter(|&k| self.contains(k / cols, k % cols, mask.is_none_or(|m| m[k])))
            .collect()
    }
}

/// Mean of `values` over the selected indices (NaN when none are selected).
pub(crate) fn mean_over(values: &[f32], idx: &[usize]) -> f64 {
    if idx.is_empty() {
        return f64::NAN;
    }
    idx.iter().map(|&k| values[k] as f64).sum::<f64>() / idx.len() as f64
}

/// `Σπ / M` of a layer over the selected entries (NaN when none are selected).
pub(crate) fn layer_sparsity(l: &SasLayer<f32>, mask: Option<&[bool]>, sel: Selection) -> f64 {
    mean_over(&l.pi, &sel.indices(l.rows, l.cols, mask))
}

/// Column names of [`Sparsity::values`], in order.
pub const COLUMNS: [&str; 8] = [
    "in", "in_free", "rec", "rec_free", "rec_I", "rec_II", "out", "out_free",
];

/// Sparsity `Σπ / M` of one network, per layer and group (fractions in [0, 1]).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Sparsity {
    /// Input layer, every entry (`= sparsity_in` of `metrics.csv`).
    pub inp: f64,
    /// Input layer, trainable (unmasked) entries only.
    pub inp_free: f64,
    /// Recurrent layer, every entry including the diagonal (`= sparsity_rec`).
    pub rec: f64,
    /// Recurrent layer, unmasked entries.
    pub rec_free: f64,
    /// Recurrent direction I (`i < j`), diagonal and masked entries excluded.
    pub rec_i: f64,
    /// Recurrent direction II (`i > j`), diagonal and masked entries excluded.
    pub rec_ii: f64,
    /// Readout, every entry (`= sparsity_out`).
    pub out: f64,
    /// Readout, unmasked entries.
    pub out_free: f64,
}

impl Sparsity {
    /// The values in the order of [`COLUMNS`].
    pub fn values(&self) -> [f64; 8] {
        [
            self.inp,
            self.inp_free,
            self.rec,
            self.rec_free,
            self.rec_i,
            self.rec_ii,
            self.out,
            self.out_free,
        ]
    }
}

/// The sparsity of every layer and group of `net` under the structural `masks`.
pub(crate) fn compute(net: &SasNet<f32>, masks: &Masks) -> Sparsity {
    let s = |l: &SasLayer<f32>, k: usize, sel| layer_sparsity(l, masks[k].as_deref(), sel);
    Sparsity {
        inp: s(&net.inp, 0, Selection::All),
        inp_free: s(&net.inp, 0, Selection::Free),
        rec: s(&net.rec, 1, Selection::All),
        rec_free: s(&net.rec, 1, Selection::Free),
        rec_i: s(&net.rec, 1, Selection::UpperI),
        rec_ii: s(&net.rec, 1, Selection::LowerII),
        out: s(&net.out, 2, Selection::All),
        out_free: s(&net.out, 2, Selection::Free),
    }
}

/// Per-epoch sparsity of one run: from its parameter history when it has one (epoch 0 =
/// initialization), otherwise from the `sparsity_in/rec/out` columns of `metrics.csv` (only
/// the every-entry groups; the others are NaN) plus the full values of the final network at
/// its epoch. Returns the rows and whether the history was used.
pub(crate) fn per_epoch(run: &RunData) -> Result<(Vec<(usize, Sparsity)>, bool)> {
    let masks = crate::train::init::masks(&run.cfg, run.net.dims());
    let hist = run.history()?;
    if !hist.is_empty() {
        return Ok((hist.iter().map(|(e, n)| (*e, compute(n, &masks))).collect(), true));
    }
    let cols: Vec<Vec<(usize, f64)>> = ["sparsity_in", "sparsity_rec", "sparsity_out"]
        .iter()
        .map(|c| accuracy::column_series(&run.metrics, c))
        .collect::<Result<_>>()?;
    let mut rows: Vec<(usize, Sparsity)> = Vec::new();
    for &(e, v) in &cols[1] {
        let find = |c: &Vec<(usize, f64)>| c.iter().find(|p| p.0 == e).map_or(f64::NAN, |p| p.1);
        let nan = f64::NAN;
        rows.push((
            e,
            Sparsity {
                inp: find(&cols[0]),
                inp_free: nan,
                rec: v,
                rec_free: nan,
                rec_i: nan,
                rec_ii: nan,
                out: find(&cols[2]),
                out_free: nan,
            },
        ));
    }
    let fin = compute(&run.net, &masks);
    match rows.iter_mut().find(|r| r.0 == run.epoch) {
        Some(r) => r.1 = fin,
        None => rows.push((run.epoch, fin)),
    }
    rows.sort_by_key(|r| r.0);
    Ok((rows, false))
}

/// The key numbers of the sparsity analysis (`summary.json`). Besides the fields, the JSON
/// holds `initial_<column>` and `final_<column>` for every column of [`COLUMNS`].
#[derive(Clone, Debug)]
pub struct Summary {
    /// Where each run's per-epoch values come from (`history` or `metrics`).
    pub source: Vec<&'static str>,
    /// Whether every run kept a parameter history.
    pub history: bool,
    /// Entries masked out (fixed at 0) per layer.
    pub masked_entries: MaskedEntries,
    /// Per column of [`COLUMNS`], in order.
    pub columns: Vec<ColumnSummary>,
    /// What is known only for the final network, when some run kept no history.
    pub note: Option<&'static str>,
}

impl Summary {
    /// The numbers of column `name` of [`COLUMNS`].
    pub fn column(&self, name: &str) -> Option<&ColumnSummary> {
        self.columns.iter().find(|c| c.name == name)
    }
}

impl serde::Serialize for Summary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("source", &self.source)?;
        m.serialize_entry("history", &self.history)?;
        m.serialize_entry("masked_entries", &self.masked_entries)?;
        for c in &self.columns {
            m.serialize_entry(&format!("initial_{}", c.name), &c.initial)?;
            m.serialize_entry(&format!("final_{}", c.name), &c.last)?;
        }
        if let Some(n) = self.note {
            m.serialize_entry("note", n)?;
        }
        m.end()
    }
}

/// Masked entries per layer.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct MaskedEntries {
    /// Input layer.
    #[serde(rename = "in")]
    pub input: usize,
    /// Recurrent layer.
    pub rec: usize,
    /// Output layer.
    pub out: usize,
}

/// One sparsity column over seeds.
#[derive(Clone, Debug)]
pub struct ColumnSummary {
    /// Its name in [`COLUMNS`].
    pub name: &'static str,
    /// At initialization (first recorded epoch).
    pub initial: Stat,
    /// Of the final network.
    pub last: Stat,
}

/// The sparsity analysis (an [`super::AnalysisFn`]): writes `sparsity.csv` (epoch, then mean,
/// std and seed count per group of [`COLUMNS`]), `sparsity_per_seed.csv` and `summary.json`.
///
/// Summary keys: `source` (per seed: `history` or `metrics`), `history` (all seeds had one),
/// `masked_entries` (per layer, entries fixed by the structural mask), and per group of
/// [`COLUMNS`] `initial_<group>` (first epoch) and `final_<group>` (final network), each mean
/// ± std over seeds.
pub fn run(runs: &[RunData], _work: &Path, _opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let mut per_seed = Vec::new();
    let mut sources = Vec::new();
    for r in runs {
        let (rows, hist) = per_epoch(r)?;
        per_seed.push(rows);
        sources.push(if hist { "history" } else { "metrics" });
    }
    let stats: Vec<EpochStats> = (0..COLUMNS.len())
        .map(|c| {
            let s: Vec<Vec<(usize, f64)>> = per_seed
                .iter()
                .map(|rows| rows.iter().map(|(e, sp)| (*e, sp.values()[c])).collect())
                .collect();
            by_epoch(&s)
        })
        .collect();
    let epochs = stats[2].epochs.clone();
    let mut header = vec!["epoch".to_string()];
    for c in COLUMNS {
        header.extend(super::accuracy::EpochStats::csv_header(c));
    }
    let rows: Vec<Vec<f64>> = epochs
        .iter()
        .enumerate()
        .map(|(i, &e)| {
            let mut r = vec![e as f64];
            for s in &stats {
                r.extend(s.csv_cells(Some(i)));
            }
            r
        })
        .collect();
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut files = vec![csv("sparsity.csv", &h, &rows)?];
    let mut ph = vec!["run", "seed", "epoch"];
    ph.extend(COLUMNS);
    let prow: Vec<Vec<f64>> = per_seed
        .iter()
        .enumerate()
        .flat_map(|(si, rows)| {
            let seed = runs[si].cfg.seed as f64;
            rows.iter().map(move |(e, sp)| {
                let mut r = vec![si as f64, seed, *e as f64];
                r.extend(sp.values());
                r
            })
        })
        .collect();
    files.push(csv("sparsity_per_seed.csv", &ph, &prow)?);

    let all_hist = sources.iter().all(|s| *s == "history");
    let masks0 = crate::train::init::masks(&runs[0].cfg, runs[0].net.dims());
    let masked: Vec<usize> = masks0
        .iter()
        .map(|m| m.as_ref().map_or(0, |m| m.iter().filter(|k| !**k).count()))
        .collect();
    let mut columns = Vec::new();
    for (c, name) in COLUMNS.iter().enumerate() {
        let first: Vec<f64> = per_seed
            .iter()
            .map(|rows| rows.first().map_or(f64::NAN, |r| r.1.values()[c]))
            .collect();
        let masks_of = |r: &RunData| crate::train::init::masks(&r.cfg, r.net.dims());
        let fin: Vec<f64> = runs
            .iter()
            .map(|r| compute(&r.net, &masks_of(r)).values()[c])
            .collect();
        columns.push(ColumnSummary {
            name,
            initial: Stat::of(&first),
            last: Stat::of(&fin),
        });
    }
    let summary = Summary {
        source: sources,
        history: all_hist,
        masked_entries: MaskedEntries {
            input: masked[0],
            rec: masked[1],
            out: masked[2],
        },
        columns,
        note: (!all_hist).then_some(
            "some runs kept no parameter history: their per-epoch values come from \
             metrics.csv (every-entry groups only); directions I/II and unmasked groups are \
             known only for the final network",
        ),
    };

    let desc = describe_runs(runs);
    let has_mask = masked[0] > 0;
    let inp_shown = runs[0].net.stochastic[0] || has_mask;
    let mut series = Vec::new();
    let mut push = |c: usize, label: &str| {
        if stats[c].mean.iter().any(|v| v.is_finite()) {
            series.push(stats[c].series(label));
        }
    };
    if inp_shown {
        push(0, "input, all entries");
        if has_mask {
            push(1, "input, unmasked entries");
        }
    }
    push(4, "recurrent I (i < j)");
    push(5, "recurrent II (i > j)");
    push(6, "output");
    let source = if all_hist {
        "parameter history (epoch 0 = initialization)"
    } else {
        "metrics.csv where no history was kept"
    };
    let figures = vec![line_figure(
        "sparsity",
        "Sparsity per connection",
        "epoch",
        "sparsity Σπ/M (fraction)",
        format!(
            "Mean spike probability Σπ/M per layer over training, from the {source}; the recurrent \
             layer split into direction I (i < j, from j to i) and II (i > j), diagonal excluded; \
             masked input entries (π ≡ 1 by wiring) shown included and excluded; {desc}."
        ),
        series,
    )];
    Ok(AnalysisResult::with(
        NAME,
        "Sparsity",
        files,
        figures,
        super::Summary::Sparsity(summary),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Dims;
    use serde_json::json;

    #[test]
    fn sparsity_by_hand() {
        let mut net = SasNet::<f32>::zeros(Dims { n: 3, i: 2, k: 1 }, [true; 3]);
        // Recurrent π (row = receiving):
        //   [0.0 0.5 1.0]
        //   [0.2 0.9 0.3]
        //   [0.4 0.6 0.1]
        net.rec.pi = vec![0.0, 0.5, 1.0, 0.2, 0.9, 0.3, 0.4, 0.6, 0.1];
        net.inp.pi = vec![1.0, 0.5, 1.0, 0.0, 0.25, 0.75];
        net.out.pi = vec![0.5, 0.5, 1.0];
        let mask = vec![false, true, false, true, true, true];
        let masks: Masks = [Some(mask), None, None];
        let s = compute(&net, &masks);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        // I: (0,1) (0,2) (1,2) → 0.5, 1.0, 0.3; II: (1,0) (2,0) (2,1) → 0.2, 0.4, 0.6
        assert!(close(s.rec_i, 1.8 / 3.0), "{}", s.rec_i);
        assert!(close(s.rec_ii, 1.2 / 3.0), "{}", s.rec_ii);
        assert!(close(s.rec, 4.0 / 9.0));
        assert!(close(s.rec_free, s.rec));
        // Input: all 3.5/6; unmasked entries 1, 3, 4, 5 → 0.5 + 0 + 0.25 + 0.75 = 1.5 / 4.
        assert!(close(s.inp, 3.5 / 6.0));
        assert!(close(s.inp_free, 1.5 / 4.0));
        assert!(close(s.out, 2.0 / 3.0) && close(s.out_free, 2.0 / 3.0));
        assert_eq!(Selection::OffDiagonal.indices(3, 3, None), vec![1, 2, 3, 5, 6, 7]);
        assert_eq!(
            Selection::UpperI.indices(2, 2, Some(&[true, false, true, true])),
            Vec::<usize>::new()
        );
        assert!(layer_sparsity(&net.inp, Some(&[false; 6]), Selection::Free).is_nan());
    }

    #[test]
    fn run_on_a_tiny_training_run() {
        let (o, out) = crate::analysis::accuracy::fixture::analyze(run, NAME);
        let runs = crate::analysis::accuracy::fixture::runs();
        assert_eq!(o.summary_json()["history"], true);
        // The MSI input mask: π ≡ 1 on masked entries, 0 elsewhere (π of the input is frozen).
        let masked = o.summary_json()["masked_entries"]["in"].as_u64().unwrap() as f64;
        let fin = o.summary_json()["final_in"]["mean"].as_f64().unwrap();
        assert!((fin - masked / 60.0).abs() < 1e-9, "{fin} vs {masked}/60");
        assert_eq!(o.summary_json()["final_in_free"]["mean"], 0.0);
        // Epoch 0 = initialization with π = 0 in the recurrent layer.
        assert_eq!(o.summary_json()["initial_rec_I"]["mean"], 0.0);
        let text = std::fs::read_to_string(out.join("sparsity.csv")).unwrap();
        assert_eq!(text.lines().count(), 1 + 4, "epochs 0..=3");
        let metric_rec = runs[0].metrics.column("sparsity_rec").unwrap()[2];
        let hist_rec = compute(
            &runs[0].net,
            &crate::train::init::masks(&runs[0].cfg, runs[0].net.dims()),
        )
        .rec;
        assert!((metric_rec - hist_rec).abs() < 1e-5);
    }

    #[test]
    fn falls_back_to_metrics_without_history() {
        let r = accuracy::fixture::without_history();
        let (rows, hist) = per_epoch(&r).unwrap();
        assert!(!hist);
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(rows[0].1.rec_i.is_nan() && rows[0].1.rec.is_finite());
        assert!(rows[2].1.rec_i.is_finite(), "the final network gives every group");
        let out = accuracy::fixture::out("sparsity-nohistory");
        let o = run(&[r], &out, &AnalysisOptions::default())
            .unwrap()
            .written(&out)
            .unwrap();
        assert_eq!(o.summary_json()["source"], json!(["metrics"]));
        assert!(o.summary_json()["note"].is_string());
    }
}
