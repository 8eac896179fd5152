//! Where a run's trials come from: the configured task, loaded once, producing seeded
//! training minibatches and the test set in engine layout.

use crate::config::{Config, TaskKind};
use crate::error::{Result, SasError};
use crate::rng::{derive_seed, splitmix64};
use crate::task::TrialBatch;
use crate::task::mnist::{Mnist, SeqMnist, SeqVariant};
use crate::task::msi::{self, Msi, MsiConfig, TrialInfo};
use crate::task::user::UserTask;
use std::path::Path;

/// Stream keys of the training data (see [`derive_seed`]).
const KEY_SHUFFLE: u64 = 10;
const KEY_MSI_TRAIN: u64 = 11;
const KEY_MSI_TEST: u64 = 12;

/// A loaded task.
pub enum TaskData {
    /// Sequential MNIST.
    Mnist {
        /// The images.
        data: Box<Mnist>,
        /// Pixel, row or permuted order.
        seq: SeqMnist,
        /// Training image indices (after limit and validation hold-out).
        train: Vec<usize>,
        /// Validation image indices (from the training set).
        validation: Vec<usize>,
    },
    /// Multisensory integration.
    Msi {
        /// Training protocol.
        train: Msi,
        /// Test protocol (finer Δt).
        test: Msi,
    },
    /// A user task from files.
    User {
        /// Training trials.
        train: Box<UserTask>,
        /// Test trials (None: the training file).
        test: Option<Box<UserTask>>,
    },
}

/// Test trials with what the accuracy needs.
pub struct TestSet {
    /// Batches of test trials.
    pub batches: Vec<TrialBatch>,
    /// For MSI: what each trial of each batch is.
    pub msi_info: Vec<Vec<TrialInfo>>,
}

/// The MSI protocol settings of a configuration: (training, test).
pub(crate) fn msi_configs(cfg: &Config) -> (MsiConfig, MsiConfig) {
    let s = &cfg.task.msi;
    let train = MsiConfig {
        dt_ms: s.dt_ms,
        tau_ms: s.tau_ms,
        fixation_ms: s.fixation_ms,
        stimulus_ms: s.stimulus_ms,
        decision_ms: s.decision_ms,
        baseline: s.baseline,
        sigma_in: s.sigma_in,
        catch_per_batch: s.catch_per_batch,
        pad_ms: s.pad_ms,
    };
    let test = MsiConfig {
        dt_ms: s.test_dt_ms,
        fixation_ms: s.test_fixation_ms,
        stimulus_ms: s.test_stimulus_ms,
        decision_ms: s.test_decision_ms,
        catch_per_batch: 0,
        pad_ms: 0.0,
        ..train.clone()
    };
    (train, test)
}

/// Resolves the relative user-task paths of `cfg` (`task.path`, `task.test_path`): against
/// `run_dir` where the file exists there (a run's own copy of its task), else against the
/// current directory, made absolute. Other tasks and absolute paths are left as they are.
pub fn resolve_task_paths(cfg: &mut Config, run_dir: Option<&Path>) {
    if cfg.task.kind != TaskKind::User {
        return;
    }
    for p in [&mut cfg.task.path, &mut cfg.task.test_path] {
        if p.is_empty() || Path::new(p.as_str()).is_absolute() {
            continue;
        }
        if let Some(in_run) = run_dir.map(|d| d.join(p.as_str())).filter(|f| f.exists()) {
            *p = in_run.display().to_string();
        } else if let Ok(abs) = std::path::absolute(Path::new(p.as_str())) {
            *p = abs.display().to_string();
        }
    }
}

/// Fails unless user-task test set `test` has the inputs and outputs of training set
/// `train` (labels: no class beyond the training set's), naming both files; checked
/// before any training.
pub fn check_test_task(train: &UserTask, test: Option<&UserTask>) -> Result<()> {
    let Some(test) = test else {
        return Ok(());
    };
    let name = |t: &UserTask| {
        let p = t.path();
        if p.as_os_str().is_empty() {
            "the arrays in memory".to_string()
        } else {
            p.display().to_string()
        }
    };
    // Labels: the test set may lack the highest classes, never hold more.
    let classes = train.is_classification() && test.is_classification();
    for (what, tensor, a, b) in [
        ("inputs", "x", train.inputs(), test.inputs()),
        ("outputs (classes)", "target", train.outputs(), test.outputs()),
    ] {
        if a != b && !(classes && tensor == "target" && b < a) {
            return Err(SasError::TaskFile {
                path: test.path().to_path_buf(),
                tensor: tensor.into(),
                reason: format!(
                    "the test set {} has {b} {what}, but the training set {} has {a}",
                    name(test),
                    name(train)
                ),
            });
        }
    }
    Ok(())
}

