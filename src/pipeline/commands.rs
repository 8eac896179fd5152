//! The commands that work on either network family — training seeds of a preset, evaluating
//! a run, running analyses over runs — as library calls: the family is decided once here
//! ([`Kind::of_preset`], [`Kind::of_runs`]), so the command line and other front ends (a
//! Python binding, a sweep runner) call one function per command.

use crate::analysis::AnalysisOptions;
use crate::config::{Config, Settings};
use crate::data::source::TaskData;
use crate::error::{Result, SasError};
use crate::family::{FeedForward, Kind, Recurrent};
use crate::ff::{EvalMode, FfConfig, RunSummary};
use crate::infer::Mode;
use crate::output::AnalysisOutput;
use crate::pipeline::seeds::{fan_out, seed_dir};
use crate::run::TrainOptions;
use crate::train::TrainSummary;
use std::path::{Path, PathBuf};

/// What `sasnet train` asks for.
#[derive(Clone, Debug, Default)]
pub struct TrainRequest {
    /// Preset name (recurrent or feed-forward).
    pub preset: String,
    /// TOML file overriding any subset of the settings.
    pub config: Option<PathBuf>,
    /// `KEY=VALUE` overrides, applied in order after `config`.
    pub sets: Vec<String>,
    /// MNIST data directory (`None`: `$SASNET_DATA`).
    pub data: Option<PathBuf>,
    /// Run directory (`None`: `runs/<preset>-seed<seed>`); with several seeds, the parent of
    /// `seed-<s>/`.
    pub out: Option<PathBuf>,
    /// Seed of every random stream (`None`: the preset's).
    pub seed: Option<u64>,
    /// Number of epochs (`None`: the preset's).
    pub epochs: Option<usize>,
    /// Seeds to train (`seed`, `seed + 1`, …), one directory each when more than one.
    pub seeds: usize,
    /// Continue each run from its checkpoint.
    pub resume: bool,
    /// Draw a progress bar (single seed only).
    pub progress: bool,
}

/// The summaries of the trained seeds, per family.
#[derive(Clone, Debug)]
pub enum Trained {
    /// Recurrent runs.
    Recurrent(Vec<TrainSummary>),
    /// Feed-forward runs.
    FeedForward(Vec<RunSummary>),
}

impl Trained {
    /// One line per run for the command line.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Trained::Recurrent(v) => v.iter().map(TrainSummary::line).collect(),
            Trained::FeedForward(v) => v.iter().map(RunSummary::line).collect(),
        }
    }

    /// The summaries as a JSON array.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Trained::Recurrent(v) => serde_json::to_value(v),
            Trained::FeedForward(v) => serde_json::to_value(v),
        }
        .unwrap_or(serde_json::Value::Null)
    }
}

/// Trains `req.seeds` seeds of `req.preset` (either family), in parallel where cores allow.
pub fn train(req: &TrainRequest) -> Result<Trained> {
    crate::pipeline::seeds::require(req.seeds)?;
    let data_dir = crate::task::mnist::data_dir(req.data.as_deref());
    let single = req.seeds == 1;
    let opts = TrainOptions {
        resume: req.resume,
        progress: req.progress && single,
    };
    let base_of = |preset: &str, seed: u64| {
        req.out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("runs/{preset}-seed{seed}")))
    };
    match Kind::of_preset(&req.preset) {
        Kind::FeedForward => {
            let cfg = FfConfig::build(
                &req.preset,
                req.config.as_deref(),
                &req.sets,
                req.seed,
                req.epochs,
            )?;
            let mnist = crate::ff::load_mnist(data_dir.as_deref())?;
            let base = base_of(&cfg.preset, cfg.seed);
            let runs = fan_out(cfg.seed, req.seeds, |seed| {
                let c = FfConfig { seed, ..cfg.clone() };
                crate::ff::train_mnist(&c, &mnist, &seed_dir(&base, seed, single), &opts)
            })?;
            Ok(Trained::FeedForward(runs))
        }
        Kind::Recurrent => {
            let cfg = Config::build(
                &req.preset,
                req.config.as_deref(),
                &req.sets,
                req.seed,
                req.epochs,
            )?;
            let task = TaskData::load(&cfg, data_dir.as_deref())?;
            let base = base_of(&cfg.preset, cfg.seed);
            let runs = fan_out(cfg.seed, req.seeds, |seed| {
                let c = Config { seed, ..cfg.clone() };
                crate::train::train(&c, &task, &seed_dir(&base, seed, single), &opts)
            })?;
            Ok(Trained::Recurrent(runs))
        }
    }
}

/// What `sasnet eval` asks for.
#[derive(Clone, Debug, Default)]
pub struct EvalRequest {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Evaluation mode name (`mean-field`, `mean`, `sampled`, …).
    pub mode: String,
    /// Recurrent sampled mode: redraw the network every `k` steps.
    pub resample_every: Option<usize>,
    /// Sampled networks or repeats (`None`: 10 sampled, else 1).
    pub samples: Option<usize>,
    /// MNIST data directory (`None`: `$SASNET_DATA`).
    pub data: Option<PathBuf>,
    /// Recurrent MSI: trials per condition (`None`: the run's).
    pub trials: Option<usize>,
    /// At most this many test examples (0: the run's).
    pub limit: usize,
    /// Seed of the evaluation's draws.
    pub seed: u64,
}

