//! Analyses of a trained feed-forward ensemble ("Learning credit assignment", DESIGN §5, §7).
//!
//! - **Weight classes** per layer: VIP (very important) `π = 0` and `Ξ = 0` exactly — a
//!   deterministic, always-present connection; UIP (unimportant) `π = 1` exactly — an
//!   always-absent connection; variable: the rest. The clipping after every optimizer step
//!   creates these exact values, so no thresholds are needed.
//! - **Perturbation**: remove (set `π = 1`) a fraction `p` of the VIP weights, of the UIP
//!   weights, or the same number of uniformly random weights (DESIGN §5.6's control),
//!   in every layer at once (`all`) or in one layer (`l0`, `l1`, …); mean-field test accuracy
//!   vs `p`, mean ± std over seeded repeats. Each repeat draws one seeded random order of each
//!   candidate set and removes its first `round(p·n)` entries (so subsets grow with `p`), and
//!   evaluates with the same `ε` draws at every `p`.
//! - **Entropy** per layer (paper Eq. 14, DESIGN §5.3): the mixture
//!   `π N(0, a) + (1-π) N(m, Ξ)` with spike variance `a = 1e-4` and `Ξ` floored at `a`; the
//!   mean over the layer's connections of its differential entropy, of the discrete part
//!   `-π ln π - (1-π) ln(1-π)` and of the continuous part `½ ln(2πe Ξ)` (nats), computed by
//!   [`crate::analysis::entropy::connection_entropy`] (Gauss–Hermite quadrature).
//! - **Hyper-parameter histograms** of `π`, `m`, `Ξ` per layer (fractions of the layer's
//!   connections per bin).
//!
//! [`run`] writes all of them as CSV/JSON and returns their figures as
//! [`crate::report::figure::Figure`] descriptions.
//!
//! **What the reference run shows** (`ff-mnist`, seed 1, 200 epochs, mean-field accuracy on
//! the 10k test images, 5 repeats). With the preset (Adam restarted every epoch): 96.6 %;
//! VIP / UIP / variable = 2.3 / 1.3 / 96.4 % (layer 0), 0.9 / 0.2 / 98.9 % (layer 1),
//! 2.9 / 0.4 / 96.7 % (layer 2); removing every VIP connection of every layer: 95.9 %, as many
//! random ones: 96.5 %, every UIP one: 96.6 % (unchanged, exactly). The per-epoch restart's
//! first Adam step moves `π` and `Ξ` off their exact boundary values, so few connections stay
//! exactly VIP. With `optim.reset_each_epoch = false` (plain Adam; `init.fan_in = 784`):
//! 95.7 %; VIP / UIP = 8.4 / 8.8 % (layer 0), 9.8 / 6.7 % (layer 1), 22.3 / 7.4 % (layer 2); and
//! removing all VIP connections drops the accuracy to 44.8 % (random: 95.0 %, UIP: unchanged).

use super::eval::{FfMode, evaluate};
use super::train::{files, load_run};
use super::{FfData, FfNet, layer_name};
use crate::analysis::entropy::connection_entropy;
use crate::analysis::{AnalysisOptions, AnalysisOutput, Metrics, write_csv, write_json};
use crate::error::{Result, SasError};
use crate::report::figure::{Figure, Histogram, Plot, Series};
use crate::rng::{derive_seed, splitmix64};
use crate::sas::SasLayer;
use serde::Serialize;
use serde_json::json;
use std::path::Path;

/// Name of the analysis (output folder and report section).
pub const NAME: &str = "ff";

/// Variance `a` of the Gaussian standing in for the spike `δ(w)`, and the floor of `Ξ`.
pub use crate::analysis::entropy::SPIKE_VAR;

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

// ---- perturbation ----------------------------------------------------------------------

/// Settings of the perturbation analysis.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PerturbSettings {
    /// Fractions `p` of the class removed (in `[0, 1]`).
    pub fractions: Vec<f64>,
    /// Seeded repeats per point.
    pub repeats: usize,
    /// Also perturb each layer alone (besides all layers at once).
    pub per_layer: bool,
    /// Chunks per batch of the evaluation.
    pub chunks: usize,
    /// Seed of the subsets and of the evaluation noise.
    pub seed: u64,
}

impl PerturbSettings {
    /// Standard settings: `p = 0, 0.1, …, 1`, 5 repeats, all layers and each layer alone;
    /// `quick`: `p = 0, 0.25, …, 1`, 2 repeats, all layers only.
    pub fn standard(quick: bool, seed: u64) -> PerturbSettings {
        let steps = if quick { 4 } else { 10 };
        PerturbSettings {
            fractions: (0..=steps).map(|i| i as f64 / steps as f64).collect(),
            repeats: if quick { 2 } else { 5 },
            per_layer: !quick,
            chunks: 4,
            seed,
        }
    }
}

