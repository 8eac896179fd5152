//! Run configuration: every setting of a training run, its presets (docs/MODEL.md §2 table), TOML
//! overrides and validation before anything runs.
//!
//! A configuration is plain data (serde); [`Config::preset`] gives the reference settings,
//! [`Config::merge_toml`] overlays a user's TOML file (any subset of keys), and
//! [`Config::validate`] checks every value and names the offending key.

mod presets;
mod settings;

pub use presets::PRESETS;
pub use settings::{Settings, bad, check_seed};

use crate::error::{Result, SasError};
use serde::{Deserialize, Serialize};

/// The whole configuration of a run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The preset this configuration started from.
    pub preset: Preset,
    /// Seed of every random stream of the run.
    pub seed: u64,
    /// The task.
    pub task: TaskConfig,
    /// Network sizes and dynamics.
    pub model: ModelConfig,
    /// Initial parameters.
    pub init: InitConfig,
    /// Optimizer and parameter groups.
    pub optim: OptimConfig,
    /// Training loop.
    pub train: TrainConfig,
    /// Evaluation during and after training.
    pub eval: EvalConfig,
}

/// The tasks a recurrent network trains on (written in configurations in kebab case:
/// `pixel-mnist`, `row-mnist`, `perm-mnist`, `msi`, `user`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    /// Sequential MNIST, one pixel per step (784 steps).
    PixelMnist,
    /// Sequential MNIST, one row per step (28 steps).
    RowMnist,
    /// Pixel MNIST with a fixed permutation of the pixels.
    PermMnist,
    /// Multisensory integration (docs/MODEL.md §3).
    Msi,
    /// A task from the user's files (`task.path`).
    User,
}

impl TaskKind {
    /// The name as written in configurations and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::PixelMnist => "pixel-mnist",
            TaskKind::RowMnist => "row-mnist",
            TaskKind::PermMnist => "perm-mnist",
            TaskKind::Msi => "msi",
            TaskKind::User => "user",
        }
    }

    /// The sequential-MNIST tasks.
    pub fn is_mnist(self) -> bool {
        matches!(
            self,
            TaskKind::PixelMnist | TaskKind::RowMnist | TaskKind::PermMnist
        )
    }
}

impl std::fmt::Display for TaskKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A preset: a configuration with the reference settings of one task (docs/MODEL.md §2).
/// The skins parse names; an unknown one is an error that lists the known ones:
/// ```
/// use sasnet::api::Preset;  // = sasnet::config::Preset
/// assert_eq!("row-mnist".parse::<Preset>().unwrap(), Preset::RowMnist);
/// let e = "rowmnist".parse::<Preset>().unwrap_err();
/// assert!(matches!(e, sasnet::SasError::UnknownName { .. }));
/// assert!(e.to_string().contains("row-mnist"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Multisensory integration (recurrent, no data needed).
    Msi,
    /// Row-by-row MNIST (recurrent, 28 steps of 28 pixels).
    RowMnist,
    /// Pixel-by-pixel MNIST (recurrent, 784 steps of 1 pixel).
    PixelMnist,
    /// Permuted pixel MNIST (recurrent).
    PermMnist,
    /// A user's cognitive task (NeuroGym's or their own arrays): the default of a task
    /// without a preset.
    Cognitive,
    /// Feed-forward MNIST, 784-100-10.
    FfMnist,
    /// Feed-forward MNIST at the paper's full width.
    FfMnistFull,
}

impl Preset {
    /// Every preset, in listing order.
    pub const ALL: [Preset; 7] = [
        Preset::Msi,
        Preset::Cognitive,
        Preset::RowMnist,
        Preset::PixelMnist,
        Preset::PermMnist,
        Preset::FfMnist,
        Preset::FfMnistFull,
    ];

