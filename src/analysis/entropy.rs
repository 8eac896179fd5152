//! Entropy per connection (docs/MODEL.md §5.3, paper Eq. 14 and Figs 4 and 13).
//!
//! Each connection has `P(w) = π δ(w) + (1-π) N(w | m, Ξ)`. As in the paper, the spike is
//! replaced by a narrow Gaussian `N(w | 0, a)` with `a` = [`SPIKE_VAR`], and `Ξ` is floored
//! at `a`, so that the differential entropy `S = -∫ p ln p dw` of the mixture
//! `p = A + B`, `A = π N(0, a)`, `B = (1-π) N(m, Ξ)` is finite. Reported per connection:
//!
//! - the total `S` of the mixture;
//! - the discrete π-entropy `-π ln π - (1-π) ln(1-π)` (nats);
//! - the continuous Ξ-entropy `½ ln(2πe Ξ)` (nats, `Ξ` floored at `a`).
//!
//! **How `S` is integrated.** `S = π E_A[-ln p] + (1-π) E_B[-ln p]`, and each expectation
//! splits exactly into its own component's entropy and an overlap term:
//!
//! `S = π·½ln(2πe a) + (1-π)·½ln(2πe Ξ) + H(π) - C`,
//! `C = ∫ [A ln(1 + B/A) + B ln(1 + A/B)] dw = π E_{N(0,a)}[φ(s(w))]`,
//!
//! with `s = B/A` and `φ(s) = (1+s) ln(1+s) - s ln s` (`C` is the expected label entropy
//! `E_p[H(label | w)]`, between 0 and `H(π)`). `C` is computed by deterministic Gauss–Hermite
//! quadrature ([`GH_NODES`] nodes, Newton iteration on the orthonormal Hermite polynomials)
//! under the spike's Gaussian. This is the same integral as integrating `-ln p` under each
//! component's Gaussian, but it stays accurate when `Ξ ≫ a`: there `-ln p` has a dip of width
//! `√a` at `w = 0` that quadrature nodes spaced on the scale `√Ξ` of the slab would miss,
//! whereas `φ(s(w))` varies on the spike's own scale and grows only like `ln s` (a quadratic
//! in `w`, integrated exactly) where the slab dominates. A seeded Monte Carlo estimate
//! ([`mixture_entropy_mc`]) is the cross-check.
//!
//! Per layer, the mean over connections is reported: stochastic layers only (a deterministic
//! layer has no distribution over its weights), masked entries and the recurrent diagonal
//! excluded; over epochs when the run kept a parameter history.

use super::accuracy::{EpochStats, by_epoch, describe_runs, line_figure};
use super::result::Stat;
use super::sparsity::Selection;
use super::{AnalysisOptions, RunData};
use crate::analysis::AnalysisResult;
use crate::error::Result;
use crate::net::{LAYERS, SasNet};
use crate::optim::Masks;
use crate::output::csv;
use crate::rng::{derive_seed, splitmix64};
use crate::sas::SasLayer;
use rayon::prelude::*;
use std::f64::consts::{E, PI};
use std::path::Path;
use std::sync::OnceLock;

/// Name of the analysis on the command line.
pub const NAME: &str = "entropy";

/// Section title of the analysis in reports.
const TITLE: &str = "Entropy per connection";

/// Variance `a` of the Gaussian that stands in for the spike `δ(w)`; also the floor of `Ξ`.
pub const SPIKE_VAR: f64 = 1e-4;

/// Number of Gauss–Hermite nodes of the overlap integral.
pub const GH_NODES: usize = 64;

