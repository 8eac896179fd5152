//! [`Run`]: one trained run directory of either family, opened once — its configuration,
//! metrics, parameters, evaluation in any mode and the forward pass on any trials.

use super::{EvalMode, Family, RunConfig, Trained};
use crate::analysis::{Metrics, RunData};
use crate::data::source::TaskData;
use crate::error::{Result, SasError};
use crate::family::{FeedForward, Recurrent};
use crate::io::tensors::TensorFile;
use crate::run::files;
use crate::sas::Ensemble;
use std::path::{Path, PathBuf};

/// A trained run directory of either family, read once by [`Run::open`].
#[derive(Clone, Debug)]
pub struct Run {
    data: Loaded,
    /// The trainer's summary when this handle comes from [`super::train`].
    pub(super) trained: Option<Trained>,
}

#[derive(Clone, Debug)]
enum Loaded {
    Recurrent(Box<RunData<Recurrent>>),
    FeedForward(Box<RunData<FeedForward>>),
}

/// One parameter tensor of a run's checkpoint: `<layer>.m`, `<layer>.pi` or `<layer>.xi`,
/// shape `[rows, cols]` (receiving × sending units), row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Checkpoint name, e.g. `rec.pi`.
    pub name: String,
    /// `[rows, cols]`.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

/// Settings of [`Run::evaluate`]; the default is what `sasnet eval` uses.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalParams {
    /// Sampled networks (sampled mode) or repeats of the noise draws (`None`: 10 sampled
    /// networks, else 1 repeat).
    pub samples: Option<usize>,
    /// The MNIST data directory (MNIST runs need it).
    pub data_dir: Option<PathBuf>,
    /// MSI: trials per condition of the test protocol (`None`: the run's).
    pub trials_per_condition: Option<usize>,
    /// At most this many test examples (0: the run's test set).
    pub limit: usize,
    /// Seed of the evaluation's draws.
    pub seed: u64,
}

impl Default for EvalParams {
    fn default() -> Self {
        EvalParams {
            samples: None,
            data_dir: None,
            trials_per_condition: None,
            limit: 0,
            seed: super::DEFAULT_SEED,
        }
    }
}

/// The result of [`Run::evaluate`] (either family), with the run's epoch and directory.
/// Serialized it is the JSON of `sasnet eval --json`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalReport {
    /// The family's report: accuracy (fraction), its spread over repeats, loss, trials.
    #[serde(flatten)]
    pub report: FamilyReport,
    /// Completed epochs of the evaluated checkpoint.
    pub epoch: usize,
    /// The run directory.
    pub run_dir: PathBuf,
}

/// The evaluation report of one family.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(untagged)]
pub enum FamilyReport {
    /// Recurrent runs.
    Recurrent(crate::infer::EvalReport),
    /// Feed-forward runs.
    FeedForward(crate::ff::AccuracyReport),
}

impl EvalReport {
    /// Mean accuracy over the repeats (fraction).
    pub fn accuracy(&self) -> f64 {
        match &self.report {
            FamilyReport::Recurrent(r) => r.accuracy,
            FamilyReport::FeedForward(r) => r.accuracy,
        }
    }
}

/// The outputs of [`Run::forward`]: readout and rates of every trial and step, time-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    /// Steps `T`.
    pub steps: usize,
    /// Trials `B`.
    pub trials: usize,
    /// Outputs `K`.
    pub outputs: usize,
    /// Hidden units `N`.
    pub units: usize,
    /// Readout `z_t = W_out r_t`, `[T, B, K]`.
    pub z: Vec<f32>,
    /// Rates `r_t = relu(h_t)` after each step, `[T, B, N]` (dimensionless).
    pub rates: Vec<f32>,
}

/// Largest number of floats [`Run::forward`] allocates for its outputs (2^31, 8 GiB).
const MAX_FORWARD_FLOATS: usize = 1 << 31;

