//! Hyper-parameter distributions per layer (docs/MODEL.md §5.4): histograms of `π` (on `[0, 1]`),
//! `m` and `Ξ` (on their range over all seeds) of each layer's connections, as fractions of
//! the layer's connections per bin, mean ± std over seeds (same bins for every seed).

use super::mean_std;
use crate::analysis::AnalysisOptions;
use crate::analysis::AnalysisResult;
use crate::analysis::{RunData, describe_runs};
use crate::error::Result;
use crate::family::FeedForward;
use crate::ff::{FfNet, layer_name};
use crate::output::csv;
use crate::output::figure::{Figure, Histogram, Plot};
use crate::stats::SeedStats;
use serde::Serialize;
use std::path::Path;

/// Name of the analysis (output folder and report section).
pub const NAME: &str = "weights";

/// Section title of the analysis in reports.
const TITLE: &str = "Hyper-parameter distributions (π, m, Ξ) per layer";

/// Bins per histogram.
pub const BINS: usize = 40;

/// The parameter kinds: name in files, symbol.
pub const KINDS: [(&str, &str); 3] = [("pi", "π"), ("m", "m"), ("xi", "Ξ")];

/// A histogram of one parameter kind of one layer.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ParamHistogram {
    /// Layer name.
    pub layer: String,
    /// `pi`, `m` or `xi`.
    pub kind: String,
    /// Bin edges (`bins + 1`, increasing; the last bin includes its upper edge).
    pub edges: Vec<f64>,
    /// Fraction of the layer's connections per bin.
    pub fractions: Vec<f64>,
}

/// Fractions of `values` in `bins` equal bins on `[lo, hi]` (values outside go to the end
/// bins); returns the edges and the fractions.
pub(crate) fn histogram(values: &[f32], lo: f64, hi: f64, bins: usize) -> (Vec<f64>, Vec<f64>) {
    let bins = bins.max(1);
    let hi = if hi > lo { hi } else { lo + 1e-6 };
    let edges: Vec<f64> = (0..=bins)
        .map(|i| lo + (hi - lo) * i as f64 / bins as f64)
        .collect();
    let mut c = vec![0.0; bins];
    for &v in values {
        let b = (((v as f64 - lo) / (hi - lo)) * bins as f64).floor();
        let b = (b.max(0.0) as usize).min(bins - 1);
        c[b] += 1.0;
    }
    let n = values.len().max(1) as f64;
    c.iter_mut().for_each(|x| *x /= n);
    (edges, c)
}

fn values<'a>(net: &'a FfNet<f32>, l: usize, kind: &str) -> &'a [f32] {
    let layer = &net.layers[l];
    match kind {
        "pi" => &layer.pi,
        "m" => &layer.m,
        _ => &layer.xi,
    }
}

/// The range of `kind` in layer `l` over all `nets` (`π`: `[0, 1]`; `Ξ`: from 0).
fn range(nets: &[&FfNet<f32>], l: usize, kind: &str) -> (f64, f64) {
    if kind == "pi" {
        return (0.0, 1.0);
    }
    let (lo, hi) = nets
        .iter()
        .flat_map(|n| values(n, l, kind).iter())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x as f64), b.max(x as f64))
        });
    if kind == "xi" {
        (0.0, hi.max(0.0))
    } else {
        (lo, hi)
    }
}

/// Histograms of every kind and layer, one per network in `nets`, on common bins.
pub(crate) fn histograms(nets: &[&FfNet<f32>], bins: usize) -> Vec<Vec<ParamHistogram>> {
    let nl = nets.first().map_or(0, |n| n.layers.len());
    let mut per: Vec<Vec<ParamHistogram>> = vec![Vec::new(); nets.len()];
    for l in 0..nl {
        for (kind, _) in KINDS {
            let (lo, hi) = range(nets, l, kind);
            for (i, n) in nets.iter().enumerate() {
                let (edges, fractions) = histogram(values(n, l, kind), lo, hi, bins);
                per[i].push(ParamHistogram {
                    layer: layer_name(l),
                    kind: kind.into(),
                    edges,
                    fractions,
                });
            }
        }
    }
    per
}

/// The key numbers of the feed-forward weights analysis (`summary.json`; `layers` is written
/// as an object keyed by the layer names).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    /// Seeds.
    pub seeds: usize,
    /// Histogram bins.
    pub bins: usize,
    /// Per layer, input side first.
    #[serde(serialize_with = "by_layer")]
    pub layers: Vec<LayerSummary>,
}

fn by_layer<S: serde::Serializer>(v: &[LayerSummary], s: S) -> std::result::Result<S::Ok, S::Error> {
    crate::analysis::result::keyed(s, v, |l, _| layer_name(l))
}

/// The hyper-parameters of one layer's final networks, over seeds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerSummary {
    /// Fraction of connections with `π = 0`.
    pub pi_at_0: SeedStats,
    /// Fraction with `π = 1`.
    pub pi_at_1: SeedStats,
    /// Fraction with `Ξ = 0`.
    pub xi_at_0: SeedStats,
    /// Mean `|m|`.
    pub mean_abs_m: SeedStats,
}