/// One point of the perturbation curves.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PerturbPoint {
    /// Perturbed layers: `all` or a layer name.
    pub target: String,
    /// Removed class: `vip`, `uip` or `random` (as many random weights as VIP ones).
    pub class: String,
    /// Fraction `p`.
    pub fraction: f64,
    /// Connections removed (summed over the perturbed layers).
    pub removed: usize,
    /// Mean-field test accuracy, mean over repeats.
    pub accuracy: f64,
    /// Its standard deviation over repeats.
    pub accuracy_std: f64,
}

/// The first `k` entries of a seeded uniformly random order of `cand` (partial Fisher–Yates).
fn choose_first(cand: &[usize], k: usize, seed: u64) -> Vec<usize> {
    let mut v = cand.to_vec();
    let mut s = seed;
    let k = k.min(v.len());
    for i in 0..k {
        let j = i + ((splitmix64(&mut s) as u128 * (v.len() - i) as u128) >> 64) as usize;
        v.swap(i, j);
    }
    v.truncate(k);
    v
}

/// Removes connections `idx` of `layer`: `π = 1` (so `μ = v = 0`).
pub fn remove(layer: &mut SasLayer<f32>, idx: &[usize]) {
    for &i in idx {
        layer.pi[i] = 1.0;
    }
}

/// Mean-field test accuracy vs removed fraction, for every target, class and fraction.
pub fn perturbation(net: &FfNet<f32>, test: &FfData, s: &PerturbSettings) -> Result<Vec<PerturbPoint>> {
    if let Some(&p) = s.fractions.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(SasError::InvalidValue {
            name: "perturbation fractions".into(),
            reason: format!("{p} is not in [0, 1]"),
        });
    }
    let nl = net.layers.len();
    let repeats = s.repeats.max(1);
    let eps_seed = |rep: usize| derive_seed(s.seed, &[0, rep as u64]);
    let mut targets: Vec<(String, Vec<usize>)> = vec![("all".into(), (0..nl).collect())];
    if s.per_layer {
        targets.extend((0..nl).map(|l| (layer_name(l), vec![l])));
    }
    let vip: Vec<Vec<usize>> = net
        .layers
        .iter()
        .map(|l| class_indices(l, WeightClass::Vip))
        .collect();
    let uip: Vec<Vec<usize>> = net
        .layers
        .iter()
        .map(|l| class_indices(l, WeightClass::Uip))
        .collect();
    let all: Vec<Vec<usize>> = net.layers.iter().map(|l| (0..l.pi.len()).collect()).collect();
    let mut base = Vec::with_capacity(repeats);
    for rep in 0..repeats {
        base.push(evaluate(net, test, FfMode::MeanField, 1, s.chunks, eps_seed(rep))?.accuracy);
    }
    let mut points = Vec::new();
    for (ti, (tname, layers)) in targets.iter().enumerate() {
        for (ci, cname) in ["vip", "uip", "random"].into_iter().enumerate() {
            for &p in &s.fractions {
                let mut accs = Vec::with_capacity(repeats);
                let mut removed = 0;
                for (rep, &base_acc) in base.iter().enumerate() {
                    let mut pert = net.clone();
                    removed = 0;
                    for &l in layers {
                        let (cand, n_ref) = match ci {
                            0 => (&vip[l], vip[l].len()),
                            1 => (&uip[l], uip[l].len()),
                            _ => (&all[l], vip[l].len()),
                        };
                        let k = (p * n_ref as f64).round() as usize;
                        let key = [1, ti as u64, ci as u64, rep as u64, l as u64];
                        let idx = choose_first(cand, k, derive_seed(s.seed, &key));
                        removed += idx.len();
                        remove(&mut pert.layers[l], &idx);
                    }
                    accs.push(if removed == 0 {
                        base_acc
                    } else {
                        evaluate(&pert, test, FfMode::MeanField, 1, s.chunks, eps_seed(rep))?.accuracy
                    });
                }
                let mean = accs.iter().sum::<f64>() / repeats as f64;
                let var = accs.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / repeats as f64;
                points.push(PerturbPoint {
                    target: tname.clone(),
                    class: cname.into(),
                    fraction: p,
                    removed,
                    accuracy: mean,
                    accuracy_std: var.sqrt(),
                });
            }
        }
    }
    Ok(points)
}

