//! The library API: what a Rust program, the Python binding, a sweep runner and the command
//! line call. It takes typed values (no preset, mode or analysis names as strings; the skins
//! parse those with `str::parse`), reads no environment variable, draws nothing, and hands
//! back typed results; writing files other than a run directory's own is the caller's choice.
//!
//! - [`train`] trains one configuration ([`RunConfig`], either family) on a task
//!   ([`TaskSource`]: a built-in task or a [`UserTask`] built from arrays in memory) into a run
//!   directory, with an [`Observer`] of its progress and a stop flag ([`TrainOptions`]);
//!   [`train_seeds`] fans several seeds out over the cores.
//! - [`Run::open`] opens a run directory once: its configuration, metrics, parameters,
//!   [`Run::evaluate`] in any evaluation mode and [`Run::forward`] on any batch of trials.
//! - [`analyze`] runs one analysis of the registry ([`Analysis`]) over runs, [`report`] every
//!   applicable one with the HTML page; [`presets`] and [`analyses`] list what exists.
//!
//! # Example: train, open, evaluate, analyze
//! ```
//! use sasnet::api::{self, Analysis, AnalysisParams, EvalMode, EvalParams, Preset, Run, RunConfig,
//!                   TaskSource, TrainOptions};
//! let root = std::env::temp_dir().join(format!("sasnet-doc-api-{}", std::process::id()));
//! // The MSI preset with a small network, 3 epochs, seed 1.
//! let cfg = RunConfig::build(Preset::Msi, None, &["model.n=40".into()], Some(1), Some(3))?;
//! let run = api::train(&cfg, &TaskSource::Builtin { data_dir: None }, &root, &TrainOptions::default())?;
//! assert_eq!(run.epoch(), 3);
//! // Any later program opens the directory again.
//! let run = Run::open(&root)?;
//! let params = EvalParams { trials_per_condition: Some(2), ..EvalParams::default() };
//! let report = run.evaluate(EvalMode::MeanField, &params)?;
//! assert!((0.0..=1.0).contains(&report.accuracy()));
//! let result = api::analyze(Analysis::named("sparsity")?, &[run], &root.join("analysis"),
//!                           &AnalysisParams::default())?;
//! // The summary is typed: one variant per analysis.
//! let api::Summary::Sparsity(s) = &result.summary else { panic!("a sparsity summary") };
//! assert!(!s.columns.is_empty());
//! # std::fs::remove_dir_all(&root).ok();
//! # Ok::<(), sasnet::SasError>(())
//! ```

mod analyze;
mod run;

pub use analyze::{
    Analysis, AnalysisParams, AnalysisResult, Report, Summary, analyses, analyze, compute, compute_in,
    open_runs, parse_skip, report, theory_takes_no_runs, write,
};
pub use run::{EvalParams, EvalReport, FamilyReport, Forward, Param, Run};

pub use crate::config::Preset;
pub use crate::family::Kind as Family;
pub use crate::infer::Mode as EvalMode;
pub use crate::run::status::{
    Attempt as RunAttempt, State as RunState, Status as RunStatus, read as run_status,
};
pub use crate::run::{EpochEvent, MinibatchEvent, Observer, StartEvent, TrainOptions};
pub use crate::task::user::{ArrayTargets, UserTask, UserTaskArrays};

use crate::config::{Config, Settings};
use crate::data::source::TaskData;
use crate::error::{Result, SasError};
use crate::ff::FfConfig;
use std::path::{Path, PathBuf};

/// The seed of evaluations and of the analyses' own draws when the caller gives none (what the
/// command line uses), so that every front end gives the same numbers for the same run.
pub const DEFAULT_SEED: u64 = crate::analysis::ANALYSIS_SEED;

/// The presets with one line each: `(name, about)`.
pub fn presets() -> Vec<(&'static str, &'static str)> {
    Preset::ALL.into_iter().map(|p| (p.name(), p.about())).collect()
}

/// The resolved configuration of a run of either family.
// A configuration is built once per run, never in a loop: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum RunConfig {
    /// A recurrent network's configuration.
    Recurrent(Config),
    /// A feed-forward network's configuration.
    FeedForward(FfConfig),
}