/// The settings of `cfg` that a user task decides, resolved against the loaded `data`: with
/// `model.tau_ms > 0` and a task that records its time step (metadata `dt`, ms),
/// `model.alpha = dt / τ`; `train.minibatches = 0` becomes one pass over the training trials,
/// `⌈trials / batch⌉`. Other tasks are returned unchanged.
pub fn resolve_user_settings(cfg: &Config, data: &TaskData) -> Result<Config> {
    let TaskData::User { train, .. } = data else {
        return Ok(cfg.clone());
    };
    let mut c = cfg.clone();
    if c.model.tau_ms > 0.0
        && let Some(dt) = train.metadata().get("dt")
    {
        let dt: f64 = dt.trim().parse().map_err(|_| SasError::Config {
            key: "task dt".into(),
            reason: format!("the task's `dt` metadata `{dt}` is not a number of ms"),
        })?;
        if !(dt > 0.0 && dt <= c.model.tau_ms) {
            return Err(SasError::Config {
                key: "model.tau_ms".into(),
                reason: format!(
                    "the task's time step dt = {dt} ms must be in (0, τ = {} ms] (α = dt/τ ≤ 1)",
                    c.model.tau_ms
                ),
            });
        }
        c.model.alpha = dt / c.model.tau_ms;
    }
    if c.train.minibatches == 0 {
        c.train.minibatches = train.len().div_ceil(c.train.batch).max(1);
    }
    Ok(c)
}

impl TaskData {
    /// Loads the task of `cfg`; MNIST needs `data_dir`.
    pub fn load(cfg: &Config, data_dir: Option<&Path>) -> Result<TaskData> {
        match cfg.task.kind {
            TaskKind::PixelMnist | TaskKind::RowMnist | TaskKind::PermMnist => {
                let dir = data_dir.ok_or_else(|| SasError::DataDirRequired {
                    what: format!("task {}", cfg.task.kind),
                })?;
                let data = Mnist::load(dir)?;
                let variant = match cfg.task.kind {
                    TaskKind::PixelMnist => SeqVariant::Pixel,
                    TaskKind::RowMnist => SeqVariant::Row,
                    _ => SeqVariant::Permuted {
                        seed: cfg.task.perm_seed,
                    },
                };
                let mut n = data.train.count;
                if cfg.task.train_limit > 0 {
                    n = n.min(cfg.task.train_limit);
                }
                if cfg.task.validation >= n {
                    return Err(SasError::Config {
                        key: "task.validation".into(),
                        reason: format!("{} leaves no training images out of {n}", cfg.task.validation),
                    });
                }
                let cut = n - cfg.task.validation;
                Ok(TaskData::Mnist {
                    data: Box::new(data),
                    seq: SeqMnist::new(variant),
                    train: (0..cut).collect(),
                    validation: (cut..n).collect(),
                })
            }
            TaskKind::Msi => {
                let (tr, te) = msi_configs(cfg);
                Ok(TaskData::Msi {
                    train: Msi::new(tr)?,
                    test: Msi::new(te)?,
                })
            }
            TaskKind::User => {
                if cfg.task.path.is_empty() {
                    return Err(SasError::Config {
                        key: "task.path".into(),
                        reason: "a user task needs the path of its file".into(),
                    });
                }
                let train = UserTask::load(Path::new(&cfg.task.path))?;
                let test = if cfg.task.test_path.is_empty() {
                    None
                } else {
                    Some(Box::new(UserTask::load(Path::new(&cfg.task.test_path))?))
                };
                check_test_task(&train, test.as_deref())?;
                Ok(TaskData::User {
                    train: Box::new(train),
                    test,
                })
            }
        }
    }

    /// `(inputs I, outputs K)`.
    pub fn io_dims(&self) -> (usize, usize) {
        match self {
            TaskData::Mnist { seq, .. } => (seq.inputs(), 10),
            TaskData::Msi { .. } => (msi::INPUTS, msi::OUTPUTS),
            TaskData::User { train, .. } => (train.inputs(), train.outputs()),
        }
    }

    /// The `alpha` the task's time step implies, if it has one (MSI training protocol).
    pub fn alpha(&self) -> Option<f64> {
        match self {
            TaskData::Msi { train, .. } => Some(train.alpha()),
            _ => None,
        }
    }

