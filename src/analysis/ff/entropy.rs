//! Entropy per layer (paper Eq. 14, docs/MODEL.md §5.3): every connection's distribution
//! `π δ(w) + (1-π) N(m, Ξ)` with the spike as `N(0, a)`, `a` = [`SPIKE_VAR`], and `Ξ` floored
//! at `a`; per layer the mean over its connections of the mixture's differential entropy, of
//! the discrete part `-π ln π - (1-π) ln(1-π)` and of the continuous part `½ ln(2πe Ξ)` (nats),
//! computed by [`crate::analysis::entropy::connection_entropy`] (Gauss–Hermite quadrature);
//! per-seed values, mean, sample std and 95 % t-interval over seeds ([`SeedStats`]).

use crate::analysis::AnalysisOptions;
use crate::analysis::AnalysisResult;
use crate::analysis::entropy::connection_entropy;
use crate::analysis::{RunData, describe_runs};
use crate::error::Result;
use crate::family::FeedForward;
use crate::ff::{FfNet, layer_name};
use crate::output::csv;
use crate::output::figure::{Figure, Plot, Series};
use crate::stats::SeedStats;
use serde::Serialize;
use std::path::Path;

pub use crate::analysis::entropy::SPIKE_VAR;

/// Name of the analysis (output folder and report section).
pub const NAME: &str = "entropy";

/// Mean entropies of one layer's connections, nats.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LayerEntropy {
    /// Layer name.
    pub layer: String,
    /// Mean differential entropy of the mixture.
    pub total: f64,
    /// Mean discrete π-entropy.
    pub pi_entropy: f64,
    /// Mean continuous Ξ-entropy (`Ξ` floored at `a`).
    pub xi_entropy: f64,
}

/// Entropy per layer of `net` (every connection's entropy, averaged).
pub fn entropy(net: &FfNet<f32>) -> Vec<LayerEntropy> {
    net.layers
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            let n = layer.pi.len().max(1) as f64;
            let (mut t, mut p, mut x) = (0.0, 0.0, 0.0);
            for i in 0..layer.pi.len() {
                let e = connection_entropy(
                    layer.pi[i] as f64,
                    layer.m[i] as f64,
                    layer.xi[i] as f64,
                    SPIKE_VAR,
                );
                t += e.total;
                p += e.pi_entropy;
                x += e.xi_entropy;
            }
            LayerEntropy {
                layer: layer_name(l),
                total: t / n,
                pi_entropy: p / n,
                xi_entropy: x / n,
            }
        })
        .collect()
}

/// One part of a layer's entropy.
type Part = fn(&LayerEntropy) -> f64;

/// The key numbers of the feed-forward entropy analysis (`summary.json`; `layers` is written
/// as an object keyed by the layer names).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    /// Seeds.
    pub seeds: usize,
    /// Variance of the spike (the entropy floor of a deterministic weight).
    pub spike_var: f64,
    /// Per layer, input side first.
    #[serde(serialize_with = "by_layer")]
    pub layers: Vec<LayerSummary>,
}

fn by_layer<S: serde::Serializer>(v: &[LayerSummary], s: S) -> std::result::Result<S::Ok, S::Error> {
    crate::analysis::result::keyed(s, v, |l, _| layer_name(l))
}

/// Mean entropy per connection of one layer, over seeds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerSummary {
    /// Of the mixture.
    pub total: SeedStats,
    /// Its `π` (discrete) part.
    pub pi: SeedStats,
    /// Its `Ξ` (continuous) part.
    pub xi: SeedStats,
}