impl Run {
    /// Opens the run in `dir`: reads `config.toml`, the checkpoint (once; its format decides
    /// the family) and `metrics.csv`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Run> {
        let dir = dir.as_ref();
        // The checkpoint is read once: its format decides the family, then the family's
        // loader builds the network from the same file. A directory without a readable
        // checkpoint goes to the recurrent loader, which names the problem.
        let path = dir.join(crate::run::files::CHECKPOINT);
        let data = match crate::io::tensors::TensorFile::open(&path) {
            Ok(ck) => match crate::family::Kind::of_checkpoint(&ck) {
                Family::FeedForward => Loaded::FeedForward(Box::new(RunData::load_from(dir, &ck)?)),
                Family::Recurrent => Loaded::Recurrent(Box::new(RunData::load_from(dir, &ck)?)),
            },
            Err(_) => Loaded::Recurrent(Box::new(RunData::load(dir)?)),
        };
        Ok(Run { data, trained: None })
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        match &self.data {
            Loaded::Recurrent(r) => &r.dir,
            Loaded::FeedForward(r) => &r.dir,
        }
    }

    /// The model family.
    pub fn family(&self) -> Family {
        match &self.data {
            Loaded::Recurrent(_) => Family::Recurrent,
            Loaded::FeedForward(_) => Family::FeedForward,
        }
    }

    /// Completed epochs of the checkpoint.
    pub fn epoch(&self) -> usize {
        match &self.data {
            Loaded::Recurrent(r) => r.epoch,
            Loaded::FeedForward(r) => r.epoch,
        }
    }

    /// The resolved configuration.
    pub fn config(&self) -> RunConfig {
        match &self.data {
            Loaded::Recurrent(r) => RunConfig::Recurrent(r.cfg.clone()),
            Loaded::FeedForward(r) => RunConfig::FeedForward(r.cfg.clone()),
        }
    }

    /// The per-epoch metrics (`metrics.csv`) as named columns.
    pub fn metrics(&self) -> &Metrics {
        match &self.data {
            Loaded::Recurrent(r) => &r.metrics,
            Loaded::FeedForward(r) => &r.metrics,
        }
    }

    /// The trainer's summary, when this handle was returned by [`super::train`].
    pub fn trained(&self) -> Option<&Trained> {
        self.trained.as_ref()
    }

    /// The parameters by checkpoint name (`<layer>.m`, `.pi`, `.xi` of every layer, in layer
    /// order; the optimizer state is left out).
    pub fn params(&self) -> Vec<Param> {
        let layers = match &self.data {
            Loaded::Recurrent(r) => r.net.named_layers(),
            Loaded::FeedForward(r) => r.net.named_layers(),
        };
        layers
            .into_iter()
            .flat_map(|(name, l)| {
                let shape = vec![l.rows, l.cols];
                [("m", &l.m), ("pi", &l.pi), ("xi", &l.xi)].map(|(k, v)| Param {
                    name: format!("{name}.{k}"),
                    shape: shape.clone(),
                    data: v.clone(),
                })
            })
            .collect()
    }

    /// The recurrent run data (for analyses), or [`SasError::NotApplicable`] naming `what`.
    pub(super) fn recurrent(&self, what: &str) -> Result<&RunData<Recurrent>> {
        match &self.data {
            Loaded::Recurrent(r) => Ok(r),
            Loaded::FeedForward(_) => Err(SasError::NotApplicable {
                analysis: what.into(),
                reason: "it takes recurrent runs; this is a feed-forward run".into(),
            }),
        }
    }

    /// The run data of either family.
    pub(super) fn both(&self) -> (Option<&RunData<Recurrent>>, Option<&RunData<FeedForward>>) {
        match &self.data {
            Loaded::Recurrent(r) => (Some(r), None),
            Loaded::FeedForward(r) => (None, Some(r)),
        }
    }

    /// Evaluates the network on its test set in `mode` (feed-forward runs: mean field, mean
    /// network or sampled networks; `eps0` is their mean network).
    pub fn evaluate(&self, mode: EvalMode, p: &EvalParams) -> Result<EvalReport> {
        if p.samples == Some(0) {
            return Err(SasError::InvalidArgument {
                name: "samples".into(),
                reason: "must be at least 1".into(),
            });
        }
        let sampled = matches!(mode, EvalMode::Sampled { .. });
        let samples = p.samples.unwrap_or(if sampled { 10 } else { 1 });
        let report = match &self.data {
            Loaded::FeedForward(r) => {
                if p.trials_per_condition.is_some() {
                    return Err(SasError::InvalidArgument {
                        name: "trials".into(),
                        reason: "applies to MSI runs only, not to a feed-forward run".into(),
                    });
                }
                let ff_mode = match mode {
                    EvalMode::MeanField => crate::ff::EvalMode::MeanField,
                    EvalMode::Eps0 | EvalMode::Mean => crate::ff::EvalMode::Mean,
                    EvalMode::Sampled { every } if every == usize::MAX => crate::ff::EvalMode::Sampled,
                    EvalMode::Sampled { .. } => {
                        return Err(SasError::InvalidArgument {
                            name: "resample-every".into(),
                            reason: "does not apply to a feed-forward run".into(),
                        });
                    }
                };
                let (rep, _) = crate::ff::eval::evaluate_dir(
                    &r.dir,
                    p.data_dir.as_deref(),
                    ff_mode,
                    samples,
                    p.limit,
                    p.seed,
                )?;
                FamilyReport::FeedForward(rep)
            }
            Loaded::Recurrent(r) => {
                if let EvalMode::Sampled { every: 0 } = mode {
                    return Err(SasError::InvalidArgument {
                        name: "resample-every".into(),
                        reason: "must be at least 1".into(),
                    });
                }
                let tpc = p.trials_per_condition.unwrap_or(r.cfg.eval.trials_per_condition);
                if tpc < 1 {
                    return Err(SasError::InvalidArgument {
                        name: "trials".into(),
                        reason: "must be at least 1".into(),
                    });
                }
                let task = self.task_data(p.data_dir.as_deref())?;
                if tpc > 1 {
                    // The bytes of one trial per condition, times the trials asked for.
                    let one = task.test_set(&r.cfg, r.cfg.eval.batch, p.limit, 1);
                    let floats: u128 = one.batches.iter().map(|b| b.x.len() as u128).sum();
                    crate::io::mem::check("the test set (--trials)", floats * 4 * 2 * tpc as u128)?;
                }
                let test = task.test_set(&r.cfg, r.cfg.eval.batch, p.limit, tpc);
                if test.batches.is_empty() {
                    return Err(SasError::InvalidArgument {
                        name: "test set".into(),
                        reason: format!("the test set of {} holds no trials", r.dir.display()),
                    });
                }
                let rep = crate::infer::evaluate(&r.net, &r.cfg, task.kind(), &test, mode, samples, p.seed)?;
                FamilyReport::Recurrent(rep)
            }
        };
        Ok(EvalReport {
            report,
            epoch: self.epoch(),
            run_dir: self.dir().to_path_buf(),
        })
    }

    /// The task data of a recurrent run: its configuration's task, with relative user-task
    /// paths resolved against the run directory.
    pub fn task_data(&self, data_dir: Option<&Path>) -> Result<TaskData> {
        // The configuration's relative user-task paths were resolved when the run was opened.
        TaskData::load(&self.recurrent("task data")?.cfg, data_dir)
    }

    /// Runs the recurrent network on the trials `x` (`[T, B, I]`, time-major, the complete
    /// input: baseline and input noise included) under the run's test protocol (its `α`, `σ`,
    /// `h0`) in `mode`, with draws keyed by `seed`; returns the readout and rates of every
    /// step. Sampled networks (`EvalMode::Sampled { every }`) are redrawn every `every` steps,
    /// the same network for every trial of the batch.
    ///
    /// ```
    /// use sasnet::api::{self, EvalMode, Preset, RunConfig, TaskSource};
    /// let dir = std::env::temp_dir().join(format!("sasnet-doc-forward-{}", std::process::id()));
    /// let cfg = RunConfig::build(Preset::Msi, None, &["model.n=20".into()], Some(1), Some(1))?;
    /// let run = api::train(&cfg, &TaskSource::Builtin { data_dir: None }, &dir, &Default::default())?;
    /// // 3 trials of 50 steps; MSI has 5 input channels and 2 outputs.
    /// let (t, b) = (50, 3);
    /// let x = vec![0.2f32; t * b * 5];
    /// let f = run.forward(&x, t, b, EvalMode::Sampled { every: 10 }, 7)?;
    /// assert_eq!((f.z.len(), f.rates.len()), (t * b * 2, t * b * 20));
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), sasnet::SasError>(())
    /// ```
    pub fn forward(
        &self,
        x: &[f32],
        steps: usize,
        trials: usize,
        mode: EvalMode,
        seed: u64,
    ) -> Result<Forward> {
        let r = self.recurrent("forward")?;
        let d = r.net.dims();
        let bad = |reason: String| SasError::InvalidArgument {
            name: "x".into(),
            reason,
        };
        if steps == 0 || trials == 0 {
            return Err(bad(format!(
                "needs T ≥ 1 and trials ≥ 1, got T = {steps}, trials = {trials}"
            )));
        }
        let want = steps.checked_mul(trials).and_then(|v| v.checked_mul(d.i));
        if want != Some(x.len()) {
            return Err(SasError::Shape {
                name: "x".into(),
                got: vec![x.len()],
                expected: vec![steps, trials, d.i],
            });
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("value {} at flat index {i} is not finite", x[i])));
        }
        let floats = (steps + 1).saturating_mul(trials).saturating_mul(d.n.max(d.k));
        if floats > MAX_FORWARD_FLOATS {
            return Err(bad(format!(
                "{steps} steps × {trials} trials × {} units need {floats} floats per output, more than \
                 the limit of {MAX_FORWARD_FLOATS}; pass fewer trials at a time",
                d.n.max(d.k)
            )));
        }
        let (z, rates) = crate::infer::forward_all(&r.net, &r.cfg, x, steps, trials, mode, seed)?;
        Ok(Forward {
            steps,
            trials,
            outputs: d.k,
            units: d.n,
            z,
            rates,
        })
    }

    /// Reads the run's checkpoint file (for callers that need a tensor not listed by
    /// [`Run::params`]).
    pub fn checkpoint(&self) -> Result<TensorFile> {
        TensorFile::open(&self.dir().join(files::CHECKPOINT))
    }
}
