//! The closing note of a report: the mechanistic statements of the journal version of the
//! paper ("Ensemble perspective for understanding temporal credit assignment": its abstract
//! announces an analytic solution at the infinitely-large-network limit, a low-dimensional
//! projection of the neural and synaptic dynamics, an analysis of symmetry breaking in the
//! parameter space and the role of stochastic plasticity in the recurrent computation) and
//! sasnet's own tests of them, checked against the numbers the report's analyses measured.
//!
//! Each [`Claim`] is judged from the analyses' typed summaries only
//! ([`crate::analysis::Summary`]), by a fixed rule stated in its evidence text, quotes its
//! source ([`Claim::source`]: the paper's words, or "sasnet's own test" where the paper states
//! no such thing) and is listed only when an analysis behind it is in the report. Every `±`
//! is the half-width of the 95 % t-interval of the mean over training seeds (the unit of
//! replication), with `n` stated. The rules are this module's reading of qualitative
//! statements (the abstract gives no numbers); the evidence shows the numbers so a reader can
//! apply their own.

use crate::analysis::psychometric::{self, Comparison, Resolution};
use crate::analysis::result::Stat;
use crate::analysis::{AnalysisResult, ntk_change, pca, plasticity, retrain, symmetry, synaptic_pca};
use crate::infer::Mode;
use crate::output::num;
use crate::theory::experiments as theory;
use crate::train::variant::Variant;

/// How the measured numbers relate to a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Verdict {
    /// The numbers meet the rule.
    Supported,
    /// The numbers contradict the rule.
    NotSupported,
    /// Partly (e.g. some layers or variants only, or evidence for and against).
    Mixed,
    /// The measurements cannot decide (e.g. intervals overlap, or a fit sits at a bound).
    NotResolved,
}

impl Verdict {
    /// Text for the report.
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::NotSupported => "not supported",
            Verdict::Mixed => "partly supported",
            Verdict::NotResolved => "not resolved",
        }
    }
}

/// One claim and what the report's numbers say about it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Claim {
    /// The claim (our reading of the source).
    pub claim: String,
    /// Where it comes from: the paper's words (quoted, with the paper's title), or "sasnet's
    /// own test" with what the paper does and does not say.
    pub source: String,
    /// Which analyses measured it (their names; each links to its section).
    pub analyses: Vec<&'static str>,
    /// The verdict.
    pub verdict: Verdict,
    /// The numbers and the rule.
    pub evidence: String,
}

/// Title of the journal version of the paper.
const JOURNAL: &str = "Ensemble perspective for understanding temporal credit assignment";

/// The abstract of the journal version, quoted.
fn abstract_says(words: &str) -> String {
    format!("the abstract of \"{JOURNAL}\": \"{words}\"")
}

/// The paper's text (journal version), quoted.
fn paper_says(words: &str) -> String {
    format!("\"{JOURNAL}\": \"{words}\"")
}

/// A fraction as a percentage with its 95 % t-interval over seeds.
fn pct(s: &Stat) -> String {
    s.pm(100.0, " %")
}

/// The first summary among `results` that `f` picks.
fn find<'a, T>(
    results: &'a [AnalysisResult],
    f: impl Fn(&'a crate::analysis::Summary) -> Option<&'a T>,
) -> Option<&'a T> {
    results.iter().find_map(|r| f(&r.summary))
}

/// The claims the analyses in `results` can judge, in a fixed order.
pub(crate) fn assess(results: &[AnalysisResult]) -> Vec<Claim> {
    let mut out = Vec::new();
    if let Some(s) = find(results, |s| s.psychometric()) {
        out.extend(multisensory(s));
    }
    if let Some(s) = find(results, |s| s.pca()) {
        out.extend(neural_pca(s));
    }
    if let Some(s) = find(results, |s| s.synaptic_pca()) {
        out.extend(synaptic(s));
    }
    if let Some(s) = find(results, |s| s.symmetry()) {
        out.extend(symmetry_order(s));
    }
    let p = find(results, |s| s.plasticity());
    let r = find(results, |s| s.retrain());
    out.extend(stochastic_plasticity(p, r));
    if let Some(s) = find(results, |s| s.ntk_change()) {
        out.extend(lazy(s));
    }
    if let Some(s) = find(results, |s| s.theory()) {
        out.extend(infinite_width(s));
    }
    out
}

/// The verdict of a claim that the multisensory σ is smaller than another's.
fn steeper_verdict(c: &Comparison) -> Verdict {
    match c.resolution {
        Resolution::Steeper => Verdict::Supported,
        Resolution::Shallower => Verdict::NotSupported,
        Resolution::NotResolved => Verdict::NotResolved,
    }
}