/// The entropy analysis (an `AnalysisFn<FeedForward>`): `entropy.csv` (per layer, mean and std
/// over seeds of the three entropies), `entropy_per_seed.csv`, `summary.json` (per layer
/// `total`, `pi`, `xi` as [`SeedStats`]: per-seed values, mean, sd, 95 % interval).
pub fn run(runs: &[RunData<FeedForward>], _work: &Path, _opts: &AnalysisOptions) -> Result<AnalysisResult> {
    let per: Vec<Vec<LayerEntropy>> = runs.iter().map(|r| entropy(&r.net)).collect();
    let nl = per.first().map_or(0, Vec::len);
    let stat = |l: usize, f: fn(&LayerEntropy) -> f64| {
        SeedStats::of(&per.iter().map(|p| f(&p[l])).collect::<Vec<_>>())
    };
    let kinds: [(&str, &str, Part); 3] = [
        ("total", "mixture", |e| e.total),
        ("pi", "π part (discrete)", |e| e.pi_entropy),
        ("xi", "Ξ part (continuous)", |e| e.xi_entropy),
    ];
    let mut rows = Vec::new();
    let mut layers = Vec::new();
    for l in 0..nl {
        let [total, pi, xi] = kinds.map(|(_, _, f)| stat(l, f));
        let mut r = vec![l as f64];
        for st in [&total, &pi, &xi] {
            r.extend([st.mean, st.sd]);
        }
        rows.push(r);
        layers.push(LayerSummary { total, pi, xi });
    }
    let mut files = vec![csv(
        "entropy.csv",
        &[
            "layer",
            "total_mean",
            "total_std",
            "pi_mean",
            "pi_std",
            "xi_mean",
            "xi_std",
        ],
        &rows,
    )?];
    let mut rows = Vec::new();
    for (r, p) in runs.iter().zip(&per) {
        for (l, e) in p.iter().enumerate() {
            rows.push(vec![
                r.cfg.seed as f64,
                l as f64,
                e.total,
                e.pi_entropy,
                e.xi_entropy,
            ]);
        }
    }
    files.push(csv(
        "entropy_per_seed.csv",
        &["seed", "layer", "total", "pi", "xi"],
        &rows,
    )?);
    let xl: Vec<f64> = (0..nl).map(|l| l as f64).collect();
    let lines: Vec<Series> = kinds
        .iter()
        .map(|&(_, label, f)| {
            let ms: Vec<SeedStats> = (0..nl).map(|l| stat(l, f)).collect();
            Series {
                label: label.into(),
                x: xl.clone(),
                y: ms.iter().map(|p| p.mean).collect(),
                band: (runs.len() > 1).then(|| {
                    (
                        ms.iter().map(|p| p.lo).collect(),
                        ms.iter().map(|p| p.hi).collect(),
                    )
                }),
                markers: true,
            }
        })
        .collect();
    let figures = vec![Figure {
        name: "entropy".into(),
        title: "Entropy per layer".into(),
        x_label: "layer (0 = input → first hidden)".into(),
        y_label: "mean entropy per connection (nats)".into(),
        log_y: false,
        caption: format!(
            "Mean entropy per connection of the final networks (Eq. 14; spike as N(0, a), \
             a = {SPIKE_VAR}, Ξ floored at a): the mixture, its discrete π part and its \
             continuous Ξ part; {}.",
            describe_runs(
                runs,
                if runs.len() > 1 {
                    "; bands: 95 % t-interval of the mean over the seeds"
                } else {
                    ""
                }
            )
        ),
        plot: Plot::Lines(lines),
    }];
    let summary = Summary {
        seeds: runs.len(),
        spike_var: SPIKE_VAR,
        layers,
    };
    Ok(AnalysisResult::with(
        NAME,
        "Entropy per layer",
        files,
        figures,
        crate::analysis::Summary::FfEntropy(summary),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_exact_classes() {
        // VIP (π = 0, Ξ = 0 → floored at a) and UIP (π = 1) both have the spike's entropy.
        let h = 0.5 * (2.0 * std::f64::consts::PI * std::f64::consts::E * SPIKE_VAR).ln();
        let mut net = FfNet::<f32>::zeros(&[2, 1]);
        net.layers[0].pi = vec![0.0, 1.0];
        net.layers[0].m = vec![0.7, -0.2];
        let e = &entropy(&net)[0];
        assert!((e.total - h).abs() < 1e-9 && e.pi_entropy == 0.0, "{e:?}");
    }
}
