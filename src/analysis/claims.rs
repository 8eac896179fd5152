//! The closing note of a report: the mechanistic claims of the journal version of the paper
//! (abstract v3: a few dimensions carry the neural and synaptic dynamics, the continuous
//! symmetry breaks before the discrete one, stochastic plasticity matters, the infinite-width
//! theory) checked against the numbers the report's analyses measured.
//!
//! Each [`Claim`] is judged from the analysis summaries only, by a fixed rule stated in its
//! evidence text, and is listed only when the analysis behind it is in the report. The
//! rules are this module's reading of the abstract's qualitative statements (the abstract
//! gives no numbers); the evidence shows the numbers so a reader can apply their own.

use crate::output::AnalysisOutput;
use crate::output::num;
use serde_json::Value;

/// How the measured numbers relate to a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Verdict {
    /// The numbers meet the rule.
    Supported,
    /// The numbers contradict the rule.
    NotSupported,
    /// Partly (e.g. some layers or variants only).
    Mixed,
}

impl Verdict {
    /// Text for the report.
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::NotSupported => "not supported",
            Verdict::Mixed => "partly supported",
        }
    }
}

/// One claim and what the report's numbers say about it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Claim {
    /// The claim (our reading of the abstract).
    pub claim: String,
    /// Which analysis measured it.
    pub analysis: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The numbers and the rule.
    pub evidence: String,
}

fn mean(v: &Value) -> f64 {
    v["mean"].as_f64().unwrap_or(f64::NAN)
}

/// `mean ± std` of a `{mean, std, n}` statistic (`mean` alone for one value; `never` when no
/// seed has a value, e.g. an order parameter that never broke).
fn pm(v: &Value) -> String {
    let (m, s) = (mean(v), v["std"].as_f64().unwrap_or(f64::NAN));
    if !m.is_finite() && v["n"].as_u64() == Some(0) {
        return "never".into();
    }
    if v["n"].as_u64().unwrap_or(1) > 1 {
        format!("{} ± {}", num(m), num(s))
    } else {
        num(m)
    }
}

fn pct(x: f64) -> String {
    format!("{} %", num(100.0 * x))
}