/// A comparison's outcome for the evidence text.
fn comparison_text(c: &Comparison) -> String {
    let count = |r: Resolution| c.per_seed.iter().filter(|&&p| p == r).count();
    let n = c.per_seed.len();
    format!(
        "σ_multisensory − {}: {} events/s; per seed (bootstrap intervals): steeper in {} of {n}, \
         shallower in {}, not resolved in {} (a fit at the σ lower bound in {}); over seeds: {}",
        c.against,
        c.difference.pm(1.0, ""),
        count(Resolution::Steeper),
        count(Resolution::Shallower),
        count(Resolution::NotResolved),
        c.lower_bound_seeds,
        match &c.reason {
            None => c.resolution.text().to_string(),
            Some(r) => format!("not resolved — {r}"),
        }
    )
}

/// The MSI integration claims: multisensory choices more precise than either modality, and
/// at least as precise as optimal cue combination predicts (paper Fig. 11).
fn multisensory(s: &psychometric::Summary) -> Vec<Claim> {
    let source = "sasnet's own test of the paper's multisensory-integration task (its Fig. 11, \
                  psychometric curves); the abstract states no such claim"
        .to_string();
    let sigmas = format!(
        "σ (events/s, cumulative-Gaussian fits per seed): visual {}, auditory {}, multisensory {}, \
         optimal prediction σ_pred = σ_vσ_a/√(σ_v² + σ_a²) {}",
        s.visual.sigma_stats.pm(1.0, ""),
        s.auditory.sigma_stats.pm(1.0, ""),
        s.both.sigma_stats.pm(1.0, ""),
        s.sigma_pred_stats.pm(1.0, ""),
    );
    let rule = format!(
        "Rule: per seed, steeper when the multisensory σ's bootstrap 95 % interval ({} resamples \
         of the trials) lies below the other's, not resolved when they overlap or a fit sits at \
         the σ lower bound {}; over seeds, resolved only when every seed agrees and the 95 % \
         t-interval of the paired difference excludes 0.",
        s.bootstrap_resamples,
        psychometric::SIGMA_MIN
    );
    vec![
        Claim {
            claim: "Multisensory choices are more precise than either modality alone: the \
                    multisensory psychometric curve is steeper (smaller σ) than the visual and \
                    the auditory one."
                .into(),
            source: source.clone(),
            analyses: vec![psychometric::NAME],
            verdict: steeper_verdict(&s.vs_unisensory),
            evidence: format!("{sigmas}. {}. {rule}", comparison_text(&s.vs_unisensory)),
        },
        Claim {
            claim: "The multisensory curve is at least as steep as optimal cue combination \
                    predicts."
                .into(),
            source,
            analyses: vec![psychometric::NAME],
            verdict: steeper_verdict(&s.vs_optimal),
            evidence: format!("{sigmas}. {}. {rule}", comparison_text(&s.vs_optimal)),
        },
    ]
}

fn neural_pca(s: &pca::Summary) -> Option<Claim> {
    let k85 = s.k85.mean;
    if !k85.is_finite() {
        return None;
    }
    let n = s.neurons as f64;
    let ok = k85 <= 10.0 && k85 <= 0.1 * n;
    Some(Claim {
        claim: "A few principal components carry most of the neural variance.".into(),
        source: abstract_says(
            "We then carry out a low-dimensional projection of both neural and synaptic dynamics",
        ),
        analyses: vec![pca::NAME],
        verdict: if ok {
            Verdict::Supported
        } else {
            Verdict::NotSupported
        },
        evidence: format!(
            "80 % of the variance of the N = {} rates lies in {} components, 85 % in {}; PC1 alone \
             carries {}, PC1–3 {} (participation ratio {}). Column-shuffled null (every neuron's \
             samples permuted independently, {} shuffles per seed): 80 % in {}, 85 % in {} \
             components, PC1 {}; PC1 data − null {}, {} of {} seeds above the null's 97.5 % \
             quantile. Rule: supported when the mean number of components for 85 % is at most 10 \
             and at most N/10.",
            num(n),
            s.k80.pm(1.0, ""),
            s.k85.pm(1.0, ""),
            pct(&s.pc1_fraction),
            pct(&s.pc3_cumulative),
            s.participation_ratio.pm(1.0, ""),
            s.null.reps,
            s.null.k80.pm(1.0, ""),
            s.null.k85.pm(1.0, ""),
            pct(&s.null.pc1_fraction),
            s.null.pc1_data_minus_null.pm(100.0, " points"),
            s.null.exceeds_seeds,
            s.pc1_fraction.n,
        ),
    })
}

