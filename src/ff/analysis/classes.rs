//! Weight classes per layer (DESIGN §5.5, §7): VIP (very important) `π = 0` and `Ξ = 0`
//! exactly — a deterministic, always-present connection; UIP (unimportant) `π = 1` exactly —
//! an always-absent connection; variable: the rest. The constraints after every optimizer
//! step (`π ← clip(π, 0, 1)`, `Ξ ← max(Ξ, 0)`) create these exact values, so no thresholds
//! are needed.
//!
//! The analysis writes the final fractions per layer (mean ± std over seeds,
//! `classes.csv`; per seed `classes_per_seed.csv`) and their course over training from the
//! runs' metrics (`classes_epochs.csv`), with a figure of each.

use super::{FfRunData, describe_runs, mean_std};
use crate::analysis::accuracy::{by_epoch, column_series};
use crate::analysis::{AnalysisOptions, AnalysisOutput, write_csv, write_json};
use crate::error::Result;
use crate::ff::{FfNet, layer_name};
use crate::report::figure::{Figure, Plot, Series};
use crate::sas::SasLayer;
use serde::Serialize;
use serde_json::json;
use std::path::Path;

/// Name of the analysis (output folder and report section).
pub const NAME: &str = "classes";

/// The class of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum WeightClass {
    /// Very important: `π = 0` and `Ξ = 0`.
    Vip,
    /// Unimportant: `π = 1`.
    Uip,
    /// Everything else.
    Variable,
}

impl WeightClass {
    /// The class of a connection with spike probability `pi` and slab variance `xi`.
    pub fn of(pi: f32, xi: f32) -> WeightClass {
        if pi == 1.0 {
            WeightClass::Uip
        } else if pi == 0.0 && xi == 0.0 {
            WeightClass::Vip
        } else {
            WeightClass::Variable
        }
    }

    /// Lower-case name: `vip`, `uip`, `variable`.
    pub fn name(&self) -> &'static str {
        match self {
            WeightClass::Vip => "vip",
            WeightClass::Uip => "uip",
            WeightClass::Variable => "variable",
        }
    }
}

/// Weight-class counts and fractions of one layer.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LayerClasses {
    /// Layer name (`l0`, …).
    pub layer: String,
    /// Connections.
    pub total: usize,
    /// VIP connections.
    pub vip: usize,
    /// UIP connections.
    pub uip: usize,
    /// Variable connections.
    pub variable: usize,
    /// `vip / total`.
    pub vip_frac: f64,
    /// `uip / total`.
    pub uip_frac: f64,
    /// `variable / total`.
    pub variable_frac: f64,
}

/// Indices (row-major) of the connections of `layer` in class `class`.
pub fn class_indices(layer: &SasLayer<f32>, class: WeightClass) -> Vec<usize> {
    (0..layer.pi.len())
        .filter(|&i| WeightClass::of(layer.pi[i], layer.xi[i]) == class)
        .collect()
}

/// Weight classes of every layer.
pub fn weight_classes(net: &FfNet<f32>) -> Vec<LayerClasses> {
    net.layers
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            let (mut vip, mut uip, mut var) = (0, 0, 0);
            for (&p, &x) in layer.pi.iter().zip(&layer.xi) {
                match WeightClass::of(p, x) {
                    WeightClass::Vip => vip += 1,
                    WeightClass::Uip => uip += 1,
                    WeightClass::Variable => var += 1,
                }
            }
            let total = layer.pi.len();
            let f = |c: usize| c as f64 / total.max(1) as f64;
            LayerClasses {
                layer: layer_name(l),
                total,
                vip,
                uip,
                variable: var,
                vip_frac: f(vip),
                uip_frac: f(uip),
                variable_frac: f(var),
            }
        })
        .collect()
}

/// Final class fractions of one layer over seeds: `(mean, std)` of VIP, UIP, variable.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClassStats {
    /// Layer name.
    pub layer: String,
    /// Connections in the layer.
    pub connections: usize,
    /// VIP fraction, mean and std over seeds.
    pub vip: (f64, f64),
    /// UIP fraction, mean and std over seeds.
    pub uip: (f64, f64),
    /// Variable fraction, mean and std over seeds.
    pub variable: (f64, f64),
}

/// The final class fractions per layer, aggregated over the runs' final networks.
pub fn class_stats(runs: &[FfRunData]) -> Vec<ClassStats> {
    let per: Vec<Vec<LayerClasses>> = runs.iter().map(|r| weight_classes(&r.net)).collect();
    let nl = per.first().map_or(0, Vec::len);
    (0..nl)
        .map(|l| {
            let col =
                |f: fn(&LayerClasses) -> f64| mean_std(&per.iter().map(|p| f(&p[l])).collect::<Vec<_>>());
            ClassStats {
                layer: layer_name(l),
                connections: per[0][l].total,
                vip: col(|c| c.vip_frac),
                uip: col(|c| c.uip_frac),
                variable: col(|c| c.variable_frac),
            }
        })
        .collect()
}

