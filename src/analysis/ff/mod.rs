//! Analyses of trained feed-forward ensembles ("Learning credit assignment", docs/MODEL.md §5, §7),
//! one module per analysis, named like their recurrent counterparts:
//!
//! - [`accuracy`] — training loss and test accuracy over epochs, and the final accuracy of
//!   every evaluation mode;
//! - [`classes`] — the weight classes per layer (VIP `π = 0` and `Ξ = 0` exactly, UIP `π = 1`
//!   exactly, variable: the rest), final and over epochs;
//! - [`perturb`] — test accuracy after removing a fraction of the VIP weights vs as many
//!   random weights, and after reconnecting a fraction of the UIP weights with random values,
//!   per layer and in all layers at once;
//! - [`entropy`] — mean entropy per connection per layer (paper Eq. 14) and its π and Ξ parts;
//! - [`weights`] — histograms of `π`, `m`, `Ξ` per layer.
//!
//! Each is an `AnalysisFn<FeedForward>`: the runs of one configuration (one per seed,
//! aggregated over seeds, shown as shaded bands), an output folder, options; it returns an
//! [`crate::output::AnalysisOutput`] (data files, figures as data, a JSON summary) like the
//! recurrent analyses, so the same renderer and report page show them. The one registry
//! ([`crate::analysis::registry::ANALYSES`]) lists them beside their recurrent counterparts.
//!
//! What the reference runs show is recorded in docs/RESULTS.md ("Feed-forward ensembles") and in
//! the presets' docs ([`crate::ff::config`]).

pub mod accuracy;
pub mod classes;
pub mod entropy;
pub mod perturb;
pub mod weights;

pub use classes::weight_classes;
pub use perturb::{PerturbPoint, PerturbSettings, perturbation, remove};

use crate::analysis::{AnalysisOptions, RunData};
use crate::error::{Result, SasError};
use crate::family::FeedForward;
use crate::ff::FfData;

impl RunData<FeedForward> {
    /// The test set of this run (the first `eval.test_limit` MNIST test images, at most
    /// `limit` when `limit > 0`) from `opts.data_dir`.
    pub fn test_set(&self, opts: &AnalysisOptions, limit: usize) -> Result<FfData> {
        let dir = opts
            .data_dir
            .as_deref()
            .ok_or_else(|| SasError::DataDirRequired {
                what: "this analysis (it evaluates the network on MNIST)".into(),
            })?;
        let m = crate::task::mnist::Mnist::load(dir)?;
        let n = match (self.cfg.eval.test_limit, limit) {
            (0, l) => l,
            (t, 0) => t,
            (t, l) => t.min(l),
        };
        FfData::mnist_test(&m, n)
    }
}

/// Mean and sample standard deviation (n − 1) of the finite values (NaN, NaN when none; the
/// deviation is NaN for one value) — [`crate::stats::SeedStats`].
pub(crate) fn mean_std(values: &[f64]) -> (f64, f64) {
    let s = crate::stats::SeedStats::of(values);
    (s.mean, s.sd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_std_skips_nan() {
        let (m, s) = mean_std(&[1.0, f64::NAN, 3.0]);
        assert!(m == 2.0 && (s - 2f64.sqrt()).abs() < 1e-12);
        assert!(mean_std(&[]).0.is_nan());
    }
}