fn synaptic(s: &synaptic_pca::Summary) -> Option<Claim> {
    let m = s.measured.as_deref()?;
    let null = &m.joint.null;
    let n = null.per_seed.len();
    if n == 0 {
        return None;
    }
    // Per seed: the data's PC1 above its matched walk's 97.5 % quantile; over seeds: the
    // interval of the paired difference data − null above 0 (with two seeds or more).
    let above = null.exceeds_seeds;
    let d = &null.data_minus_null;
    let interval_above = if d.n > 1 { d.lo > 0.0 } else { d.mean > 0.0 };
    let verdict = if above == n && interval_above {
        Verdict::Supported
    } else if above == 0 {
        Verdict::NotSupported
    } else {
        Verdict::Mixed
    };
    let per_seed: Vec<String> = null
        .per_seed
        .iter()
        .map(|p| {
            format!(
                "seed {}: {} vs {}",
                p.seed,
                num(p.pc1_fraction * 100.0),
                num(p.null.hi * 100.0)
            )
        })
        .collect();
    Some(Claim {
        claim: "The synaptic dynamics is low-dimensional: the parameter trajectory drifts mainly \
                along one direction (PC1)."
            .into(),
        source: abstract_says(
            "We then carry out a low-dimensional projection of both neural and synaptic dynamics",
        ),
        analyses: vec![synaptic_pca::NAME],
        verdict,
        evidence: format!(
            "PC1 of the joint per-epoch parameter vector carries {} of its variance over training; \
             a random walk with the same dimension, number of recorded epochs and step lengths \
             (the matched null, {} walks per seed) carries {} (its 97.5 % quantile {}); data − \
             null {}; {above} of {n} seeds above their null's 97.5 % quantile (data vs null \
             97.5 %, in %: {}). m alone {} (null {}), π {} (null {}), Ξ {} (null {}); the joint \
             PC1 axis lies {} in π, {} in m, {} in Ξ; {} of the net displacement from \
             initialization to the end is along it. Rule: supported when every seed's PC1 \
             fraction exceeds its null's 97.5 % quantile and the 95 % interval of data − null \
             over seeds lies above 0; not supported when no seed exceeds it; else partly (a PC1 \
             fraction above 50 % alone is no evidence: an unstructured walk reaches about 61 %).",
            pct(&m.joint.pc1_fraction),
            null.reps,
            pct(&null.pc1_fraction),
            pct(&null.pc1_hi),
            d.pm(100.0, " points"),
            per_seed.join(", "),
            pct(&m.m.pc1_fraction),
            pct(&m.m.null.pc1_fraction),
            pct(&m.pi.pc1_fraction),
            pct(&m.pi.null.pc1_fraction),
            pct(&m.xi.pc1_fraction),
            pct(&m.xi.null.pc1_fraction),
            pct(&m.pc1_share_pi),
            pct(&m.pc1_share_m),
            pct(&m.pc1_share_xi),
            pct(&m.joint.pc1_displacement_fraction),
        ),
    })
}

fn symmetry_order(s: &symmetry::Summary) -> Option<Claim> {
    if !s.history {
        return None;
    }
    let mut parts = Vec::new();
    let (mut cont, mut other) = (0, 0);
    for l in &s.layers {
        let Some(b) = s.by_layer.get(l).and_then(|ls| ls.breaks.as_ref()) else {
            continue;
        };
        if b.first_to_break == "continuous" {
            cont += 1;
        } else {
            other += 1;
        }
        parts.push(format!(
            "{l}: Ξ breaks at epoch {}, π at {} ({} first; onset epochs, fraction above 1 %: Ξ at \
             0: {}, π at 1: {})",
            b.continuous_break.pm(1.0, ""),
            b.discrete_break.pm(1.0, ""),
            b.first_to_break,
            b.xi_zero_onset.pm(1.0, ""),
            b.pi_one_onset.pm(1.0, ""),
        ));
    }
    if parts.is_empty() {
        return None;
    }
    Some(Claim {
        claim: "The continuous (Ξ) symmetry breaks before the discrete (π) symmetry.".into(),
        source: format!(
            "sasnet's own test; {} — the paper states no order of the breaks",
            abstract_says("analyze symmetry breaking in the parameter space")
        ),
        analyses: vec![symmetry::NAME],
        verdict: match (cont, other) {
            (_, 0) => Verdict::Supported,
            (0, _) => Verdict::NotSupported,
            _ => Verdict::Mixed,
        },
        evidence: format!(
            "{}. Break epoch = first epoch where the order parameter (Ξ: fraction at 0; π: q_π) has \
             moved half of its largest departure from initialization (history resolution: one \
             epoch); \"never\": no seed broke. Rule: supported when Ξ breaks first in every \
             stochastic layer (majority over seeds).",
            parts.join("; ")
        ),
    })
}

/// The plasticity part: `(for, against, text)` — networks redrawn every step keep the
/// ensemble's accuracy while one fixed network per trial does not.
fn plasticity_part(s: &plasticity::Summary) -> Option<(bool, bool, String)> {
    let (mf, k1, kt) = (s.mode(Mode::MeanField)?, s.sampled(1)?, s.sampled(usize::MAX)?);
    let (mf, k1s, kts) = (&mf.over_seeds, &k1.over_seeds, &kt.over_seeds);
    if !(mf.mean.is_finite() && k1s.mean.is_finite() && kts.mean.is_finite()) {
        return None;
    }
    let keeps = k1s.mean >= mf.mean - 0.02;
    // k = T is lower than k = 1 by more than a point and the interval of their difference
    // over seeds lies below 0.
    let diff = Stat::paired(&kts.values, &k1s.values);
    let below = if diff.n > 1 {
        diff.hi < 0.0
    } else {
        diff.mean < 0.0
    };
    let drops = diff.mean < -0.01 && below;
    let other = |k: usize| s.sampled(k).map_or("–".into(), |m| pct(&m.over_seeds));
    let text = format!(
        "plasticity (test accuracy per seed, mean over repeats): mean field {}, networks redrawn \
         every step (k = 1) {}, k = 10 {}, k = 100 {}, one network per trial (k = T) {}; k = T − \
         k = 1: {}. For: k = 1 within 2 points of the mean field and k = T lower than k = 1 by \
         more than 1 point with the interval of the difference below 0.",
        pct(mf),
        pct(k1s),
        other(10),
        other(100),
        pct(kts),
        diff.pm(100.0, " points"),
    );
    Some((keeps && drops, !keeps && !drops, text))
}

