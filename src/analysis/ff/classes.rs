//! Weight classes per layer (docs/MODEL.md §5.5, §7) by the shared classifier of
//! [`crate::analysis::weights`]: by default VIP (very important) by the exact rule `π = 0`,
//! `Ξ = 0`, `m ≠ 0` (the paper's "π = 0 and m ≠ 0") — a deterministic, always-present
//! connection; UIP (unimportant) `π = 1` exactly — an always-absent connection; variable: the
//! rest. The constraints after every optimizer step (`π ← clip(π, 0, 1)`, `Ξ ← max(Ξ, 0)`)
//! create these exact values. `--vip-rule` chooses another named rule.
//!
//! The analysis writes the final fractions per layer (mean ± std over seeds,
//! `classes.csv`; per seed `classes_per_seed.csv`) and their course over training from the
//! runs' metrics (`classes_epochs.csv`), with a figure of each.

use crate::analysis::AnalysisOptions;
use crate::analysis::AnalysisResult;
use crate::analysis::accuracy::column_series;
use crate::analysis::weights::band_by_epoch;
use crate::analysis::{RunData, describe_runs};
use crate::error::Result;
use crate::family::FeedForward;
use crate::ff::{FfNet, layer_name};
use crate::output::csv;
use crate::output::figure::{Figure, Plot, Series};
use crate::sas::classes::{LayerClasses, Thresholds, layer_classes};
#[cfg(test)]
use crate::sas::classes::{WeightClass, class_indices};
use crate::stats::{SeedStats, SeriesBand};
use serde::Serialize;
use std::path::Path;

/// Name of the analysis (output folder and report section).
pub const NAME: &str = "classes";

/// Section title of the analysis in reports.
const TITLE: &str = "Weight classes (VIP, UIP, variable) per layer";

/// Weight classes of every layer by the feed-forward default rule (exact VIP, UIP `π = 1`).
pub fn weight_classes(net: &FfNet<f32>) -> Vec<LayerClasses> {
    layer_classes(net, &Thresholds::for_task("ff"))
}

/// Final class fractions of one layer over seeds: `(mean, sample std)` of VIP, UIP, variable.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClassStats {
    /// Layer name.
    pub layer: String,
    /// Connections in the layer.
    pub connections: usize,
    /// VIP fraction, mean and sample std over seeds.
    pub vip: (f64, f64),
    /// UIP fraction, mean and sample std over seeds.
    pub uip: (f64, f64),
    /// Variable fraction, mean and sample std over seeds.
    pub variable: (f64, f64),
    /// Seeds.
    pub n: usize,
    /// Half-widths of the 95 % t-intervals of the VIP, UIP and variable means.
    pub ci95: [f64; 3],
}

/// The final class fractions per layer by the feed-forward default rule, aggregated over the
/// runs' final networks ([`SeedStats`]).
pub(crate) fn class_stats(runs: &[RunData<FeedForward>]) -> Vec<ClassStats> {
    class_stats_with(runs, &Thresholds::for_task("ff"))
}

/// [`class_stats`] by rule `t`.
pub(crate) fn class_stats_with(runs: &[RunData<FeedForward>], t: &Thresholds) -> Vec<ClassStats> {
    let per: Vec<Vec<LayerClasses>> = runs.iter().map(|r| layer_classes(&r.net, t)).collect();
    let nl = per.first().map_or(0, Vec::len);
    (0..nl)
        .map(|l| {
            let col = |f: fn(&LayerClasses) -> f64| {
                SeedStats::of(&per.iter().map(|p| f(&p[l])).collect::<Vec<_>>())
            };
            let s = [col(|c| c.vip_frac), col(|c| c.uip_frac), col(|c| c.variable_frac)];
            ClassStats {
                layer: layer_name(l),
                connections: per[0][l].total,
                vip: (s[0].mean, s[0].sd),
                uip: (s[1].mean, s[1].sd),
                variable: (s[2].mean, s[2].sd),
                n: s[0].n,
                ci95: s.map(|x| x.ci95),
            }
        })
        .collect()
}

/// A line of the per-layer means with the 95 % t-interval (`half`: half-widths; no band when
/// undefined, one seed).
fn band_series(label: &str, x: &[f64], mean: &[f64], half: &[f64]) -> Series {
    let band = half.iter().all(|h| h.is_finite()).then(|| {
        (
            mean.iter().zip(half).map(|(m, h)| m - h).collect(),
            mean.iter().zip(half).map(|(m, h)| m + h).collect(),
        )
    });
    Series {
        label: label.into(),
        x: x.to_vec(),
        y: mean.to_vec(),
        band,
        markers: true,
    }
}