/// Gauss–Hermite nodes `x` and weights `w` for `∫ e^{-x²} f(x) dx ≈ Σ w_k f(x_k)`
/// (physicists' convention; exact for polynomials of degree `< 2n`), by Newton iteration
/// on the orthonormal Hermite recurrence. Nodes ascending; `n ≥ 1`.
pub(crate) fn gauss_hermite(n: usize) -> (Vec<f64>, Vec<f64>) {
    assert!(n >= 1, "Gauss–Hermite needs at least one node");
    let pim4 = PI.powf(-0.25);
    let nf = n as f64;
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    let m = n.div_ceil(2);
    let mut z: f64 = 0.0;
    for i in 0..m {
        // Initial guesses (Numerical Recipes, gauher), refined by Newton.
        z = match i {
            0 => (2.0 * nf + 1.0).sqrt() - 1.85575 * (2.0 * nf + 1.0).powf(-1.0 / 6.0),
            1 => z - 1.14 * nf.powf(0.426) / z,
            2 => 1.86 * z - 0.86 * x[0],
            3 => 1.91 * z - 0.91 * x[1],
            _ => 2.0 * z - x[i - 2],
        };
        let mut pp = 1.0;
        for _ in 0..100 {
            let (mut p1, mut p2) = (pim4, 0.0);
            for j in 1..=n {
                let p3 = p2;
                p2 = p1;
                let jf = j as f64;
                p1 = z * (2.0 / jf).sqrt() * p2 - ((jf - 1.0) / jf).sqrt() * p3;
            }
            pp = (2.0 * nf).sqrt() * p2;
            let z1 = z;
            z = z1 - p1 / pp;
            if (z - z1).abs() <= 1e-15 * z.abs().max(1.0) {
                break;
            }
        }
        x[i] = z;
        x[n - 1 - i] = -z;
        w[i] = 2.0 / (pp * pp);
        w[n - 1 - i] = w[i];
    }
    // Ascending order.
    x.reverse();
    w.reverse();
    (x, w)
}

fn nodes() -> &'static (Vec<f64>, Vec<f64>) {
    static GH: OnceLock<(Vec<f64>, Vec<f64>)> = OnceLock::new();
    GH.get_or_init(|| gauss_hermite(GH_NODES))
}

/// Binary entropy `-π ln π - (1-π) ln(1-π)` in nats (0 at π ∈ {0, 1}).
pub(crate) fn pi_entropy(pi: f64) -> f64 {
    let h = |p: f64| if p > 0.0 { -p * p.ln() } else { 0.0 };
    h(pi) + h(1.0 - pi)
}

/// Entropy `½ ln(2πe v)` of a Gaussian of variance `v`, in nats.
pub(crate) fn gaussian_entropy(v: f64) -> f64 {
    0.5 * (2.0 * PI * E * v).ln()
}

/// `φ(s) = (1+s) ln(1+s) - s ln s` from `ln s`, stable for any `ln s`.
fn phi_from_ln(ls: f64) -> f64 {
    if ls > 30.0 {
        // ln(1+s) + s ln(1 + 1/s) = ln s + 1 + O(1/s)
        ls + 1.0 + 0.5 * (-ls).exp()
    } else if ls >= 0.0 {
        let s = ls.exp();
        let inv = (-ls).exp();
        (ls + inv.ln_1p()) + s * inv.ln_1p()
    } else if ls > -745.0 {
        let s = ls.exp();
        s.ln_1p() + s * (s.ln_1p() - ls)
    } else {
        0.0
    }
}

/// The entropy of one connection, nats.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct ConnectionEntropy {
    /// Differential entropy of the mixture `π N(0, a) + (1-π) N(m, Ξ)`.
    pub total: f64,
    /// Discrete π-entropy `-π ln π - (1-π) ln(1-π)`.
    pub pi_entropy: f64,
    /// Continuous Ξ-entropy `½ ln(2πe Ξ)`, `Ξ` floored at `a`.
    pub xi_entropy: f64,
}

/// The entropy of a connection with parameters `(π, m, Ξ)` and spike variance `a > 0`
/// (`π` clamped to [0, 1], `Ξ` floored at `a`); see the module docs for the method.
pub(crate) fn connection_entropy(pi: f64, m: f64, xi: f64, a: f64) -> ConnectionEntropy {
    let pi = pi.clamp(0.0, 1.0);
    let xi = xi.max(a);
    let (sa, sx) = (gaussian_entropy(a), gaussian_entropy(xi));
    let hp = pi_entropy(pi);
    let mut total = pi * sa + (1.0 - pi) * sx + hp;
    if pi > 0.0 && pi < 1.0 {
        let (x, w) = nodes();
        let c0 = ((1.0 - pi) / pi).ln() - 0.5 * (xi / a).ln();
        let scale = (2.0 * a).sqrt();
        let mut c = 0.0;
        for (xk, wk) in x.iter().zip(w) {
            let wv = scale * xk;
            let ls = c0 - (wv - m) * (wv - m) / (2.0 * xi) + xk * xk;
            c += wk * phi_from_ln(ls);
        }
        total -= pi * c / PI.sqrt();
    }
    ConnectionEntropy {
        total,
        pi_entropy: hp,
        xi_entropy: sx,
    }
}

