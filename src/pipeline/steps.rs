//! What every reproduction shares, whichever the family: its options and summary, the line
//! that announces the training, and the timed loop over the analyses.

use crate::analysis::AnalysisOptions;
use crate::analysis::AnalysisResult;
use crate::error::{Result, SasError};
use crate::train::TrainSummary;
use std::path::{Path, PathBuf};

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
    /// Target name.
    pub target: String,
    /// Whether the quick variant ran.
    pub quick: bool,
    /// One training summary per seed.
    pub runs: Vec<TrainSummary>,
    /// The report page.
    pub report: PathBuf,
    /// Analyses that ran, with their output folder.
    pub analyses: Vec<(String, PathBuf)>,
    /// Analyses that failed: `(name, error message)`.
    pub failed: Vec<(String, String)>,
    /// The headline numbers, also written to `summary.json` beside the report (see
    /// [`headline`]); `null` for the theory target.
    pub statistics: serde_json::Value,
}

/// Creates the reproduction's folder and reports the training about to start.
pub(crate) fn start_training(
    target: &str,
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
) -> (Vec<AnalysisResult>, Vec<(String, PathBuf)>, Vec<(String, String)>) {
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
                ran.push((name.to_string(), out.join(name)));
                outputs.push(o);
            }
            Err(e) => {
                progress(&format!("analysis {name} failed: {e}"));
                failed.push((name.to_string(), e.to_string()));
            }
        }
    }
    (outputs, ran, failed)
}
