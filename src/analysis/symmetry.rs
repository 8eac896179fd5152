//! Symmetry breaking (docs/MODEL.md §5.11): order parameters of the continuous (`Ξ`) and discrete
//! (`π`) parts of the spike-and-slab parameters over epochs, and the epoch at which each
//! breaks. Needs the parameter history (epoch 0 = initialization).
//!
//! At initialization all connections of a layer are statistically alike (`π` equal, `Ξ`
//! i.i.d. uniform); training differentiates them. Order parameters per layer (unmasked
//! entries, diagonal included):
//!
//! - continuous: `xi_zero`, the fraction of `Ξ ≤` [`XI_ZERO`]; `xi_cv`, std/mean of `Ξ`;
//! - discrete: `q_pi = mean((2π - 1)²)`; `pi_zero` and `pi_one`, the fractions of `π` within
//!   [`PI_TOL`] of 0 and of 1.
//!
//! **Break epoch** of an order parameter `o(e)` ([`break_epoch`]): with the excess
//! `d(e) = |o(e) - o(0)|` and its maximum `D` over the recorded epochs, the first epoch with
//! `d(e) ≥ D / 2` — the parameter has moved half of its largest departure from the
//! symmetric initial value. Using the maximum rather than the final excess handles
//! non-monotone parameters (`q_π` first falls as `π` leaves 0, then rises as `π` reaches 1).
//! If `D <` [`MIN_CHANGE`] the parameter never broke (`None`).
//!
//! The continuous part breaks when `xi_zero` breaks (`xi_cv` if `xi_zero` never moves by
//! [`MIN_CHANGE`]); the discrete part when `q_pi` breaks (`pi_one` if `q_pi` never moves).
//! The summary says which breaks first. Also reported: the onset epochs
//! ([`onset_epoch`]) where the fraction of `Ξ` at 0, and of `π` at 1, first exceed
//! [`ONSET`] (1 %).
//!
//! Layers: the stochastic ones (`rec` and `out` in the references; `in` when stochastic).

use super::accuracy::{EpochStats, by_epoch, describe_runs, line_figure};
use super::result::Stat;
use super::sparsity::Selection;
use super::{AnalysisOptions, RunData};
use crate::analysis::AnalysisResult;
use crate::error::Result;
use crate::net::{LAYERS, SasNet};
use crate::optim::Masks;
use crate::output::csv;
use crate::output::figure::Series;
use crate::sas::SasLayer;
use crate::stats::SeedStats;
use std::collections::BTreeMap;
use std::path::Path;

/// Name of the analysis on the command line.
pub const NAME: &str = "symmetry";

/// `Ξ` at or below this counts as 0.
pub const XI_ZERO: f64 = 1e-8;

/// `π` within this of 0 (of 1) counts as 0 (as 1). Training clips `π` to [0, 1], so both
/// boundaries are reached exactly; the tolerance absorbs `f32` rounding.
pub const PI_TOL: f64 = 1e-6;

/// An order parameter whose largest departure from its initial value is below this
/// (absolute) never broke.
pub const MIN_CHANGE: f64 = 0.01;

/// Level of the onset epochs: the fraction first exceeds 1 %.
pub const ONSET: f64 = 0.01;

/// Names of the order parameters, in the order of [`OrderParams::values`].
pub const PARAMS: [&str; 5] = ["xi_zero", "xi_cv", "q_pi", "pi_zero", "pi_one"];

/// Order parameters of one layer (dimensionless).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct OrderParams {
    /// Fraction of `Ξ ≤` [`XI_ZERO`].
    pub xi_zero: f64,
    /// Coefficient of variation std/mean of `Ξ` (population std; NaN if the mean is 0).
    pub xi_cv: f64,
    /// `q_π = mean((2π - 1)²)` ∈ [0, 1]: 1 when every `π` is 0 or 1, 0 when all are ½.
    pub q_pi: f64,
    /// Fraction of `π ≤` [`PI_TOL`].
    pub pi_zero: f64,
    /// Fraction of `π ≥ 1 -` [`PI_TOL`].
    pub pi_one: f64,
}

