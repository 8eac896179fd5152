//! Analyses of trained feed-forward ensembles ("Learning credit assignment", DESIGN §5, §7),
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
//! Each is an [`FfAnalysisFn`]: the runs of one configuration (one per seed, aggregated as
//! mean ± std over seeds, shown as shaded bands), an output folder, options; it returns an
//! [`AnalysisOutput`] (data files, figures as data, a JSON summary) like the recurrent
//! analyses, so the same renderer and report page show them. [`ANALYSES`] lists them;
//! [`run_all_with`] runs them all and renders their figures.
//!
//! What the reference runs show is recorded in the README ("Feed-forward ensembles") and in
//! the presets' docs ([`crate::ff::config`]).

pub mod accuracy;
pub mod classes;
pub mod entropy;
pub mod perturb;
pub mod weights;

pub use classes::weight_classes;
pub use perturb::{PerturbPoint, PerturbSettings, perturbation, remove};

use crate::ff::train::{FfSummary, load_run};
use crate::run::files;
use crate::ff::{FfConfig, FfData, FfNet};
use crate::analysis::{AnalysisOptions, Metrics};
use crate::output::AnalysisOutput;
use crate::error::{Result, SasError};
use crate::run::io_err;
use std::path::{Path, PathBuf};

/// Everything an analysis may need from one feed-forward run directory.
pub struct FfRunData {
    /// The run directory.
    pub dir: PathBuf,
    /// Its resolved configuration.
    pub cfg: FfConfig,
    /// The network of the latest checkpoint.
    pub net: FfNet<f32>,
    /// Completed epochs of that checkpoint.
    pub epoch: usize,
    /// Per-epoch metrics (`metrics.csv`).
    pub metrics: Metrics,
    /// The final summary (`summary.json`), when the run finished.
    pub summary: Option<serde_json::Value>,
}

impl FfRunData {
    /// Loads the configuration, checkpoint, metrics and (if present) summary of `dir`.
    pub fn load(dir: &Path) -> Result<FfRunData> {
        let (cfg, net, epoch) = load_run(dir)?;
        let mpath = dir.join(files::METRICS);
        let text = std::fs::read_to_string(&mpath).map_err(io_err("reading", &mpath))?;
        let metrics = Metrics::parse(&text, &mpath.display().to_string())?;
        let summary = std::fs::read_to_string(dir.join(files::SUMMARY))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        Ok(FfRunData {
            dir: dir.to_path_buf(),
            cfg,
            net,
            epoch,
            metrics,
            summary,
        })
    }