    /// The name on the command line and in `config.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Msi => "msi",
            Preset::RowMnist => "row-mnist",
            Preset::PixelMnist => "pixel-mnist",
            Preset::PermMnist => "perm-mnist",
            Preset::Cognitive => "cognitive",
            Preset::FfMnist => "ff-mnist",
            Preset::FfMnistFull => "ff-mnist-full",
        }
    }

    /// What the preset is (one line, for listings).
    pub fn about(self) -> &'static str {
        match self {
            Preset::Msi => "multisensory integration (recurrent; built in, no data needed)",
            Preset::RowMnist => "row-by-row MNIST, 28 steps (recurrent; needs the MNIST files)",
            Preset::PixelMnist => "pixel-by-pixel MNIST, 784 steps (recurrent; needs the MNIST files)",
            Preset::PermMnist => "permuted pixel MNIST, 784 steps (recurrent; needs the MNIST files)",
            Preset::Cognitive => {
                "a user task (arrays or task.path; NeuroGym conventions): α = dt/τ, one pass per epoch"
            }
            Preset::FfMnist => "feed-forward MNIST 784-100-10 (needs the MNIST files)",
            Preset::FfMnistFull => "feed-forward MNIST at the paper's width (needs the MNIST files)",
        }
    }

    /// The model family of the preset ([`crate::family::Kind::of_preset`]).
    pub fn family(self) -> crate::family::Kind {
        crate::family::Kind::of_preset(self)
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Preset {
    type Err = SasError;
    fn from_str(s: &str) -> Result<Preset> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| SasError::UnknownName {
                what: "preset",
                name: s.into(),
                known: Preset::ALL.map(Preset::name).join(", "),
            })
    }
}

/// Which task to train on.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TaskConfig {
    /// The task.
    pub kind: TaskKind,
    /// Seed of the fixed pixel permutation (`perm-mnist`).
    pub perm_seed: u64,
    /// Use only the first `train_limit` training images (0 = all).
    pub train_limit: usize,
    /// Hold out this many training images (from the end) as a validation set.
    pub validation: usize,
    /// MSI timing and noise (training protocol), milliseconds.
    pub msi: MsiSettings,
    /// Path of a user task file (`user`): a safetensors file or a directory of `.npy` files.
    pub path: String,
    /// Optional separate test file for a user task ("" = evaluate on the training file).
    pub test_path: String,
}

/// Multisensory-integration settings (docs/MODEL.md §3).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MsiSettings {
    /// Training time step, ms.
    pub dt_ms: f64,
    /// Membrane time constant τ, ms.
    pub tau_ms: f64,
    /// Training fixation / stimulus / decision periods, ms.
    pub fixation_ms: f64,
    /// Training stimulus period, ms.
    pub stimulus_ms: f64,
    /// Training decision period, ms.
    pub decision_ms: f64,
    /// Test time step, ms (finer than training).
    pub test_dt_ms: f64,
    /// Test fixation period, ms.
    pub test_fixation_ms: f64,
    /// Test stimulus period, ms.
    pub test_stimulus_ms: f64,
    /// Test decision period, ms.
    pub test_decision_ms: f64,
    /// Input baseline `x0` added to every channel.
    pub baseline: f64,
    /// Input noise `σ_in`.
    pub sigma_in: f64,
    /// Catch trials per training batch.
    pub catch_per_batch: usize,
    /// Pad every training trial to this many ms (0 = no padding; the authors' code: 2500).
    /// Stimulus trials are masked out in the padding, catch trials masked in throughout, and
    /// the loss divides by the padded `T`, so the same error gives a smaller loss and the
    /// `train.stop_loss` criterion is met earlier (docs/DEVIATIONS.md). Missing in older
    /// configurations: 0.
    #[serde(default)]
    pub pad_ms: f64,
}