/// The result of `sasnet eval`: the report as JSON (with `epoch` and `run_dir`) and a
/// human-readable text.
#[derive(Clone, Debug)]
pub struct Evaluated {
    /// The evaluation report with `epoch` and `run_dir` added.
    pub json: serde_json::Value,
    /// Lines for the command line.
    pub text: Vec<String>,
}

fn invalid(name: &str, reason: &str) -> SasError {
    SasError::InvalidValue {
        name: name.into(),
        reason: reason.into(),
    }
}

/// Evaluates the run in `req.run_dir` (either family) in one mode.
pub fn evaluate(req: &EvalRequest) -> Result<Evaluated> {
    let data_dir = crate::task::mnist::data_dir(req.data.as_deref());
    let with_run = |v: serde_json::Value, epoch: usize| {
        let mut v = v;
        v["epoch"] = epoch.into();
        v["run_dir"] = req.run_dir.display().to_string().into();
        v
    };
    let kind_of = |sampled: bool| if sampled { "sampled networks" } else { "repeats" };
    match Kind::of_run(&req.run_dir) {
        Kind::FeedForward => {
            if req.resample_every.is_some() || req.trials.is_some() {
                return Err(invalid(
                    "eval",
                    "--resample-every and --trials do not apply to a feed-forward run",
                ));
            }
            let mode: EvalMode = req.mode.parse()?;
            let sampled = mode == EvalMode::Sampled;
            let repeats = req.samples.unwrap_or(if sampled { 10 } else { 1 });
            let (r, epoch) = crate::ff::eval::evaluate_dir(
                &req.run_dir,
                data_dir.as_deref(),
                mode,
                repeats,
                req.limit,
                req.seed,
            )?;
            let text = vec![format!(
                "feed-forward ({}, epoch {epoch}): accuracy {:.2}% ± {:.2}% over {} {} of {} test images",
                r.mode,
                100.0 * r.accuracy,
                100.0 * r.accuracy_std,
                r.accuracies.len(),
                kind_of(sampled),
                r.examples
            )];
            Ok(Evaluated {
                json: with_run(serde_json::to_value(&r).unwrap_or_default(), epoch),
                text,
            })
        }
        Kind::Recurrent => {
            let (cfg, net, epoch) = crate::run::checkpoint::load_run(&req.run_dir)?;
            let mut mode: Mode = req.mode.parse()?;
            match (&mut mode, req.resample_every) {
                (Mode::Sampled { every }, Some(k)) => {
                    if k < 1 {
                        return Err(invalid("resample-every", "must be at least 1"));
                    }
                    *every = k;
                }
                (Mode::Sampled { .. }, None) => {}
                (_, Some(_)) => {
                    return Err(invalid("resample-every", "applies to --mode sampled only"));
                }
                (_, None) => {}
            }
            let sampled = matches!(mode, Mode::Sampled { .. });
            let samples = req.samples.unwrap_or(if sampled { 10 } else { 1 });
            let task = TaskData::load(&cfg, data_dir.as_deref())?;
            let tpc = req.trials.unwrap_or(cfg.eval.trials_per_condition);
            if tpc < 1 {
                return Err(invalid("trials", "must be at least 1"));
            }
            let test = task.test_set(&cfg, cfg.eval.batch, req.limit, tpc);
            let r = crate::infer::evaluate(&net, &cfg, task.name(), &test, mode, samples, req.seed)?;
            let mut text = vec![format!(
                "{} ({}, epoch {epoch}): accuracy {:.2}% ± {:.2}% over {} {} of {} trials",
                r.task,
                r.mode,
                100.0 * r.accuracy,
                100.0 * r.accuracy_std,
                r.accuracies.len(),
                kind_of(sampled),
                r.trials
            )];
            text.extend(
                r.by_modality
                    .iter()
                    .map(|(m, a)| format!("  {m}: {:.2}%", 100.0 * a)),
            );
            Ok(Evaluated {
                json: with_run(serde_json::to_value(&r).unwrap_or_default(), epoch),
                text,
            })
        }
    }
}

/// Runs the analyses selected by `name` on the runs in `dirs` (either family, decided once)
/// into `out/<analysis>/` (default `<first run>/analysis`); `theory` runs without runs into
/// `out/theory` (default `analysis/theory`).
pub fn analyze(
    name: &str,
    dirs: &[PathBuf],
    out: Option<&Path>,
    opts: &AnalysisOptions,
) -> Result<Vec<(PathBuf, AnalysisOutput)>> {
    use crate::analysis::registry::THEORY;
    if name == THEORY {
        if !dirs.is_empty() {
            return Err(invalid(
                "theory",
                "the theory needs no run directory: sasnet analyze theory [--quick] [--data DIR] [--out DIR]",
            ));
        }
        let dir = out
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("analysis"))
            .join(THEORY);
        let o = crate::pipeline::analyze::run_theory(&dir, opts)?;
        return Ok(vec![(dir, o)]);
    }
    if dirs.is_empty() {
        return Err(invalid(
            name,
            &format!("analysis {name} needs at least one run directory: sasnet analyze {name} RUN..."),
        ));
    }
    let base = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dirs[0].join("analysis"));
    match Kind::of_runs(dirs)? {
        Kind::FeedForward => crate::pipeline::analyze::analyze::<FeedForward>(name, dirs, &base, opts),
        Kind::Recurrent => crate::pipeline::analyze::analyze::<Recurrent>(name, dirs, &base, opts),
    }
}
