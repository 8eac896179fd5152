//! What an analysis computes, in memory ([`AnalysisResult`]): a typed summary ([`Summary`], one
//! variant per analysis, serialized as the analysis's `summary.json`), its tables and data as
//! values and its figures as data. Writing them is a separate step
//! ([`crate::output::Computed::write`]), done by the pipeline and the skins.

use serde::Serialize;

/// What an analysis computed: [`crate::output::Computed`] with the [`Summary`] of its kind.
pub type AnalysisResult = crate::output::Computed<Summary>;

/// The key numbers of one analysis, typed. Serialized without a tag: the JSON of a variant
/// is the JSON of its summary (`summary.json`).
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Summary {
    /// `accuracy` (recurrent runs).
    Accuracy(super::accuracy::Summary),
    /// `accuracy` (feed-forward runs).
    FfAccuracy(super::ff::accuracy::Summary),
    /// `entropy` (feed-forward runs).
    FfEntropy(super::ff::entropy::Summary),
    /// `weights` (feed-forward runs).
    FfWeights(super::ff::weights::Summary),
    /// `classes` (feed-forward runs).
    FfClasses(super::ff::classes::Summary),
    /// `perturb` (feed-forward runs).
    FfPerturb(super::ff::perturb::Summary),
    /// `entropy` (recurrent runs).
    Entropy(super::entropy::Summary),
    /// `weights` (recurrent runs).
    Weights(super::weights::Summary),
    /// `classes` (recurrent runs).
    Classes(super::weights::ClassesSummary),
    /// `ntk-change`.
    NtkChange(super::ntk_change::Summary),
    /// `pca`.
    Pca(super::pca::Summary),
    /// `plasticity`.
    Plasticity(super::plasticity::Summary),
    /// `psychometric` (the MSI curves; a user task's curve is [`Summary::Untyped`]).
    Psychometric(Box<super::psychometric::Summary>),
    /// `puzzle`.
    Puzzle(Box<super::puzzle::Summary>),
    /// `retrain`.
    Retrain(super::retrain::Summary),
    /// `sampled-stats`.
    SampledStats(super::sampled_stats::Summary),
    /// `sparsity`.
    Sparsity(super::sparsity::Summary),
    /// `symmetry`.
    Symmetry(super::symmetry::Summary),
    /// `synaptic-pca`.
    SynapticPca(super::synaptic_pca::Summary),
    /// `theory`.
    Theory(crate::theory::experiments::Summary),
    /// A summary not (yet) given a type of its own, as JSON.
    Untyped(serde_json::Value),
}

impl Summary {
    /// The neural PCA's summary, if this is one.
    pub fn pca(&self) -> Option<&super::pca::Summary> {
        match self {
            Summary::Pca(s) => Some(s),
            _ => None,
        }
    }

    /// The synaptic PCA's summary, if this is one.
    pub fn synaptic_pca(&self) -> Option<&super::synaptic_pca::Summary> {
        match self {
            Summary::SynapticPca(s) => Some(s),
            _ => None,
        }
    }

    /// The MSI psychometric curves' summary, if this is one.
    pub fn psychometric(&self) -> Option<&super::psychometric::Summary> {
        match self {
            Summary::Psychometric(s) => Some(s),
            _ => None,
        }
    }

    /// The symmetry analysis's summary, if this is one.
    pub fn symmetry(&self) -> Option<&super::symmetry::Summary> {
        match self {
            Summary::Symmetry(s) => Some(s),
            _ => None,
        }
    }

    /// The plasticity analysis's summary, if this is one.
    pub fn plasticity(&self) -> Option<&super::plasticity::Summary> {
        match self {
            Summary::Plasticity(s) => Some(s),
            _ => None,
        }
    }

    /// The puzzle analysis's summary, if this is one.
    pub fn puzzle(&self) -> Option<&super::puzzle::Summary> {
        match self {
            Summary::Puzzle(s) => Some(s),
            _ => None,
        }
    }

    /// The retraining analysis's summary, if this is one.
    pub fn retrain(&self) -> Option<&super::retrain::Summary> {
        match self {
            Summary::Retrain(s) => Some(s),
            _ => None,
        }
    }

    /// The kernel-change analysis's summary, if this is one.
    pub fn ntk_change(&self) -> Option<&super::ntk_change::Summary> {
        match self {
            Summary::NtkChange(s) => Some(s),
            _ => None,
        }
    }

