//! What every reproduction shares, whichever the family: its target, options and summary,
//! the line that announces the training, and the timed loop over the analyses.

use crate::analysis::AnalysisOptions;
use crate::analysis::AnalysisResult;
use crate::config::Preset;
use crate::error::{Result, SasError};
use crate::train::TrainSummary;
use std::path::{Path, PathBuf};

/// What `sasnet reproduce` reproduces: the seeds of a preset trained and explained (the
/// recurrent presets `msi`, `row-mnist`, `pixel-mnist`, `perm-mnist`; the feed-forward ones
/// `ff-mnist`, `ff-mnist-full`), or `theory` (the infinite-width experiments, no training).
/// The skins parse names; an unknown one is an error that lists the presets:
/// ```
/// use sasnet::api::Target;
/// assert_eq!("row-mnist".parse::<Target>().unwrap(), Target::RowMnist);
/// assert_eq!(Target::FfMnistFull.to_string(), "ff-mnist-full");
/// assert!("nope".parse::<Target>().unwrap_err().to_string().contains("ff-mnist-full"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Multisensory integration (recurrent).
    Msi,
    /// Row-by-row MNIST (recurrent).
    RowMnist,
    /// Pixel-by-pixel MNIST (recurrent).
    PixelMnist,
    /// Permuted pixel MNIST (recurrent).
    PermMnist,
    /// Feed-forward MNIST, 784-100-10.
    FfMnist,
    /// Feed-forward MNIST at the paper's full width.
    FfMnistFull,
    /// The infinite-width theory (no training, no seeds).
    Theory,
}

impl Target {
    /// Every target, in listing order.
    pub const ALL: [Target; 7] = [
        Target::Msi,
        Target::RowMnist,
        Target::PixelMnist,
        Target::PermMnist,
        Target::FfMnist,
        Target::FfMnistFull,
        Target::Theory,
    ];