impl RunConfig {
    /// The reference configuration of `preset`.
    pub fn preset(preset: Preset) -> Result<RunConfig> {
        Self::build(preset, None, &[], None, None)
    }

    /// `preset` with, in order of precedence, the TOML text `overlay` (any subset of the
    /// keys), the `KEY=VALUE` overrides `sets` (as `--set`), and `seed` and `epochs`;
    /// validated. Errors name the key.
    pub fn build(
        preset: Preset,
        overlay: Option<&str>,
        sets: &[String],
        seed: Option<u64>,
        epochs: Option<usize>,
    ) -> Result<RunConfig> {
        let overlay = overlay.map(|t| (t, "config"));
        Ok(match preset.family() {
            Family::Recurrent => {
                RunConfig::Recurrent(Config::build_from(preset, overlay, sets, seed, epochs)?)
            }
            Family::FeedForward => {
                RunConfig::FeedForward(FfConfig::build_from(preset, overlay, sets, seed, epochs)?)
            }
        })
    }

    /// The configuration of `preset` overlaid with the TOML file `path` (the command line's
    /// `--config`), then `sets`, `seed` and `epochs`; validated.
    pub fn build_with_file(
        preset: Preset,
        path: &Path,
        sets: &[String],
        seed: Option<u64>,
        epochs: Option<usize>,
    ) -> Result<RunConfig> {
        Ok(match preset.family() {
            Family::Recurrent => RunConfig::Recurrent(Config::build(preset, Some(path), sets, seed, epochs)?),
            Family::FeedForward => {
                RunConfig::FeedForward(FfConfig::build(preset, Some(path), sets, seed, epochs)?)
            }
        })
    }

    /// The model family.
    pub fn family(&self) -> Family {
        match self {
            RunConfig::Recurrent(_) => Family::Recurrent,
            RunConfig::FeedForward(_) => Family::FeedForward,
        }
    }

    /// The seed of every random stream of the run.
    pub fn seed(&self) -> u64 {
        match self {
            RunConfig::Recurrent(c) => c.seed,
            RunConfig::FeedForward(c) => c.seed,
        }
    }

    /// The same configuration with another seed.
    pub fn with_seed(&self, seed: u64) -> RunConfig {
        match self {
            RunConfig::Recurrent(c) => RunConfig::Recurrent(Config { seed, ..c.clone() }),
            RunConfig::FeedForward(c) => RunConfig::FeedForward(FfConfig { seed, ..c.clone() }),
        }
    }

    /// The name of the preset the configuration started from.
    pub fn preset_name(&self) -> &str {
        match self {
            RunConfig::Recurrent(c) => c.preset.name(),
            RunConfig::FeedForward(c) => c.preset.name(),
        }
    }

    /// The configuration as TOML (as written to `config.toml`).
    pub fn to_toml(&self) -> String {
        match self {
            RunConfig::Recurrent(c) => c.to_toml(),
            RunConfig::FeedForward(c) => c.to_toml(),
        }
    }
}