/// Monte Carlo estimate of the mixture entropy `E_p[-ln p(w)]` from `samples` draws (seeded;
/// for cross-checks). Same conventions as [`connection_entropy`].
pub(crate) fn mixture_entropy_mc(pi: f64, m: f64, xi: f64, a: f64, samples: usize, seed: u64) -> f64 {
    let pi = pi.clamp(0.0, 1.0);
    let xi = xi.max(a);
    let mut s = seed;
    let mut unif = || ((splitmix64(&mut s) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let ln_n = |w: f64, mu: f64, v: f64| -0.5 * (2.0 * PI * v).ln() - (w - mu) * (w - mu) / (2.0 * v);
    let mut acc = 0.0;
    for _ in 0..samples {
        let (u1, u2) = (unif(), unif());
        let g = (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos();
        let w = if unif() < pi {
            a.sqrt() * g
        } else {
            m + xi.sqrt() * g
        };
        let la = if pi > 0.0 {
            pi.ln() + ln_n(w, 0.0, a)
        } else {
            f64::NEG_INFINITY
        };
        let lb = if pi < 1.0 {
            (1.0 - pi).ln() + ln_n(w, m, xi)
        } else {
            f64::NEG_INFINITY
        };
        let hi = la.max(lb);
        acc -= hi + ((la - hi).exp() + (lb - hi).exp()).ln();
    }
    acc / samples as f64
}

/// Mean entropies over the selected connections of one layer.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct LayerEntropy {
    /// Mean total entropy per connection, nats.
    pub total: f64,
    /// Mean π-entropy per connection, nats.
    pub pi_entropy: f64,
    /// Mean Ξ-entropy per connection, nats.
    pub xi_entropy: f64,
    /// Connections averaged over.
    pub count: usize,
}

/// Mean entropies of layer `l` over the unmasked entries (`mask[k] = false`: structurally
/// fixed), the diagonal excluded when `skip_diagonal`; NaN means when nothing is selected.
pub(crate) fn layer_entropy(l: &SasLayer<f32>, mask: Option<&[bool]>, skip_diagonal: bool) -> LayerEntropy {
    let sel = if skip_diagonal {
        Selection::OffDiagonal
    } else {
        Selection::Free
    };
    let idx = sel.indices(l.rows, l.cols, mask);
    let sums = idx
        .par_chunks(256)
        .map(|ch| {
            ch.iter().fold([0.0; 3], |mut s, &k| {
                let e = connection_entropy(l.pi[k] as f64, l.m[k] as f64, l.xi[k] as f64, SPIKE_VAR);
                s[0] += e.total;
                s[1] += e.pi_entropy;
                s[2] += e.xi_entropy;
                s
            })
        })
        .reduce(|| [0.0; 3], |a, b| [a[0] + b[0], a[1] + b[1], a[2] + b[2]]);
    let n = idx.len();
    let d = if n > 0 { n as f64 } else { f64::NAN };
    LayerEntropy {
        total: sums[0] / d,
        pi_entropy: sums[1] / d,
        xi_entropy: sums[2] / d,
        count: n,
    }
}

/// Per-layer entropies of a network (`[in, rec, out]`; `None` for deterministic layers), the
/// recurrent diagonal and structurally masked entries excluded.
pub(crate) fn compute(net: &SasNet<f32>, masks: &Masks) -> [Option<LayerEntropy>; 3] {
    let mut r = [None; 3];
    for (k, (_, l)) in net.layers().into_iter().enumerate() {
        if net.stochastic[k] {
            r[k] = Some(layer_entropy(l, masks[k].as_deref(), k == 1));
        }
    }
    r
}

/// The three entropy kinds: (key, label).
const KINDS: [(&str, &str); 3] = [
    ("total", "total entropy S"),
    ("pi_entropy", "π-entropy"),
    ("xi_entropy", "Ξ-entropy"),
];

fn pick(e: &LayerEntropy, kind: usize) -> f64 {
    [e.total, e.pi_entropy, e.xi_entropy][kind]
}

/// The key numbers of the entropy analysis (`summary.json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    /// The stochastic layers, in order.
    pub layers: Vec<&'static str>,
    /// Whether every run kept a parameter history.
    pub history: bool,
    /// Variance of the spike (the entropy floor of a deterministic weight).
    pub spike_var: f64,
    /// Gauss–Hermite nodes of the quadrature.
    pub quadrature_nodes: usize,
    /// Epochs analysed per run.
    pub epochs_used: Vec<usize>,
    /// Per layer (keyed by its name in [`Summary::layers`]).
    #[serde(flatten)]
    pub by_layer: std::collections::BTreeMap<&'static str, LayerSummary>,
    /// The Monte-Carlo check of the quadrature.
    pub mc_check: McCheck,
    /// Why only final networks are analysed for some runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

/// Mean entropy per connection of one layer at the first and the last analysed epoch, over
/// seeds (nats).
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerSummary {
    /// Mixture entropy, first epoch.
    pub initial_total: Stat,
    /// Mixture entropy, last epoch.
    pub final_total: Stat,
    /// `π` part, first epoch.
    pub initial_pi_entropy: Stat,
    /// `π` part, last epoch.
    pub final_pi_entropy: Stat,
    /// `Ξ` part, first epoch.
    pub initial_xi_entropy: Stat,
    /// `Ξ` part, last epoch.
    pub final_xi_entropy: Stat,
}

/// The Monte-Carlo check of the quadrature on a few connections.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct McCheck {
    /// Connections checked.
    pub connections: usize,
    /// Samples per connection.
    pub samples: usize,
    /// Largest absolute difference (nats).
    pub max_abs_diff: f64,
}

/// The entropy analysis (an [`super::AnalysisFn`]): writes `entropy.csv` (epoch, then mean,
/// std and seed count of `<layer>_<kind>` for the stochastic layers and kinds `total`,
/// `pi_entropy`, `xi_entropy`), `entropy_per_seed.csv`, `connections.csv` (every connection
/// of the first run's final network: layer index 0/1/2, row, col, π, m, Ξ and the three
/// entropies), and `summary.json`.
///
/// With `opts.quick`, at most 50 history epochs per run are used (evenly spaced, first and
/// last kept). Summary keys: `layers`, `history`, `spike_var`, `quadrature_nodes`,
/// `epochs_used`, per stochastic layer `<layer>` → `{initial_<kind>, final_<kind>}` (mean ±
/// std over seeds), and `mc_check` (`max_abs_diff` between quadrature and a seeded Monte
/// Carlo estimate on a few connections of the first run's recurrent layer, and their count).
pub fn run(runs: &[RunData], _work: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let stoch = runs[0].net.stochastic;
    let layers: Vec<usize> = (0..3).filter(|&k| stoch[k]).collect();
    // per_seed[seed] = [(epoch, [Option<LayerEntropy>; 3])]
    let mut per_seed = Vec::new();
    let mut with_hist = Vec::new();
    for r in runs {
        let masks = crate::train::init::masks(&r.cfg, r.net.dims());
        let mut hist = r.history()?;
        with_hist.push(!hist.is_empty());
        if opts.quick && hist.len() > 50 {
            let n = hist.len();
            let keep: Vec<usize> = (0..50).map(|i| i * (n - 1) / 49).collect();
            hist = hist
                .into_iter()
                .enumerate()
                .filter(|(i, _)| keep.contains(i))
                .map(|(_, h)| h)
                .collect();
        }
        let mut rows: Vec<(usize, [Option<LayerEntropy>; 3])> =
            hist.iter().map(|(e, n)| (*e, compute(n, &masks))).collect();
        if rows.last().is_none_or(|l| l.0 != r.epoch) {
            rows.push((r.epoch, compute(&r.net, &masks)));
        }
        per_seed.push(rows);
    }
    let mut cols: Vec<(String, String, EpochStats)> = Vec::new();
    for &k in &layers {
        for (ki, (key, label)) in KINDS.iter().enumerate() {
            let s: Vec<Vec<(usize, f64)>> = per_seed
                .iter()
                .map(|rows| {
                    rows.iter()
                        .filter_map(|(e, le)| le[k].as_ref().map(|l| (*e, pick(l, ki))))
                        .collect()
                })
                .collect();
            cols.push((
                format!("{}_{key}", LAYERS[k]),
                format!("{} {label}", layer_label(k)),
                by_epoch(&s),
            ));
        }
    }
    let mut files = Vec::new();
    if let Some((_, _, s0)) = cols.first() {
        let mut header = vec!["epoch".to_string()];
        for (c, _, _) in &cols {
            header.extend(super::accuracy::EpochStats::csv_header(c));
        }
        let rows: Vec<Vec<f64>> = (0..s0.epochs.len())
            .map(|i| {
                let mut r = vec![s0.epochs[i] as f64];
                for (_, _, s) in &cols {
                    r.extend(s.csv_cells(Some(i)));
                }
                r
            })
            .collect();
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        files.push(csv("entropy.csv", &h, &rows)?);
        let mut ph = vec!["run".to_string(), "seed".into(), "epoch".into()];
        ph.extend(cols.iter().map(|c| c.0.clone()));
        let mut prow = Vec::new();
        for (si, rows) in per_seed.iter().enumerate() {
            for (e, le) in rows {
                let mut r = vec![si as f64, runs[si].cfg.seed as f64, *e as f64];
                for &k in &layers {
                    for ki in 0..3 {
                        r.push(le[k].as_ref().map_or(f64::NAN, |l| pick(l, ki)));
                    }
                }
                prow.push(r);
            }
        }
        let ph: Vec<&str> = ph.iter().map(String::as_str).collect();
        files.push(csv("entropy_per_seed.csv", &ph, &prow)?);
    }

    // Every connection of the first run's final network.
    let net0 = &runs[0].net;
    let masks0 = crate::train::init::masks(&runs[0].cfg, net0.dims());
    let mut conn = Vec::new();
    for &k in &layers {
        let l = net0.layers()[k].1;
        let sel = if k == 1 {
            Selection::OffDiagonal
        } else {
            Selection::Free
        };
        for i in sel.indices(l.rows, l.cols, masks0[k].as_deref()) {
            let (p, m, x) = (l.pi[i] as f64, l.m[i] as f64, l.xi[i] as f64);
            let e = connection_entropy(p, m, x, SPIKE_VAR);
            conn.push(vec![
                k as f64,
                (i / l.cols) as f64,
                (i % l.cols) as f64,
                p,
                m,
                x,
                e.total,
                e.pi_entropy,
                e.xi_entropy,
            ]);
        }
    }
    files.push(csv(
        "connections.csv",
        &[
            "layer",
            "row",
            "col",
            "pi",
            "m",
            "xi",
            "total",
            "pi_entropy",
            "xi_entropy",
        ],
        &conn,
    )?);

    // Monte Carlo cross-check on a few recurrent connections with intermediate π.
    let mc_n = if opts.quick { 20_000 } else { 200_000 };
    let mut mc_diff: f64 = 0.0;
    let mut mc_count = 0;
    if stoch[1] {
        let l = &net0.rec;
        let mut cand: Vec<usize> = Selection::OffDiagonal.indices(l.rows, l.cols, masks0[1].as_deref());
        cand.sort_by(|&a, &b| {
            let d = |k: usize| (l.pi[k] as f64 - 0.5).abs();
            d(a).total_cmp(&d(b))
        });
        for (j, &k) in cand.iter().take(4).enumerate() {
            let (p, m, x) = (l.pi[k] as f64, l.m[k] as f64, l.xi[k] as f64);
            let q = connection_entropy(p, m, x, SPIKE_VAR).total;
            let mc = mixture_entropy_mc(
                p,
                m,
                x,
                SPIKE_VAR,
                mc_n,
                derive_seed(opts.seed, &[0xE7, j as u64]),
            );
            mc_diff = mc_diff.max((q - mc).abs());
            mc_count += 1;
        }
    }

    let mut by_layer = std::collections::BTreeMap::new();
    for &k in &layers {
        let mut st = Vec::new();
        for ki in 0..KINDS.len() {
            let first: Vec<f64> = per_seed
                .iter()
                .map(|rows| {
                    rows.first()
                        .and_then(|r| r.1[k])
                        .map_or(f64::NAN, |l| pick(&l, ki))
                })
                .collect();
            let last: Vec<f64> = per_seed
                .iter()
                .map(|rows| {
                    rows.last()
                        .and_then(|r| r.1[k])
                        .map_or(f64::NAN, |l| pick(&l, ki))
                })
                .collect();
            st.push((Stat::of(&first), Stat::of(&last)));
        }
        let [
            (initial_total, final_total),
            (initial_pi_entropy, final_pi_entropy),
            (initial_xi_entropy, final_xi_entropy),
        ]: [(Stat, Stat); 3] = st.try_into().unwrap_or_else(|_| unreachable!("one per kind"));
        by_layer.insert(
            LAYERS[k],
            LayerSummary {
                initial_total,
                final_total,
                initial_pi_entropy,
                final_pi_entropy,
                initial_xi_entropy,
                final_xi_entropy,
            },
        );
    }
    let all_hist = with_hist.iter().all(|h| *h);
    let summary = Summary {
        layers: layers.iter().map(|&k| LAYERS[k]).collect(),
        history: all_hist,
        spike_var: SPIKE_VAR,
        quadrature_nodes: GH_NODES,
        epochs_used: per_seed.iter().map(Vec::len).collect(),
        by_layer,
        mc_check: McCheck {
            connections: mc_count,
            samples: mc_n,
            max_abs_diff: mc_diff,
        },
        note: (!all_hist)
            .then_some("some runs kept no parameter history: only their final network is analysed"),
    };

    let desc = describe_runs(runs);
    let mut figures = Vec::new();
    for (ki, (key, label)) in KINDS.iter().enumerate() {
        let series: Vec<_> = cols
            .iter()
            .skip(ki)
            .step_by(3)
            .map(|(_, lab, s)| s.series(lab.split(' ').next().unwrap_or(lab)))
            .collect();
        if series.is_empty() {
            continue;
        }
        let what = match ki {
            0 => format!(
                "differential entropy of π N(0, a) + (1-π) N(m, Ξ) with the spike as a Gaussian \
                 of variance a = {SPIKE_VAR:e} and Ξ floored at a (Gauss–Hermite, {GH_NODES} nodes)"
            ),
            1 => "discrete π-entropy -π ln π - (1-π) ln(1-π)".to_string(),
            _ => format!("continuous Ξ-entropy ½ ln(2πe Ξ), Ξ floored at a = {SPIKE_VAR:e}"),
        };
        figures.push(line_figure(
            &format!("entropy_{key}"),
            &format!("{} per connection", capitalize(label)),
            "epoch",
            &format!("{label} per connection (nats)"),
            format!(
                "Mean over connections of the {what}, per stochastic layer over training \
                 (recurrent diagonal and masked entries excluded); {desc}."
            ),
            series,
        ));
    }
    Ok(AnalysisResult::with(
        NAME,
        TITLE,
        files,
        figures,
        super::Summary::Entropy(summary),
    ))
}

fn layer_label(k: usize) -> &'static str {
    ["input", "recurrent", "output"][k]
}