    /// The name on the command line and in `summary.json`.
    pub fn name(self) -> &'static str {
        match self.preset() {
            Some(p) => p.name(),
            None => "theory",
        }
    }

    /// The preset whose seeds it trains (`None` for `theory`).
    pub fn preset(self) -> Option<Preset> {
        Some(match self {
            Target::Msi => Preset::Msi,
            Target::RowMnist => Preset::RowMnist,
            Target::PixelMnist => Preset::PixelMnist,
            Target::PermMnist => Preset::PermMnist,
            Target::FfMnist => Preset::FfMnist,
            Target::FfMnistFull => Preset::FfMnistFull,
            Target::Theory => return None,
        })
    }

    /// The preset of a target that must be one of `family` (the `kind` of targets they are,
    /// e.g. "recurrent", named in the error); any other is a `target` configuration error
    /// that lists them.
    pub(crate) fn preset_among(self, family: &[Target], kind: &str) -> Result<Preset> {
        match self.preset() {
            Some(p) if family.contains(&self) => Ok(p),
            _ => Err(SasError::Config {
                key: "target".into(),
                reason: format!(
                    "`{self}` is not a {kind} reproduction target (those are: {})",
                    family.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// Parses a target's name; an unknown one is a `target` configuration error that lists the
/// targets that train.
impl std::str::FromStr for Target {
    type Err = SasError;
    fn from_str(s: &str) -> Result<Target> {
        Target::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| SasError::Config {
                key: "target".into(),
                reason: format!(
                    "unknown reproduction target `{s}` (known: {})",
                    Target::ALL
                        .iter()
                        .filter(|t| t.preset().is_some())
                        .map(|t| t.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }
}

/// Serialized as its [`Target::name`].
impl serde::Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Settings of a reproduction.
#[derive(Clone, Debug, Default)]
pub struct ReproduceOptions {
    /// Number of seeds (1, 2, …, `seeds`), trained in parallel where cores allow.
    pub seeds: usize,
    /// The quick variant.
    pub quick: bool,
    /// Output folder (seed runs, analyses, report).
    pub out: PathBuf,
    /// Settings of the analyses: MNIST data directory, seed of their own draws, weight-class
    /// thresholds, MSI time steps (`quick` is taken from [`Self::quick`]; for the full MSI
    /// reproduction an unset `fast_dt_ms` becomes `reproduce::MSI_FAST_DT_MS`).
    pub analysis: AnalysisOptions,
    /// Training runs of the plan trained at once here (0: as many as worker threads).
    pub jobs: usize,
    /// Stop flag of the plan's training (set by a signal): the runs stop at the next
    /// minibatch and the reproduction fails with [`SasError::Interrupted`]; it resumes.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// What a reproduction produced.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReproduceSummary {
    /// The target (serialized as its name).
    pub target: Target,
    /// Whether the quick variant ran.
    pub quick: bool,
    /// One training summary per seed.
    pub runs: Vec<TrainSummary>,
    /// The report page.
    pub report: PathBuf,
    /// Analyses that ran, with their output folder.
    pub analyses: Vec<(&'static str, PathBuf)>,
    /// Analyses that failed: `(name, error message)`.
    pub failed: Vec<(&'static str, String)>,
    /// The headline numbers, also written to `summary.json` beside the report (see
    /// [`headline`]); `null` for the theory target.
    pub statistics: serde_json::Value,
}

/// Creates the reproduction's folder and reports the training about to start.
pub(crate) fn start_training(
    target: Target,
    opts: &ReproduceOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    std::fs::create_dir_all(&opts.out).map_err(|source| SasError::Io {
        action: "creating",
        path: opts.out.clone(),
        source,
    })?;
    progress(&format!(
        "training {} seed(s) of {target}{} in {}",
        opts.seeds,
        if opts.quick { " (quick)" } else { "" },
        opts.out.display()
    ));
    Ok(())
}

/// Runs the analyses through `run_all` (which calls `starting(name)` before each), reporting
/// each start and its duration to `progress`, and splits the results into the outputs, the
/// analyses that ran (name, folder under `out`) and those that failed (name, message).
#[allow(clippy::type_complexity)]
pub(crate) fn run_timed(
    out: &Path,
    progress: &mut dyn FnMut(&str),
    run_all: impl FnOnce(&mut dyn FnMut(&'static str)) -> Vec<(&'static str, Result<AnalysisResult>)>,
) -> (
    Vec<AnalysisResult>,
    Vec<(&'static str, PathBuf)>,
    Vec<(&'static str, String)>,
) {
    let mut start = std::time::Instant::now();
    let mut last: Option<&str> = None;
    let results = run_all(&mut |name| {
        if let Some(l) = last {
            progress(&format!("  {l} done in {:.1} s", start.elapsed().as_secs_f64()));
        }
        progress(&format!("analysis {name} ..."));
        start = std::time::Instant::now();
        last = Some(name);
    });
    if let Some(l) = last {
        progress(&format!("  {l} done in {:.1} s", start.elapsed().as_secs_f64()));
    }
    let (mut outputs, mut ran, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for (name, r) in results {
        match r {
            Ok(o) => {
                ran.push((name, out.join(name)));
                outputs.push(o);
            }
            Err(e) => {
                progress(&format!("analysis {name} failed: {e}"));
                failed.push((name, e.to_string()));
            }
        }
    }
    (outputs, ran, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_by_name_and_an_unknown_one_lists_those_that_train() {
        for t in Target::ALL {
            assert_eq!(t.name().parse::<Target>().unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), t.name());
            assert_eq!(t.preset().is_none(), t == Target::Theory);
        }
        assert_eq!(
            "nope".parse::<Target>().unwrap_err().to_string(),
            "config `target`: unknown reproduction target `nope` (known: msi, row-mnist, \
             pixel-mnist, perm-mnist, ff-mnist, ff-mnist-full)"
        );
    }
}