    /// The test set of this run (the first `eval.test_limit` MNIST test images, at most
    /// `limit` when `limit > 0`) from `opts.data_dir`.
    pub fn test_set(&self, opts: &AnalysisOptions, limit: usize) -> Result<FfData> {
        let dir = opts.data_dir.as_deref().ok_or_else(|| SasError::InvalidValue {
            name: "data".into(),
            reason: "this analysis evaluates the network on MNIST: pass --data DIR or set SASNET_DATA".into(),
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

/// Loads the runs in `dirs` and checks that they are seeds of one configuration (equal
/// configurations apart from `seed` and `train.epochs`).
pub fn load_runs(dirs: &[PathBuf]) -> Result<Vec<FfRunData>> {
    if dirs.is_empty() {
        return Err(SasError::InvalidValue {
            name: "run directories".into(),
            reason: "no run directory given".into(),
        });
    }
    let runs: Vec<FfRunData> = dirs.iter().map(|d| FfRunData::load(d)).collect::<Result<_>>()?;
    let norm = |c: &FfConfig| {
        let mut c = c.clone();
        c.seed = 0;
        c.train.epochs = 0;
        c
    };
    let first = norm(&runs[0].cfg);
    for r in &runs[1..] {
        if norm(&r.cfg) != first {
            return Err(SasError::Config {
                key: "runs".into(),
                reason: format!(
                    "{} and {} have different configurations (only the seed and train.epochs may differ \
                     between runs analysed together)",
                    runs[0].dir.display(),
                    r.dir.display()
                ),
            });
        }
    }
    Ok(runs)
}

/// One line describing the runs for figure captions: preset, sizes, epochs, seeds.
pub fn describe_runs(runs: &[FfRunData]) -> String {
    let Some(r0) = runs.first() else {
        return "no runs".into();
    };
    let lo = runs.iter().map(|r| r.epoch).min().unwrap_or(0);
    let hi = runs.iter().map(|r| r.epoch).max().unwrap_or(0);
    let epochs = if lo == hi {
        format!("{lo} epochs")
    } else {
        format!("{lo}–{hi} epochs")
    };
    let seeds: Vec<String> = runs.iter().map(|r| r.cfg.seed.to_string()).collect();
    let sizes: Vec<String> = r0.cfg.model.sizes.iter().map(|s| s.to_string()).collect();
    format!(
        "preset `{}` ({}), {epochs}, {} seed{} ({}){}",
        r0.cfg.preset,
        sizes.join("-"),
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        seeds.join(", "),
        if runs.len() > 1 {
            "; bands: ± std over seeds"
        } else {
            ""
        }
    )
}

/// The final summary of each run that has one (written when training finished).
pub fn summaries(runs: &[FfRunData]) -> Vec<FfSummaryView> {
    runs.iter()
        .filter_map(|r| r.summary.as_ref().map(FfSummaryView::from_json))
        .collect()
}

/// The parts of a run's `summary.json` ([`FfSummary`]) the analyses read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FfSummaryView {
    /// `(mode, accuracy)` of each final evaluation.
    pub accuracies: Vec<(String, f64)>,
}

impl FfSummaryView {
    fn from_json(v: &serde_json::Value) -> FfSummaryView {
        let accuracies = v["eval"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| Some((r["mode"].as_str()?.to_string(), r["accuracy"].as_f64()?)))
                    .collect()
            })
            .unwrap_or_default();
        FfSummaryView { accuracies }
    }

    /// The accuracy of mode `mode`, if evaluated.
    pub fn accuracy(&self, mode: &str) -> Option<f64> {
        self.accuracies.iter().find(|(m, _)| m == mode).map(|(_, a)| *a)
    }
}

impl From<&FfSummary> for FfSummaryView {
    fn from(s: &FfSummary) -> Self {
        FfSummaryView {
            accuracies: s.eval.iter().map(|r| (r.mode.clone(), r.accuracy)).collect(),
        }
    }
}

/// The signature of every feed-forward analysis: the runs of one configuration (one per
/// seed), the output folder (created), options.
pub type FfAnalysisFn = fn(&[FfRunData], &Path, &AnalysisOptions) -> Result<AnalysisOutput>;

/// One feed-forward analysis.
#[derive(Clone, Copy, Debug)]
pub struct FfAnalysis {
    /// Command-line name; also its output folder.
    pub name: &'static str,
    /// What it does (one line).
    pub about: &'static str,
    /// The analysis.
    pub run: FfAnalysisFn,
}

/// Name that selects every feed-forward analysis at once (`sasnet analyze ff RUN...`).
pub const ALL: &str = "ff";

/// Every feed-forward analysis, in report order.
pub const ANALYSES: &[FfAnalysis] = &[
    FfAnalysis {
        name: accuracy::NAME,
        about: "training loss and test accuracy over epochs; final accuracy per evaluation mode",
        run: accuracy::run,
    },
    FfAnalysis {
        name: classes::NAME,
        about: "fractions of VIP, UIP and variable weights per layer, final and over epochs",
        run: classes::run,
    },
    FfAnalysis {
        name: perturb::NAME,
        about: "accuracy after removing VIP vs random weights and reconnecting UIP weights",
        run: perturb::run,
    },
    FfAnalysis {
        name: entropy::NAME,
        about: "entropy per connection per layer and its π and Ξ parts",
        run: entropy::run,
    },
    FfAnalysis {
        name: weights::NAME,
        about: "histograms of π, m and Ξ per layer",
        run: weights::run,
    },
];

/// The analyses selected by `name`: one of [`ANALYSES`], or all of them for [`ALL`].
pub fn select(name: &str) -> Result<Vec<&'static FfAnalysis>> {
    if name == ALL {
        return Ok(ANALYSES.iter().collect());
    }
    ANALYSES
        .iter()
        .find(|a| a.name == name)
        .map(|a| vec![a])
        .ok_or_else(|| SasError::InvalidValue {
            name: "analysis".into(),
            reason: format!(
                "unknown analysis `{name}` for a feed-forward run (known: {}, or `{ALL}` for all)",
                ANALYSES.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
            ),
        })
}