impl OrderParams {
    /// The values in the order of [`PARAMS`].
    pub fn values(&self) -> [f64; 5] {
        [self.xi_zero, self.xi_cv, self.q_pi, self.pi_zero, self.pi_one]
    }
}

/// Order parameters of `l` over its unmasked entries (`mask[k] = false`: structurally fixed);
/// NaN when no entry is unmasked.
pub(crate) fn order_params(l: &SasLayer<f32>, mask: Option<&[bool]>) -> OrderParams {
    let idx = Selection::Free.indices(l.rows, l.cols, mask);
    let n = idx.len();
    let d = if n > 0 { n as f64 } else { f64::NAN };
    let xi: Vec<f64> = idx.iter().map(|&k| l.xi[k] as f64).collect();
    let pi: Vec<f64> = idx.iter().map(|&k| l.pi[k] as f64).collect();
    let mean = xi.iter().sum::<f64>() / d;
    let std = (xi.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / d).sqrt();
    OrderParams {
        xi_zero: xi.iter().filter(|&&x| x <= XI_ZERO).count() as f64 / d,
        xi_cv: if mean > 0.0 { std / mean } else { f64::NAN },
        q_pi: pi.iter().map(|p| (2.0 * p - 1.0).powi(2)).sum::<f64>() / d,
        pi_zero: pi.iter().filter(|&&p| p <= PI_TOL).count() as f64 / d,
        pi_one: pi.iter().filter(|&&p| p >= 1.0 - PI_TOL).count() as f64 / d,
    }
}

/// Order parameters per layer (`[in, rec, out]`; `None` for deterministic layers).
pub(crate) fn compute(net: &SasNet<f32>, masks: &Masks) -> [Option<OrderParams>; 3] {
    let mut r = [None; 3];
    for (k, (_, l)) in net.layers().into_iter().enumerate() {
        if net.stochastic[k] {
            r[k] = Some(order_params(l, masks[k].as_deref()));
        }
    }
    r
}

/// The excess `|o(e) - o(0)|` normalized by its maximum over the series, in [0, 1]; all 0
/// when the maximum is below [`MIN_CHANGE`] (or the series is empty); NaN entries stay NaN.
pub(crate) fn normalized_excess(values: &[f64]) -> Vec<f64> {
    let Some(&o0) = values.first() else {
        return Vec::new();
    };
    let d: Vec<f64> = values.iter().map(|v| (v - o0).abs()).collect();
    let dmax = d.iter().copied().filter(|x| x.is_finite()).fold(0.0, f64::max);
    if dmax < MIN_CHANGE {
        return values
            .iter()
            .map(|v| if v.is_finite() { 0.0 } else { f64::NAN })
            .collect();
    }
    d.iter().map(|x| x / dmax).collect()
}

/// The break epoch of the series `values` at `epochs` (see the module docs): the first epoch
/// whose excess over the initial value reaches half of the largest excess; `None` if the
/// largest excess is below [`MIN_CHANGE`] or the initial value is not finite.
pub(crate) fn break_epoch(epochs: &[usize], values: &[f64]) -> Option<usize> {
    let o0 = *values.first()?;
    if !o0.is_finite() {
        return None;
    }
    let d: Vec<f64> = values.iter().map(|v| (v - o0).abs()).collect();
    let dmax = d.iter().copied().filter(|x| x.is_finite()).fold(0.0, f64::max);
    if dmax < MIN_CHANGE {
        return None;
    }
    // Relative slack of 1e-12 so that an excess of exactly half is not lost to rounding.
    d.iter()
        .position(|&x| x >= 0.5 * dmax * (1.0 - 1e-12))
        .map(|i| epochs[i])
}

/// The first epoch at which `values` exceeds `level`, provided the initial value does not
/// (`None` otherwise, or if it never does).
pub(crate) fn onset_epoch(epochs: &[usize], values: &[f64], level: f64) -> Option<usize> {
    if values.first().is_none_or(|&v| v > level) {
        return None;
    }
    values.iter().position(|&v| v > level).map(|i| epochs[i])
}