/// Capitalizes the first letter of a title, unless it is a Greek math symbol (`π`, `Ξ`), whose
/// case carries meaning.
fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| {
            if f.is_ascii() {
                f.to_uppercase().collect::<String>() + c.as_str()
            } else {
                s.to_string()
            }
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Reference by a fine trapezoid rule on `-p ln p` (spacing `√a / 40`, ±12 std).
    fn trapezoid(pi: f64, m: f64, xi: f64, a: f64) -> f64 {
        let xi = xi.max(a);
        let lo = (-12.0 * a.sqrt()).min(m - 12.0 * xi.sqrt());
        let hi = (12.0 * a.sqrt()).max(m + 12.0 * xi.sqrt());
        let h = a.sqrt() / 40.0;
        let n = ((hi - lo) / h).ceil() as usize;
        let g = |w: f64, mu: f64, v: f64| (-(w - mu) * (w - mu) / (2.0 * v)).exp() / (2.0 * PI * v).sqrt();
        let mut s = 0.0;
        for i in 0..=n {
            let w = lo + i as f64 * h;
            let p = pi * g(w, 0.0, a) + (1.0 - pi) * g(w, m, xi);
            if p > 0.0 {
                s -= p * p.ln() * if i == 0 || i == n { 0.5 } else { 1.0 };
            }
        }
        s * h
    }

    #[test]
    fn gauss_hermite_is_exact_for_polynomials() {
        let (x, w) = gauss_hermite(GH_NODES);
        let sp = PI.sqrt();
        let moment = |p: i32| x.iter().zip(&w).map(|(x, w)| w * x.powi(p)).sum::<f64>();
        assert!((moment(0) - sp).abs() < 1e-12);
        assert!(moment(1).abs() < 1e-12);
        assert!((moment(2) - sp / 2.0).abs() < 1e-12);
        assert!((moment(4) - 3.0 * sp / 4.0).abs() < 1e-12);
        assert!((moment(10) - 945.0 * sp / 32.0).abs() < 1e-9);
        assert!(x.windows(2).all(|p| p[0] < p[1]));
        let (x3, w3) = gauss_hermite(3);
        let r = (1.5f64).sqrt();
        assert!((x3[2] - r).abs() < 1e-14 && x3[1].abs() < 1e-14);
        assert!((w3[1] - 2.0 * sp / 3.0).abs() < 1e-14 && (w3[0] - sp / 6.0).abs() < 1e-14);
    }

    #[test]
    fn discrete_and_continuous_parts_by_hand() {
        assert_eq!(pi_entropy(0.0), 0.0);
        assert_eq!(pi_entropy(1.0), 0.0);
        assert!((pi_entropy(0.5) - 2f64.ln()).abs() < 1e-15);
        // -0.25 ln 0.25 - 0.75 ln 0.75 = 0.562335...
        assert!((pi_entropy(0.25) - 0.562_335_144_618_808_2).abs() < 1e-12);
        let e = connection_entropy(0.3, 0.5, 0.2, SPIKE_VAR);
        assert!((e.xi_entropy - 0.5 * (2.0 * PI * E * 0.2).ln()).abs() < 1e-15);
        assert!((e.pi_entropy - pi_entropy(0.3)).abs() < 1e-15);
        // Ξ floored at a.
        let e = connection_entropy(0.3, 0.5, 0.0, SPIKE_VAR);
        assert!((e.xi_entropy - gaussian_entropy(SPIKE_VAR)).abs() < 1e-15);
        // ½ ln(2πe·1e-4) = -3.1862...
        assert!((gaussian_entropy(1e-4) + 3.186_231_652_783_418_7).abs() < 1e-9);
    }

    #[test]
    fn corners() {
        let a = SPIKE_VAR;
        for &(m, xi) in &[(0.0, 0.01), (0.3, 0.1), (-1.0, 2.0), (0.05, 1e-4)] {
            // π = 0: a plain Gaussian.
            let e = connection_entropy(0.0, m, xi, a);
            assert!((e.total - gaussian_entropy(xi.max(a))).abs() < 1e-12, "{m} {xi}");
            // π = 1: the spike's Gaussian.
            let e = connection_entropy(1.0, m, xi, a);
            assert!((e.total - gaussian_entropy(a)).abs() < 1e-12);
        }
        // Ξ → a (here Ξ = 0, floored) and m = 0: the two components coincide.
        for &pi in &[0.01, 0.2, 0.5, 0.77, 0.999] {
            let e = connection_entropy(pi, 0.0, 0.0, a);
            assert!(
                (e.total - gaussian_entropy(a)).abs() < 1e-10,
                "π {pi}: {}",
                e.total
            );
            let e = connection_entropy(pi, 0.0, a, a);
            assert!((e.total - gaussian_entropy(a)).abs() < 1e-10);
        }
        // Far-apart narrow components: S = ½ ln(2πe a) + H(π).
        let e = connection_entropy(0.3, 5.0, 0.0, a);
        assert!(
            (e.total - gaussian_entropy(a) - pi_entropy(0.3)).abs() < 1e-8,
            "{}",
            e.total
        );
    }

    #[test]
    fn quadrature_against_a_fine_grid_and_monte_carlo() {
        let a = SPIKE_VAR;
        let cases = [
            (0.5, 0.0, 0.1),
            (0.3, 0.2, 0.01),
            (0.9, -0.5, 1.0),
            (0.05, 0.08, 0.05),
            (0.7, 0.01, 3e-4),
            (0.999, 1.0, 0.5),
            (1e-4, 0.0, 0.002),
        ];
        for (i, &(pi, m, xi)) in cases.iter().enumerate() {
            let q = connection_entropy(pi, m, xi, a).total;
            let t = trapezoid(pi, m, xi, a);
            assert!((q - t).abs() < 1e-6, "case {i}: quadrature {q}, grid {t}");
            if i < 4 {
                let mc = mixture_entropy_mc(pi, m, xi, a, 400_000, 17 + i as u64);
                assert!(
                    (q - mc).abs() < 0.01,
                    "case {i}: quadrature {q}, Monte Carlo {mc}"
                );
            }
        }
    }

    #[test]
    fn layer_means_skip_the_diagonal_and_masks() {
        let l = SasLayer {
            rows: 2,
            cols: 2,
            m: vec![0.0, 0.5, 0.5, 0.0],
            pi: vec![1.0, 0.0, 0.0, 0.5],
            xi: vec![0.0, 0.01, 0.04, 0.0],
        };
        let le = layer_entropy(&l, None, true);
        assert_eq!(le.count, 2);
        let want = (gaussian_entropy(0.01f32 as f64) + gaussian_entropy(0.04f32 as f64)) / 2.0;
        assert!((le.total - want).abs() < 1e-9 && (le.xi_entropy - want).abs() < 1e-9);
        assert_eq!(le.pi_entropy, 0.0);
        let le = layer_entropy(&l, Some(&[true, false, true, true]), false);
        assert_eq!(le.count, 3);
        assert!((le.pi_entropy - 2f64.ln() / 3.0).abs() < 1e-12);
    }

    #[test]
    fn run_on_a_tiny_training_run() {
        let (o, out) = crate::analysis::accuracy::fixture::analyze(run, NAME);
        assert_eq!(o.summary_json()["layers"], json!(["rec", "out"]));
        assert_eq!(o.summary_json()["history"], true);
        assert_eq!(o.summary_json()["epochs_used"], json!([4, 4]));
        // Epoch 0: π = 0 everywhere, so the π-entropy is 0 and S is the Ξ-entropy.
        let r = &o.summary_json()["rec"];
        assert_eq!(r["initial_pi_entropy"]["mean"], 0.0);
        let (s0, x0) = (
            r["initial_total"]["mean"].as_f64().unwrap(),
            r["initial_xi_entropy"]["mean"].as_f64().unwrap(),
        );
        assert!((s0 - x0).abs() < 1e-9);
        assert!(o.summary_json()["mc_check"]["max_abs_diff"].as_f64().unwrap() < 0.02);
        assert_eq!(o.figures.len(), 3);
        assert!(out.join("connections.csv").exists() && out.join("entropy.csv").exists());

        let r = crate::analysis::accuracy::fixture::without_history();
        let out = crate::analysis::accuracy::fixture::out("entropy-nohistory");
        let o = run(&[r], &out, &AnalysisOptions::default())
            .unwrap()
            .written(&out)
            .unwrap();
        assert_eq!(o.summary_json()["history"], false);
        assert_eq!(o.summary_json()["epochs_used"], json!([1]));
    }

    #[test]
    #[ignore = "timing only"]
    fn timing_of_a_reference_sized_layer() {
        let mut l = SasLayer::<f32>::zeros(150, 150);
        for (k, ((p, m), x)) in l.pi.iter_mut().zip(&mut l.m).zip(&mut l.xi).enumerate() {
            *p = (k % 97) as f32 / 96.0;
            *m = ((k % 13) as f32 - 6.0) / 30.0;
            *x = (k % 7) as f32 / 70.0;
        }
        let t = std::time::Instant::now();
        let e = layer_entropy(&l, None, true);
        eprintln!("150x150 layer: {:?} ({})", t.elapsed(), e.total);
    }
}