/// The retraining part: `(for, against, text)` — a variant trained without weight
/// uncertainty (Ξ ≡ 0, π ≡ 0, both = BPTT) is worse than the reference of the same seed.
fn retrain_part(s: &retrain::Summary) -> Option<(bool, bool, String)> {
    let reference = s.variant(Variant::Reference)?;
    let mut worse = 0;
    let mut parts = Vec::new();
    let variants = [Variant::XiZero, Variant::PiZero, Variant::Bptt];
    for v in variants {
        let vs = s.variant(v)?;
        let d = vs.delta_mean_field.as_ref()?;
        let below = if d.n > 1 { d.hi < 0.0 } else { d.mean < 0.0 };
        if d.mean < -0.005 && below {
            worse += 1;
        }
        parts.push(format!(
            "{}: {} (difference to the reference of the same seed {})",
            vs.label,
            pct(&vs.accuracy_mean_field),
            d.pm(100.0, " points")
        ));
    }
    let text = format!(
        "retraining from the same seeds (mean-field test accuracy, compared at epoch {} of the \
         variants): reference {}; {}. For: a variant is worse by more than half a point with the \
         interval of the paired difference below 0; against: none is.",
        s.variant_epochs,
        pct(&reference.accuracy_mean_field),
        parts.join("; ")
    );
    Some((worse == variants.len(), worse == 0, text))
}

fn stochastic_plasticity(p: Option<&plasticity::Summary>, r: Option<&retrain::Summary>) -> Option<Claim> {
    let parts: Vec<(bool, bool, String)> = [p.and_then(plasticity_part), r.and_then(retrain_part)]
        .into_iter()
        .flatten()
        .collect();
    if parts.is_empty() {
        return None;
    }
    let all_for = parts.iter().all(|p| p.0);
    let all_against = parts.iter().all(|p| p.1);
    let analyses = [(p.is_some(), plasticity::NAME), (r.is_some(), retrain::NAME)]
        .into_iter()
        .filter_map(|(present, name)| present.then_some(name))
        .collect();
    Some(Claim {
        claim: "Stochastic plasticity plays a role in the recurrent computation: the weight \
                statistics, not precise weights, carry it — networks redrawn at every step keep \
                the ensemble's accuracy while one fixed sampled network per trial does not, and \
                training without weight uncertainty (Ξ ≡ 0, π ≡ 0 or plain BPTT) does worse."
            .into(),
        source: format!(
            "{}; {}; the retraining comparison is sasnet's own test",
            abstract_says(
                "finally demonstrate the role of stochastic plasticity in the recurrent computation"
            ),
            paper_says(
                "a dynamic network with time-dependent specified weight values is able to reach an \
                 equivalent accuracy with the network using the mean-field propagation"
            )
        ),
        analyses,
        verdict: if all_for {
            Verdict::Supported
        } else if all_against {
            Verdict::NotSupported
        } else {
            Verdict::Mixed
        },
        evidence: format!(
            "Evidence for and against, together: {}. Rule: supported when every part is for, not \
             supported when every part is against, else partly.",
            parts.iter().map(|p| p.2.as_str()).collect::<Vec<_>>().join(" ")
        ),
    })
}

fn lazy(s: &ntk_change::Summary) -> Option<Claim> {
    let m = s.measured.as_ref()?;
    let (cm, al) = (m.final_change_m.geo_mean, m.final_alignment.mean);
    Some(Claim {
        claim: "The trained finite network stays in the lazy regime the infinite-width solution \
                describes: its tangent kernel stays close to the initial one."
            .into(),
        source: format!(
            "sasnet's own test; {} — the paper does not claim that trained finite networks stay lazy",
            abstract_says(
                "we first derive an analytic solution of the learning at the infinitely-large-network limit"
            )
        ),
        analyses: vec![ntk_change::NAME],
        verdict: if cm < 0.1 && al > 0.9 {
            Verdict::Supported
        } else if cm > 0.5 || al < 0.7 {
            Verdict::NotSupported
        } else {
            Verdict::Mixed
        },
        evidence: format!(
            "relative change ‖Θ(end) − Θ(0)‖/‖Θ(0)‖ of the run's own kernel: m part {}, π part {}, \
             Ξ part {}, all trained parameters {}; alignment with Θ(0) {}. Rule (geometric mean \
             of the m part's change, mean alignment, over seeds): supported when the m part \
             changes by less than 0.1 with alignment above 0.9, not supported above 0.5 or below \
             0.7.",
            m.final_change_m.text(num),
            m.final_change_pi.text(num),
            m.final_change_xi.text(num),
            m.final_change.text(num),
            m.final_alignment.pm(1.0, ""),
        ),
    })
}