/// Which part broke first.
fn first_of(cont: Option<usize>, disc: Option<usize>) -> &'static str {
    match (cont, disc) {
        (Some(c), Some(d)) if c < d => "continuous",
        (Some(c), Some(d)) if c > d => "discrete",
        (Some(_), Some(_)) => "simultaneous",
        (Some(_), None) => "continuous",
        (None, Some(_)) => "discrete",
        (None, None) => "neither",
    }
}

/// Break epochs of one layer of one run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerBreaks {
    /// Break epoch of each order parameter of [`PARAMS`].
    pub params: [Option<usize>; 5],
    /// Break epoch of the continuous part and the parameter that defined it.
    pub continuous: (Option<usize>, &'static str),
    /// Break epoch of the discrete part and the parameter that defined it.
    pub discrete: (Option<usize>, &'static str),
    /// First epoch with more than 1 % of `Ξ` at 0.
    pub xi_zero_onset: Option<usize>,
    /// First epoch with more than 1 % of `π` at 1.
    pub pi_one_onset: Option<usize>,
    /// `continuous`, `discrete`, `simultaneous` or `neither`.
    pub first: &'static str,
}

/// Break epochs from one layer's series `series[param][epoch index]` (order of [`PARAMS`]).
pub(crate) fn layer_breaks(epochs: &[usize], series: &[Vec<f64>; 5]) -> LayerBreaks {
    let params: [Option<usize>; 5] = std::array::from_fn(|p| break_epoch(epochs, &series[p]));
    let continuous = match params[0] {
        Some(e) => (Some(e), PARAMS[0]),
        None => (params[1], PARAMS[1]),
    };
    let discrete = match params[2] {
        Some(e) => (Some(e), PARAMS[2]),
        None => (params[4], PARAMS[4]),
    };
    LayerBreaks {
        params,
        continuous,
        discrete,
        xi_zero_onset: onset_epoch(epochs, &series[0], ONSET),
        pi_one_onset: onset_epoch(epochs, &series[4], ONSET),
        first: first_of(continuous.0, discrete.0),
    }
}

fn opt(e: Option<usize>) -> f64 {
    e.map_or(f64::NAN, |e| e as f64)
}

/// The key numbers of the symmetry analysis (`summary.json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    /// Whether every run kept a per-epoch parameter history.
    pub history: bool,
    /// The stochastic layers (`in`, `rec`, `out`), in order.
    pub layers: Vec<&'static str>,
    /// Per layer (keyed by its name in [`Summary::layers`]).
    #[serde(flatten)]
    pub by_layer: BTreeMap<&'static str, LayerSummary>,
    /// Why some runs contribute only their final order parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

/// The symmetry analysis of one layer.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerSummary {
    /// Final order parameters over seeds, keyed by [`PARAMS`].
    #[serde(rename = "final")]
    pub final_: BTreeMap<&'static str, Stat>,
    /// The breaks (runs with a history).
    #[serde(flatten)]
    pub breaks: Option<Breaks>,
}

/// When the symmetries of one layer break, over seeds (epochs; `n = 0`: never).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Breaks {
    /// Break epoch of the continuous (Ξ) part.
    pub continuous_break: Stat,
    /// Break epoch of the discrete (π) part.
    pub discrete_break: Stat,
    /// Onset epoch of the fraction of Ξ at 0.
    pub xi_zero_onset: Stat,
    /// Onset epoch of the fraction of π at 1.
    pub pi_one_onset: Stat,
    /// Which part breaks first, per seed (`continuous`, `discrete`, `simultaneous`, `neither`).
    pub first: Vec<&'static str>,
    /// The majority of [`Breaks::first`].
    pub first_to_break: &'static str,
    /// The order parameter that defined the continuous break, per seed.
    pub continuous_param: Vec<&'static str>,
    /// The one that defined the discrete break, per seed.
    pub discrete_param: Vec<&'static str>,
}