    /// The theory's summary, if this is one.
    pub fn theory(&self) -> Option<&crate::theory::experiments::Summary> {
        match self {
            Summary::Theory(s) => Some(s),
            _ => None,
        }
    }
}

impl From<serde_json::Value> for Summary {
    fn from(v: serde_json::Value) -> Summary {
        Summary::Untyped(v)
    }
}

/// Statistics of one value per training seed ([`crate::stats::SeedStats`]) as a summary holds
/// them: `mean`, `std` (sample, n − 1), `ci95` (half-width of the 95 % t-interval of the
/// mean), `lo`, `hi` (its ends), `n` (seeds with a finite value) and `values` (per seed, in
/// seed order). NaN is written as `null`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stat {
    /// Mean of the finite values (NaN if none).
    pub mean: f64,
    /// Sample standard deviation (NaN below two values).
    pub std: f64,
    /// Half-width of the 95 % t-interval of the mean (NaN below two values).
    pub ci95: f64,
    /// Lower end of the interval.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
    /// Number of seeds with a finite value.
    pub n: usize,
    /// The per-seed values.
    pub values: Vec<f64>,
}

impl Stat {
    /// The statistics of `values` (one per seed).
    pub fn of(values: &[f64]) -> Stat {
        let s = crate::stats::SeedStats::of(values);
        Stat {
            mean: s.mean,
            std: s.sd,
            ci95: s.ci95,
            lo: s.lo,
            hi: s.hi,
            n: s.n,
            values: s.values,
        }
    }

    /// The statistics of the paired differences `a[s] − b[s]`.
    pub fn paired(a: &[f64], b: &[f64]) -> Stat {
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        Stat::of(&d)
    }

    /// `mean ± ci95 (95 % CI, n = k)` with [`crate::output::num`] formatting, every number
    /// times `scale` and followed by `unit`; `mean (n = 1)` for one seed; `never (n = 0)`
    /// when no seed has a value.
    pub fn pm(&self, scale: f64, unit: &str) -> String {
        use crate::output::num;
        match self.n {
            0 => "never (n = 0)".into(),
            1 => format!("{}{unit} (n = 1)", num(self.mean * scale)),
            n => format!(
                "{} ± {}{unit} (95 % CI, n = {n})",
                num(self.mean * scale),
                num(self.ci95 * scale)
            ),
        }
    }
}

/// Writes `items` as a JSON object keyed by `key(index)` (per-layer summaries keyed by the
/// layer name).
pub(crate) fn keyed<S: serde::Serializer, T: Serialize>(
    s: S,
    items: &[T],
    key: impl Fn(usize, &T) -> String,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(items.len()))?;
    for (i, t) in items.iter().enumerate() {
        m.serialize_entry(&key(i, t), t)?;
    }
    m.end()
}

