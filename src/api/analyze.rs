//! Analyses over runs: one computed in memory ([`compute`]) and written ([`write`]), both at
//! once ([`analyze`]), or all that apply with the HTML page ([`report`]), named by the typed
//! [`Analysis`] handle of the registry.

use super::{Family, Run};
use crate::analysis::RunData;
use crate::analysis::registry::{self, ANALYSES};
use crate::error::{Result, SasError};
use crate::family::{FeedForward, Recurrent};
use std::path::{Path, PathBuf};

/// The analyses' settings; the default is what the command line uses (seed
/// [`super::DEFAULT_SEED`], the task's weight-class rule, the runs' own MSI time step).
pub type AnalysisParams = crate::analysis::AnalysisOptions;

/// One analysis of the registry (docs/MODEL.md §5): a typed handle, parsed from its name
/// once by the skins.
#[derive(Clone, Copy, Debug)]
pub struct Analysis(&'static registry::Analysis);

impl PartialEq for Analysis {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Analysis {
    /// The analysis called `name` ([`SasError::UnknownName`] lists the known ones).
    pub fn named(name: &str) -> Result<Analysis> {
        registry::find(name).map(Analysis)
    }

    /// The analyses selected by `name` for runs of `family`: one analysis, or for
    /// feed-forward runs `ff` for all of theirs.
    pub fn select(name: &str, family: Family) -> Result<Vec<Analysis>> {
        let v = match family {
            Family::Recurrent => registry::select::<Recurrent>(name)?,
            Family::FeedForward => registry::select::<FeedForward>(name)?,
        };
        Ok(v.into_iter().map(Analysis).collect())
    }

    /// Every analysis, in report order.
    pub fn all() -> Vec<Analysis> {
        ANALYSES.iter().map(Analysis).collect()
    }

    /// The name on the command line (also its output folder).
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// What it answers (one line).
    pub fn about(self) -> &'static str {
        self.0.about
    }

    /// Whether it needs no run (the infinite-width theory).
    pub fn is_theory(self) -> bool {
        self.0.name == registry::THEORY
    }
}

impl From<Analysis> for &'static registry::Analysis {
    fn from(a: Analysis) -> &'static registry::Analysis {
        a.0
    }
}

/// The analyses named in `names` (for [`AnalysisParams::skip`]); an unknown name is a
/// [`SasError::Config`] error on `skip` that lists the known ones.
pub fn parse_skip<S: AsRef<str>>(names: &[S]) -> Result<Vec<&'static registry::Analysis>> {
    names
        .iter()
        .map(|s| {
            let s = s.as_ref();
            registry::find(s).map_err(|_| SasError::Config {
                key: "skip".into(),
                reason: format!(
                    "`{s}` is not an analysis (known: {})",
                    registry::names().join(", ")
                ),
            })
        })
        .collect()
}

impl std::str::FromStr for Analysis {
    type Err = SasError;
    fn from_str(s: &str) -> Result<Analysis> {
        Analysis::named(s)
    }
}

/// Every analysis with one line each: `(name, what it answers)`.
pub fn analyses() -> Vec<(&'static str, &'static str)> {
    ANALYSES.iter().map(|a| (a.name, a.about)).collect()
}

/// What an analysis computed: its title, its typed key numbers (`summary`, an
/// [`crate::analysis::Summary`]; `summary_json()` is what `summary.json` holds), its tables
/// and data, its figures as data, and the files written (by [`write`], [`analyze`], or by the
/// training analyses while computing).
pub use crate::analysis::AnalysisResult;
/// The typed summaries, one variant per analysis.
pub use crate::analysis::Summary;