// ---- entropy ---------------------------------------------------------------------------

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

/// Entropy per layer ([`crate::analysis::entropy::connection_entropy`] of every connection,
/// averaged).
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

// ---- histograms ------------------------------------------------------------------------

/// A histogram of one parameter kind of one layer.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ParamHistogram {
    /// Layer name.
    pub layer: String,
    /// `m`, `pi` or `xi`.
    pub kind: String,
    /// Bin edges (`bins + 1`, increasing; the last bin includes its upper edge).
    pub edges: Vec<f64>,
    /// Fraction of the layer's connections per bin.
    pub fractions: Vec<f64>,
}

fn histogram(values: &[f32], lo: f64, hi: f64, bins: usize) -> (Vec<f64>, Vec<f64>) {
    let hi = if hi > lo { hi } else { lo + 1e-6 };
    let edges: Vec<f64> = (0..=bins)
        .map(|i| lo + (hi - lo) * i as f64 / bins as f64)
        .collect();
    let mut c = vec![0.0; bins];
    for &v in values {
        let v = v as f64;
        let b = (((v - lo) / (hi - lo)) * bins as f64).floor();
        let b = (b.max(0.0) as usize).min(bins - 1);
        c[b] += 1.0;
    }
    let n = values.len().max(1) as f64;
    c.iter_mut().for_each(|x| *x /= n);
    (edges, c)
}

/// Histograms of `π` (on [0, 1]), `m` and `Ξ` (on their ranges) per layer, `bins` bins each.
pub fn histograms(net: &FfNet<f32>, bins: usize) -> Vec<ParamHistogram> {
    let bins = bins.max(1);
    let mut out = Vec::new();
    for (l, layer) in net.layers.iter().enumerate() {
        let range = |v: &[f32]| {
            v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x as f64), b.max(x as f64))
            })
        };
        let (mlo, mhi) = range(&layer.m);
        let (_, xhi) = range(&layer.xi);
        for (kind, vals, lo, hi) in [
            ("pi", &layer.pi, 0.0, 1.0),
            ("m", &layer.m, mlo, mhi),
            ("xi", &layer.xi, 0.0, xhi),
        ] {
            let (edges, fractions) = histogram(vals, lo, hi, bins);
            out.push(ParamHistogram {
                layer: layer_name(l),
                kind: kind.into(),
                edges,
                fractions,
            });
        }
    }
    out
}

// ---- the whole analysis -----------------------------------------------------------------

fn series(label: &str, x: Vec<f64>, y: Vec<f64>, markers: bool) -> Series {
    Series {
        label: label.into(),
        x,
        y,
        band: None,
        markers,
    }
}