fn band_series(label: &str, x: &[f64], ms: &[(f64, f64)]) -> Series {
    Series {
        label: label.into(),
        x: x.to_vec(),
        y: ms.iter().map(|p| p.0).collect(),
        band: Some((
            ms.iter().map(|p| p.0 - p.1).collect(),
            ms.iter().map(|p| p.0 + p.1).collect(),
        )),
        markers: true,
    }
}

/// The classes analysis (an [`super::FfAnalysisFn`]).
///
/// Summary: per layer `connections` and the final `vip`, `uip`, `variable` fractions as
/// `{mean, std}` over seeds.
pub fn run(runs: &[FfRunData], out: &Path, _opts: &AnalysisOptions) -> Result<AnalysisOutput> {
    let stats = class_stats(runs);
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
    files.push(write_csv(
        &out.join("classes.csv"),
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
        for (l, c) in weight_classes(&r.net).iter().enumerate() {
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
    files.push(write_csv(
        &out.join("classes_per_seed.csv"),
        &["seed", "layer", "connections", "vip", "uip", "variable"],
        &rows,
    )?);

    let who = describe_runs(runs);
    let mut figures = vec![Figure {
        name: "classes".into(),
        title: "Weight classes per layer".into(),
        x_label: "layer (0 = input → first hidden)".into(),
        y_label: "fraction of the layer's connections".into(),
        log_y: false,
        caption: format!(
            "Fractions of VIP (π = 0 and Ξ = 0 exactly), UIP (π = 1 exactly) and variable \
             connections in each layer of the final networks; {who}."
        ),
        plot: Plot::Lines(vec![
            band_series("VIP", &xl, &stats.iter().map(|s| s.vip).collect::<Vec<_>>()),
            band_series("UIP", &xl, &stats.iter().map(|s| s.uip).collect::<Vec<_>>()),
            band_series(
                "variable",
                &xl,
                &stats.iter().map(|s| s.variable).collect::<Vec<_>>(),
            ),
        ]),
    }];

    // Over epochs, from the metrics.
    let mut lines = Vec::new();
    let mut ep_cols: Vec<(String, crate::analysis::accuracy::EpochStats)> = Vec::new();
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
            let st = by_epoch(&per);
            let mut s = st.series(&format!("{label} {}", layer_name(l)));
            s.markers = false;
            lines.push(s);
            ep_cols.push((col, st));
        }
    }
    if let Some((_, first)) = ep_cols.first() {
        let mut header = vec!["epoch".to_string()];
        for (c, _) in &ep_cols {
            header.push(format!("{c}_mean"));
            header.push(format!("{c}_std"));
        }
        let rows: Vec<Vec<f64>> = (0..first.epochs.len())
            .map(|i| {
                let mut r = vec![first.epochs[i] as f64];
                for (_, st) in &ep_cols {
                    r.push(st.mean.get(i).copied().unwrap_or(f64::NAN));
                    r.push(st.std.get(i).copied().unwrap_or(f64::NAN));
                }
                r
            })
            .collect();
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        files.push(write_csv(&out.join("classes_epochs.csv"), &h, &rows)?);
        figures.push(Figure {
            name: "classes-epochs".into(),
            title: "VIP and UIP fractions over training".into(),
            x_label: "epoch".into(),
            y_label: "fraction of the layer's connections".into(),
            log_y: false,
            caption: format!("Fractions of VIP and UIP connections per layer after each epoch; {who}."),
            plot: Plot::Lines(lines),
        });
    }

    let mut layers = serde_json::Map::new();
    for s in &stats {
        let ms = |p: (f64, f64)| json!({"mean": p.0, "std": p.1});
        layers.insert(
            s.layer.clone(),
            json!({
                "connections": s.connections,
                "vip": ms(s.vip),
                "uip": ms(s.uip),
                "variable": ms(s.variable),
            }),
        );
    }
    let summary = json!({ "seeds": runs.len(), "layers": layers });
    files.push(write_json(&out.join("summary.json"), &summary)?);
    Ok(AnalysisOutput {
        name: NAME.into(),
        title: "Weight classes (VIP, UIP, variable) per layer".into(),
        files,
        figures,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_exact() {
        assert_eq!(WeightClass::of(0.0, 0.0), WeightClass::Vip);
        assert_eq!(WeightClass::of(1.0, 0.3), WeightClass::Uip);
        assert_eq!(WeightClass::of(0.0, 1e-9), WeightClass::Variable);
        assert_eq!(WeightClass::of(1e-7, 0.0), WeightClass::Variable);
        let mut net = FfNet::<f32>::zeros(&[2, 2]);
        net.layers[0].pi = vec![0.0, 1.0, 0.5, 0.0];
        net.layers[0].xi = vec![0.0, 0.0, 0.0, 0.1];
        let c = &weight_classes(&net)[0];
        assert_eq!((c.vip, c.uip, c.variable), (1, 1, 2));
        assert_eq!(c.vip_frac, 0.25);
        assert_eq!(class_indices(&net.layers[0], WeightClass::Variable), vec![2, 3]);
    }
}