/// The key numbers of the feed-forward class analysis (`summary.json`; `layers` is written as
/// an object keyed by the layer names).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    /// Seeds.
    pub seeds: usize,
    /// The VIP rule, described.
    pub vip_rule: String,
    /// Its thresholds.
    pub thresholds: Thresholds,
    /// Per layer, input side first.
    #[serde(serialize_with = "by_layer")]
    pub layers: Vec<LayerSummary>,
}

fn by_layer<S: serde::Serializer>(v: &[LayerSummary], s: S) -> std::result::Result<S::Ok, S::Error> {
    crate::analysis::result::keyed(s, v, |_, l| l.layer.clone())
}

/// A class fraction of one layer over seeds.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Fraction {
    /// Mean.
    pub mean: f64,
    /// Sample std.
    pub std: f64,
    /// Half-width of the 95 % t-interval of the mean.
    pub ci95: f64,
    /// Seeds.
    pub n: usize,
}

/// The classes of one layer's final networks.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerSummary {
    /// The layer's name (the key in the JSON).
    #[serde(skip)]
    pub layer: String,
    /// Connections.
    pub connections: usize,
    /// VIP fraction.
    pub vip: Fraction,
    /// UIP fraction.
    pub uip: Fraction,
    /// Variable fraction.
    pub variable: Fraction,
}