/// The data a run trains on.
///
/// A task from arrays in memory (engine layout, time-major), with a per-trial condition:
/// ```
/// use sasnet::api::{self, ArrayTargets, Preset, RunConfig, TaskSource, UserTask, UserTaskArrays};
/// let (t, b) = (10, 40);
/// let coh: Vec<f64> = (0..b).map(|i| if i % 2 == 0 { 0.5 } else { -0.5 }).collect();
/// let mut x = vec![0f32; t * b * 2];
/// for s in 0..t {
///     for i in 0..b {
///         x[(s * b + i) * 2] = coh[i] as f32;
///     }
/// }
/// let labels = coh.iter().map(|&c| usize::from(c > 0.0)).collect();
/// let task = UserTask::from_arrays(UserTaskArrays {
///     steps: t, trials: b, inputs: 2, x,
///     targets: ArrayTargets::Labels(labels),
///     conditions: vec![("coh".into(), coh)],
///     metadata: [("dt".to_string(), "20".to_string())].into(),
/// })?;
/// let cfg = RunConfig::build(Preset::Cognitive, None, &[], Some(1), Some(3))?;
/// let dir = std::env::temp_dir().join(format!("sasnet-doc-task-{}", std::process::id()));
/// let source = TaskSource::User { train: Box::new(task), test: None };
/// let run = api::train(&cfg, &source, &dir, &Default::default())?;
/// assert!(dir.join("task/train.safetensors").is_file());
/// assert_eq!(run.epoch(), 3);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), sasnet::SasError>(())
/// ```
#[derive(Clone, Debug)]
pub enum TaskSource {
    /// The configuration's own task: MSI (built in), MNIST (from `data_dir`, which the MNIST
    /// tasks need), or a user task stored at the configuration's `task.path`.
    Builtin {
        /// The MNIST data directory.
        data_dir: Option<PathBuf>,
    },
    /// A user task in memory (e.g. built from arrays), with an optional separate test set.
    /// The run stores it inside its run directory (`task/train.safetensors`,
    /// `task/test.safetensors`), so it evaluates from anywhere.
    User {
        /// Training trials.
        train: Box<UserTask>,
        /// Test trials (`None`: the training trials).
        test: Option<Box<UserTask>>,
    },
}

/// The training summary of a run of either family, as the trainers report it.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Trained {
    /// A recurrent run.
    Recurrent(crate::train::TrainSummary),
    /// A feed-forward run.
    FeedForward(crate::ff::RunSummary),
}

impl Trained {
    /// One line for the command line: run directory, epochs, loss, test accuracy, wall time.
    pub fn line(&self) -> String {
        match self {
            Trained::Recurrent(s) => s.line(),
            Trained::FeedForward(s) => s.line(),
        }
    }

    /// The run directory.
    pub fn run_dir(&self) -> &Path {
        match self {
            Trained::Recurrent(s) => &s.run_dir,
            Trained::FeedForward(s) => &s.run_dir,
        }
    }

    /// Epochs trained by this call (0: a finished run was resumed and nothing was done).
    pub fn new_epochs(&self) -> usize {
        match self {
            Trained::Recurrent(s) => s.new_epochs,
            Trained::FeedForward(s) => s.new_epochs,
        }
    }

    /// Completed epochs of the run.
    pub fn epochs(&self) -> usize {
        match self {
            Trained::Recurrent(s) => s.epochs,
            Trained::FeedForward(s) => s.epochs,
        }
    }
}

/// File names of a user task stored inside a run directory.
pub mod task_files {
    /// Training trials (relative to the run directory).
    pub const TRAIN: &str = "task/train.safetensors";
    /// Test trials (relative to the run directory).
    pub const TEST: &str = "task/test.safetensors";
}

/// The task data of `cfg` from `task`; for a user task in memory `cfg`'s task paths are
/// pointed at the run directory's copy (written by [`store_task`] when the run starts).
fn task_data(cfg: &mut Config, task: &TaskSource) -> Result<TaskData> {
    match task {
        TaskSource::Builtin { data_dir } => {
            crate::data::source::resolve_task_paths(cfg, None);
            TaskData::load(cfg, data_dir.as_deref())
        }
        TaskSource::User { train, test } => {
            crate::data::source::check_test_task(train, test.as_deref())?;
            // Stored in the run directory by `store_task` when the run starts.
            cfg.task.kind = crate::config::TaskKind::User;
            cfg.task.path = task_files::TRAIN.into();
            cfg.task.test_path = if test.is_some() {
                task_files::TEST.into()
            } else {
                String::new()
            };
            Ok(TaskData::User {
                train: train.clone(),
                test: test.clone(),
            })
        }
    }
}

/// Trains `cfg` on `task` in run directory `out` and opens the trained run. With
/// `opts.resume` the call is an idempotent start-or-resume: a run directory that is missing,
/// empty or holds no checkpoint yet starts a new run, one with a checkpoint continues from
/// it (only `train.epochs` may differ; its files are checked and repaired as docs/RUNS.md
/// says), and a finished run trains nothing and is returned as it is
/// ([`Run::trained`]`().new_epochs() == 0`). Every call holds the run directory's lock
/// ([`SasError::Locked`] while another process trains it) and keeps `status.json` current.
/// Errors: [`SasError::Diverged`] (the last good checkpoint is kept),
/// [`SasError::Interrupted`] (the stop flag was set; the run resumes bit for bit), and the
/// configuration's and the data's own errors, before any work.
pub fn train(cfg: &RunConfig, task: &TaskSource, out: &Path, opts: &TrainOptions) -> Result<Run> {
    let mut runs = train_seeds(cfg, task, out, 1, opts)?;
    Ok(runs.remove(0))
}