fn infinite_width(s: &theory::Summary) -> Option<Claim> {
    let (sizes, errs) = (&s.convergence.sizes, &s.convergence.rel_err_mean);
    if sizes.len() < 2 || errs.len() != sizes.len() {
        return None;
    }
    let (e0, e1) = (errs[0], errs[errs.len() - 1]);
    let ok = e1 < 0.5 * e0 && e1 < 0.2;
    // Largest deviation over steps and seeds, per width.
    let mut by_n: Vec<(usize, f64)> = Vec::new();
    for r in &s.training_small.runs {
        let m = r.deviation.iter().copied().fold(0.0, f64::max);
        match by_n.iter_mut().find(|(k, _)| *k == r.n) {
            Some((_, v)) => *v = v.max(m),
            None => by_n.push((r.n, m)),
        }
    }
    let dev: Vec<String> = by_n
        .iter()
        .map(|(n, m)| format!("N = {n}: {}", num(*m)))
        .collect();
    let change_text: Vec<String> = s
        .training_small
        .sizes
        .iter()
        .zip(&s.training_small.kernel_change_mean)
        .map(|(n, c)| format!("{} at N = {n}", num(*c)))
        .collect();
    Some(Claim {
        claim: "At infinite width the learning has an analytic solution: the empirical kernel of \
                finite networks converges to the analytic recurrent NTK, and finite networks follow \
                the closed-form learning curves."
            .into(),
        source: abstract_says(
            "we first derive an analytic solution of the learning at the infinitely-large-network limit",
        ),
        analyses: vec![theory::NAME],
        verdict: if ok {
            Verdict::Supported
        } else {
            Verdict::NotSupported
        },
        evidence: format!(
            "‖Θ̂ − Θ‖/‖Θ‖ = {} at N = {} and {} at N = {} (means over the network seeds); largest \
             deviation of the trained outputs from the linearized (analytic-kernel) dynamics, \
             relative to the initial residual: {}; relative kernel change during that training \
             (the lazy regime): {}. Rule: supported when the kernel error at the largest N is \
             below 0.2 and below half of that at the smallest.",
            num(e0),
            sizes[0],
            num(e1),
            sizes[sizes.len() - 1],
            dev.join(", "),
            change_text.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Summary;
    use crate::stats::LogSeedStats;

    fn result(name: &'static str, s: Summary) -> AnalysisResult {
        AnalysisResult::new(name, name, s)
    }

    fn st(v: &[f64]) -> Stat {
        Stat::of(v)
    }

    fn pca_summary(k85: &[f64]) -> pca::Summary {
        pca::Summary {
            k80: st(&[4.0, 4.0, 5.0]),
            k85: st(k85),
            participation_ratio: st(&[2.4, 2.5, 2.6]),
            pc1_fraction: st(&[0.5, 0.52, 0.48]),
            pc3_cumulative: st(&[0.8, 0.81, 0.79]),
            neurons: 150,
            samples: 100,
            trials: 24,
            time_points: 10,
            per_seed: Vec::new(),
            null: pca::ShuffleNull {
                reps: 10,
                pc1_fraction: st(&[0.1, 0.11, 0.09]),
                k80: st(&[60.0, 61.0, 59.0]),
                k85: st(&[70.0, 71.0, 69.0]),
                pc1_data_minus_null: st(&[0.4, 0.41, 0.39]),
                exceeds_seeds: 3,
            },
        }
    }

    fn breaks(first: &'static str, cont: &[f64], disc: &[f64], pi_one: &[f64]) -> symmetry::LayerSummary {
        symmetry::LayerSummary {
            final_: Default::default(),
            breaks: Some(symmetry::Breaks {
                continuous_break: st(cont),
                discrete_break: st(disc),
                xi_zero_onset: st(&[1.0, 1.0, 2.0]),
                pi_one_onset: st(pi_one),
                first: vec![first; 3],
                first_to_break: first,
                continuous_param: vec!["xi_zero"; 3],
                discrete_param: vec!["q_pi"; 3],
            }),
        }
    }

    fn plasticity_summary(mf: &[f64], k1: &[f64], kt: &[f64]) -> plasticity::Summary {
        let mode = |index: usize, mode: Mode, k: f64, v: &[f64]| plasticity::ModeSummary {
            index,
            mode,
            k,
            accuracy: st(v).mean,
            accuracy_std: st(v).std,
            stats: crate::stats::SeedStats::of(v),
            over_seeds: st(v),
        };
        plasticity::Summary {
            modes: vec![
                mode(0, Mode::MeanField, 0.0, mf),
                mode(1, Mode::Sampled { every: 1 }, 1.0, k1),
                mode(2, Mode::Sampled { every: usize::MAX }, 90.0, kt),
            ],
            repeats: 3,
            test_trials: 96,
            seeds: 3,
            k_t: 90,
        }
    }

    fn retrain_summary(deltas: [&[f64]; 3]) -> retrain::Summary {
        let reference = [0.95, 0.96, 0.94];
        let variant = |v: Variant, d: Option<&[f64]>| retrain::VariantSummary {
            variant: v,
            label: v.label(),
            accuracy_mean_field: st(&match d {
                Some(d) => reference.iter().zip(d).map(|(r, d)| r + d).collect::<Vec<_>>(),
                None => reference.to_vec(),
            }),
            accuracy_mean: st(&reference),
            delta_mean_field: d.map(st),
            delta_mean: d.map(st),
            train_wall_s: d.map(|_| vec![1.0; 3]),
            reused: d.map(|_| 0),
            epochs: vec![20; 3],
        };
        retrain::Summary {
            variants: vec![
                variant(Variant::Reference, None),
                variant(Variant::XiZero, Some(deltas[0])),
                variant(Variant::PiZero, Some(deltas[1])),
                variant(Variant::Bptt, Some(deltas[2])),
            ],
            variant_epochs: 20,
            reference_compared_at: vec![20; 3],
            test_trials: 96,
            notes: Vec::new(),
        }
    }

    #[test]
    fn pca_claim_states_a_t_interval_over_three_seeds_and_its_source() {
        let c = assess(&[result(pca::NAME, Summary::Pca(pca_summary(&[5.0, 6.0, 7.0])))]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].verdict, Verdict::Supported);
        // mean 6, sd 1, t(0.975, 2) = 4.3027: half-width 4.3027 / √3 = 2.484.
        assert!(
            c[0].evidence.contains("85 % in 6 ± 2.484 (95 % CI, n = 3)"),
            "{}",
            c[0].evidence
        );
        assert!(c[0].source.contains(JOURNAL) && c[0].source.contains("low-dimensional projection"));
        assert_eq!(c[0].analyses, vec![pca::NAME]);
        let many = assess(&[result(pca::NAME, Summary::Pca(pca_summary(&[40.0, 41.0, 39.0])))]);
        assert_eq!(many[0].verdict, Verdict::NotSupported);
    }

    /// A synaptic PCA summary whose joint PC1 fractions are `data` against walks of mean
    /// `null_mean` and 97.5 % quantile `null_hi` (the same for every seed and kind).
    fn synaptic_summary(data: &[f64], null_mean: f64, null_hi: f64) -> synaptic_pca::Summary {
        use crate::analysis::nulls::NullSummary;
        let seeds: Vec<u64> = (1..=data.len() as u64).collect();
        let nulls = vec![
            NullSummary {
                reps: 200,
                mean: null_mean,
                lo: null_mean - 0.05,
                hi: null_hi,
            };
            data.len()
        ];
        let kind = || synaptic_pca::KindSummary {
            pc1_fraction: st(data),
            k80: st(&vec![2.0; data.len()]),
            k85: st(&vec![3.0; data.len()]),
            pc1_displacement_fraction: st(&vec![0.9; data.len()]),
            pc3_cumulative: st(&vec![0.95; data.len()]),
            null: synaptic_pca::WalkNull::of(&seeds, data, &nulls),
        };
        synaptic_pca::Summary {
            history: true,
            note: None,
            measured: Some(Box::new(synaptic_pca::Measured {
                epochs: vec![100; data.len()],
                dims: synaptic_pca::Dims {
                    joint: 3000,
                    m: 1000,
                    pi: 1000,
                    xi: 1000,
                },
                joint: kind(),
                m: kind(),
                pi: kind(),
                xi: kind(),
                pc1_share_m: st(&vec![0.5; data.len()]),
                pc1_share_pi: st(&vec![0.3; data.len()]),
                pc1_share_xi: st(&vec![0.2; data.len()]),
            })),
        }
    }

    #[test]
    fn synaptic_claim_is_judged_against_the_matched_walk() {
        let judge = |s| assess(&[result(synaptic_pca::NAME, Summary::SynapticPca(s))]);
        // 70 % on PC1 (above one half) but inside the walk's range: not supported.
        let c = judge(synaptic_summary(&[0.70, 0.72, 0.68], 0.66, 0.78));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].verdict, Verdict::NotSupported, "{}", c[0].evidence);
        // Data and null, each with its interval and n: 70 ± 4.969 % (s = 2 points).
        assert!(
            c[0].evidence
                .contains("carries 70 ± 4.968 % (95 % CI, n = 3) of its variance"),
            "{}",
            c[0].evidence
        );
        assert!(
            c[0].evidence.contains("200 walks per seed) carries 66"),
            "{}",
            c[0].evidence
        );
        // Data, null, its quantile and the difference: each over n = 3 seeds.
        assert!(c[0].evidence.matches("n = 3)").count() >= 4, "{}", c[0].evidence);
        assert!(c[0].evidence.contains("0 of 3 seeds"), "{}", c[0].evidence);
        // Every seed above its null's 97.5 % quantile: supported.
        let c = judge(synaptic_summary(&[0.95, 0.93, 0.97], 0.66, 0.78));
        assert_eq!(c[0].verdict, Verdict::Supported, "{}", c[0].evidence);
        assert!(c[0].evidence.contains("3 of 3 seeds"), "{}", c[0].evidence);
        assert!(c[0].evidence.contains("seed 2: 93 vs 78"), "{}", c[0].evidence);
        // Some seeds above: partly.
        let c = judge(synaptic_summary(&[0.95, 0.70, 0.97], 0.66, 0.78));
        assert_eq!(c[0].verdict, Verdict::Mixed, "{}", c[0].evidence);
    }

    /// An MSI psychometric summary with multisensory σ per seed `both` against unisensory
    /// σ 0.25 / 0.3 and per-seed resolutions `uni`, `opt` (lower bound in `bound` seeds).
    fn psychometric_summary(
        both: &[f64],
        uni: Vec<Resolution>,
        opt: Vec<Resolution>,
        bound: usize,
    ) -> psychometric::Summary {
        use crate::analysis::nulls::NullSummary;
        let n = both.len();
        let modality = |v: &[f64]| psychometric::ModalitySummary {
            sigma: st(v).mean,
            sigma_std: st(v).std,
            mu: 12.5,
            mu_std: 0.1,
            lapse: 0.0,
            sigma_at_bound: false,
            sigma_stats: st(v),
            sigma_bootstrap: vec![
                NullSummary {
                    reps: 200,
                    mean: v[0],
                    lo: v[0] * 0.8,
                    hi: v[0] * 1.2
                };
                n
            ],
            sigma_at_lower_bound_seeds: 0,
        };
        let mut flags = vec![false; n];
        flags[..bound].fill(true);
        let diff: Vec<f64> = both.iter().map(|b| b - 0.25).collect();
        psychometric::Summary {
            visual: modality(&vec![0.25; n]),
            auditory: modality(&vec![0.3; n]),
            both: modality(both),
            sigma_pred: 0.192,
            sigma_pred_std: 0.0,
            sigma_pred_stats: st(&vec![0.192; n]),
            sigma_pred_bootstrap: Vec::new(),
            multisensory_steeper: true,
            multisensory_steeper_seeds: n,
            vs_unisensory: Comparison::over_seeds("the better unisensory σ", uni, &flags, &diff),
            vs_optimal: Comparison::over_seeds("the optimal prediction σ_pred", opt, &flags, &diff),
            pooled: serde_json::Value::Null,
            trials_per_point: 100,
            bootstrap_resamples: 200,
            point_interval: "95 % t-interval over seeds",
            seeds: n,
        }
    }

    #[test]
    fn multisensory_claims_say_not_resolved_when_the_data_do_not_decide() {
        use Resolution::{NotResolved, Steeper};
        let judge = |s: psychometric::Summary| {
            assess(&[result(psychometric::NAME, Summary::Psychometric(Box::new(s)))])
        };
        // Steeper than both unisensory curves in every seed, the optimal comparison overlaps.
        let c = judge(psychometric_summary(
            &[0.1, 0.12, 0.11],
            vec![Steeper; 3],
            vec![NotResolved; 3],
            0,
        ));
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].verdict, Verdict::Supported, "{}", c[0].evidence);
        assert_eq!(c[1].verdict, Verdict::NotResolved, "{}", c[1].evidence);
        assert_eq!(c[1].verdict.text(), "not resolved");
        assert!(
            c[1].evidence.contains("bootstrap intervals overlap in 3 of 3"),
            "{}",
            c[1].evidence
        );
        assert!(
            c[0].evidence.contains("multisensory 0.11 ± "),
            "{}",
            c[0].evidence
        );
        assert!(c[0].source.starts_with("sasnet's own test"));
        // A multisensory fit at the σ lower bound: neither comparison has a verdict.
        let c = judge(psychometric_summary(
            &[0.05, 0.12, 0.11],
            vec![NotResolved, Steeper, Steeper],
            vec![NotResolved, Steeper, Steeper],
            1,
        ));
        for k in &c {
            assert_eq!(k.verdict, Verdict::NotResolved, "{}", k.evidence);
            assert!(
                k.evidence.contains("lower bound 0.05 in 1 of 3"),
                "{}",
                k.evidence
            );
        }
    }

    #[test]
    fn symmetry_order_is_sasnets_own_test() {
        let mut by_layer = std::collections::BTreeMap::new();
        by_layer.insert(
            "rec",
            breaks("continuous", &[1.0, 2.0, 3.0], &[11.0, 12.0, 13.0], &[]),
        );
        by_layer.insert(
            "out",
            breaks("discrete", &[5.0, 5.0, 5.0], &[1.0, 1.0, 1.0], &[6.0]),
        );
        let s = symmetry::Summary {
            history: true,
            layers: vec!["rec", "out"],
            by_layer,
            note: None,
        };
        let c = assess(&[result(symmetry::NAME, Summary::Symmetry(s))]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].verdict, Verdict::Mixed);
        assert!(
            c[0].evidence.contains("π at 1: never (n = 0)"),
            "{}",
            c[0].evidence
        );
        assert!(
            c[0].evidence
                .contains("Ξ breaks at epoch 2 ± 2.484 (95 % CI, n = 3)"),
            "{}",
            c[0].evidence
        );
        assert!(c[0].evidence.contains("π at 1: 6 (n = 1)"), "{}", c[0].evidence);
        assert!(c[0].source.starts_with("sasnet's own test"), "{}", c[0].source);
        assert!(!c[0].source.contains("journal version states"));
    }

    #[test]
    fn plasticity_evidence_for_and_against_is_one_claim() {
        // Redrawn every step keeps the accuracy, one network per trial is at chance (for);
        // retraining without uncertainty costs nothing (against): partly supported.
        let p = plasticity_summary(&[0.95, 0.96, 0.94], &[0.95, 0.955, 0.945], &[0.5, 0.52, 0.49]);
        let r = retrain_summary([&[0.0, 0.01, -0.01], &[0.005, 0.0, 0.0], &[0.0, -0.002, 0.004]]);
        let c = assess(&[
            result(plasticity::NAME, Summary::Plasticity(p.clone())),
            result(retrain::NAME, Summary::Retrain(r)),
        ]);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].analyses, vec![plasticity::NAME, retrain::NAME]);
        assert_eq!(c[0].verdict, Verdict::Mixed);
        assert!(c[0].evidence.contains("(95 % CI, n = 3)"), "{}", c[0].evidence);
        assert!(c[0].evidence.contains("BPTT") && c[0].evidence.contains("k = T"));
        assert!(c[0].source.contains("stochastic plasticity") && c[0].source.contains("dynamic network"));
        // Plasticity alone: for.
        let c = assess(&[result(plasticity::NAME, Summary::Plasticity(p))]);
        assert_eq!(c[0].verdict, Verdict::Supported, "{}", c[0].evidence);
        // Every variant worse: for.
        let worse = retrain_summary([
            &[-0.05, -0.06, -0.04],
            &[-0.02, -0.03, -0.025],
            &[-0.1, -0.1, -0.12],
        ]);
        let c = assess(&[result(retrain::NAME, Summary::Retrain(worse))]);
        assert_eq!(c[0].verdict, Verdict::Supported, "{}", c[0].evidence);
    }

    #[test]
    fn lazy_regime_is_sasnets_own_test() {
        let s = ntk_change::Summary {
            history: true,
            note: None,
            measured: Some(ntk_change::KernelChange {
                samples: 16,
                outputs: 2,
                final_change: LogSeedStats::of(&[0.6, 0.7, 0.8]),
                final_change_m: LogSeedStats::of(&[0.6, 0.7, 0.8]),
                final_change_pi: LogSeedStats::of(&[0.1, 0.1, 0.1]),
                final_change_xi: LogSeedStats::of(&[0.2, 0.2, 0.2]),
                final_alignment: st(&[0.5, 0.6, 0.7]),
            }),
        };
        let c = assess(&[result(ntk_change::NAME, Summary::NtkChange(s))]);
        assert_eq!(c[0].verdict, Verdict::NotSupported);
        assert!(c[0].source.starts_with("sasnet's own test"));
        assert!(!c[0].claim.contains("describes the trained network"));
    }

    #[test]
    fn theory_claim_reads_the_typed_summary() {
        let run = |n: usize, dev: f64| theory::SmallRun {
            n,
            seed: 1,
            final_train_mse: None,
            lin_final_train_mse: None,
            deviation: vec![0.0, dev],
            steps: vec![0, 10],
        };
        let s = theory::Summary {
            quick: true,
            plan: theory::Plan::new(true),
            params: Default::default(),
            angle: theory::AngleSummary { n: 500, rel_err: 0.1 },
            convergence: theory::ConvergenceSummary {
                sizes: vec![250, 4000],
                rel_err_mean: vec![0.27, 0.046],
                rel_err_std: vec![0.0, 0.0],
                xi_rel_mean: vec![0.0, 0.0],
                pi_vs_m_rec_mean: vec![0.0, 0.0],
            },
            training_small: theory::SmallTraining {
                eta: 0.5,
                sizes: vec![250, 4000],
                kernel_change_mean: vec![0.24, 0.007],
                kernel_change_std: vec![0.0, 0.0],
                runs: vec![run(250, 0.05), run(250, 0.06), run(4000, 0.01)],
            },
            mnist: theory::MnistSummary::Skipped { skipped: "no data" },
        };
        let t = assess(&[result(theory::NAME, Summary::Theory(s))]);
        assert_eq!(t[0].verdict, Verdict::Supported);
        assert!(
            t[0].evidence.contains("N = 250: 0.06, N = 4000: 0.01"),
            "{}",
            t[0].evidence
        );
        assert!(t[0].evidence.contains("0.007 at N = 4000"), "{}", t[0].evidence);
        assert!(t[0].source.contains("analytic solution"));
    }
}