/// The symmetry-breaking analysis (an [`super::AnalysisFn`]): writes `symmetry.csv` (epoch,
/// then mean, std and seed count of `<layer>_<param>`), `symmetry_normalized.csv` (the same
/// for the normalized excess, see [`normalized_excess`]), `symmetry_per_seed.csv`,
/// `breaks.csv` (per run and layer: break epochs of every parameter, of both parts, and the
/// onsets; empty = never) and `summary.json`.
///
/// Summary keys: `history`, `layers`, and per layer `{continuous_break, discrete_break,
/// xi_zero_onset, pi_one_onset}` (mean ± std over the seeds where defined), `first` (per
/// seed), `first_to_break` (the majority over seeds), `continuous_param` /
/// `discrete_param` (per seed), and `final` (the order parameters of the final networks, mean
/// ± std). Without a history only `final` is reported.
pub fn run(runs: &[RunData], _work: &Path, _opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let stoch = runs[0].net.stochastic;
    let layers: Vec<usize> = (0..3).filter(|&k| stoch[k]).collect();
    // per_seed[seed] = (epochs, [layer] -> series[param][i])
    type LayerSeries = [Option<[Vec<f64>; 5]>; 3];
    let mut per_seed: Vec<(Vec<usize>, LayerSeries)> = Vec::new();
    let mut finals: Vec<[Option<OrderParams>; 3]> = Vec::new();
    let mut with_hist = Vec::new();
    for r in runs {
        let masks = crate::train::init::masks(&r.cfg, r.net.dims());
        finals.push(compute(&r.net, &masks));
        let hist = r.history()?;
        with_hist.push(hist.len() >= 2);
        if hist.len() < 2 {
            continue;
        }
        let ops: Vec<[Option<OrderParams>; 3]> = hist.iter().map(|(_, n)| compute(n, &masks)).collect();
        let epochs: Vec<usize> = hist.iter().map(|(e, _)| *e).collect();
        let series: [Option<[Vec<f64>; 5]>; 3] = std::array::from_fn(|k| {
            stoch[k].then(|| {
                std::array::from_fn(|p| {
                    ops.iter()
                        .map(|o| o[k].map_or(f64::NAN, |o| o.values()[p]))
                        .collect()
                })
            })
        });
        per_seed.push((epochs, series));
    }

    let mut summary = Summary {
        history: with_hist.iter().all(|h| *h),
        layers: layers.iter().map(|&k| LAYERS[k]).collect(),
        by_layer: BTreeMap::new(),
        note: None,
    };
    let mut files = Vec::new();
    let mut figures = Vec::new();
    let desc = describe_runs(runs);
    let mut breaks_rows = Vec::new();
    let mut raw_cols: Vec<(String, EpochStats)> = Vec::new();
    // (layer, continuous breaks per seed, discrete breaks per seed) for the order figure.
    let mut order: Vec<(usize, Vec<f64>, Vec<f64>)> = Vec::new();
    let mut norm_cols: Vec<(String, EpochStats)> = Vec::new();
    for &k in &layers {
        let fin: Vec<OrderParams> = finals.iter().filter_map(|f| f[k]).collect();
        let mut lm = LayerSummary {
            final_: PARAMS
                .iter()
                .enumerate()
                .map(|(p, name)| {
                    (
                        *name,
                        Stat::of(&fin.iter().map(|o| o.values()[p]).collect::<Vec<_>>()),
                    )
                })
                .collect(),
            breaks: None,
        };
        if !per_seed.is_empty() {
            let mut br = Vec::new();
            for (si, (epochs, series)) in per_seed.iter().enumerate() {
                let Some(s) = &series[k] else { continue };
                let b = layer_breaks(epochs, s);
                let mut row = vec![si as f64, runs[si].cfg.seed as f64, k as f64];
                row.extend(b.params.iter().map(|&e| opt(e)));
                row.extend([
                    opt(b.continuous.0),
                    opt(b.discrete.0),
                    opt(b.xi_zero_onset),
                    opt(b.pi_one_onset),
                ]);
                breaks_rows.push(row);
                br.push(b);
            }
            let col = |f: &dyn Fn(&LayerBreaks) -> Option<usize>| {
                Stat::of(&br.iter().map(|b| opt(f(b))).collect::<Vec<_>>())
            };
            order.push((
                k,
                br.iter().map(|b| opt(b.continuous.0)).collect(),
                br.iter().map(|b| opt(b.discrete.0)).collect(),
            ));
            let firsts: Vec<&'static str> = br.iter().map(|b| b.first).collect();
            let majority = ["continuous", "discrete", "simultaneous", "neither"]
                .into_iter()
                .max_by_key(|o| firsts.iter().filter(|f| *f == o).count())
                .unwrap_or("neither");
            lm.breaks = Some(Breaks {
                continuous_break: col(&|b| b.continuous.0),
                discrete_break: col(&|b| b.discrete.0),
                xi_zero_onset: col(&|b| b.xi_zero_onset),
                pi_one_onset: col(&|b| b.pi_one_onset),
                first: firsts,
                first_to_break: majority,
                continuous_param: br.iter().map(|b| b.continuous.1).collect(),
                discrete_param: br.iter().map(|b| b.discrete.1).collect(),
            });

            // Aggregated series (raw and normalized) for CSV and figures.
            let mut norm_series = Vec::new();
            let mut raw_series = Vec::new();
            for (p, name) in PARAMS.iter().enumerate() {
                let raw: Vec<Vec<(usize, f64)>> = per_seed
                    .iter()
                    .filter_map(|(ep, s)| {
                        s[k].as_ref()
                            .map(|s| ep.iter().copied().zip(s[p].clone()).collect())
                    })
                    .collect();
                let norm: Vec<Vec<(usize, f64)>> = per_seed
                    .iter()
                    .filter_map(|(ep, s)| {
                        s[k].as_ref()
                            .map(|s| ep.iter().copied().zip(normalized_excess(&s[p])).collect())
                    })
                    .collect();
                let (rs, ns) = (by_epoch(&raw), by_epoch(&norm));
                let label = param_label(p);
                // The normalized figure shows the two parameters that define the breaks.
                let defining = br.first().map_or(p == 0 || p == 2, |b| {
                    *name == b.continuous.1 || *name == b.discrete.1
                });
                if defining {
                    norm_series.push(ns.series(short_label(p)));
                }
                if p != 1 {
                    raw_series.push(rs.series(label));
                }
                raw_cols.push((format!("{}_{name}", LAYERS[k]), rs));
                norm_cols.push((format!("{}_{name}", LAYERS[k]), ns));
            }
            let lname = ["input", "recurrent", "output"][k];
            // Markers of the break epochs (mean over seeds) and the half-way level.
            let mean_of = |v: Vec<f64>| {
                let f: Vec<f64> = v.into_iter().filter(|x| x.is_finite()).collect();
                (!f.is_empty()).then(|| f.iter().sum::<f64>() / f.len() as f64)
            };
            let cb = mean_of(br.iter().map(|b| opt(b.continuous.0)).collect());
            let db = mean_of(br.iter().map(|b| opt(b.discrete.0)).collect());
            let last = per_seed
                .iter()
                .filter_map(|(ep, _)| ep.last().copied())
                .max()
                .unwrap_or(1) as f64;
            norm_series.push(Series {
                label: "half-way level (0.5)".into(),
                x: vec![0.0, last],
                y: vec![0.5, 0.5],
                band: None,
                markers: false,
            });
            for (e, p, what) in [(cb, 0usize, "Ξ"), (db, 2, "π")] {
                let Some(e) = e else { continue };
                // Same label key as the defining parameter's curve: same colour.
                let param = match (p, br.first()) {
                    (0, Some(b)) => b.continuous.1,
                    (_, Some(b)) => b.discrete.1,
                    _ => PARAMS[p],
                };
                let pi = PARAMS.iter().position(|q| *q == param).unwrap_or(p);
                norm_series.push(Series {
                    label: format!("{} ({what} breaks: {})", short_label(pi), crate::output::num(e)),
                    x: vec![e, e],
                    y: vec![0.0, 1.0],
                    band: None,
                    markers: false,
                });
            }
            let order = match majority {
                "continuous" | "discrete" => format!("; here the {majority} part breaks first"),
                "simultaneous" => "; here both break in the same epoch".into(),
                _ => String::new(),
            };
            figures.push(line_figure(
                &format!("symmetry_{}", LAYERS[k]),
                &format!("Symmetry breaking, {lname} layer"),
                "epoch",
                "departure |o(e) − o(0)| / its maximum",
                format!(
                    "The order parameters that define the breaks of the continuous part (Ξ: the \
                     fraction of Ξ at 0) and of the discrete part (π: q_π = mean((2π−1)²)), each as \
                     its departure from the initial value normalized by its largest departure (0 if \
                     that is below {MIN_CHANGE}; all five order parameters are in the next figure \
                     and in symmetry_normalized.csv). A part breaks where its curve first crosses the half-way level \
                     (continuous: Ξ at 0; discrete: q_π); the vertical lines mark the break epochs \
                     (mean over seeds){order}; {desc}."
                ),
                norm_series,
            ));
            figures.push(line_figure(
                &format!("order_{}", LAYERS[k]),
                &format!("Order parameters, {lname} layer"),
                "epoch",
                "order parameter (fraction or q_π, 0–1)",
                format!(
                    "Raw order parameters over training: fraction of Ξ ≤ {XI_ZERO:e}, q_π, and the \
                     fractions of π within {PI_TOL:e} of 0 and of 1 (unmasked entries); {desc}."
                ),
                raw_series,
            ));
        }
        summary.by_layer.insert(LAYERS[k], lm);
    }
    if !order.is_empty() {
        figures.push(order_figure(&order, &desc));
    }
    for (fname, cols) in [
        ("symmetry.csv", &raw_cols),
        ("symmetry_normalized.csv", &norm_cols),
    ] {
        let Some((_, s0)) = cols.first() else { continue };
        let mut header = vec!["epoch".to_string()];
        for (c, _) in cols.iter() {
            header.extend(super::accuracy::EpochStats::csv_header(c));
        }
        let rows: Vec<Vec<f64>> = (0..s0.epochs.len())
            .map(|i| {
                let mut r = vec![s0.epochs[i] as f64];
                for (_, s) in cols.iter() {
                    r.extend(s.csv_cells(Some(i)));
                }
                r
            })
            .collect();
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        files.push(csv(fname, &h, &rows)?);
    }
    if !per_seed.is_empty() {
        let mut ph = vec!["run".to_string(), "seed".into(), "epoch".into()];
        for &k in &layers {
            ph.extend(PARAMS.iter().map(|p| format!("{}_{p}", LAYERS[k])));
        }
        let mut prow = Vec::new();
        let seeds: Vec<u64> = runs
            .iter()
            .zip(&with_hist)
            .filter(|(_, h)| **h)
            .map(|(r, _)| r.cfg.seed)
            .collect();
        for (si, (epochs, series)) in per_seed.iter().enumerate() {
            for (i, &e) in epochs.iter().enumerate() {
                let mut r = vec![si as f64, seeds[si] as f64, e as f64];
                for &k in &layers {
                    r.extend((0..5).map(|p| series[k].as_ref().map_or(f64::NAN, |s| s[p][i])));
                }
                prow.push(r);
            }
        }
        let ph: Vec<&str> = ph.iter().map(String::as_str).collect();
        files.push(csv("symmetry_per_seed.csv", &ph, &prow)?);
        let mut bh = vec!["run", "seed", "layer"];
        bh.extend(PARAMS);
        bh.extend(["continuous", "discrete", "xi_zero_onset", "pi_one_onset"]);
        files.push(csv("breaks.csv", &bh, &breaks_rows)?);
    }
    if with_hist.iter().any(|h| !h) {
        summary.note = Some(
            "symmetry breaking needs the per-epoch parameter history; runs without one \
             (train.history = false) contribute only their final order parameters",
        );
    }
    Ok(AnalysisResult::with(
        NAME,
        "Symmetry breaking",
        files,
        figures,
        super::Summary::Symmetry(summary),
    ))
}

