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
    /// `ntk-change`.
    NtkChange(super::ntk_change::Summary),
    /// `pca`.
    Pca(super::pca::Summary),
    /// `plasticity`.
    Plasticity(super::plasticity::Summary),
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

/// Mean and sample standard deviation over seeds (`{mean, std}` in JSON).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeanStd {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1).
    pub std: f64,
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