/// The classes analysis (an `AnalysisFn<FeedForward>`).
///
/// Summary: `vip_rule` (the rule with its source; default exact), `seeds`, and per layer
/// `connections` and the final `vip`, `uip`, `variable` fractions as `{mean, std (sample),
/// ci95, n}` over seeds.
pub fn run(runs: &[RunData<FeedForward>], _work: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    let t = opts.thresholds("ff")?;
    let stats = class_stats_with(runs, &t);
    let nl = stats.len();
    let xl: Vec<f64> = (0..nl).map(|l| l as f64).collect();
    let mut files = Vec::new();

    let rows: Vec<Vec<f64>> = stats
        .iter()
        .enumerate()
        .map(|(l, s)| {
            vec![
                l as f64,
                s.connections as f64,
                s.vip.0,
                s.vip.1,
                s.uip.0,
                s.uip.1,
                s.variable.0,
                s.variable.1,
            ]
        })
        .collect();
    files.push(csv(
        "classes.csv",
        &[
            "layer",
            "connections",
            "vip_mean",
            "vip_std",
            "uip_mean",
            "uip_std",
            "variable_mean",
            "variable_std",
        ],
        &rows,
    )?);
    let mut rows = Vec::new();
    for r in runs {
        for (l, c) in layer_classes(&r.net, &t).iter().enumerate() {
            rows.push(vec![
                r.cfg.seed as f64,
                l as f64,
                c.total as f64,
                c.vip as f64,
                c.uip as f64,
                c.variable as f64,
            ]);
        }
    }
    files.push(csv(
        "classes_per_seed.csv",
        &["seed", "layer", "connections", "vip", "uip", "variable"],
        &rows,
    )?);

    let who = describe_runs(runs, "");
    let bands = if runs.len() > 1 {
        format!(
            "; bands: 95 % t-interval of the mean over n = {} seeds",
            runs.len()
        )
    } else {
        String::new()
    };
    let mut figures = vec![Figure {
        name: "classes".into(),
        title: "Weight classes per layer".into(),
        x_label: "layer (0 = input → first hidden)".into(),
        y_label: "fraction of the layer's connections".into(),
        log_y: false,
        caption: format!(
            "Fractions of VIP, UIP and variable connections in each layer of the final networks \
             ({}; variable: the rest); {who}{bands}.",
            t.describe()
        ),
        plot: Plot::Lines(
            [("VIP", 0), ("UIP", 1), ("variable", 2)]
                .iter()
                .map(|&(label, c)| {
                    let mean: Vec<f64> = stats.iter().map(|s| [s.vip, s.uip, s.variable][c].0).collect();
                    let half: Vec<f64> = stats.iter().map(|s| s.ci95[c]).collect();
                    band_series(label, &xl, &mean, &half)
                })
                .collect(),
        ),
    }];

    // Over epochs, from the metrics.
    let mut lines = Vec::new();
    let mut ep_cols: Vec<(String, Vec<usize>, SeriesBand)> = Vec::new();
    for l in 0..nl {
        for (what, label) in [("vip", "VIP"), ("uip", "UIP")] {
            let col = format!("{what}_{}", layer_name(l));
            let per: Vec<Vec<(usize, f64)>> = runs
                .iter()
                .map(|r| column_series(&r.metrics, &col))
                .collect::<Result<_>>()?;
            if per.iter().all(Vec::is_empty) {
                continue;
            }
            let (epochs, st) = band_by_epoch(&per);
            let x = epochs.iter().map(|&e| e as f64).collect();
            let mut s = crate::analysis::weights::band_series(&format!("{label} {}", layer_name(l)), x, &st);
            s.markers = false;
            lines.push(s);
            ep_cols.push((col, epochs, st));
        }
    }
    if let Some((_, first, _)) = ep_cols.first() {
        let mut header = vec!["epoch".to_string()];
        for (c, _, _) in &ep_cols {
            header.push(format!("{c}_mean"));
            header.push(format!("{c}_sd"));
        }
        let rows: Vec<Vec<f64>> = (0..first.len())
            .map(|i| {
                let mut r = vec![first[i] as f64];
                for (_, _, st) in &ep_cols {
                    r.push(st.mean.get(i).copied().unwrap_or(f64::NAN));
                    r.push(st.sd.get(i).copied().unwrap_or(f64::NAN));
                }
                r
            })
            .collect();
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        files.push(csv("classes_epochs.csv", &h, &rows)?);
        figures.push(Figure {
            name: "classes-epochs".into(),
            title: "VIP and UIP fractions over training".into(),
            x_label: "epoch".into(),
            y_label: "fraction of the layer's connections".into(),
            log_y: false,
            caption: format!(
                "Fractions of VIP and UIP connections per layer after each epoch, as recorded in \
                 training's metrics by the default rule ({}); {who}{bands}.",
                Thresholds::for_task("ff").describe()
            ),
            plot: Plot::Lines(lines),
        });
    }

    let mut layers = Vec::new();
    for s in &stats {
        let ms = |p: (f64, f64), c: usize| Fraction {
            mean: p.0,
            std: p.1,
            ci95: s.ci95[c],
            n: s.n,
        };
        layers.push(LayerSummary {
            layer: s.layer.clone(),
            connections: s.connections,
            vip: ms(s.vip, 0),
            uip: ms(s.uip, 1),
            variable: ms(s.variable, 2),
        });
    }
    let summary = Summary {
        seeds: runs.len(),
        vip_rule: t.describe(),
        thresholds: t,
        layers,
    };
    Ok(AnalysisResult::with(
        NAME,
        TITLE,
        files,
        figures,
        crate::analysis::Summary::FfClasses(summary),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_exact() {
        let t = Thresholds::for_task("ff");
        assert_eq!(t.class_of(0.0, 0.2, 0.0), WeightClass::Vip);
        assert_eq!(
            t.class_of(0.0, 0.0, 0.0),
            WeightClass::Variable,
            "m = 0 is not VIP"
        );
        assert_eq!(t.class_of(1.0, 0.2, 0.3), WeightClass::Uip);
        assert_eq!(
            t.class_of(0.9999, 0.2, 0.3),
            WeightClass::Variable,
            "UIP is π = 1 exactly"
        );
        assert_eq!(t.class_of(0.0, 0.2, 1e-9), WeightClass::Variable);
        assert_eq!(t.class_of(1e-7, 0.2, 0.0), WeightClass::Variable);
        let mut net = FfNet::<f32>::zeros(&[2, 2]);
        net.layers[0].pi = vec![0.0, 1.0, 0.5, 0.0];
        net.layers[0].xi = vec![0.0, 0.0, 0.0, 0.1];
        net.layers[0].m = vec![0.3, 0.0, 0.0, 0.3];
        let c = &weight_classes(&net)[0];
        assert_eq!((c.vip, c.uip, c.variable), (1, 1, 2));
        assert_eq!(c.vip_frac, 0.25);
        assert_eq!(
            class_indices(&net.layers[0], &Thresholds::for_task("ff"), WeightClass::Variable),
            vec![2, 3]
        );
    }
}
