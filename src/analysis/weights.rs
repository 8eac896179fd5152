//! Hyper-parameter distributions, matrices and weight classes (docs/MODEL.md §5.4–5.5, paper Figs
//! 5–7 and 14–17).
//!
//! - `weights` ([`run`]): histograms of `π`, `m`, `Ξ` per layer of the final networks (the
//!   recurrent layer split into directions I, `i < j`, and II, `i > j`, diagonal excluded; see
//!   [`super::sparsity`]), with the counts as CSV, and heat maps of the parameter matrices.
//!   The paper finds a U-shaped `π` (peaks at 0 and 1) and an L-shaped `Ξ` (peak at 0).
//! - `classes` ([`run_classes`]): the fractions of very important (VIP), unimportant (UIP) and
//!   variable weights per layer over epochs, classified by [`classify`] with [`Thresholds`].
//!
//! # Weight classes and their sources
//!
//! One classifier ([`Thresholds::class_of`]) serves `classes`, `perturb` and the feed-forward
//! analyses. The VIP rule is one of ([`VipRule`]):
//!
//! - `exact` — `π = 0`, `Ξ = 0`, `m ≠ 0`, exact comparisons on the stored `f32` values. Source:
//!   the paper, MNIST ("π = 0 and m ≠ 0"; such a connection is deterministic — its entropy
//!   vanishes — hence `Ξ = 0`). Default of the MNIST tasks and of feed-forward runs.
//! - `relaxed` — `π < 0.1`, `|m| > 0.05`, `Ξ` not tested. Source: the paper's MSI Fig. 17
//!   caption ("note that Ξ is very small"). Default of MSI and user tasks.
//! - `authors` — `π ≤ 0.1`, `Ξ < 0.1`, `|m| > 0.08`. Source: the authors' MSI analysis code.
//! - `custom` — the user's `--vip-pi-max` (`π ≤ x`), `--vip-xi-max` (`Ξ < x`), `--vip-m-min`
//!   (`|m| > x`) replacing those bounds of the chosen (or default) named rule.
//!
//! UIP: `π ≥ 0.999` ([`crate::sas::classes::UIP_PI`]; feed-forward runs `π = 1` exactly); variable: the rest.
//! Comparisons are in `f32`, the bounds rounded to `f32` (see [`Thresholds`]). Every caption and
//! summary that uses a rule states it with its source ([`Thresholds::label`]).
//!
//! Structurally masked entries (the MSI input wiring, `π ≡ 1`) are excluded throughout.

use super::accuracy::{describe_runs_plain, line_figure};
use super::sparsity::Selection;
use super::{AnalysisOptions, RunData};
use crate::analysis::AnalysisResult;
use crate::error::Result;
use crate::net::{LAYERS, SasNet};
use crate::optim::Masks;
use crate::output::figure::{Figure, Heatmap, Histogram, Plot, Series};
use crate::output::{Data, csv};
use crate::sas::SasLayer;
use crate::sas::classes::VipRule;
use crate::sas::classes::{ClassFractions, Thresholds, classify};
use crate::stats::{SeedStats, SeriesBand};
use std::path::Path;

/// Name of the hyper-parameter distribution and matrix analysis.
pub const NAME: &str = "weights";

/// Name of the weight-class analysis.
pub const CLASSES_NAME: &str = "classes";

/// Groups of [`class_fractions`]: `in` and `out` (when stochastic), `rec` (every unmasked
/// entry, diagonal included), `rec_I`, `rec_II` (directions, diagonal excluded).
pub const CLASS_GROUPS: [&str; 5] = ["in", "rec", "rec_I", "rec_II", "out"];

/// Class fractions per group of [`CLASS_GROUPS`] (`None` for deterministic layers, whose
/// `π ≡ 0, Ξ ≡ 0` make the classes meaningless).
pub(crate) fn class_fractions(
    net: &SasNet<f32>,
    masks: &Masks,
    t: &Thresholds,
) -> [Option<ClassFractions>; 5] {
    let mut r = [None; 5];
    let d = net.dims();
    if net.stochastic[0] {
        r[0] = Some(ClassFractions::of(
            &classify(&net.inp, t, masks[0].as_deref(), false),
            None,
        ));
    }
    if net.stochastic[1] {
        let c = classify(&net.rec, t, masks[1].as_deref(), false);
        r[1] = Some(ClassFractions::of(&c, None));
        let up = Selection::UpperI.indices(d.n, d.n, masks[1].as_deref());
        let lo = Selection::LowerII.indices(d.n, d.n, masks[1].as_deref());
        r[2] = Some(ClassFractions::of(&c, Some(&up)));
        r[3] = Some(ClassFractions::of(&c, Some(&lo)));
    }
    if net.stochastic[2] {
        r[4] = Some(ClassFractions::of(
            &classify(&net.out, t, masks[2].as_deref(), false),
            None,
        ));
    }
    r
}

/// Equally spaced bin edges: `bins + 1` values from `lo` to `hi`.
pub(crate) fn edges(lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    (0..=bins)
        .map(|i| lo + (hi - lo) * i as f64 / bins as f64)
        .collect()
}

/// Counts of `values` in the bins of `edges` (`[e_k, e_{k+1})`, the last bin closed; values
/// outside the range go to the nearest end bin).
pub(crate) fn histogram(values: impl IntoIterator<Item = f64>, edges: &[f64]) -> Vec<f64> {
    let bins = edges.len() - 1;
    let (lo, hi) = (edges[0], edges[bins]);
    let mut c = vec![0.0; bins];
    for v in values {
        let k = if hi > lo {
            (((v - lo) / (hi - lo)) * bins as f64)
                .floor()
                .clamp(0.0, (bins - 1) as f64) as usize
        } else {
            0
        };
        c[k] += 1.0;
    }
    c
}