/// The weights analysis (an `AnalysisFn<FeedForward>`): `histograms.csv` (layer, kind
/// (0 = π, 1 = m, 2 = Ξ), bin edges, mean and std over seeds of the fraction) and
/// `summary.json` (per layer: the fractions exactly at 0 (`π`, `Ξ`) and at 1 (`π`) and the mean
/// `|m|`, each as [`SeedStats`] over seeds).
pub fn run(runs: &[RunData<FeedForward>], _work: &Path, _opts: &AnalysisOptions) -> Result<AnalysisResult> {
    let nets: Vec<&FfNet<f32>> = runs.iter().map(|r| &r.net).collect();
    let per = histograms(&nets, BINS);
    let count = per.first().map_or(0, Vec::len);
    let mut rows = Vec::new();
    let mut mean_hists: Vec<(ParamHistogram, Vec<f64>)> = Vec::new();
    for h in 0..count {
        let first = &per[0][h];
        let nb = first.fractions.len();
        let ms: Vec<(f64, f64)> = (0..nb)
            .map(|b| mean_std(&per.iter().map(|p| p[h].fractions[b]).collect::<Vec<_>>()))
            .collect();
        let k = KINDS.iter().position(|(n, _)| *n == first.kind).unwrap_or(0) as f64;
        let l = first.layer[1..].parse::<f64>().unwrap_or(f64::NAN);
        for (b, &(m, s)) in ms.iter().enumerate() {
            rows.push(vec![l, k, first.edges[b], first.edges[b + 1], m, s]);
        }
        let mut mean = first.clone();
        mean.fractions = ms.iter().map(|p| p.0).collect();
        mean_hists.push((mean, ms.iter().map(|p| p.1).collect()));
    }
    let files = vec![csv(
        "histograms.csv",
        &["layer", "kind", "lo", "hi", "fraction_mean", "fraction_std"],
        &rows,
    )?];
    let who = describe_runs(runs, "");
    let figures: Vec<Figure> = KINDS
        .iter()
        .map(|&(kind, sym)| Figure {
            name: format!("hist-{kind}"),
            title: format!("Distribution of {sym} per layer"),
            x_label: sym.into(),
            y_label: "fraction of the layer's connections (log scale)".into(),
            log_y: true,
            caption: format!(
                "Histogram of {sym} over the connections of each layer of the final networks \
                 ({BINS} bins on the range over all seeds; mean fraction over seeds; log scale, \
                 empty bins left out); {who}."
            ),
            plot: Plot::Histograms(
                mean_hists
                    .iter()
                    .filter(|(h, _)| h.kind == kind)
                    .map(|(h, _)| Histogram {
                        label: h.layer.clone(),
                        edges: h.edges.clone(),
                        counts: h.fractions.clone(),
                    })
                    .collect(),
            ),
        })
        .collect();
    let mut layers = Vec::new();
    let nl = runs.first().map_or(0, |r| r.net.layers.len());
    for l in 0..nl {
        let frac =
            |f: &dyn Fn(&FfNet<f32>) -> f64| SeedStats::of(&nets.iter().map(|n| f(n)).collect::<Vec<_>>());
        let at = |v: &[f32], x: f32| v.iter().filter(|&&p| p == x).count() as f64 / v.len().max(1) as f64;
        layers.push(LayerSummary {
            pi_at_0: frac(&|n| at(&n.layers[l].pi, 0.0)),
            pi_at_1: frac(&|n| at(&n.layers[l].pi, 1.0)),
            xi_at_0: frac(&|n| at(&n.layers[l].xi, 0.0)),
            mean_abs_m: frac(&|n| {
                let v = &n.layers[l].m;
                v.iter().map(|x| x.abs() as f64).sum::<f64>() / v.len().max(1) as f64
            }),
        });
    }
    let summary = Summary {
        seeds: runs.len(),
        bins: BINS,
        layers,
    };
    Ok(AnalysisResult::with(
        NAME,
        TITLE,
        files,
        figures,
        crate::analysis::Summary::FfWeights(summary),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_sum_to_one_on_common_bins() {
        let mut a = FfNet::<f32>::zeros(&[3, 2]);
        a.layers[0].m = vec![-1.0, 0.0, 1.0, 2.0, 0.5, 0.5];
        let mut b = a.clone();
        b.layers[0].m[0] = -3.0;
        let per = histograms(&[&a, &b], 4);
        assert_eq!(per.len(), 2);
        for (ha, hb) in per[0].iter().zip(&per[1]) {
            assert_eq!(ha.edges, hb.edges);
            assert_eq!(ha.edges.len(), 5);
            assert!((ha.fractions.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{ha:?}");
        }
        let m = per[0].iter().find(|h| h.kind == "m").unwrap();
        assert_eq!((m.edges[0], m.edges[4]), (-3.0, 2.0));
    }
}