/// Network sizes and dynamics.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Hidden units `N`.
    pub n: usize,
    /// Leak `α = Δt/τ` (MSI: derived from `dt_ms / tau_ms` and checked).
    pub alpha: f64,
    /// Recurrent noise `σ`.
    pub sigma: f64,
    /// Initial hidden current `h(0)` (all units).
    pub h0: f64,
    /// Spike-and-slab layers; a `false` layer runs in the deterministic limit.
    pub sas_in: bool,
    /// Recurrent layer spike-and-slab.
    pub sas_rec: bool,
    /// Readout spike-and-slab.
    pub sas_out: bool,
    /// Membrane time constant τ in ms for user tasks that record their time step (`dt`
    /// metadata, ms): then `α = dt / τ` replaces `alpha` when the run starts (the resolved
    /// value is what the run stores). 0 (the default, not written) keeps `alpha`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tau_ms: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// How a layer's means `m` start (written in configurations in kebab case: `identity`,
/// `normal`, `fan-in`, `zero`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum InitKind {
    /// The identity matrix (square layers only).
    Identity,
    /// Normal with std `m_std`.
    Normal,
    /// Normal with std `m_std/sqrt(fan-in)`.
    FanIn,
    /// All zero.
    Zero,
}

impl InitKind {
    /// The name as written in configurations.
    pub fn name(self) -> &'static str {
        match self {
            InitKind::Identity => "identity",
            InitKind::Normal => "normal",
            InitKind::FanIn => "fan-in",
            InitKind::Zero => "zero",
        }
    }
}

impl std::fmt::Display for InitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// Initialization of one layer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LayerInit {
    /// How `m` starts: `identity` (square layers), `normal` (std `m_std`), `fan-in` (std
    /// `m_std/sqrt(fan-in)`) or `zero`.
    pub m: InitKind,
    /// Standard deviation for `normal` / scale for `fan-in`.
    pub m_std: f64,
    /// `Ξ ~ xi_max · U(0, 1)` (0 for deterministic layers).
    pub xi_max: f64,
    /// Initial `π`.
    pub pi: f64,
}

/// Initialization of the three layers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InitConfig {
    /// Input layer.
    #[serde(rename = "in")]
    pub inp: LayerInit,
    /// Recurrent layer.
    pub rec: LayerInit,
    /// Readout.
    pub out: LayerInit,
}

/// Settings of one parameter group (`m`, `pi` or `xi` of one layer).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decoupled weight decay (AdamW style: `p ← p − lr·decay·p`).
    pub decay: f64,
    /// ℓ2 coefficient added to the gradient (`g ← g + l2·p`).
    pub l2: f64,
    /// Multiply the learning rate by `gamma` every `step_every` epochs (0 = never).
    pub step_every: usize,
    /// Learning-rate factor of the step schedule.
    pub gamma: f64,
    /// Never update this group.
    pub frozen: bool,
}

/// The three groups of one layer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LayerGroups {
    /// Slab means.
    pub m: GroupConfig,
    /// Spike probabilities.
    pub pi: GroupConfig,
    /// Slab variances.
    pub xi: GroupConfig,
}

impl Settings for Config {
    fn check(&self) -> Result<()> {
        self.validate()
    }

    fn named(preset: Preset) -> Result<Config> {
        Config::of_preset(preset)
    }

    fn set_seed_epochs(&mut self, seed: Option<u64>, epochs: Option<usize>) {
        self.seed = seed.unwrap_or(self.seed);
        self.train.epochs = epochs.unwrap_or(self.train.epochs);
    }
}

/// The update rule of the optimizer (`adam` or `rmsprop` in configurations).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OptimKind {
    /// Adam with bias correction.
    Adam,
    /// RMSprop without bias correction.
    Rmsprop,
}

impl std::fmt::Display for OptimKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OptimKind::Adam => "adam",
            OptimKind::Rmsprop => "rmsprop",
        })
    }
}