    /// The task.
    pub fn kind(&self) -> TaskKind {
        match self {
            TaskData::Mnist { seq, .. } => match seq.variant() {
                SeqVariant::Pixel => TaskKind::PixelMnist,
                SeqVariant::Row => TaskKind::RowMnist,
                SeqVariant::Permuted { .. } => TaskKind::PermMnist,
            },
            TaskData::Msi { .. } => TaskKind::Msi,
            TaskData::User { .. } => TaskKind::User,
        }
    }

    /// Short task name (of [`Self::kind`]).
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// Training minibatch `mb` of epoch `epoch` (a pure function of the seed, epoch and `mb`).
    pub fn train_batch(&self, cfg: &Config, epoch: usize, mb: usize) -> TrialBatch {
        let b = cfg.train.batch;
        match self {
            TaskData::Mnist { data, seq, train, .. } => {
                let idx = epoch_indices(cfg.seed, epoch, train.len(), mb * b, b);
                let idx: Vec<usize> = idx.into_iter().map(|i| train[i]).collect();
                seq.batch(&data.train, &data.train_labels, &idx)
            }
            TaskData::Msi { train, .. } => {
                train
                    .train_batch(derive_seed(cfg.seed, &[KEY_MSI_TRAIN, epoch as u64, mb as u64]))
                    .0
            }
            TaskData::User { train, .. } => {
                let idx = epoch_indices(cfg.seed, epoch, train.len(), mb * b, b);
                train.batch(&idx)
            }
        }
    }

    /// The test set in batches of `batch` trials; `limit` > 0 keeps only the first `limit`
    /// trials (MNIST, user tasks). MSI: the test protocol, `trials_per_condition` per condition.
    pub fn test_set(&self, cfg: &Config, batch: usize, limit: usize, trials_per_condition: usize) -> TestSet {
        let take = |n: usize| if limit > 0 { n.min(limit) } else { n };
        match self {
            TaskData::Mnist { data, seq, .. } => {
                let n = take(data.test.count);
                let batches = (0..n)
                    .step_by(batch)
                    .map(|s| {
                        let idx: Vec<usize> = (s..(s + batch).min(n)).collect();
                        seq.batch(&data.test, &data.test_labels, &idx)
                    })
                    .collect();
                TestSet {
                    batches,
                    msi_info: Vec::new(),
                }
            }
            TaskData::Msi { test, .. } => {
                // Whole conditions per batch, so each batch is balanced.
                let conds = msi::conditions();
                let per_batch = (batch / trials_per_condition).max(1);
                let mut batches = Vec::new();
                let mut infos = Vec::new();
                for (bi, cs) in conds.chunks(per_batch).enumerate() {
                    let (b, info) = test.test_batch(
                        cs,
                        trials_per_condition,
                        derive_seed(cfg.seed, &[KEY_MSI_TEST, bi as u64]),
                    );
                    batches.push(b);
                    infos.push(info);
                }
                TestSet {
                    batches,
                    msi_info: infos,
                }
            }
            TaskData::User { train, test } => {
                let t = test.as_deref().unwrap_or(train);
                let n = take(t.len());
                let batches = (0..n)
                    .step_by(batch)
                    .map(|s| t.batch(&(s..(s + batch).min(n)).collect::<Vec<_>>()))
                    .collect();
                TestSet {
                    batches,
                    msi_info: Vec::new(),
                }
            }
        }
    }
}

/// `count` indices starting at position `start` of the epoch's seeded shuffle of `0..n`
/// (wrapping around).
pub(crate) fn epoch_indices(seed: u64, epoch: usize, n: usize, start: usize, count: usize) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..n).collect();
    let mut s = derive_seed(seed, &[KEY_SHUFFLE, epoch as u64]);
    for i in (1..n).rev() {
        let j = (splitmix64(&mut s) % (i as u64 + 1)) as usize;
        perm.swap(i, j);
    }
    (0..count).map(|k| perm[(start + k) % n]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_indices_are_a_seeded_shuffle() {
        let a = epoch_indices(1, 0, 100, 0, 100);
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_eq!(a, epoch_indices(1, 0, 100, 0, 100));
        assert_ne!(a, epoch_indices(1, 1, 100, 0, 100));
        assert_eq!(&epoch_indices(1, 0, 100, 90, 20)[..10], &a[90..]);
        assert_eq!(&epoch_indices(1, 0, 100, 90, 20)[10..], &a[..10]);
    }
}