/// Runs every analysis on feed-forward run `run_dir` with test set `test`, writing
/// `classes.csv`, `perturb.csv`, `entropy.csv`, `histograms.csv` and `summary.json` into `out`
/// (created). `opts.quick` uses [`PerturbSettings::standard`]`(true, …)`; `opts.seed` keys
/// the perturbation subsets and noise.
pub fn run(run_dir: &Path, test: &FfData, out: &Path, opts: &AnalysisOptions) -> Result<AnalysisOutput> {
    let (cfg, net, epoch) = load_run(run_dir)?;
    std::fs::create_dir_all(out).map_err(|source| SasError::Io {
        action: "creating",
        path: out.to_path_buf(),
        source,
    })?;
    let nl = net.layers.len();
    let mut files_out = Vec::new();
    let mut figures = Vec::new();
    let xl: Vec<f64> = (0..nl).map(|l| l as f64).collect();

    // Weight classes.
    let classes = weight_classes(&net);
    let rows: Vec<Vec<f64>> = classes
        .iter()
        .enumerate()
        .map(|(l, c)| {
            vec![
                l as f64,
                c.total as f64,
                c.vip as f64,
                c.uip as f64,
                c.variable as f64,
                c.vip_frac,
                c.uip_frac,
                c.variable_frac,
            ]
        })
        .collect();
    files_out.push(write_csv(
        &out.join("classes.csv"),
        &[
            "layer",
            "total",
            "vip",
            "uip",
            "variable",
            "vip_frac",
            "uip_frac",
            "variable_frac",
        ],
        &rows,
    )?);
    figures.push(Figure {
        name: "ff-classes".into(),
        title: "Weight classes per layer".into(),
        x_label: "layer (0 = input → first hidden)".into(),
        y_label: "fraction of connections".into(),
        log_y: false,
        caption: format!(
            "Fractions of VIP (π = 0 and Ξ = 0), UIP (π = 1) and variable connections per layer \
             of {} after {epoch} epochs (sizes {:?}).",
            cfg.preset, cfg.model.sizes
        ),
        plot: Plot::Lines(vec![
            series(
                "VIP",
                xl.clone(),
                classes.iter().map(|c| c.vip_frac).collect(),
                true,
            ),
            series(
                "UIP",
                xl.clone(),
                classes.iter().map(|c| c.uip_frac).collect(),
                true,
            ),
            series(
                "variable",
                xl.clone(),
                classes.iter().map(|c| c.variable_frac).collect(),
                true,
            ),
        ]),
    });

    // Class fractions and accuracy over epochs (from the metrics).
    if let Ok(text) = std::fs::read_to_string(run_dir.join(files::METRICS))
        && let Ok(m) = Metrics::parse(&text, files::METRICS)
        && let Some(ep) = m.column("epoch")
    {
        let mut lines = Vec::new();
        for l in 0..nl {
            for (what, label) in [("vip", "VIP"), ("uip", "UIP")] {
                if let Some(y) = m.column(&format!("{what}_{}", layer_name(l))) {
                    lines.push(series(
                        &format!("{label} {}", layer_name(l)),
                        ep.clone(),
                        y,
                        false,
                    ));
                }
            }
        }
        figures.push(Figure {
            name: "ff-classes-epochs".into(),
            title: "Weight classes over training".into(),
            x_label: "epoch".into(),
            y_label: "fraction of connections".into(),
            log_y: false,
            caption: "Fractions of VIP and UIP connections per layer after each epoch.".into(),
            plot: Plot::Lines(lines),
        });
        let mut acc = Vec::new();
        for (col, label) in [
            ("train_acc", "train (mean-field)"),
            ("test_acc_mean_field", "test, mean-field"),
            ("test_acc_mean", "test, mean network"),
        ] {
            if let Some(y) = m.column(col) {
                acc.push(series(label, ep.clone(), y, false));
            }
        }
        figures.push(Figure {
            name: "ff-accuracy".into(),
            title: "Accuracy over training".into(),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            log_y: false,
            caption: format!(
                "Training (mean-field, on the minibatches) and test accuracy of {} per epoch.",
                cfg.preset
            ),
            plot: Plot::Lines(acc),
        });
    }

    // Perturbation.
    let ps = PerturbSettings {
        chunks: cfg.train.chunks,
        ..PerturbSettings::standard(opts.quick, opts.seed)
    };
    let points = perturbation(&net, test, &ps)?;
    let target_ids: Vec<String> = std::iter::once("all".to_string())
        .chain((0..nl).map(layer_name))
        .collect();
    let class_id = |c: &str| ["vip", "uip", "random"].iter().position(|x| *x == c).unwrap_or(0) as f64;
    let rows: Vec<Vec<f64>> = points
        .iter()
        .map(|p| {
            vec![
                target_ids.iter().position(|t| *t == p.target).unwrap_or(0) as f64 - 1.0,
                class_id(&p.class),
                p.fraction,
                p.removed as f64,
                p.accuracy,
                p.accuracy_std,
            ]
        })
        .collect();
    files_out.push(write_csv(
        &out.join("perturb.csv"),
        &[
            "layer",
            "class",
            "fraction",
            "removed",
            "accuracy",
            "accuracy_std",
        ],
        &rows,
    )?);
    files_out.push(write_json(&out.join("perturb.json"), &points)?);
    for t in &target_ids {
        let lines: Vec<Series> = [
            ("vip", "VIP removed"),
            ("uip", "UIP removed"),
            ("random", "random removed"),
        ]
        .iter()
        .filter_map(|&(c, label)| {
            let pts: Vec<&PerturbPoint> = points.iter().filter(|p| &p.target == t && p.class == c).collect();
            if pts.is_empty() {
                return None;
            }
            let x: Vec<f64> = pts.iter().map(|p| p.fraction).collect();
            let y: Vec<f64> = pts.iter().map(|p| p.accuracy).collect();
            let lo = pts.iter().map(|p| p.accuracy - p.accuracy_std).collect();
            let hi = pts.iter().map(|p| p.accuracy + p.accuracy_std).collect();
            Some(Series {
                label: label.into(),
                x,
                y,
                band: Some((lo, hi)),
                markers: true,
            })
        })
        .collect();
        if lines.is_empty() {
            continue;
        }
        let which = if t == "all" {
            "every layer".to_string()
        } else {
            format!("layer {t} only")
        };
        figures.push(Figure {
            name: format!("ff-perturb-{t}"),
            title: format!("Removing connections ({which})"),
            x_label: "fraction p of the class removed".into(),
            y_label: "test accuracy (mean-field)".into(),
            log_y: false,
            caption: format!(
                "Mean-field test accuracy ({} images) after setting π = 1 for a fraction p of the \
                 VIP, of the UIP, or as many random connections as VIP ones, in {which}; \
                 mean ± std over {} seeded repeats.",
                test.count, ps.repeats
            ),
            plot: Plot::Lines(lines),
        });
    }

    // Entropy.
    let ent = entropy(&net);
    let rows: Vec<Vec<f64>> = ent
        .iter()
        .enumerate()
        .map(|(l, e)| vec![l as f64, e.total, e.pi_entropy, e.xi_entropy])
        .collect();
    files_out.push(write_csv(
        &out.join("entropy.csv"),
        &["layer", "total", "pi_entropy", "xi_entropy"],
        &rows,
    )?);
    figures.push(Figure {
        name: "ff-entropy".into(),
        title: "Entropy per layer".into(),
        x_label: "layer".into(),
        y_label: "mean entropy per connection (nats)".into(),
        log_y: false,
        caption: format!(
            "Mean entropy per connection (Eq. 14; spike as N(0, a), a = {SPIKE_VAR}, Ξ floored at a): \
             the mixture, its discrete π part and its continuous Ξ part."
        ),
        plot: Plot::Lines(vec![
            series("total", xl.clone(), ent.iter().map(|e| e.total).collect(), true),
            series(
                "π part",
                xl.clone(),
                ent.iter().map(|e| e.pi_entropy).collect(),
                true,
            ),
            series(
                "Ξ part",
                xl.clone(),
                ent.iter().map(|e| e.xi_entropy).collect(),
                true,
            ),
        ]),
    });

    // Histograms.
    let hists = histograms(&net, 40);
    let mut rows = Vec::new();
    for h in &hists {
        let l = h.layer[1..].parse::<f64>().unwrap_or(f64::NAN);
        let k = ["pi", "m", "xi"].iter().position(|x| *x == h.kind).unwrap_or(0) as f64;
        for (b, &f) in h.fractions.iter().enumerate() {
            rows.push(vec![l, k, h.edges[b], h.edges[b + 1], f]);
        }
    }
    files_out.push(write_csv(
        &out.join("histograms.csv"),
        &["layer", "kind", "lo", "hi", "fraction"],
        &rows,
    )?);
    for (kind, sym) in [("pi", "π"), ("m", "m"), ("xi", "Ξ")] {
        figures.push(Figure {
            name: format!("ff-hist-{kind}"),
            title: format!("Distribution of {sym} per layer"),
            x_label: sym.into(),
            y_label: "fraction of connections".into(),
            log_y: false,
            caption: format!("Histogram of {sym} over the connections of each layer (40 bins)."),
            plot: Plot::Histograms(
                hists
                    .iter()
                    .filter(|h| h.kind == kind)
                    .map(|h| Histogram {
                        label: h.layer.clone(),
                        edges: h.edges.clone(),
                        counts: h.fractions.clone(),
                    })
                    .collect(),
            ),
        });
    }

    let summary = json!({
        "run": run_dir.display().to_string(),
        "epoch": epoch,
        "sizes": cfg.model.sizes,
        "classes": classes,
        "entropy": ent,
        "perturbation": {
            "settings": ps,
            "layer_column": "-1 = all layers, else the layer index",
            "class_column": "0 = vip, 1 = uip, 2 = random",
            "points": points.len(),
        },
    });
    files_out.push(write_json(&out.join("summary.json"), &summary)?);
    Ok(AnalysisOutput {
        name: NAME.into(),
        title: "Feed-forward ensemble: weight classes, perturbation, entropy".into(),
        files: files_out,
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
    }

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

    #[test]
    fn subsets_are_nested_and_seeded() {
        let c: Vec<usize> = (10..30).collect();
        let a = choose_first(&c, 5, 7);
        let b = choose_first(&c, 9, 7);
        assert_eq!(&b[..5], &a[..]);
        assert_eq!(a, choose_first(&c, 5, 7));
        assert_ne!(a, choose_first(&c, 5, 8));
        assert_eq!(choose_first(&c, 50, 1).len(), 20);
    }

    #[test]
    fn histograms_sum_to_one() {
        let mut net = FfNet::<f32>::zeros(&[3, 2]);
        net.layers[0].m = vec![-1.0, 0.0, 1.0, 2.0, 0.5, 0.5];
        for h in histograms(&net, 4) {
            assert!((h.fractions.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{h:?}");
            assert_eq!(h.edges.len(), 5);
        }
    }
}