/// Optimizer settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// The update rule.
    pub kind: OptimKind,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
    /// RMSprop smoothing ρ.
    pub rho: f64,
    /// ε of the denominator.
    pub eps: f64,
    /// Where ε enters the denominator: `outside` the root, `g/(√s + ε)` (PyTorch's form), or
    /// `inside`, `g/√(s + ε)` (the authors' RMSprop of the MSI reference). With π learning
    /// rates of order 1 the two differ by up to 10⁴ on small gradients. Missing in
    /// configurations written before the setting existed: `outside`, what they ran.
    #[serde(default)]
    pub eps_placement: EpsPlacement,
    /// Epochs added to the 0-based epoch counter of every step schedule:
    /// `lr = lr0 · γ^⌊(epoch + offset)/step_every⌋`. The authors' scripts compute
    /// `0.5^((epoch+1)//step)`, i.e. offset 1 (the first halving after `step_every − 1`
    /// epochs). Missing in older configurations: 0.
    #[serde(default)]
    pub schedule_offset: usize,
    /// Scheduled learning rates never fall below this (the authors' MNIST scripts: 1e-8;
    /// 0 = no floor). Missing in older configurations: 0.
    #[serde(default)]
    pub lr_floor: f64,
    /// Rescale each gradient matrix to spectral norm ≤ `clip` (0 = no clipping).
    pub clip: f64,
    /// Input-layer groups.
    #[serde(rename = "in")]
    pub inp: LayerGroups,
    /// Recurrent-layer groups.
    pub rec: LayerGroups,
    /// Readout groups.
    pub out: LayerGroups,
}

/// Where ε enters an adaptive optimizer's denominator ([`OptimConfig::eps_placement`]).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EpsPlacement {
    /// `g / (√s + ε)` (PyTorch, Adam as published).
    #[default]
    Outside,
    /// `g / √(s + ε)` (the authors' RMSprop, `RNN_SaS_cogni.py`).
    Inside,
}

/// The training loop.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Trials per minibatch.
    pub batch: usize,
    /// Minibatches per epoch; 0 (user tasks only) = one pass over the training trials,
    /// `⌈trials / batch⌉`, resolved when the run starts.
    pub minibatches: usize,
    /// Maximum epochs.
    pub epochs: usize,
    /// Stop when the epoch's training loss is ≤ this (0 = never) ...
    pub stop_loss: f64,
    /// ... but not before this many epochs.
    pub stop_after: usize,
    /// Sample chunks per batch (threads work on chunks; results depend on this, not on threads).
    pub chunks: usize,
    /// Save the parameters of every epoch to `history.safetensors` (synaptic-dynamics analyses).
    pub history: bool,
    /// Hold the mean-field noise `ε_u`, `ε_out` fixed within each training trial (one draw
    /// per sample, reused at every step; recurrent noise stays fresh):
    /// the engine's `TrialFixedNoise`. Default `false` (fresh ε every step, the
    /// paper's training); a configuration without the key reads as `false`.
    #[serde(default)]
    pub eps_fixed_in_trial: bool,
}

/// Evaluation settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Evaluate every this many epochs during training (0 = only at the end).
    pub every: usize,
    /// Test trials evaluated during training (MNIST: first images of the test set; 0 = all).
    pub during_limit: usize,
    /// MSI test protocol: trials per condition (`sasnet eval`).
    pub trials_per_condition: usize,
    /// MSI test protocol during training: trials per condition.
    pub during_trials_per_condition: usize,
    /// Batch size for evaluation.
    pub batch: usize,
}

impl Config {
    /// The leak `α` of the test protocol: MSI tests at a finer Δt (`test_dt_ms / tau_ms`);
    /// other tasks test with the training `α`.
    pub fn test_alpha(&self) -> f64 {
        if self.task.kind == crate::config::TaskKind::Msi {
            self.task.msi.test_dt_ms / self.task.msi.tau_ms
        } else {
            self.model.alpha
        }
    }