/// Mean, sample std, half-width of the 95 % t-interval of the mean and the count it is over
/// (`{mean, std, ci95, n}` in JSON).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeanCi {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1).
    pub std: f64,
    /// Half-width of the 95 % t-interval of the mean.
    pub ci95: f64,
    /// Values it is over.
    pub n: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A [`Stat`] and the JSON a summary holds for it.
    fn stat_json(v: &[f64]) -> (Stat, serde_json::Value) {
        let s = Stat::of(v);
        let j = json!({"mean": s.mean, "std": s.std, "ci95": s.ci95, "lo": s.lo, "hi": s.hi,
                       "n": s.n, "values": v});
        (s, j)
    }

    #[test]
    fn sampled_stats_summary_keeps_its_keys() {
        let s = Summary::SampledStats(super::super::sampled_stats::Summary {
            steps: 90,
            seeds: 2,
            zero_fraction_mean: 0.5,
            zero_fraction_time_std: 0.01,
            zero_fraction_expected: 0.49,
            eta_mean: 0.1,
            eta_time_std: 0.02,
            eta_expected: 0.12,
        });
        let golden = json!({
            "steps": 90, "seeds": 2,
            "zero_fraction_mean": 0.5, "zero_fraction_time_std": 0.01, "zero_fraction_expected": 0.49,
            "eta_mean": 0.1, "eta_time_std": 0.02, "eta_expected": 0.12,
        });
        assert_eq!(serde_json::to_value(&s).unwrap(), golden);
    }

    #[test]
    fn kernel_change_summary_keeps_its_keys_with_and_without_history() {
        use super::super::ntk_change::{KernelChange, Summary as Ntk};
        let none = Summary::NtkChange(Ntk {
            history: false,
            note: Some("no history"),
            measured: None,
        });
        assert_eq!(
            serde_json::to_value(&none).unwrap(),
            json!({"history": false, "note": "no history"})
        );
        let a = crate::stats::LogSeedStats::of(&[0.1, 0.2, 0.3]);
        let aj = json!({"values": [0.1, 0.2, 0.3], "n": 3, "infinite": 0, "excluded": 0,
                        "geo_mean": a.geo_mean, "log_mean": a.log_mean, "log_sd": a.log_sd,
                        "factor95": a.factor95, "lo": a.lo, "hi": a.hi});
        // Geometric mean of 0.1, 0.2, 0.3 = 0.006^(1/3).
        assert!((a.geo_mean - 0.006f64.cbrt()).abs() < 1e-12);
        let (b, bj) = stat_json(&[0.9, f64::NAN]);
        let with = Summary::NtkChange(Ntk {
            history: true,
            note: None,
            measured: Some(KernelChange {
                samples: 16,
                outputs: 2,
                final_change: a.clone(),
                final_change_m: a.clone(),
                final_change_pi: a.clone(),
                final_change_xi: a,
                final_alignment: b,
            }),
        });
        let golden = json!({
            "history": true, "samples": 16, "outputs": 2,
            "final_change": aj, "final_change_m": aj, "final_change_pi": aj, "final_change_xi": aj,
            "final_alignment": bj,
        });
        let v = serde_json::to_value(&with).unwrap();
        assert_eq!(v, golden);
        // One seed without a value: n = 1, no spread (null), its NaN value null.
        assert_eq!(v["final_alignment"]["n"], 1);
        assert_eq!(v["final_alignment"]["std"], serde_json::Value::Null);
        assert_eq!(v["final_alignment"]["values"], json!([0.9, null]));
    }

    #[test]
    fn sparsity_summary_writes_a_key_per_column() {
        use super::super::sparsity::{ColumnSummary, MaskedEntries, Summary as Sp};
        let (a, aj) = stat_json(&[0.5, 0.6]);
        let (b, bj) = stat_json(&[0.4, 0.45]);
        let s = Summary::Sparsity(Sp {
            source: vec!["history", "metrics"],
            history: false,
            masked_entries: MaskedEntries {
                input: 0,
                rec: 12,
                out: 0,
            },
            columns: vec![ColumnSummary {
                name: "rec",
                initial: a,
                last: b,
            }],
            note: Some("a note"),
        });
        let golden = json!({
            "source": ["history", "metrics"], "history": false,
            "masked_entries": {"in": 0, "rec": 12, "out": 0},
            "initial_rec": aj, "final_rec": bj, "note": "a note",
        });
        assert_eq!(serde_json::to_value(&s).unwrap(), golden);
    }

    #[test]
    fn plasticity_summary_keeps_the_flat_mode_keys() {
        use super::super::plasticity::{ModeSummary, Summary as Pl};
        use crate::infer::Mode;
        let st = crate::stats::SeedStats::of(&[0.9, 0.8]);
        let (over, overj) = stat_json(&[0.9, 0.8]);
        let m = ModeSummary {
            index: 0,
            mode: Mode::Sampled { every: usize::MAX },
            k: 90.0,
            accuracy: st.mean,
            accuracy_std: st.sd,
            stats: st.clone(),
            over_seeds: over,
        };
        let s = Summary::Plasticity(Pl {
            modes: vec![m],
            repeats: 3,
            test_trials: 96,
            seeds: 2,
            k_t: 90,
        });
        let golden = json!({
            "sampled-kT": st.mean, "sampled-kT_std": st.sd,
            "modes": [{"index": 0, "mode": "sampled-kT", "k": 90.0, "accuracy": st.mean,
                       "accuracy_std": st.sd, "stats": st, "over_seeds": overj}],
            "repeats": 3, "test_trials": 96, "seeds": 2, "k_T": 90,
        });
        assert_eq!(serde_json::to_value(&s).unwrap(), golden);
    }

    #[test]
    fn accessors_pick_their_variant() {
        let s = Summary::Untyped(json!({"a": 1}));
        assert!(s.pca().is_none() && s.retrain().is_none() && s.theory().is_none());
    }
}