/// The break-order figure: per stochastic layer (y: 0 = input, 1 = recurrent, 2 = output),
/// the break epochs of the continuous and discrete parts (mean over seeds, markers) with the
/// 95 % t-interval of that mean over seeds (a horizontal bar).
fn order_figure(order: &[(usize, Vec<f64>, Vec<f64>)], desc: &str) -> crate::output::figure::Figure {
    let mut series = Vec::new();
    for (part, off, name) in [(0usize, -0.1, "Ξ (continuous)"), (1, 0.1, "π (discrete)")] {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        let (mut bx, mut by) = (Vec::new(), Vec::new());
        for (k, c, d) in order {
            let v: Vec<f64> = [c, d][part].iter().copied().filter(|e| e.is_finite()).collect();
            if v.is_empty() {
                continue;
            }
            let st = SeedStats::of(&v);
            let (m, half) = (st.mean, if st.ci95.is_finite() { st.ci95 } else { 0.0 });
            let yk = *k as f64 + off;
            x.extend([m, f64::NAN]);
            y.extend([yk, f64::NAN]);
            bx.extend([m - half, m + half, f64::NAN]);
            by.extend([yk, yk, f64::NAN]);
        }
        series.push(Series {
            label: name.into(),
            x,
            y,
            band: None,
            markers: true,
        });
        series.push(Series {
            label: format!("{name} (95 % interval over seeds)"),
            x: bx,
            y: by,
            band: None,
            markers: false,
        });
    }
    line_figure(
        "break_order",
        "Which symmetry breaks first",
        "break epoch",
        "layer (0 = input, 1 = recurrent, 2 = output)",
        format!(
            "Break epoch of the continuous part (Ξ, slightly below each layer's line) and of the \
             discrete part (π, slightly above) of every stochastic layer: the marker is the mean \
             over seeds, the bar its 95 % t-interval (none for one seed); the part further left breaks first. Break epoch: the \
             first recorded epoch where the defining order parameter (Ξ: fraction at 0; π: q_π) \
             has moved half of its largest departure from initialization; {desc}."
        ),
        series,
    )
}