    /// Checks every value; the error names the key and why it is invalid.
    pub fn validate(&self) -> Result<()> {
        let bad = crate::config::bad;
        crate::config::check_seed(self.seed)?;
        let m = &self.model;
        if m.n == 0 {
            return bad("model.n", "must be at least 1".into());
        }
        if !(m.alpha > 0.0 && m.alpha <= 1.0) {
            return bad("model.alpha", format!("{} is not in (0, 1]", m.alpha));
        }
        if !(m.sigma >= 0.0 && m.sigma.is_finite()) {
            return bad("model.sigma", format!("{} is not a finite value ≥ 0", m.sigma));
        }
        if !m.h0.is_finite() {
            return bad("model.h0", "must be finite".into());
        }
        if self.task.kind == crate::config::TaskKind::Msi {
            let s = &self.task.msi;
            for (k, v) in [
                ("dt_ms", s.dt_ms),
                ("tau_ms", s.tau_ms),
                ("fixation_ms", s.fixation_ms),
                ("stimulus_ms", s.stimulus_ms),
                ("decision_ms", s.decision_ms),
                ("test_dt_ms", s.test_dt_ms),
                ("test_fixation_ms", s.test_fixation_ms),
                ("test_stimulus_ms", s.test_stimulus_ms),
                ("test_decision_ms", s.test_decision_ms),
            ] {
                if !(v > 0.0 && v.is_finite()) {
                    return bad(
                        &format!("task.msi.{k}"),
                        format!("{v} is not a positive duration"),
                    );
                }
            }
            if s.dt_ms > s.tau_ms {
                return bad(
                    "task.msi.dt_ms",
                    format!("Δt = {} ms exceeds τ = {} ms", s.dt_ms, s.tau_ms),
                );
            }
            let a = s.dt_ms / s.tau_ms;
            if (a - m.alpha).abs() > 1e-9 {
                return bad(
                    "model.alpha",
                    format!(
                        "{} differs from task.msi.dt_ms / tau_ms = {a} (set both consistently)",
                        m.alpha
                    ),
                );
            }
            if !(s.sigma_in >= 0.0 && s.sigma_in.is_finite()) {
                return bad("task.msi.sigma_in", format!("{} is not ≥ 0", s.sigma_in));
            }
            let trial_ms = s.fixation_ms + s.stimulus_ms + s.decision_ms;
            if !(s.pad_ms.is_finite() && s.pad_ms >= 0.0) || (s.pad_ms > 0.0 && s.pad_ms < trial_ms) {
                return bad(
                    "task.msi.pad_ms",
                    format!(
                        "{} is neither 0 (no padding) nor a length ≥ the training trial ({trial_ms} ms)",
                        s.pad_ms
                    ),
                );
            }
            if !s.baseline.is_finite() {
                return bad("task.msi.baseline", "must be finite".into());
            }
        }
        for (name, l, square) in [
            ("in", &self.init.inp, false),
            ("rec", &self.init.rec, true),
            ("out", &self.init.out, false),
        ] {
            if l.m == InitKind::Identity && !square {
                return bad(
                    &format!("init.{name}.m"),
                    "`identity` needs a square layer".into(),
                );
            }
            if !(l.m_std >= 0.0 && l.m_std.is_finite()) {
                return bad(&format!("init.{name}.m_std"), format!("{} is not ≥ 0", l.m_std));
            }
            if !(l.xi_max >= 0.0 && l.xi_max.is_finite()) {
                return bad(&format!("init.{name}.xi_max"), format!("{} is not ≥ 0", l.xi_max));
            }
            if !(0.0..=1.0).contains(&l.pi) {
                return bad(&format!("init.{name}.pi"), format!("{} is not in [0, 1]", l.pi));
            }
        }
        let o = &self.optim;
        for (k, v) in [("beta1", o.beta1), ("beta2", o.beta2), ("rho", o.rho)] {
            if !(0.0..1.0).contains(&v) {
                return bad(&format!("optim.{k}"), format!("{v} is not in [0, 1)"));
            }
        }
        if !(o.eps > 0.0 && o.eps.is_finite()) {
            return bad("optim.eps", format!("{} is not > 0", o.eps));
        }
        if !(o.lr_floor >= 0.0 && o.lr_floor.is_finite()) {
            return bad(
                "optim.lr_floor",
                format!("{} is not a finite number ≥ 0", o.lr_floor),
            );
        }
        if !(o.clip >= 0.0 && o.clip.is_finite()) {
            return bad("optim.clip", format!("{} is not ≥ 0", o.clip));
        }
        for (lname, lg) in [("in", &o.inp), ("rec", &o.rec), ("out", &o.out)] {
            for (kname, g) in [("m", &lg.m), ("pi", &lg.pi), ("xi", &lg.xi)] {
                let key = |f: &str| format!("optim.{lname}.{kname}.{f}");
                for (f, v) in [("lr", g.lr), ("decay", g.decay), ("l2", g.l2)] {
                    if !(v >= 0.0 && v.is_finite()) {
                        return bad(&key(f), format!("{v} is not a finite value ≥ 0"));
                    }
                }
                if !(g.gamma > 0.0 && g.gamma.is_finite()) {
                    return bad(&key("gamma"), format!("{} is not > 0", g.gamma));
                }
            }
        }
        let t = &self.train;
        if t.batch == 0 {
            return bad("train.batch", "must be at least 1".into());
        }
        if t.minibatches == 0 && self.task.kind != TaskKind::User {
            return bad(
                "train.minibatches",
                "must be at least 1 (0, one pass over the trials, is for user tasks)".into(),
            );
        }
        if !(self.model.tau_ms >= 0.0 && self.model.tau_ms.is_finite()) {
            return bad(
                "model.tau_ms",
                format!("{} is not a finite value ≥ 0", self.model.tau_ms),
            );
        }
        if t.chunks == 0 {
            return bad("train.chunks", "must be at least 1".into());
        }
        if !(t.stop_loss >= 0.0 && t.stop_loss.is_finite()) {
            return bad("train.stop_loss", format!("{} is not ≥ 0", t.stop_loss));
        }
        if self.task.kind == crate::config::TaskKind::Msi {
            let need = 24 + self.task.msi.catch_per_batch;
            if t.batch != need {
                return bad(
                    "train.batch",
                    format!(
                        "an MSI batch holds the 24 conditions + {} catch trials = {need}",
                        self.task.msi.catch_per_batch
                    ),
                );
            }
        }
        if self.eval.batch == 0 {
            return bad("eval.batch", "must be at least 1".into());
        }
        if self.eval.trials_per_condition == 0 || self.eval.during_trials_per_condition == 0 {
            return bad("eval.trials_per_condition", "must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 12-unit MSI configuration for fast tests: `epochs` epochs, no evaluation during
    /// training (one trial per condition when asked), parameter history when `history`, the
    /// test protocol at Δt = 20 ms (90 steps).
    pub(crate) fn tiny_msi(epochs: usize, history: bool) -> Config {
        let mut c = Config::preset("msi").unwrap();
        c.model.n = 12;
        c.train.epochs = epochs;
        c.train.history = history;
        c.eval.every = 0;
        c.eval.during_trials_per_condition = 1;
        c.task.msi.test_dt_ms = 20.0;
        c
    }

    /// `c` is valid and survives writing and reading as TOML.
    pub(crate) fn assert_round_trip<C: Settings + PartialEq + std::fmt::Debug>(c: &C) {
        c.check().unwrap();
        assert_eq!(&C::from_toml(&c.to_toml(), "x").unwrap(), c);
    }

    #[test]
    fn presets_are_valid_and_round_trip() {
        for p in PRESETS {
            assert_round_trip(&Config::preset(p).unwrap());
        }
    }

    #[test]
    fn presets_match_the_reference_table() {
        let c = Config::preset("msi").unwrap();
        assert_eq!(
            (c.model.n, c.model.alpha, c.model.sigma, c.model.h0),
            (150, 0.2, 0.15, 0.0)
        );
        assert_eq!(
            (c.optim.rec.pi.lr, c.optim.out.pi.lr, c.optim.rec.m.lr),
            (1.0, 0.1, 1e-3)
        );
        assert_eq!((c.optim.rec.pi.step_every, c.optim.rec.pi.gamma), (100, 0.5));
        assert_eq!((c.optim.rec.m.l2, c.optim.rec.pi.l2), (1e-3, 0.0));
        assert_eq!(
            (c.train.batch, c.train.epochs, c.train.stop_loss),
            (30, 500, 0.002)
        );
        let p = Config::preset("pixel-mnist").unwrap();
        assert_eq!(
            (
                p.model.sas_in,
                p.optim.clip,
                p.optim.rec.m.decay,
                p.optim.rec.pi.decay
            ),
            (false, 10.0, 1e-4, 0.0)
        );
        assert_eq!(
            (p.train.batch, p.train.minibatches, p.train.epochs),
            (128, 200, 200)
        );
        assert!(p.optim.inp.pi.frozen && p.optim.inp.xi.frozen);
        let r = Config::preset("row-mnist").unwrap();
        assert_eq!(
            (r.init.inp.m_std, r.init.rec.xi_max, r.model.sas_in),
            (0.53, 0.1, true)
        );
    }

    #[test]
    fn eps_fixed_in_trial_defaults_to_false_and_can_be_set() {
        let c = Config::preset("pixel-mnist").unwrap();
        assert!(!c.train.eps_fixed_in_trial);
        // A config.toml written before the key existed still loads, as `false`.
        let old = c.to_toml().replace("eps_fixed_in_trial = false\n", "");
        assert!(!old.contains("eps_fixed_in_trial"));
        assert_eq!(Config::from_toml(&old, "old.toml").unwrap(), c);
        let mut c = c;
        c.set("train.eps_fixed_in_trial=true").unwrap();
        assert!(c.train.eps_fixed_in_trial);
        assert!(
            Config::from_toml(&c.to_toml(), "x")
                .unwrap()
                .train
                .eps_fixed_in_trial
        );
        let e = c.set("train.eps_fixed_in_trial=3").unwrap_err().to_string();
        assert!(e.contains("train.eps_fixed_in_trial"), "{e}");
    }

    #[test]
    fn overrides_and_errors_name_the_key() {
        let mut c = Config::preset("msi").unwrap();
        c.merge_toml("[train]\nepochs = 7\n[optim.rec.pi]\nlr = 0.5", "f.toml")
            .unwrap();
        assert_eq!((c.train.epochs, c.optim.rec.pi.lr), (7, 0.5));
        c.set("model.sigma=0").unwrap();
        assert_eq!(c.model.sigma, 0.0);
        let e = c
            .merge_toml("[train]\nepoch = 7", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("train.epoch") && e.contains("unknown"), "{e}");
        let e = c
            .merge_toml("[train]\nepochs = \"many\"", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("train.epochs"), "{e}");
        let e = c.merge_toml("train = [", "f.toml").unwrap_err().to_string();
        assert!(e.contains("f.toml"), "{e}");
        let mut c = Config::preset("msi").unwrap();
        c.set("optim.rec.m.lr=-1").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("optim.rec.m.lr"), "{e}");
        let mut c = Config::preset("msi").unwrap();
        c.set("model.alpha=0.5").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("model.alpha"));
        let mut c = Config::preset("pixel-mnist").unwrap();
        c.set("init.out.m=identity").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("init.out.m"));
        assert!(
            Config::preset("nope")
                .unwrap_err()
                .to_string()
                .contains("unknown preset")
        );
    }

    #[test]
    fn init_kinds_are_written_by_name_and_an_unknown_one_names_the_key() {
        let mut c = Config::preset("pixel-mnist").unwrap();
        for (name, kind) in [
            ("identity", InitKind::Identity),
            ("normal", InitKind::Normal),
            ("fan-in", InitKind::FanIn),
            ("zero", InitKind::Zero),
        ] {
            c.set(&format!("init.rec.m={name}")).unwrap();
            assert_eq!((c.init.rec.m, kind.to_string().as_str()), (kind, name));
            assert!(c.to_toml().contains(&format!("m = \"{name}\"")), "{name}");
        }
        let e = c.set("init.rec.m=foo").unwrap_err().to_string();
        for part in ["init.rec.m", "`foo`", "identity", "normal", "fan-in", "zero"] {
            assert!(e.contains(part), "{part}: {e}");
        }
    }
}