/// The claims the analyses in `outputs` can judge, in a fixed order.
pub(crate) fn assess(outputs: &[AnalysisOutput]) -> Vec<Claim> {
    let get = |name: &str| outputs.iter().find(|o| o.name == name).map(|o| &o.summary);
    let mut out = Vec::new();
    if let Some(s) = get(crate::analysis::pca::NAME) {
        let k85 = mean(&s["k85"]);
        let n = s["neurons"].as_f64().unwrap_or(f64::NAN);
        if k85.is_finite() {
            let ok = k85 <= 10.0 && k85 <= 0.1 * n;
            out.push(Claim {
                claim: "A few principal components carry most of the neural variance.".into(),
                analysis: "pca".into(),
                verdict: if ok {
                    Verdict::Supported
                } else {
                    Verdict::NotSupported
                },
                evidence: format!(
                    "80 % of the variance of the N = {} rates lies in {} components, 85 % in {}; PC1 \
                     alone carries {}, PC1–3 {} (participation ratio {}). Rule: supported when 85 % \
                     needs at most 10 components and at most N/10.",
                    num(n),
                    pm(&s["k80"]),
                    pm(&s["k85"]),
                    pct(mean(&s["pc1_fraction"])),
                    pct(mean(&s["pc3_cumulative"])),
                    pm(&s["participation_ratio"]),
                ),
            });
        }
    }
    if let Some(s) = get(crate::analysis::synaptic_pca::NAME)
        && s["history"] == true
    {
        let f = mean(&s["joint"]["pc1_fraction"]);
        out.push(Claim {
            claim: "The synaptic dynamics is low-dimensional: the parameter trajectory drifts mainly \
                    along one direction (PC1)."
                .into(),
            analysis: "synaptic-pca".into(),
            verdict: if f >= 0.5 {
                Verdict::Supported
            } else {
                Verdict::NotSupported
            },
            evidence: format!(
                "PC1 of the joint per-epoch parameter vector carries {} of its variance over \
                 training (m alone {}, π {}, Ξ {}); the joint PC1 axis lies {} in π, {} in m, {} in \
                 Ξ; {} of the net displacement from initialization to the end is along it. Rule: \
                 supported when the joint PC1 carries at least half of the variance.",
                pct(f),
                pct(mean(&s["m"]["pc1_fraction"])),
                pct(mean(&s["pi"]["pc1_fraction"])),
                pct(mean(&s["xi"]["pc1_fraction"])),
                pct(mean(&s["pc1_share_pi"])),
                pct(mean(&s["pc1_share_m"])),
                pct(mean(&s["pc1_share_xi"])),
                pct(mean(&s["joint"]["pc1_displacement_fraction"])),
            ),
        });
    }
    if let Some(s) = get(crate::analysis::symmetry::NAME)
        && s["history"] == true
    {
        let layers: Vec<&str> = s["layers"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut parts = Vec::new();
        let (mut cont, mut other) = (0, 0);
        for l in &layers {
            let ls = &s[*l];
            let first = ls["first_to_break"].as_str().unwrap_or("neither");
            if first == "continuous" {
                cont += 1;
            } else {
                other += 1;
            }
            parts.push(format!(
                "{l}: Ξ breaks at epoch {}, π at {} ({first} first; onset epochs, fraction above \
                 1 %: Ξ at 0: {}, π at 1: {})",
                pm(&ls["continuous_break"]),
                pm(&ls["discrete_break"]),
                pm(&ls["xi_zero_onset"]),
                pm(&ls["pi_one_onset"]),
            ));
        }
        if !layers.is_empty() {
            out.push(Claim {
                claim: "The continuous (Ξ) symmetry breaks before the discrete (π) symmetry.".into(),
                analysis: "symmetry".into(),
                verdict: match (cont, other) {
                    (_, 0) => Verdict::Supported,
                    (0, _) => Verdict::NotSupported,
                    _ => Verdict::Mixed,
                },
                evidence: format!(
                    "{}. Break epoch = first epoch where the order parameter (Ξ: fraction at 0; π: \
                     q_π) has moved half of its largest departure from initialization (history \
                     resolution: one epoch). Rule: supported when Ξ breaks first in every \
                     stochastic layer (majority over seeds).",
                    parts.join("; ")
                ),
            });
        }
    }
    if let Some(s) = get(crate::analysis::plasticity::NAME) {
        let g = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
        let (mf, k1, kt) = (g("mean-field"), g("sampled-k1"), g("sampled-kT"));
        let kt_std = g("sampled-kT_std");
        if mf.is_finite() && k1.is_finite() && kt.is_finite() {
            let keeps = k1 >= mf - 0.02;
            let drops = kt < k1 - 0.01f64.max(kt_std);
            out.push(Claim {
                claim: "Stochastic plasticity in the recurrent computation: networks whose weights \
                        are redrawn at every step (k = 1) keep the ensemble's accuracy, while one \
                        fixed sampled network per trial (k = T) is worse."
                    .into(),
                analysis: "plasticity".into(),
                verdict: match (keeps, drops) {
                    (true, true) => Verdict::Supported,
                    (false, false) => Verdict::NotSupported,
                    _ => Verdict::Mixed,
                },
                evidence: format!(
                    "test accuracy: mean field {}, sampled k = 1 {} ± {}, k = 10 {}, k = 100 {}, \
                     k = T {} ± {} (spread over repeats pooled over seeds). Rule: k = 1 within 2 \
                     points of the mean field, and k = T lower than k = 1 by more than 1 point and \
                     more than its spread.",
                    pct(mf),
                    pct(k1),
                    pct(g("sampled-k1_std")),
                    pct(g("sampled-k10")),
                    pct(g("sampled-k100")),
                    pct(kt),
                    pct(kt_std),
                ),
            });
        }
    }
    if let Some(s) = get(crate::analysis::retrain::NAME) {
        let mut worse = 0;
        let mut parts = Vec::new();
        let variants = ["xi0", "pi0", "bptt"];
        for v in variants {
            let d = &s[v]["delta_mean_field"];
            let (m, sd) = (mean(d), d["std"].as_f64().unwrap_or(0.0));
            if m < -(0.005f64.max(sd)) {
                worse += 1;
            }
            parts.push(format!(
                "{}: {} (difference {} points)",
                s[v]["label"].as_str().unwrap_or(v),
                pct(mean(&s[v]["accuracy_mean_field"])),
                num(100.0 * m)
            ));
        }
        out.push(Claim {
            claim: "Trained weight uncertainty matters: networks retrained with Ξ ≡ 0, π ≡ 0 or both \
                    (plain BPTT) from the same seeds are less accurate than the reference ensembles."
                .into(),
            analysis: "retrain".into(),
            verdict: match worse {
                3 => Verdict::Supported,
                0 => Verdict::NotSupported,
                _ => Verdict::Mixed,
            },
            evidence: format!(
                "mean-field test accuracy: reference {}; {}; compared at epoch {} of the variants. \
                 Rule: a variant is worse when its accuracy is lower than the reference's of the \
                 same seed by more than half a point and more than the spread over seeds.",
                pct(mean(&s["reference"]["accuracy_mean_field"])),
                parts.join("; "),
                s["variant_epochs"]
            ),
        });
    }
    if let Some(s) = get(crate::analysis::ntk_change::NAME)
        && s["history"] == true
    {
        let (cm, al) = (mean(&s["final_change_m"]), mean(&s["final_alignment"]));
        out.push(Claim {
            claim: "The infinite-width (lazy) theory describes the trained network: its tangent \
                    kernel stays close to the initial one."
                .into(),
            analysis: "ntk-change".into(),
            verdict: if cm < 0.1 && al > 0.9 {
                Verdict::Supported
            } else if cm > 0.5 || al < 0.7 {
                Verdict::NotSupported
            } else {
                Verdict::Mixed
            },
            evidence: format!(
                "relative change ‖Θ(end) − Θ(0)‖/‖Θ(0)‖ of the run's own kernel: m part {}, π part {}, \
                 Ξ part {}, all trained parameters {}; alignment with Θ(0) {}. Rule: supported when \
                 the m part changes by less than 0.1 with alignment above 0.9, not supported above \
                 0.5 or below 0.7.",
                pm(&s["final_change_m"]),
                pm(&s["final_change_pi"]),
                pm(&s["final_change_xi"]),
                pm(&s["final_change"]),
                pm(&s["final_alignment"]),
            ),
        });
    }
    if let Some(s) = get(crate::theory::experiments::NAME) {
        let sizes: Vec<f64> = s["convergence"]["sizes"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let errs: Vec<f64> = s["convergence"]["rel_err_mean"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        if sizes.len() >= 2 && errs.len() == sizes.len() {
            let (e0, e1) = (errs[0], errs[errs.len() - 1]);
            let ok = e1 < 0.5 * e0 && e1 < 0.2;
            let runs = s["training_small"]["runs"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            // Largest deviation over steps and seeds, per width.
            let mut by_n: Vec<(u64, f64)> = Vec::new();
            for r in &runs {
                let n = r["n"].as_u64().unwrap_or(0);
                let m = r["deviation"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_f64).fold(0.0, f64::max))
                    .unwrap_or(f64::NAN);
                match by_n.iter_mut().find(|(k, _)| *k == n) {
                    Some((_, v)) => *v = v.max(m),
                    None => by_n.push((n, m)),
                }
            }
            let dev: Vec<String> = by_n
                .iter()
                .map(|(n, m)| format!("N = {n}: {}", num(*m)))
                .collect();
            let sizes_tr: Vec<f64> = s["training_small"]["sizes"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            let change: Vec<f64> = s["training_small"]["kernel_change_mean"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            let change_text: Vec<String> = sizes_tr
                .iter()
                .zip(&change)
                .map(|(n, c)| format!("{} at N = {}", num(*c), num(*n)))
                .collect();
            out.push(Claim {
                claim: "At infinite width the learning has an analytic solution: the empirical \
                        kernel of finite networks converges to the analytic recurrent NTK, and \
                        finite networks follow the closed-form learning curves."
                    .into(),
                analysis: "theory".into(),
                verdict: if ok {
                    Verdict::Supported
                } else {
                    Verdict::NotSupported
                },
                evidence: format!(
                    "‖Θ̂ − Θ‖/‖Θ‖ = {} at N = {} and {} at N = {}; largest deviation of the trained \
                     outputs from the linearized (analytic-kernel) dynamics, relative to the initial \
                     residual: {}; relative kernel change during that training (the lazy regime): \
                     {}. Rule: supported when the kernel error at the largest N is below 0.2 and \
                     below half of that at the smallest.",
                    num(e0),
                    num(sizes[0]),
                    num(e1),
                    num(sizes[sizes.len() - 1]),
                    dev.join(", "),
                    change_text.join(", ")
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn output(name: &str, summary: Value) -> AnalysisOutput {
        AnalysisOutput {
            name: name.into(),
            title: name.into(),
            files: vec![],
            figures: vec![],
            summary,
        }
    }

    #[test]
    fn verdicts_follow_the_rules() {
        let st = |m: f64| json!({"mean": m, "std": 0.0, "n": 1});
        let outs = vec![
            output(
                "pca",
                json!({"k80": st(4.0), "k85": st(6.0), "neurons": 150, "pc1_fraction": st(0.5),
                       "pc3_cumulative": st(0.8), "participation_ratio": st(2.5)}),
            ),
            output(
                "symmetry",
                json!({"history": true, "layers": ["rec", "out"],
                       "rec": {"first_to_break": "continuous", "continuous_break": st(1.0),
                               "discrete_break": st(11.0), "xi_zero_onset": st(1.0),
                               "pi_one_onset": {"mean": null, "std": null, "n": 0}},
                       "out": {"first_to_break": "discrete", "continuous_break": st(5.0),
                               "discrete_break": st(1.0), "xi_zero_onset": st(1.0), "pi_one_onset": st(6.0)}}),
            ),
            output(
                "retrain",
                json!({"variant_epochs": 20, "reference": {"accuracy_mean_field": st(0.95)},
                       "xi0": {"label": "Ξ ≡ 0", "accuracy_mean_field": st(0.90), "delta_mean_field": st(-0.05)},
                       "pi0": {"label": "π ≡ 0", "accuracy_mean_field": st(0.96), "delta_mean_field": st(0.01)},
                       "bptt": {"label": "BPTT", "accuracy_mean_field": st(0.95), "delta_mean_field": st(0.0)}}),
            ),
            output("accuracy", json!({})),
        ];
        let c = assess(&outs);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].verdict, Verdict::Supported);
        assert!(c[0].evidence.contains("85 % in 6"));
        assert_eq!(c[1].verdict, Verdict::Mixed);
        assert!(c[1].evidence.contains("π at 1: never"), "{}", c[1].evidence);
        assert_eq!(c[2].verdict, Verdict::Mixed);
        let many = output("pca", json!({"k80": st(30.0), "k85": st(40.0), "neurons": 100}));
        assert_eq!(assess(&[many])[0].verdict, Verdict::NotSupported);
        let theory = output(
            "theory",
            json!({"convergence": {"sizes": [250, 4000], "rel_err_mean": [0.27, 0.046]},
                   "training_small": {"sizes": [250, 4000], "kernel_change_mean": [0.24, 0.007],
                       "runs": [{"n": 250, "deviation": [0.0, 0.05]}, {"n": 250, "deviation": [0.0, 0.06]},
                                {"n": 4000, "deviation": [0.0, 0.01]}]}}),
        );
        let t = assess(&[theory]);
        assert_eq!(t[0].verdict, Verdict::Supported);
        assert!(
            t[0].evidence.contains("N = 250: 0.06, N = 4000: 0.01"),
            "{}",
            t[0].evidence
        );
        assert!(t[0].evidence.contains("0.007 at N = 4000"), "{}", t[0].evidence);
    }
}