/// The family of `runs`, checked for `what`: at least one run, one family, no directory
/// twice.
fn checked(what: &str, runs: &[Run]) -> Result<Family> {
    let Some(first) = runs.first() else {
        return Err(SasError::NoRuns {
            analysis: what.into(),
        });
    };
    if let Some(r) = runs.iter().find(|r| r.family() != first.family()) {
        return Err(SasError::MixedFamilies {
            first: first.dir().to_path_buf(),
            other: r.dir().to_path_buf(),
        });
    }
    for (i, r) in runs.iter().enumerate() {
        if runs[..i].iter().any(|q| same_dir(q.dir(), r.dir())) {
            return Err(SasError::InvalidArgument {
                name: "runs".into(),
                reason: format!(
                    "{} is given twice; each run counts as one seed",
                    r.dir().display()
                ),
            });
        }
    }
    Ok(first.family())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn recurrent_data(runs: &[Run]) -> Vec<RunData<Recurrent>> {
    runs.iter().filter_map(|r| r.both().0.cloned()).collect()
}

fn ff_data(runs: &[Run]) -> Vec<RunData<FeedForward>> {
    runs.iter().filter_map(|r| r.both().1.cloned()).collect()
}

/// Runs analysis `a` over `runs` (the seeds of one configuration) and writes it into `out`
/// (its data files, `summary.json` and rendered figures go there): [`compute_in`] then
/// [`write`]. The infinite-width theory takes no runs (`runs` must be empty). Errors:
/// [`SasError::NotApplicable`] when the analysis does not serve the runs, naming why;
/// [`SasError::MixedFamilies`]; a run given twice.
pub fn analyze(a: Analysis, runs: &[Run], out: &Path, p: &AnalysisParams) -> Result<AnalysisResult> {
    let mut r = compute_in(a, runs, out, p)?;
    write(&mut r, out)?;
    Ok(r)
}

/// Computes analysis `a` over `runs` in memory and writes nothing — except the analyses that
/// train networks (`retrain`, `baseline`), which keep their trained runs under the first
/// run's `analysis/<name>/` folder so that a later call resumes them (use [`compute_in`] to
/// choose the folder). Errors as [`analyze`].
pub fn compute(a: Analysis, runs: &[Run], p: &AnalysisParams) -> Result<AnalysisResult> {
    let work = match runs.first() {
        Some(r) => r.dir().join("analysis").join(a.name()),
        None => PathBuf::from(a.name()),
    };
    compute_in(a, runs, &work, p)
}

/// [`compute`] with the folder `work` where the analyses that train networks keep their runs
/// (every other analysis writes nothing).
pub fn compute_in(a: Analysis, runs: &[Run], work: &Path, p: &AnalysisParams) -> Result<AnalysisResult> {
    if a.is_theory() {
        if !runs.is_empty() {
            return Err(theory_takes_no_runs());
        }
        return crate::pipeline::analyze::compute_theory(p);
    }
    let family = checked(a.name(), runs)?;
    let dirs: Vec<PathBuf> = runs.iter().map(|r| r.dir().to_path_buf()).collect();
    crate::run::check_output(work, &dirs)?;
    match family {
        Family::Recurrent => crate::pipeline::analyze::compute_one(a.0, &recurrent_data(runs), work, p),
        Family::FeedForward => crate::pipeline::analyze::compute_one(a.0, &ff_data(runs), work, p),
    }
}

/// Writes a computed result into `dir` (created): its CSV tables and JSON data,
/// `summary.json` and its figures as SVG and PNG; the paths are added to `result.files`.
pub fn write(result: &mut AnalysisResult, dir: &Path) -> Result<()> {
    crate::pipeline::analyze::write(result, dir)
}

/// The error of runs given to the infinite-width theory, which takes none.
pub fn theory_takes_no_runs() -> SasError {
    SasError::InvalidArgument {
        name: "runs".into(),
        reason: "the theory needs no run directory: sasnet analyze theory [--quick] [--data DIR] [--out DIR]"
            .into(),
    }
}

/// What [`report`] produced.
#[derive(Clone, Debug)]
pub struct Report {
    /// The page.
    pub page: PathBuf,
    /// Analyses that ran, with their output folders.
    pub ran: Vec<(&'static str, PathBuf)>,
    /// Analyses that failed: `(name, message)`; they are listed on the page.
    pub failed: Vec<(&'static str, String)>,
}

/// Runs every applicable analysis (less `p.skip`) over `runs` into `<page dir>/analysis/`
/// and writes the self-contained HTML page `page`; `progress` receives one line per step.
pub fn report(
    runs: &[Run],
    page: &Path,
    p: &AnalysisParams,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    let dirs: Vec<PathBuf> = runs.iter().map(|r| r.dir().to_path_buf()).collect();
    checked("report", runs)?;
    crate::run::check_output(page, &dirs)?;
    if page.is_dir() {
        return Err(SasError::InvalidArgument {
            name: "out".into(),
            reason: format!(
                "{} is a folder; the report is one HTML file: give its name (e.g. {}/report.html)",
                page.display(),
                page.display()
            ),
        });
    }
    let (ran, failed) = crate::pipeline::reproduce::report_over(&dirs, page, p, progress)?;
    Ok(Report {
        page: page.to_path_buf(),
        ran,
        failed,
    })
}

/// Opens the runs in `dirs`.
pub fn open_runs(dirs: &[PathBuf]) -> Result<Vec<Run>> {
    dirs.iter().map(Run::open).collect()
}