/// Runs `a` on `runs` into folder `dir` (created), renders its figures there (SVG and PNG)
/// and adds their paths to the output's `files`.
pub fn run_one(
    a: &FfAnalysis,
    runs: &[FfRunData],
    dir: &Path,
    opts: &AnalysisOptions,
) -> Result<AnalysisOutput> {
    if runs.is_empty() {
        return Err(SasError::InvalidValue {
            name: a.name.into(),
            reason: "no runs given".into(),
        });
    }
    opts.validate("ff")?;
    std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    let mut out = (a.run)(runs, dir, opts)?;
    for f in &out.figures {
        let (svg, png) = crate::report::render::render(f, dir)?;
        out.files.extend([svg, png]);
    }
    Ok(out)
}

/// Runs the analyses selected by `name` ([`select`]) on the runs in `dirs`, each into
/// `out/<analysis name>/`. The command `sasnet analyze NAME RUN...` on feed-forward runs.
pub fn analyze(
    name: &str,
    dirs: &[PathBuf],
    out: &Path,
    opts: &AnalysisOptions,
) -> Result<Vec<(PathBuf, AnalysisOutput)>> {
    let selected = select(name)?;
    let runs = load_runs(dirs)?;
    selected
        .into_iter()
        .map(|a| {
            let dir = out.join(a.name);
            run_one(a, &runs, &dir, opts).map(|o| (dir, o))
        })
        .collect()
}

/// Runs every analysis with output folder `out/<name>/`, calling `starting(name)` before
/// each; one failing analysis does not stop the others.
pub fn run_all_with(
    runs: &[FfRunData],
    out: &Path,
    opts: &AnalysisOptions,
    starting: &mut dyn FnMut(&'static str),
) -> Vec<(&'static str, Result<AnalysisOutput>)> {
    ANALYSES
        .iter()
        .filter(|a| !opts.skip.iter().any(|s| s == a.name))
        .map(|a| {
            starting(a.name);
            (a.name, run_one(a, runs, &out.join(a.name), opts))
        })
        .collect()
}

/// Mean and sample standard deviation (n − 1) of the finite values (NaN, NaN when none; the
/// deviation is NaN for one value) — [`crate::stats::SeedStats`].
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let s = crate::stats::SeedStats::of(values);
    (s.mean, s.sd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_selectable() {
        let mut n: Vec<&str> = ANALYSES.iter().map(|a| a.name).collect();
        assert_eq!(select(ALL).unwrap().len(), n.len());
        n.sort();
        n.dedup();
        assert_eq!(n.len(), ANALYSES.len());
        for a in ANALYSES {
            assert_eq!(select(a.name).unwrap()[0].name, a.name);
        }
        let e = select("psychometric").unwrap_err().to_string();
        assert!(e.contains("feed-forward") && e.contains("classes"), "{e}");
    }

    #[test]
    fn mean_std_skips_nan() {
        let (m, s) = mean_std(&[1.0, f64::NAN, 3.0]);
        assert!(m == 2.0 && (s - 2f64.sqrt()).abs() < 1e-12);
        assert!(mean_std(&[]).0.is_nan());
    }
}