/// Shape statistics of a group of weights.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ShapeStats {
    /// Fraction of `π ≤ 0.05` (the peak at 0 of a U / L shape).
    pub pi_near0: f64,
    /// Fraction of `π ≥ 0.95` (the peak at 1 of a U shape).
    pub pi_near1: f64,
    /// Fraction of `Ξ < 0.01 · max Ξ` of the group (the peak at 0 of an L shape; 1 when all
    /// `Ξ` are 0).
    pub xi_small: f64,
    /// Weights in the group.
    pub count: usize,
}

/// Shape statistics of the entries `idx` of `l`.
pub(crate) fn shape_stats(l: &SasLayer<f32>, idx: &[usize]) -> ShapeStats {
    let n = idx.len();
    let d = if n > 0 { n as f64 } else { f64::NAN };
    let frac = |f: &dyn Fn(usize) -> bool| idx.iter().filter(|&&k| f(k)).count() as f64 / d;
    let xmax = idx.iter().map(|&k| l.xi[k] as f64).fold(0.0, f64::max);
    ShapeStats {
        pi_near0: frac(&|k| l.pi[k] as f64 <= 0.05),
        pi_near1: frac(&|k| l.pi[k] as f64 >= 0.95),
        xi_small: frac(&|k| xmax == 0.0 || (l.xi[k] as f64) < 0.01 * xmax),
        count: n,
    }
}

/// Histogram groups: (name, layer index, selection).
const HIST_GROUPS: [(&str, usize, Selection); 4] = [
    ("in", 0, Selection::Free),
    ("rec_I", 1, Selection::UpperI),
    ("rec_II", 1, Selection::LowerII),
    ("out", 2, Selection::Free),
];

/// The parameters: (key, symbol, unit note).
const PARAMS: [(&str, &str); 3] = [("pi", "π"), ("m", "m"), ("xi", "Ξ")];

fn param(l: &SasLayer<f32>, p: usize) -> &[f32] {
    match p {
        0 => &l.pi,
        1 => &l.m,
        _ => &l.xi,
    }
}

fn group_label(g: &str) -> &'static str {
    match g {
        "in" => "input",
        "rec" => "recurrent",
        "rec_I" => "recurrent I (i < j)",
        "rec_II" => "recurrent II (i > j)",
        _ => "output",
    }
}

fn matrix_csv(name: &str, l: &SasLayer<f32>, v: &[f32]) -> Result<Data> {
    let header: Vec<String> = (0..l.cols).map(|j| format!("c{j}")).collect();
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    let rows: Vec<Vec<f64>> = v
        .chunks(l.cols)
        .map(|r| r.iter().map(|&x| x as f64).collect())
        .collect();
    csv(name, &h, &rows)
}

/// The key numbers of the hyper-parameter analysis (`summary.json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    /// Per histogram group (`in`, `rec_I`, `rec_II`, `out`).
    pub groups: std::collections::BTreeMap<&'static str, GroupShape>,
    /// Ranges of the `m` and `Ξ` histograms.
    pub ranges: Ranges,
    /// Seed of the run whose matrices are drawn.
    pub matrices_seed: u64,
}

/// The shape of one group's hyper-parameter distributions over seeds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GroupShape {
    /// Stochastic groups: fraction of `π` near 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pi_near0: Option<SeedStats>,
    /// Stochastic groups: fraction of `π` near 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pi_near1: Option<SeedStats>,
    /// Stochastic groups: fraction of small `Ξ`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xi_small: Option<SeedStats>,
    /// Connections in the group.
    pub count: usize,
}

/// Histogram ranges.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Ranges {
    /// `m`: `[−max|m|, max|m|]`.
    pub m: [f64; 2],
    /// `Ξ`: `[0, max Ξ]`.
    pub xi: [f64; 2],
}

/// The key numbers of the class analysis (`summary.json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ClassesSummary {
    /// The VIP and UIP rule.
    pub thresholds: Thresholds,
    /// The rule, described.
    pub vip_rule: String,
    /// Seeds.
    pub seeds: usize,
    /// Whether every run kept a parameter history.
    pub history: bool,
    /// The stochastic groups, in order.
    pub groups: Vec<&'static str>,
    /// Per group (keyed by its name in [`ClassesSummary::groups`]).
    #[serde(flatten)]
    pub by_group: std::collections::BTreeMap<&'static str, Ends>,
    /// Why only final networks are classified for some runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

/// A group's classes at the first and the last analysed epoch.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Ends {
    /// First epoch.
    pub initial: ClassSummary,
    /// Last epoch.
    #[serde(rename = "final")]
    pub last: ClassSummary,
}

/// A group's class fractions over seeds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ClassSummary {
    /// VIP fraction.
    pub vip: SeedStats,
    /// UIP fraction.
    pub uip: SeedStats,
    /// Variable fraction.
    pub variable: SeedStats,
    /// VIP count.
    pub vip_count: SeedStats,
    /// Exact VIP fraction (`π = 0, Ξ = 0, m ≠ 0`) when the rule is another one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact_vip: Option<SeedStats>,
    /// `rec`: VIP self-connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vip_self: Option<SeedStats>,
}