/// Trains `count` seeds of `cfg` (`cfg`'s seed, then the following ones) on `task`, in
/// parallel where cores allow: into `base` itself for one seed, else into `base/seed-<s>/`.
/// The task is loaded once. Returns the runs in seed order.
pub fn train_seeds(
    cfg: &RunConfig,
    task: &TaskSource,
    base: &Path,
    count: usize,
    opts: &TrainOptions,
) -> Result<Vec<Run>> {
    use crate::pipeline::seeds::{fan_out, seed_dir};
    crate::pipeline::seeds::require(count)?;
    let single = count == 1;
    match cfg {
        RunConfig::FeedForward(c) => {
            let TaskSource::Builtin { data_dir } = task else {
                return Err(not_ff_task());
            };
            c.validate()?;
            crate::ff::model::check_memory(c)?;
            let mnist = crate::ff::load_mnist(data_dir.as_deref())?;
            fan_out(c.seed, count, |seed| {
                let c = FfConfig { seed, ..c.clone() };
                let dir = seed_dir(base, seed, single);
                let s = crate::ff::train_mnist(&c, &mnist, &dir, opts)?;
                let mut run = Run::open(&dir)?;
                run.trained = Some(Trained::FeedForward(s));
                Ok(run)
            })
        }
        RunConfig::Recurrent(c) => {
            let run = |c: &Config, data: &TaskData, dir: &Path, store: &dyn Fn(&Path) -> Result<()>| {
                let s = crate::train::train_with(c, data, dir, opts, store)?;
                let mut run = Run::open(dir)?;
                run.trained = Some(Trained::Recurrent(s));
                Ok(run)
            };
            if let TaskSource::User { .. } = task {
                // Each run stores its own copy of the task when it starts (under its lock),
                // never over an existing run's.
                return fan_out(c.seed, count, |seed| {
                    let mut c = Config { seed, ..c.clone() };
                    let dir = seed_dir(base, seed, single);
                    let data = task_data(&mut c, task)?;
                    let store = |dir: &Path| store_task(task, dir);
                    run(&c, &data, &dir, &store)
                });
            }
            let mut c = c.clone();
            let data = task_data(&mut c, task)?;
            fan_out(c.seed, count, |seed| {
                run(
                    &Config { seed, ..c.clone() },
                    &data,
                    &seed_dir(base, seed, single),
                    &|_| Ok(()),
                )
            })
        }
    }
}

/// Stores a user task in memory in run directory `dir` (`task/train.safetensors`,
/// `task/test.safetensors`); nothing for a built-in task.
fn store_task(task: &TaskSource, dir: &Path) -> Result<()> {
    if let TaskSource::User { train, test } = task {
        let task_dir = dir.join("task");
        std::fs::create_dir_all(&task_dir).map_err(crate::run::io_err("creating", &task_dir))?;
        train.write_safetensors(dir.join(task_files::TRAIN))?;
        if let Some(t) = test {
            t.write_safetensors(dir.join(task_files::TEST))?;
        }
    }
    Ok(())
}

fn not_ff_task() -> SasError {
    SasError::NotApplicable {
        analysis: "train".into(),
        reason: "feed-forward networks train on MNIST only, not on a user task".into(),
    }
}

// What the command line needs besides training, evaluation and analyses, in one place.
pub use crate::bench;
pub use crate::data::files as data;
pub use crate::grad::grad_file;
pub use crate::pipeline::reproduce::{default_seeds, plan as reproduce_plan, reproduce};
pub use crate::pipeline::steps::{ReproduceOptions, ReproduceSummary, Target};
pub use crate::report::html::summary_rows;
pub use crate::sweep::{self, Manifest, Sweep};
