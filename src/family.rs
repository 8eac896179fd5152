//! The two model families — the recurrent network ([`Recurrent`]) and the feed-forward one
//! ([`FeedForward`]) — behind one trait, so that run data, the analysis registry, the seed
//! fan-out and the command line are written once. Which family a preset or a run directory
//! belongs to is decided in one place ([`Kind::of_preset`], [`Kind::of_run`]).

use crate::config::Config;
use crate::error::{Result, SasError};
use crate::ff::FfConfig;
use crate::ff::FfNet;
use crate::io::tensors::TensorFile;
use crate::net::SasNet;
use crate::run::files;
use crate::sas::Ensemble;
use std::fmt::Debug;
use std::path::Path;

/// Which family a preset or a run belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Recurrent spike-and-slab network (MSI, sequential MNIST, user tasks).
    Recurrent,
    /// Feed-forward spike-and-slab network (`ff-mnist`, `ff-mnist-full`).
    FeedForward,
}

impl Kind {
    /// The family of `preset` (also [`crate::config::Preset::family`]).
    pub fn of_preset(preset: crate::config::Preset) -> Kind {
        use crate::config::Preset;
        match preset {
            Preset::FfMnist | Preset::FfMnistFull => Kind::FeedForward,
            Preset::Msi | Preset::RowMnist | Preset::PixelMnist | Preset::PermMnist | Preset::Cognitive => {
                Kind::Recurrent
            }
        }
    }

    /// The family of the run in `dir`, from its checkpoint's `format` (a directory without a
    /// readable checkpoint counts as recurrent, whose loader then names the problem).
    pub fn of_run(dir: &Path) -> Kind {
        TensorFile::open(&dir.join(files::CHECKPOINT)).map_or(Kind::Recurrent, |f| Kind::of_checkpoint(&f))
    }

    /// The family of an opened checkpoint, from its `format` metadata.
    pub(crate) fn of_checkpoint(f: &TensorFile) -> Kind {
        let ff = f
            .metadata()
            .get("format")
            .is_some_and(|v| v == crate::run::FF_FORMAT);
        if ff { Kind::FeedForward } else { Kind::Recurrent }
    }

    /// The family of the runs in `dirs` (the first decides; mixing families is an error).
    pub fn of_runs(dirs: &[std::path::PathBuf]) -> Result<Kind> {
        let Some(first) = dirs.first() else {
            return Err(SasError::InvalidArgument {
                name: "run directories".into(),
                reason: "no run directory given".into(),
            });
        };
        let k = Kind::of_run(first);
        if let Some(d) = dirs.iter().find(|d| Kind::of_run(d) != k) {
            return Err(SasError::MixedFamilies {
                first: first.clone(),
                other: d.clone(),
            });
        }
        Ok(k)
    }
}

/// A model family: its configuration, its network (an [`Ensemble`] of spike-and-slab
/// layers) and how a run directory of it is read.
pub trait Family: Clone + Debug + Send + Sync + 'static {
    /// The family's [`Kind`].
    const KIND: Kind;
    /// The resolved configuration of a run.
    type Config: Clone + Debug + PartialEq + Send + Sync;
    /// The trained network (`f32` parameters).
    type Net: Ensemble + Clone + Debug + Send + Sync;
    /// The configuration, network and completed epochs of the run in `dir`.
    fn load_run(dir: &Path) -> Result<(Self::Config, Self::Net, usize)>;
    /// [`Family::load_run`] with the run's checkpoint `ck` already opened.
    fn load_run_from(dir: &Path, ck: &TensorFile) -> Result<(Self::Config, Self::Net, usize)>;
    /// The run's seed.
    fn seed(cfg: &Self::Config) -> u64;
    /// The preset the configuration started from.
    fn preset(cfg: &Self::Config) -> &str;
    /// The task name used for the task's defaults (the VIP rule): `msi`, `pixel-mnist`, …, or
    /// `ff` for feed-forward runs.
    fn task(cfg: &Self::Config) -> &str;
    /// One phrase describing the network for captions: `task msi, N = 150` or `784-100-10`.
    fn setup(cfg: &Self::Config, net: &Self::Net) -> String;
    /// The configuration with the settings that may differ between seeds of one
    /// configuration (`seed`, `train.epochs`) cleared.
    fn normalized(cfg: &Self::Config) -> Self::Config;
}

/// The recurrent family ([`Config`], [`SasNet`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Recurrent;

/// The feed-forward family ([`FfConfig`], [`FfNet`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct FeedForward;

impl Family for Recurrent {
    const KIND: Kind = Kind::Recurrent;
    type Config = Config;
    type Net = SasNet<f32>;

    /// Relative user-task paths come back resolved against the run directory (a run's own
    /// copy of its task) or the current directory.
    fn load_run(dir: &Path) -> Result<(Config, SasNet<f32>, usize)> {
        let (mut cfg, net, epoch) = crate::run::checkpoint::load_run(dir)?;
        crate::data::source::resolve_task_paths(&mut cfg, Some(dir));
        Ok((cfg, net, epoch))
    }

    fn load_run_from(dir: &Path, ck: &TensorFile) -> Result<(Config, SasNet<f32>, usize)> {
        let (mut cfg, net, epoch) = crate::run::checkpoint::load_run_from(dir, ck)?;
        crate::data::source::resolve_task_paths(&mut cfg, Some(dir));
        Ok((cfg, net, epoch))
    }

    fn seed(cfg: &Config) -> u64 {
        cfg.seed
    }

    fn preset(cfg: &Config) -> &str {
        cfg.preset.name()
    }

    fn task(cfg: &Config) -> &str {
        cfg.task.kind.as_str()
    }

    fn setup(cfg: &Config, net: &SasNet<f32>) -> String {
        format!("task {}, N = {}", cfg.task.kind, net.dims().n)
    }

    fn normalized(cfg: &Config) -> Config {
        let mut c = cfg.clone();
        c.seed = 0;
        c.train.epochs = 0;
        c
    }
}

impl Family for FeedForward {
    const KIND: Kind = Kind::FeedForward;
    type Config = FfConfig;
    type Net = FfNet<f32>;

    fn load_run(dir: &Path) -> Result<(FfConfig, FfNet<f32>, usize)> {
        crate::ff::load_run(dir)
    }

    fn load_run_from(dir: &Path, ck: &TensorFile) -> Result<(FfConfig, FfNet<f32>, usize)> {
        crate::ff::model::load_run_from(dir, ck)
    }

    fn seed(cfg: &FfConfig) -> u64 {
        cfg.seed
    }

    fn preset(cfg: &FfConfig) -> &str {
        cfg.preset.name()
    }

    fn task(_cfg: &FfConfig) -> &str {
        "ff"
    }

    fn setup(cfg: &FfConfig, _net: &FfNet<f32>) -> String {
        let sizes: Vec<String> = cfg.model.sizes.iter().map(|s| s.to_string()).collect();
        sizes.join("-")
    }

    fn normalized(cfg: &FfConfig) -> FfConfig {
        let mut c = cfg.clone();
        c.seed = 0;
        c.train.epochs = 0;
        c
    }
}