/// The hyper-parameter analysis (an [`super::AnalysisFn`]) on the final networks: writes
/// `hist_<pi|m|xi>.csv` (bin edges, then per group of `in`, `rec_I`, `rec_II`, `out` the count
/// mean and std over seeds), `matrix_<layer>_<param>.csv` (the first run's matrices, row =
/// receiving unit) and `summary.json`.
///
/// Summary keys: `groups` → per group `{pi_near0, pi_near1, xi_small}` (mean ± std over
/// seeds; see [`ShapeStats`]; `π`/`Ξ` entries only for stochastic layers) and `count`;
/// `ranges` (histogram ranges of `m` and `Ξ`); `matrices_seed` (the seed whose matrices are
/// drawn).
pub fn run(runs: &[RunData], _work: &Path, _opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let stoch = runs[0].net.stochastic;
    let masks: Vec<Masks> = runs
        .iter()
        .map(|r| crate::train::init::masks(&r.cfg, r.net.dims()))
        .collect();
    // idx[run][group]
    let idx: Vec<Vec<Vec<usize>>> = runs
        .iter()
        .zip(&masks)
        .map(|(r, mk)| {
            HIST_GROUPS
                .iter()
                .map(|&(_, k, sel)| {
                    let l = r.net.layers()[k].1;
                    sel.indices(l.rows, l.cols, mk[k].as_deref())
                })
                .collect()
        })
        .collect();
    let max_over = |p: usize, f: fn(f32) -> f64| {
        let mut mx: f64 = 0.0;
        for (r, ix) in runs.iter().zip(&idx) {
            for (g, &(_, k, _)) in HIST_GROUPS.iter().enumerate() {
                let v = param(r.net.layers()[k].1, p);
                mx = ix[g].iter().map(|&i| f(v[i])).fold(mx, f64::max);
            }
        }
        mx
    };
    let mmax = max_over(1, |v| (v as f64).abs());
    let mmax = if mmax > 0.0 { mmax } else { 1.0 };
    let xmax = max_over(2, |v| v as f64);
    let xmax = if xmax > 0.0 { xmax } else { 1e-3 };
    let param_edges = [edges(0.0, 1.0, 20), edges(-mmax, mmax, 40), edges(0.0, xmax, 40)];

    let desc = describe_runs_plain(runs);
    let mut files = Vec::new();
    let mut figures = Vec::new();
    for (p, (pkey, psym)) in PARAMS.iter().enumerate() {
        let e = &param_edges[p];
        let mut header = vec!["bin_lo".to_string(), "bin_hi".into()];
        let mut cols: Vec<Vec<f64>> = Vec::new();
        // hist[group] = (mean counts, mean fraction)
        let mut hists: Vec<Option<(Vec<f64>, Vec<f64>)>> = Vec::new();
        for (g, &(gname, k, _)) in HIST_GROUPS.iter().enumerate() {
            if p != 1 && !stoch[k] {
                hists.push(None);
                continue;
            }
            let per: Vec<Vec<f64>> = runs
                .iter()
                .zip(&idx)
                .map(|(r, ix)| {
                    let v = param(r.net.layers()[k].1, p);
                    histogram(ix[g].iter().map(|&i| v[i] as f64), e)
                })
                .collect();
            let b = SeriesBand::of(&per);
            let (mean, std) = (b.mean, b.sd);
            let total: f64 = mean.iter().sum();
            let frac = mean
                .iter()
                .map(|c| if total > 0.0 { c / total } else { 0.0 })
                .collect();
            header.extend([format!("{gname}_count_mean"), format!("{gname}_count_sd")]);
            cols.push(mean.clone());
            cols.push(std);
            hists.push(Some((mean, frac)));
        }
        let rows: Vec<Vec<f64>> = (0..e.len() - 1)
            .map(|b| {
                let mut r = vec![e[b], e[b + 1]];
                r.extend(cols.iter().map(|c| c[b]));
                r
            })
            .collect();
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        files.push(csv(&format!("hist_{pkey}.csv"), &h, &rows)?);
        for (k, lname) in LAYERS.iter().enumerate() {
            let hs: Vec<Histogram> = HIST_GROUPS
                .iter()
                .zip(&hists)
                .filter(|((_, gk, _), h)| *gk == k && h.is_some())
                .map(|((gname, _, _), h)| Histogram {
                    label: group_label(gname).into(),
                    edges: e.clone(),
                    counts: h.as_ref().map(|h| h.1.clone()).unwrap_or_default(),
                })
                .collect();
            if hs.is_empty() {
                continue;
            }
            let shape = match p {
                0 => " The paper finds a U shape (peaks at π = 0 and 1) or an L shape (peak at 0).",
                2 => " The paper finds an L shape (peak at Ξ = 0).",
                _ => "",
            };
            figures.push(Figure {
                name: format!("hist_{pkey}_{lname}"),
                title: format!("Distribution of {psym}, {} layer", group_label(lname)),
                x_label: match p {
                    0 => "spike probability π".into(),
                    1 => "slab mean m (weight units)".into(),
                    _ => "slab variance Ξ (weight units²)".into(),
                },
                y_label: "fraction of connections per bin".into(),
                log_y: false,
                caption: format!(
                    "Histogram of {psym} over the connections of the final network's {} layer \
                     (recurrent: directions I and II, diagonal excluded; masked entries excluded), \
                     counts averaged over seeds and normalized to fractions.{shape} {desc}.",
                    group_label(lname)
                ),
                plot: Plot::Histograms(hs),
            });
        }
    }

    // Matrices of the first run.
    let r0 = &runs[0];
    for (k, (lname, l)) in r0.net.layers().into_iter().enumerate() {
        for (p, (pkey, psym)) in PARAMS.iter().enumerate() {
            if p != 1 && !stoch[k] {
                continue;
            }
            let v = param(l, p);
            files.push(matrix_csv(&format!("matrix_{lname}_{pkey}.csv"), l, v)?);
            let vmax = v.iter().map(|&x| (x as f64).abs()).fold(0.0, f64::max);
            let range = match p {
                0 => (0.0, 1.0),
                1 => {
                    let m = if vmax > 0.0 { vmax } else { 1.0 };
                    (-m, m)
                }
                _ => (0.0, if vmax > 0.0 { vmax } else { 1.0 }),
            };
            figures.push(Figure {
                name: format!("matrix_{lname}_{pkey}"),
                title: format!("{psym} of the {} layer", group_label(lname)),
                x_label: "sending unit j (presynaptic index)".into(),
                y_label: "receiving unit i (postsynaptic index)".into(),
                log_y: false,
                caption: format!(
                    "{psym}_ij of the {} matrix ({} × {}; entry (i, j) = connection from j to i) of \
                     the final network of seed {}; colour range [{:.3}, {:.3}]. {desc}.",
                    group_label(lname),
                    l.rows,
                    l.cols,
                    r0.cfg.seed,
                    range.0,
                    range.1
                ),
                plot: Plot::Heatmap(Heatmap {
                    rows: l.rows,
                    cols: l.cols,
                    values: v.iter().map(|&x| x as f64).collect(),
                    range,
                }),
            });
        }
    }

    let mut groups = std::collections::BTreeMap::new();
    for (g, &(gname, k, _)) in HIST_GROUPS.iter().enumerate() {
        let st: Vec<ShapeStats> = runs
            .iter()
            .zip(&idx)
            .map(|(r, ix)| shape_stats(r.net.layers()[k].1, &ix[g]))
            .collect();
        let of = |f: fn(&ShapeStats) -> f64| {
            stoch[k].then(|| SeedStats::of(&st.iter().map(f).collect::<Vec<_>>()))
        };
        groups.insert(
            gname,
            GroupShape {
                pi_near0: of(|s| s.pi_near0),
                pi_near1: of(|s| s.pi_near1),
                xi_small: of(|s| s.xi_small),
                count: st[0].count,
            },
        );
    }
    let summary = Summary {
        groups,
        ranges: Ranges {
            m: [-mmax, mmax],
            xi: [0.0, xmax],
        },
        matrices_seed: r0.cfg.seed,
    };
    let title = "Hyper-parameter distributions and matrices";
    Ok(AnalysisResult::with(
        NAME,
        title,
        files,
        figures,
        super::Summary::Weights(summary),
    ))
}