/// Short legend label of parameter `p` (the vertical break markers append to it).
fn short_label(p: usize) -> &'static str {
    ["Ξ at 0", "Ξ std/mean", "q_π", "π at 0", "π at 1"][p]
}

fn param_label(p: usize) -> &'static str {
    [
        "Ξ: fraction at 0",
        "Ξ: std/mean",
        "π: q_π",
        "π: fraction at 0",
        "π: fraction at 1",
    ][p]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn order_parameters_by_hand() {
        let l = SasLayer {
            rows: 1,
            cols: 5,
            m: vec![0.0; 5],
            pi: vec![0.0, 1.0, 0.5, 0.25, 0.7],
            xi: vec![0.0, 1e-9, 0.2, 0.4, 9.0],
        };
        // Entry 4 masked.
        let o = order_params(&l, Some(&[true, true, true, true, false]));
        // q = mean(1, 1, 0, 0.25) = 0.5625
        assert!((o.q_pi - 0.5625).abs() < 1e-12);
        assert_eq!((o.pi_zero, o.pi_one, o.xi_zero), (0.25, 0.25, 0.5));
        // Ξ mean 0.15, std sqrt(0.05 - 0.0225)
        let want = 0.0275f64.sqrt() / 0.15;
        assert!((o.xi_cv - want).abs() < 1e-6, "{}", o.xi_cv);
        let z = SasLayer::<f32>::zeros(1, 2);
        let o = order_params(&z, None);
        assert_eq!((o.q_pi, o.pi_zero, o.xi_zero), (1.0, 1.0, 1.0));
        assert!(o.xi_cv.is_nan());
    }

    #[test]
    fn break_and_onset_epochs_by_hand() {
        let ep = [0, 1, 2, 3, 4];
        assert_eq!(break_epoch(&ep, &[0.0, 0.1, 0.3, 0.6, 0.5]), Some(2));
        // Non-monotone (q_π falling then rising): excess 0, .2, .4, .3, .1 → half of .4 at 1.
        assert_eq!(break_epoch(&ep, &[1.0, 0.8, 0.6, 0.7, 0.9]), Some(1));
        assert_eq!(break_epoch(&ep, &[0.5, 0.505, 0.5, 0.499, 0.5]), None);
        assert_eq!(break_epoch(&ep, &[f64::NAN, 0.0, 1.0, 1.0, 1.0]), None);
        assert_eq!(onset_epoch(&ep, &[0.0, 0.0, 0.005, 0.02, 0.5], 0.01), Some(3));
        assert_eq!(onset_epoch(&ep, &[0.5, 0.6, 0.7, 0.8, 0.9], 0.01), None);
        let n = normalized_excess(&[1.0, 0.8, 0.6, 0.7, 0.9]);
        let want = [0.0, 0.5, 1.0, 0.75, 0.25];
        assert!(n.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12), "{n:?}");
        assert_eq!(normalized_excess(&[0.5, 0.505]), vec![0.0, 0.0]);
        // Continuous breaks at 2, discrete (q_π) at 1: discrete first.
        let s = [
            vec![0.0, 0.0, 0.3, 0.5, 0.6],
            vec![0.5; 5],
            vec![1.0, 0.8, 0.6, 0.7, 0.9],
            vec![1.0; 5],
            vec![0.0, 0.0, 0.0, 0.02, 0.1],
        ];
        let b = layer_breaks(&ep, &s);
        assert_eq!(b.continuous, (Some(2), "xi_zero"));
        assert_eq!(b.discrete, (Some(1), "q_pi"));
        assert_eq!((b.xi_zero_onset, b.pi_one_onset), (Some(2), Some(3)));
        assert_eq!(b.first, "discrete");
        assert_eq!(b.params[1], None);
        // q_π flat: the discrete part falls back to the fraction at 1.
        let s2 = [
            s[0].clone(),
            s[1].clone(),
            vec![1.0; 5],
            s[3].clone(),
            s[4].clone(),
        ];
        let b = layer_breaks(&ep, &s2);
        assert_eq!(b.discrete, (Some(4), "pi_one"));
        assert_eq!(b.first, "continuous");
    }

    #[test]
    fn run_on_a_tiny_training_run() {
        let (o, out) = crate::analysis::accuracy::fixture::analyze(run, NAME);
        assert_eq!(o.summary_json()["history"], true);
        assert_eq!(o.summary_json()["layers"], json!(["rec", "out"]));
        let summary = o.summary_json();
        let f = summary["rec"]["first_to_break"].as_str().unwrap();
        assert!(["continuous", "discrete", "simultaneous", "neither"].contains(&f));
        assert_eq!(o.summary_json()["rec"]["first"].as_array().unwrap().len(), 2);
        assert_eq!(o.figures.len(), 5);
        assert_eq!(o.figures[4].name, "break_order");
        let text = std::fs::read_to_string(out.join("symmetry.csv")).unwrap();
        assert_eq!(text.lines().count(), 5, "epochs 0..=3");
        // Initialization: π = 0 → q_π = 1 and all π at 0.
        let row1: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        let col = |n: &str| {
            row1[header.iter().position(|h| *h == n).unwrap()]
                .parse::<f64>()
                .unwrap()
        };
        assert_eq!(col("rec_q_pi_mean"), 1.0);
        assert_eq!(col("rec_pi_zero_mean"), 1.0);
        assert!(out.join("breaks.csv").exists());

        // Without a history: only the final order parameters, no figures.
        let r = crate::analysis::accuracy::fixture::without_history();
        let out = crate::analysis::accuracy::fixture::out("symmetry-nohistory");
        let o = run(&[r], &out, &AnalysisOptions::default())
            .unwrap()
            .written(&out)
            .unwrap();
        assert_eq!(o.summary_json()["history"], false);
        assert!(o.figures.is_empty());
        assert!(
            o.summary_json()["rec"]["final"]["q_pi"]["mean"]
                .as_f64()
                .is_some()
        );
        assert!(o.summary_json()["rec"].get("first_to_break").is_none());
    }
}