/// A figure line: the band's mean with its 95 % interval as the shaded band.
pub(crate) fn band_series(label: &str, x: Vec<f64>, b: &SeriesBand) -> Series {
    Series {
        label: label.into(),
        markers: x.len() < 12,
        x,
        y: b.mean.clone(),
        band: b.band(),
    }
}

/// Per-seed series `(epoch, value)` aligned on the union of their epochs (NaN where a seed
/// has no value) and aggregated: `(epochs, band)`.
pub(crate) fn band_by_epoch(series: &[Vec<(usize, f64)>]) -> (Vec<usize>, SeriesBand) {
    let (epochs, aligned) = super::accuracy::align_by_epoch(series);
    (epochs, SeriesBand::of(&aligned))
}

/// Number of the recurrent layer's VIP connections on the diagonal (self-connections `i → i`).
pub(crate) fn self_connections(vip: &[usize], n: usize) -> usize {
    vip.iter().filter(|&&k| k / n == k % n).count()
}

/// The weight-class analysis (an [`super::AnalysisFn`]): the fractions of VIP, UIP and
/// variable weights per group of [`CLASS_GROUPS`] over epochs (from the parameter history;
/// the final network only when a run has none), with the rule of the first run's task
/// ([`VipRule::for_task`]: MNIST exact, MSI and user tasks relaxed) or the user's choice
/// ([`AnalysisOptions::thresholds`]). Writes `classes.csv` (epoch, then `<group>_<class>`
/// mean, sample std, 95 % interval and seed count), `classes_per_seed.csv` and `summary.json`.
///
/// Summary keys: `thresholds` (the rule, its `source` and bounds), `vip_rule` (its text with
/// name and source), `history`, `groups` (the stochastic groups), and per group `{initial,
/// final}` → `{vip, uip, variable, vip_count}` (and `exact_vip`, the fraction of exact VIP
/// weights `π = 0, Ξ = 0, m ≠ 0`, when the rule is not the exact one; `vip_self`, the VIP
/// self-connections, for `rec`), each a [`SeedStats`] over seeds.
pub(crate) fn run_classes(runs: &[RunData], _work: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, CLASSES_NAME)?;
    let t = opts.thresholds(runs[0].cfg.task.kind.as_str())?;
    // The exact VIP set (π = 0, Ξ = 0, m ≠ 0), also shown where the rule is another one.
    let te = Thresholds {
        uip_pi: t.uip_pi,
        ..Thresholds::named(VipRule::Exact)
    };
    let with_exact = te != t;
    let n = runs[0].net.dims().n;
    // Per seed, per recorded epoch: the class fractions per group, the fraction of exact VIP
    // weights per group and the VIP self-connections.
    type Row = (usize, [Option<ClassFractions>; 5], [Option<f64>; 5], f64);
    let fractions = |epoch: usize, net: &SasNet<f32>, masks: &Masks| -> Row {
        let ex = class_fractions(net, masks, &te).map(|f| f.map(|f| f.vip));
        let selfc = if net.stochastic[1] {
            self_connections(&t.vip_indices(&net.rec, masks[1].as_deref()), n) as f64
        } else {
            f64::NAN
        };
        (epoch, class_fractions(net, masks, &t), ex, selfc)
    };
    let mut per_seed: Vec<Vec<Row>> = Vec::new();
    let mut with_hist = Vec::new();
    for r in runs {
        let masks = crate::train::init::masks(&r.cfg, r.net.dims());
        let hist = r.history()?;
        with_hist.push(!hist.is_empty());
        let mut rows: Vec<Row> = hist.iter().map(|(e, net)| fractions(*e, net, &masks)).collect();
        if rows.last().is_none_or(|l| l.0 != r.epoch) {
            rows.push(fractions(r.epoch, &r.net, &masks));
        }
        per_seed.push(rows);
    }
    let groups: Vec<usize> = (0..5)
        .filter(|&g| per_seed[0].last().is_some_and(|r| r.1[g].is_some()))
        .collect();
    // Columns: the three classes, then (for a non-exact rule) the exact VIP subset.
    const CLASSES: [&str; 4] = ["vip", "uip", "variable", "exact_vip"];
    let n_classes = if with_exact { 4 } else { 3 };
    let pick = |row: &Row, g: usize, i: usize| -> Option<f64> {
        if i == 3 {
            row.2[g]
        } else {
            row.1[g].map(|c| [c.vip, c.uip, c.variable][i])
        }
    };
    let mut cols: Vec<(usize, usize, Vec<usize>, SeriesBand)> = Vec::new();
    for &g in &groups {
        for ci in 0..n_classes {
            let s: Vec<Vec<(usize, f64)>> = per_seed
                .iter()
                .map(|rows| {
                    rows.iter()
                        .filter_map(|row| pick(row, g, ci).map(|v| (row.0, v)))
                        .collect()
                })
                .collect();
            let (e, b) = band_by_epoch(&s);
            cols.push((g, ci, e, b));
        }
    }
    let mut files = Vec::new();
    if let Some((_, _, e0, _)) = cols.first() {
        let mut header = vec!["epoch".to_string()];
        for (g, ci, _, _) in &cols {
            let c = format!("{}_{}", CLASS_GROUPS[*g], CLASSES[*ci]);
            header.extend(["mean", "sd", "lo95", "hi95", "n"].map(|k| format!("{c}_{k}")));
        }
        let rows: Vec<Vec<f64>> = (0..e0.len())
            .map(|i| {
                let mut r = vec![e0[i] as f64];
                for (_, _, _, s) in &cols {
                    r.extend([s.mean[i], s.sd[i], s.lo[i], s.hi[i], s.n[i] as f64]);
                }
                r
            })
            .collect();
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        files.push(csv("classes.csv", &h, &rows)?);
        let mut ph = vec!["run".to_string(), "seed".into(), "epoch".into()];
        for &g in &groups {
            for c in &CLASSES[..n_classes] {
                ph.push(format!("{}_{c}", CLASS_GROUPS[g]));
            }
            ph.push(format!("{}_count", CLASS_GROUPS[g]));
        }
        ph.push("rec_vip_self".into());
        let mut prow = Vec::new();
        for (si, rows) in per_seed.iter().enumerate() {
            for (e, f, d, selfc) in rows {
                let mut r = vec![si as f64, runs[si].cfg.seed as f64, *e as f64];
                for &g in &groups {
                    let c = f[g].unwrap_or_default();
                    r.extend([c.vip, c.uip, c.variable]);
                    if with_exact {
                        r.push(d[g].unwrap_or(f64::NAN));
                    }
                    r.push(c.count as f64);
                }
                r.push(*selfc);
                prow.push(r);
            }
        }
        let ph: Vec<&str> = ph.iter().map(String::as_str).collect();
        files.push(csv("classes_per_seed.csv", &ph, &prow)?);
    }

    let all_hist = with_hist.iter().all(|h| *h);
    let ends = |first: bool| -> Vec<&Row> {
        per_seed
            .iter()
            .filter_map(|rows| if first { rows.first() } else { rows.last() })
            .collect()
    };
    let mut by_group = std::collections::BTreeMap::new();
    for &g in &groups {
        let at = |first: bool| {
            let rows = ends(first);
            let v: Vec<ClassFractions> = rows.iter().filter_map(|r| r.1[g]).collect();
            let of = |f: fn(&ClassFractions) -> f64| SeedStats::of(&v.iter().map(f).collect::<Vec<_>>());
            ClassSummary {
                vip: of(|f| f.vip),
                uip: of(|f| f.uip),
                variable: of(|f| f.variable),
                vip_count: of(|f| f.vip_count as f64),
                exact_vip: with_exact
                    .then(|| SeedStats::of(&rows.iter().filter_map(|r| r.2[g]).collect::<Vec<_>>())),
                vip_self: (CLASS_GROUPS[g] == "rec")
                    .then(|| SeedStats::of(&rows.iter().map(|r| r.3).collect::<Vec<_>>())),
            }
        };
        by_group.insert(
            CLASS_GROUPS[g],
            Ends {
                initial: at(true),
                last: at(false),
            },
        );
    }
    let self_final = SeedStats::of(&ends(false).iter().map(|r| r.3).collect::<Vec<_>>());
    let summary = ClassesSummary {
        thresholds: t,
        vip_rule: t.describe(),
        seeds: runs.len(),
        history: all_hist,
        groups: groups.iter().map(|&g| CLASS_GROUPS[g]).collect(),
        by_group,
        note: (!all_hist)
            .then_some("some runs kept no parameter history: only their final network is classified"),
    };

    let desc = describe_runs_plain(runs);
    let seeds = runs.len();
    let bands = if seeds > 1 {
        format!("; bands: 95 % t-interval of the mean over n = {seeds} seeds")
    } else {
        "; one seed, no band".into()
    };
    let crit = format!("{}; variable: the rest", t.describe());
    let self_note = if self_final.n > 0 {
        format!(
            " The final recurrent VIP set holds {:.1} self-connections (i → i; mean over {} seed{}).",
            self_final.mean,
            self_final.n,
            if self_final.n == 1 { "" } else { "s" }
        )
    } else {
        String::new()
    };
    let series_of = |g: usize, ci: usize, label: &str| -> Option<Series> {
        cols.iter()
            .find(|(cg, c, _, _)| *cg == g && *c == ci)
            .map(|(_, _, e, b)| band_series(label, e.iter().map(|&x| x as f64).collect(), b))
    };
    let mut figures = Vec::new();
    for &g in &groups {
        if g == 2 || g == 3 {
            continue;
        }
        let series = (0..3)
            .filter_map(|ci| series_of(g, ci, ["VIP", "UIP", "variable"][ci]))
            .collect();
        let note = if CLASS_GROUPS[g] == "rec" {
            self_note.as_str()
        } else {
            ""
        };
        figures.push(line_figure(
            &format!("classes_{}", CLASS_GROUPS[g]),
            &format!("Weight classes, {} layer", group_label(CLASS_GROUPS[g])),
            "epoch",
            "fraction of connections",
            format!(
                "Fractions of the weight classes in the {} layer over training ({crit}; masked \
                 entries excluded).{note} {desc}{bands}.",
                group_label(CLASS_GROUPS[g])
            ),
            series,
        ));
    }
    let vip: Vec<_> = groups
        .iter()
        .filter_map(|&g| series_of(g, 0, group_label(CLASS_GROUPS[g])))
        .collect();
    if !vip.is_empty() {
        figures.push(line_figure(
            "vip_fraction",
            "Fraction of VIP weights",
            "epoch",
            "fraction of VIP connections",
            format!(
                "Fraction of very important weights per layer and direction over training \
                 ({crit}).{self_note} {desc}{bands}."
            ),
            vip,
        ));
    }
    let ex: Vec<_> = groups
        .iter()
        .filter_map(|&g| series_of(g, 3, group_label(CLASS_GROUPS[g])))
        .collect();
    if !ex.is_empty() {
        figures.push(line_figure(
            "exact_vip_fraction",
            "Fraction of exact VIP weights (π = 0, Ξ = 0, m ≠ 0)",
            "epoch",
            "fraction of connections",
            format!(
                "Fraction of the weights whose distribution has collapsed onto one nonzero value \
                 ({}: the perturbation analysis's second set), per layer and direction over \
                 training, beside the {} rule of the other figures; {desc}{bands}.",
                te.label(),
                t.rule.name()
            ),
            ex,
        ));
    }
    let title = "Weight classes";
    Ok(AnalysisResult::with(
        CLASSES_NAME,
        title,
        files,
        figures,
        super::Summary::Classes(summary),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::ClassOverrides;
    use crate::engine::Dims;
    use crate::sas::classes::WeightClass;
    use serde_json::json;

    #[test]
    fn named_rules_golden_cases() {
        use crate::sas::classes::WeightClass::*;
        let exact = Thresholds::named(VipRule::Exact);
        let relaxed = Thresholds::named(VipRule::Relaxed);
        let authors = Thresholds::named(VipRule::Authors);
        // Defaults per task.
        assert_eq!(Thresholds::for_task("pixel-mnist").rule, VipRule::Exact);
        assert_eq!(Thresholds::for_task("row-mnist").rule, VipRule::Exact);
        assert_eq!(Thresholds::for_task("perm-mnist").rule, VipRule::Exact);
        assert_eq!(Thresholds::for_task("msi").rule, VipRule::Relaxed);
        assert_eq!(Thresholds::for_task("user").rule, VipRule::Relaxed);
        let ff = Thresholds::for_task("ff-mnist");
        assert_eq!((ff.rule, ff.uip_pi), (VipRule::Exact, 1.0));
        // (π, m, Ξ) → (exact, relaxed, authors), by hand.
        let cases: [((f32, f32, f32), [WeightClass; 3]); 14] = [
            ((0.0, 0.3, 0.0), [Vip, Vip, Vip]),
            // m exactly 0: not VIP by any rule.
            ((0.0, 0.0, 0.0), [Variable, Variable, Variable]),
            // m ≠ 0 but tiny: exact VIP only.
            ((0.0, 1e-6, 0.0), [Vip, Variable, Variable]),
            ((0.0, -0.06, 0.0), [Vip, Vip, Variable]),
            // |m| exactly at the bound is not above it.
            ((0.0, 0.05, 0.0), [Vip, Variable, Variable]),
            ((0.0, 0.08, 0.0), [Vip, Vip, Variable]),
            ((0.0, 0.09, 0.0), [Vip, Vip, Vip]),
            // Ξ = 1e-9 is not Ξ = 0; the relaxed rule does not test Ξ; authors Ξ < 0.1.
            ((0.0, 0.3, 1e-9), [Variable, Vip, Vip]),
            ((0.0, 0.3, 0.1), [Variable, Vip, Variable]),
            ((0.0, 0.3, 5.0), [Variable, Vip, Variable]),
            // π exactly 0.1 (the stored f32): fails π < 0.1, passes π ≤ 0.1.
            ((0.1, 0.3, 0.0), [Variable, Variable, Vip]),
            ((0.0999, 0.3, 0.0), [Variable, Vip, Vip]),
            ((1e-7, 0.3, 0.0), [Variable, Vip, Vip]),
            // UIP at π ≥ 0.999 (feed-forward: π = 1 exactly).
            ((0.9995, 0.3, 0.0), [Uip, Uip, Uip]),
        ];
        for ((pi, m, xi), want) in cases {
            let got = [exact, relaxed, authors].map(|t| t.class_of(pi, m, xi));
            assert_eq!(got, want, "π = {pi}, m = {m}, Ξ = {xi}");
        }
        assert_eq!(ff.class_of(0.9995, 0.3, 0.0), Variable);
        assert_eq!(ff.class_of(1.0, 0.3, 0.0), Uip);
        // Texts and sources.
        assert_eq!(exact.vip_rule(), "π = 0, Ξ = 0, m ≠ 0");
        assert_eq!(relaxed.vip_rule(), "π < 0.1, |m| > 0.05, Ξ not tested");
        assert_eq!(authors.vip_rule(), "π ≤ 0.1, Ξ < 0.1, |m| > 0.08");
        assert!(exact.label().contains("paper, MNIST: π = 0 and m ≠ 0"));
        assert!(relaxed.label().contains("paper, Fig. 17 caption"));
        assert!(
            authors.describe().contains("authors' MSI code")
                && authors.describe().ends_with("UIP: π ≥ 0.999")
        );
        let j = serde_json::to_value(relaxed).unwrap();
        assert_eq!(
            (j["rule"].as_str(), j["source"].as_str()),
            (Some("relaxed"), Some("paper, Fig. 17 caption"))
        );
        assert!(j["xi_max"].is_null());
    }

    #[test]
    fn rule_choice_and_custom_bounds() {
        let opts = |c: ClassOverrides| AnalysisOptions {
            classes: c,
            ..Default::default()
        };
        let rule = |r| ClassOverrides {
            rule: Some(r),
            ..Default::default()
        };
        assert_eq!(
            opts(rule(VipRule::Authors)).thresholds("pixel-mnist").unwrap(),
            Thresholds::named(VipRule::Authors)
        );
        assert_eq!(
            opts(rule(VipRule::Exact)).thresholds("msi").unwrap().rule,
            VipRule::Exact
        );
        assert!(
            opts(rule(VipRule::Custom))
                .thresholds("msi")
                .unwrap_err()
                .to_string()
                .contains("vip-rule")
        );
        // Bounds replace the named rule's: the exact rule with |m| > 0.05.
        let c = opts(ClassOverrides {
            rule: Some(VipRule::Exact),
            m_min: Some(0.05),
            ..Default::default()
        })
        .thresholds("msi")
        .unwrap();
        assert_eq!(c.rule, VipRule::Custom);
        assert_eq!(c.vip_rule(), "π = 0, Ξ = 0, |m| > 0.05");
        assert!(c.label().contains("user thresholds"));
        // On the relaxed default: π ≤ 0.3 (non-strict), Ξ < 0.2 now tested.
        let c = opts(ClassOverrides {
            pi_max: Some(0.3),
            xi_max: Some(0.2),
            ..Default::default()
        })
        .thresholds("msi")
        .unwrap();
        assert_eq!(c.vip_rule(), "π ≤ 0.3, Ξ < 0.2, |m| > 0.05");
        assert_eq!(c.class_of(0.3, 0.1, 0.1), WeightClass::Vip);
        assert_eq!(c.class_of(0.0, 0.1, 0.2), WeightClass::Variable);
        // Feed-forward: the bounds set the near-VIP set, not the VIP rule.
        let o = opts(ClassOverrides {
            pi_max: Some(0.01),
            ..Default::default()
        });
        assert_eq!(o.thresholds("ff").unwrap(), Thresholds::for_task("ff"));
        assert_eq!(o.ff_near().unwrap().vip_rule(), "π ≤ 0.01, Ξ < 0.001, m ≠ 0");
        assert!(
            opts(ClassOverrides {
                uip_pi: Some(0.05),
                ..Default::default()
            })
            .thresholds("msi")
            .is_err()
        );
    }

    #[test]
    fn feed_forward_near_vip_by_hand() {
        let t = AnalysisOptions::default().ff_near().unwrap();
        assert_eq!((t.pi_max, t.xi_max, t.m_min), (1e-3, Some(1e-3), 0.0));
        assert!(t.label().contains("not from the paper"));
        let l = SasLayer {
            rows: 1,
            cols: 6,
            // exact VIP, near (π), near (Ξ), π too large, Ξ at the bound (strict), m = 0
            m: vec![0.3, -0.2, 0.1, 0.3, 0.3, 0.0],
            pi: vec![0.0, 0.0009, 0.0, 0.0011, 0.0, 0.0],
            xi: vec![0.0, 0.0, 0.0009, 0.0, 0.001, 0.0],
        };
        assert_eq!(t.vip_indices(&l, None), vec![0, 1, 2]);
        assert_eq!(Thresholds::for_task("ff").vip_indices(&l, None), vec![0]);
    }

    #[test]
    fn classes_by_hand() {
        let t = Thresholds::for_task("msi");
        let l = SasLayer {
            rows: 3,
            cols: 3,
            // VIP, UIP, var (|m|), VIP (Ξ untested), var (π = 0.1 fails π < 0.1), var (π),
            // UIP, VIP, VIP
            m: vec![0.5, 0.5, 0.05, 0.5, -0.09, 0.5, 0.0, 0.2, 0.3],
            pi: vec![0.0, 1.0, 0.0, 0.05, 0.1, 0.11, 0.9995, 0.05, 0.0],
            xi: vec![0.0, 0.0, 0.0, 0.1, 0.05, 0.0, 0.3, 0.0999, 0.0],
        };
        use crate::sas::classes::WeightClass::*;
        let c = classify(&l, &t, None, false);
        assert_eq!(
            c,
            vec![Vip, Uip, Variable, Vip, Variable, Variable, Uip, Vip, Vip]
        );
        let c = classify(
            &l,
            &t,
            Some(&[true, false, true, true, true, true, true, true, true]),
            true,
        );
        assert_eq!(
            c,
            vec![
                Excluded, Excluded, Variable, Vip, Excluded, Variable, Uip, Vip, Excluded
            ]
        );
        let f = ClassFractions::of(&c, None);
        assert_eq!((f.count, f.vip_count), (5, 2));
        assert!((f.vip - 0.4).abs() < 1e-12 && (f.uip - 0.2).abs() < 1e-12);
        assert!((f.variable - 0.4).abs() < 1e-12);
        assert_eq!(self_connections(&[0, 4, 5, 8], 3), 3);
    }

    #[test]
    fn class_fractions_per_direction() {
        let mut net = SasNet::<f32>::zeros(Dims { n: 2, i: 1, k: 1 }, [false, true, true]);
        net.rec.m = vec![1.0, 1.0, 0.0, 1.0];
        net.rec.pi = vec![0.0, 0.0, 0.5, 1.0];
        net.out.pi = vec![1.0, 0.0];
        let t = Thresholds::for_task("msi");
        let f = class_fractions(&net, &[None, None, None], &t);
        assert!(f[0].is_none());
        let rec = f[1].unwrap();
        assert_eq!((rec.vip, rec.uip, rec.variable), (0.5, 0.25, 0.25));
        assert_eq!(f[2].unwrap().vip, 1.0, "I = entry (0, 1)");
        assert_eq!(f[3].unwrap().variable, 1.0, "II = entry (1, 0)");
        assert_eq!((f[4].unwrap().uip, f[4].unwrap().variable), (0.5, 0.5));
    }

    #[test]
    fn histograms_and_shapes_by_hand() {
        let e = edges(0.0, 1.0, 4);
        assert_eq!(e, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(
            histogram([0.0, 0.1, 0.25, 0.6, 1.0, 1.0, -0.2], &e),
            vec![3.0, 1.0, 1.0, 2.0]
        );
        let l = SasLayer {
            rows: 1,
            cols: 4,
            m: vec![0.0; 4],
            pi: vec![0.0, 0.04, 0.5, 0.97],
            xi: vec![1.0, 0.005, 0.0, 0.5],
        };
        let s = shape_stats(&l, &[0, 1, 2, 3]);
        assert_eq!((s.pi_near0, s.pi_near1, s.xi_small, s.count), (0.5, 0.25, 0.5, 4));
    }

    #[test]
    fn run_on_a_tiny_training_run() {
        let (o, out) = crate::analysis::accuracy::fixture::analyze(run, NAME);
        let runs = crate::analysis::accuracy::fixture::runs();
        // N = 12: 66 connections per direction; MSI input deterministic (m only).
        assert_eq!(o.summary_json()["groups"]["rec_I"]["count"], 66);
        assert!(o.summary_json()["groups"]["in"].get("pi_near0").is_none());
        assert!(
            o.summary_json()["groups"]["out"]["pi_near0"]["mean"]
                .as_f64()
                .is_some()
        );
        for p in ["pi", "m", "xi"] {
            let t = std::fs::read_to_string(out.join(format!("hist_{p}.csv"))).unwrap();
            assert!(t.lines().next().unwrap().contains("rec_II_count_mean"));
        }
        let heat = o.figures.iter().find(|f| f.name == "matrix_rec_pi").unwrap();
        let Plot::Heatmap(h) = &heat.plot else { panic!() };
        assert_eq!((h.rows, h.cols, h.range), (12, 12, (0.0, 1.0)));
        let hm = o.figures.iter().find(|f| f.name == "matrix_rec_m").unwrap();
        let Plot::Heatmap(h) = &hm.plot else { panic!() };
        assert_eq!(h.range.0, -h.range.1);
        assert!(o.figures.iter().any(|f| f.name == "matrix_in_m"));
        assert!(!o.figures.iter().any(|f| f.name == "matrix_in_xi"));

        let out = crate::analysis::accuracy::fixture::out(CLASSES_NAME);
        let o = run_classes(&runs, &out, &AnalysisOptions::default())
            .unwrap()
            .written(&out)
            .unwrap();
        assert_eq!(
            o.summary_json()["groups"],
            json!(["rec", "rec_I", "rec_II", "out"])
        );
        assert_eq!(o.summary_json()["thresholds"]["rule"], "relaxed");
        assert_eq!(o.summary_json()["thresholds"]["m_min"], 0.05);
        assert!(
            o.summary_json()["vip_rule"]
                .as_str()
                .unwrap()
                .contains("Fig. 17 caption")
        );
        // Initialization: π = 0, Ξ ≤ 0.01, so (relaxed) VIP ⇔ |m| > 0.05; never UIP.
        let r = &runs[0];
        let h = r.history().unwrap();
        let vip0 = |n: &SasNet<f32>| n.rec.m.iter().filter(|&&m| m.abs() > 0.05f32).count() as f64 / 144.0;
        let h2 = runs[1].history().unwrap();
        let got = o.summary_json()["rec"]["initial"]["vip"]["mean"]
            .as_f64()
            .unwrap();
        assert!((got - (vip0(&h[0].1) + vip0(&h2[0].1)) / 2.0).abs() < 1e-12);
        assert_eq!(o.summary_json()["rec"]["initial"]["uip"]["mean"], 0.0);
        assert_eq!(o.summary_json()["rec"]["initial"]["vip"]["n"], 2);
        let text = std::fs::read_to_string(out.join("classes.csv")).unwrap();
        assert_eq!(text.lines().count(), 5);
        assert!(o.figures.iter().any(|f| f.name == "vip_fraction"));
        // Self-connections of the final VIP set, per seed.
        let selfc = |n: &SasNet<f32>| {
            (0..12)
                .filter(|&i| n.rec.pi[i * 13] < 0.1f32 && n.rec.m[i * 13].abs() > 0.05f32)
                .count() as f64
        };
        let (hl, hl2) = (&h.last().unwrap().1, &h2.last().unwrap().1);
        assert_eq!(
            o.summary_json()["rec"]["final"]["vip_self"]["values"],
            json!([selfc(hl), selfc(hl2)])
        );
        // The exact subset (π = 0, Ξ = 0, m ≠ 0): none at initialization (Ξ > 0 there, drawn
        // from 0.01·U(0, 1)).
        assert!(o.figures.iter().any(|f| f.name == "exact_vip_fraction"));
        let want_ex = |n: &SasNet<f32>| {
            (0..144)
                .filter(|&k| n.rec.pi[k] == 0.0 && n.rec.xi[k] == 0.0 && n.rec.m[k] != 0.0)
                .count() as f64
                / 144.0
        };
        let ex0 = (want_ex(&h[0].1) + want_ex(&h2[0].1)) / 2.0;
        assert_eq!(
            o.summary_json()["rec"]["initial"]["exact_vip"]["mean"]
                .as_f64()
                .unwrap(),
            ex0
        );
        let ex1 = (want_ex(hl) + want_ex(hl2)) / 2.0;
        let got1 = o.summary_json()["rec"]["final"]["exact_vip"]["mean"]
            .as_f64()
            .unwrap();
        assert!((got1 - ex1).abs() < 1e-12, "{got1} vs {ex1}");
        assert!(text.lines().next().unwrap().contains("rec_exact_vip_mean"));
        let cap = &o
            .figures
            .iter()
            .find(|f| f.name == "vip_fraction")
            .unwrap()
            .caption;
        assert!(
            cap.contains("Fig. 17 caption") && cap.contains("self-connections") && cap.contains("n = 2"),
            "{cap}"
        );
    }
}
