//! Training: the loop over epochs and minibatches, evaluation during training, metrics,
//! checkpoints, resume, divergence handling and parameter history (docs/MODEL.md §2, §8, §11).
//!
//! A run directory holds:
//! - `config.toml` — the resolved configuration;
//! - `metrics.csv` — one row per epoch (see [`METRICS_HEADER`]);
//! - `checkpoint.safetensors` — parameters, optimizer state and epoch, written atomically;
//! - `history/epoch-NNNNN.safetensors` — parameters after each epoch (when enabled; epoch 0 =
//!   the initialization).

pub mod init;
pub mod variant;

use crate::config::Config;
use crate::config::Settings as _;
use crate::data::source::TaskData;
use crate::engine::noise::{NoiseSource, RandomNoise, TrialFixedNoise};
use crate::engine::{Batch, Engine, EngineConfig, RunOptions, Targets};
use crate::error::{Result, SasError};
use crate::infer::{self as eval, Mode};
use crate::io::tensors::TensorWriter;
use crate::net::SasNet;
use crate::optim::Optimizer;
use crate::rng::derive_seed;
use crate::run::checkpoint;
use crate::run::fit::EpochEnd;
use crate::task::{TargetData, TrialBatch};
use std::path::{Path, PathBuf};

/// Stream key of the training noise.
const KEY_NOISE: u64 = 20;
/// Stream key of evaluation during training.
const KEY_EVAL: u64 = 21;

/// Columns of `metrics.csv`.
pub const METRICS_HEADER: &str = "epoch,train_loss,train_acc,test_loss,test_acc_mean_field,test_acc_mean,\
lr_in_m,lr_in_pi,lr_in_xi,lr_rec_m,lr_rec_pi,lr_rec_xi,lr_out_m,lr_out_pi,lr_out_xi,\
sparsity_in,sparsity_rec,sparsity_out,wall_s";

pub use crate::run::TrainOptions;

/// What a finished run reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainSummary {
    /// Run directory.
    pub run_dir: PathBuf,
    /// Completed epochs.
    pub epochs: usize,
    /// Training loss of the last epoch.
    pub train_loss: f64,
    /// Last mean-field test accuracy measured during training.
    pub test_acc: Option<f64>,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Total wall time, seconds (including earlier attempts of a resumed run).
    pub wall_s: f64,
    /// Epochs trained by this call (0: a finished run resumed, nothing to do).
    #[serde(skip)]
    pub new_epochs: usize,
}

impl TrainSummary {
    /// One line for the command line: run directory, epochs, training loss, mean-field test
    /// accuracy, wall time.
    pub fn line(&self) -> String {
        format!(
            "{}: {} epochs{}, train loss {:.5}, test accuracy (mean-field) {}, {:.1} s",
            self.run_dir.display(),
            self.epochs,
            if self.stopped_early { " (early stop)" } else { "" },
            self.train_loss,
            self.test_acc
                .map(|a| format!("{:.2}%", 100.0 * a))
                .unwrap_or_else(|| "-".into()),
            self.wall_s
        )
    }
}

/// Fraction of connections with `π` summed: `Σπ / M` per layer.
pub fn sparsity(net: &SasNet<f32>) -> [f64; 3] {
    let s = |l: &crate::sas::SasLayer<f32>| {
        l.pi.iter().map(|&p| p as f64).sum::<f64>() / l.pi.len().max(1) as f64
    };
    [s(&net.inp), s(&net.rec), s(&net.out)]
}

/// Correct/total counts of training batch `b` from its readout `z` `[S, B, K]` (the last `S`
/// steps; series targets are scored where the last step's target singles out one output,
/// per-step labels as [`crate::infer::score`] scores them).
fn batch_accuracy(b: &TrialBatch, z: &[f32]) -> (u64, u64) {
    let k = b.outputs;
    use crate::infer::argmax;
    let (mut ok, mut n) = (0, 0);
    let z_last = &z[z.len().saturating_sub(b.size * k)..];
    match &b.target {
        TargetData::StepLabels { .. } => {
            return crate::infer::score(b, z, None, &mut [(0, 0); 3]);
        }
        TargetData::Labels(l) => {
            for (i, &lab) in l.iter().enumerate() {
                ok += (argmax(&z_last[i * k..(i + 1) * k]) == lab) as u64;
                n += 1;
            }
        }
        TargetData::Series { y, mask } => {
            // Scored where the last step has a mask and the target singles out one output.
            let t = b.steps - 1;
            for i in 0..b.size {
                let o = (t * b.size + i) * k;
                let yr = &y[o..o + k];
                let distinct = yr.iter().any(|&v| v != yr[0]);
                if distinct && mask[o..o + k].iter().any(|&m| m > 0.0) {
                    ok += (argmax(&z_last[i * k..(i + 1) * k]) == argmax(yr)) as u64;
                    n += 1;
                }
            }
        }
    }
    (ok, n)
}

/// Trains `cfg` on `data` in `run_dir` through [`crate::run::fit::fit`] (lock, resume,
/// commit point, `status.json`). Fails before any work on a bad configuration, and leaves
/// the last good checkpoint in place if training diverges ([`SasError::Diverged`]) or is
/// stopped through `opts.stop` ([`SasError::Interrupted`]). `opts.observer` sees the start,
/// every minibatch, every committed epoch and the end.
pub fn train(cfg: &Config, data: &TaskData, run_dir: &Path, opts: &TrainOptions) -> Result<TrainSummary> {
    train_with(cfg, data, run_dir, opts, &|_| Ok(()))
}

/// [`train`] with `on_create`, run under the run's lock before a new run writes anything
/// else (the API stores a user task in the run directory there).
pub(crate) fn train_with(
    cfg: &Config,
    data: &TaskData,
    run_dir: &Path,
    opts: &TrainOptions,
    on_create: &dyn Fn(&Path) -> Result<()>,
) -> Result<TrainSummary> {
    let mut model = match RecurrentModel::new(cfg, data) {
        Ok(m) => m,
        Err(e) => {
            opts.notify(|o| o.finish(run_dir));
            return Err(e);
        }
    };
    crate::run::fit::fit(&mut model, run_dir, opts, &|| on_create(run_dir))
}

/// The recurrent network as a [`Model`] of the training loop.
struct RecurrentModel<'a> {
    cfg: Config,
    data: &'a TaskData,
    dims: (usize, usize),
    engine: Engine<f32>,
    test: crate::data::source::TestSet,
    h0: Vec<f32>,
    masks: Option<crate::optim::Masks>,
    net: Option<SasNet<f32>>,
    opt: Option<Optimizer>,
    grads: Option<crate::net::SasNetGrad<f32>>,
    /// Loss sum, correct and scored trials of the epoch in progress.
    acc: (f64, u64, u64),
    train_loss: f64,
    test_acc: Option<f64>,
    stopped_early: bool,
}

impl<'a> RecurrentModel<'a> {
    /// Validates `cfg` against `data` and prepares what every epoch needs.
    fn new(cfg: &Config, data: &'a TaskData) -> Result<Self> {
        cfg.validate()?;
        let cfg = crate::data::source::resolve_user_settings(cfg, data)?;
        let dims = data.io_dims();
        check_memory(&cfg, dims)?;
        let engine = Engine::<f32>::new(EngineConfig {
            alpha: cfg.model.alpha,
            sigma: cfg.model.sigma,
            chunks: cfg.train.chunks,
        })?;
        let test = data.test_set(
            &cfg,
            cfg.eval.batch,
            cfg.eval.during_limit,
            cfg.eval.during_trials_per_condition,
        );
        let h0 = vec![cfg.model.h0 as f32; cfg.train.batch * cfg.model.n];
        Ok(RecurrentModel {
            cfg,
            data,
            dims,
            engine,
            test,
            h0,
            masks: None,
            net: None,
            opt: None,
            grads: None,
            acc: (0.0, 0, 0),
            train_loss: f64::NAN,
            test_acc: None,
            stopped_early: false,
        })
    }

    fn net(&self) -> &SasNet<f32> {
        self.net.as_ref().expect("initialized or loaded")
    }

    /// Checks the network's dimensions against the configuration and the data, and builds
    /// the structural masks.
    fn adopt(&mut self, net: SasNet<f32>, opt: Optimizer) -> Result<()> {
        let (ni, nk) = self.dims;
        if net.dims().i != ni || net.dims().k != nk || net.dims().n != self.cfg.model.n {
            return Err(SasError::Shape {
                name: "checkpoint network".into(),
                got: vec![net.dims().n, net.dims().i, net.dims().k],
                expected: vec![self.cfg.model.n, ni, nk],
            });
        }
        self.masks = Some(init::masks(&self.cfg, net.dims()));
        self.net = Some(net);
        self.opt = Some(opt);
        Ok(())
    }
}

/// Fails with [`SasError::OutOfMemory`] when the network, its optimizer state and one
/// minibatch's activations of `cfg` cannot fit in the available memory.
fn check_memory(cfg: &Config, (ni, nk): (usize, usize)) -> Result<()> {
    let n = cfg.model.n as u128;
    let params = n * n + n * ni as u128 + n * nk as u128;
    // m, π, Ξ, their gradients and two optimizer moments each, f32.
    let net_bytes = params * 3 * 4 * 4;
    let steps = 1u128; // at least one step of activations per trial and unit
    let act = cfg.train.batch as u128 * n * steps * 4 * 4;
    crate::io::mem::check("the network (model.n)", net_bytes + act)
}

impl crate::run::fit::Model for RecurrentModel<'_> {
    type Summary = TrainSummary;

    fn format(&self) -> &'static str {
        checkpoint::FORMAT
    }
    fn seed(&self) -> u64 {
        self.cfg.seed
    }
    fn epochs(&self) -> usize {
        self.cfg.train.epochs
    }
    fn minibatches(&self) -> usize {
        self.cfg.train.minibatches
    }
    fn config_toml(&self) -> String {
        self.cfg.to_toml()
    }
    fn canonical_config(&self, text: &str, source: &str) -> Result<String> {
        Ok(Config::from_toml(text, source)?.to_toml())
    }
    fn metrics_header(&self) -> String {
        METRICS_HEADER.into()
    }
    fn history(&self) -> bool {
        self.cfg.train.history
    }
    fn history_shapes(&self) -> Vec<(String, Vec<usize>)> {
        crate::run::fit::layer_shapes(self.net())
    }
    fn init(&mut self) -> Result<()> {
        let (ni, nk) = self.dims;
        let net = init::init_network(&self.cfg, ni, nk);
        let opt = Optimizer::new(&self.cfg.optim, &net);
        self.adopt(net, opt)
    }
    fn load(&mut self, f: &crate::io::tensors::TensorFile) -> Result<()> {
        let ck = checkpoint::from_file(f, &self.cfg)?;
        self.adopt(ck.net, ck.optim)
    }
    fn resumed(&mut self, last_row: Option<&str>, epoch: usize) -> bool {
        // A resumed run starts from the state its last completed epoch recorded: that
        // epoch's loss and accuracy, and whether it already met the early-stop criterion
        // (then there is nothing left to train).
        let cfg = &self.cfg.train;
        if let Some(row) = last_row {
            let field = |i: usize| row.split(',').nth(i).and_then(|v| v.trim().parse::<f64>().ok());
            if let Some(l) = field(1) {
                self.train_loss = l;
                self.stopped_early = cfg.stop_loss > 0.0
                    && epoch >= cfg.stop_after
                    && epoch < cfg.epochs
                    && l <= cfg.stop_loss;
            }
            self.test_acc = field(4);
        }
        self.stopped_early
    }
    fn begin_epoch(&mut self, _epoch: usize) {
        self.acc = (0.0, 0, 0);
    }
    fn gradient(&mut self, epoch: usize, mb: usize) -> std::result::Result<f64, String> {
        let cfg = &self.cfg;
        let nk = self.dims.1;
        let b = self.data.train_batch(cfg, epoch, mb);
        let one_hot = b.one_hot();
        let targets = match &b.target {
            TargetData::Labels(_) => Targets::CrossEntropyLast(&one_hot),
            TargetData::Series { y, mask } => Targets::MaskedMse { y, mask },
            TargetData::StepLabels { labels, mask } => Targets::CrossEntropySteps { labels, mask },
        };
        let h0 = if self.h0.len() == b.size * cfg.model.n {
            self.h0.clone()
        } else {
            vec![cfg.model.h0 as f32; b.size * cfg.model.n]
        };
        let batch = Batch {
            steps: b.steps,
            size: b.size,
            x: &b.x,
            h0: &h0,
            targets,
        };
        let noise = training_noise(cfg, epoch, mb);
        let net = self.net.as_ref().expect("initialized or loaded");
        let moments = net.moments();
        let out = self
            .engine
            .run(
                &moments,
                &batch,
                noise.as_ref(),
                RunOptions {
                    grad: true,
                    ..Default::default()
                },
            )
            .map_err(|e| e.to_string())?;
        let grads = net.chain(out.grads.as_ref().expect("gradient run"));
        let last_z = &out.z[(out.out_steps.len() - 1) * b.size * nk..];
        let (o, c) = batch_accuracy(&b, if b.scores_every_step() { &out.z } else { last_z });
        self.acc.1 += o;
        self.acc.2 += c;
        self.acc.0 += out.loss;
        self.grads = Some(grads);
        Ok(out.loss)
    }
    fn nonfinite_gradient(&self) -> Option<String> {
        let g = self.grads.as_ref()?;
        g.layers()
            .into_iter()
            .find(|(_, g)| g.m.iter().chain(&g.pi).chain(&g.xi).any(|v| !v.is_finite()))
            .map(|(name, _)| name.to_string())
    }
    fn apply(&mut self, epoch: usize) {
        let (Some(net), Some(opt), Some(grads), Some(masks)) = (
            self.net.as_mut(),
            self.opt.as_mut(),
            self.grads.as_mut(),
            self.masks.as_ref(),
        ) else {
            return;
        };
        opt.step(net, grads, epoch, masks);
    }
    fn nonfinite_parameter(&self) -> Option<String> {
        self.net()
            .layers()
            .into_iter()
            .find(|(_, l)| l.m.iter().chain(&l.pi).chain(&l.xi).any(|v| !v.is_finite()))
            .map(|(name, _)| name.to_string())
    }
    fn end_epoch(&mut self, epoch: usize, wall_s: &dyn Fn() -> f64) -> Result<EpochEnd> {
        let cfg = &self.cfg;
        let (loss_sum, ok, cnt) = self.acc;
        let train_loss = loss_sum / cfg.train.minibatches as f64;
        let train_acc = if cnt > 0 { ok as f64 / cnt as f64 } else { f64::NAN };
        let done = epoch + 1;
        let stop_early =
            cfg.train.stop_loss > 0.0 && done >= cfg.train.stop_after && train_loss <= cfg.train.stop_loss;
        let is_last = done == cfg.train.epochs || stop_early;
        let eval_now = is_last || (cfg.eval.every > 0 && done.is_multiple_of(cfg.eval.every));
        let (mut test_loss, mut acc_mf, mut acc_mean) = (None, None, None);
        let net = self.net.as_ref().expect("initialized or loaded");
        if eval_now && !self.test.batches.is_empty() {
            let seed = derive_seed(cfg.seed, &[KEY_EVAL, done as u64]);
            let mf = eval::evaluate(net, cfg, self.data.kind(), &self.test, Mode::MeanField, 1, seed)?;
            let mean = eval::evaluate(net, cfg, self.data.kind(), &self.test, Mode::Mean, 1, seed)?;
            test_loss = mf.loss;
            acc_mf = Some(mf.accuracy);
            acc_mean = Some(mean.accuracy);
            self.test_acc = acc_mf;
        }
        let wall = wall_s();
        let sp = sparsity(net);
        let opt_ref = self.opt.as_ref().expect("initialized or loaded");
        let lrs: Vec<String> = (0..3)
            .flat_map(|l| (0..3).map(move |k| format!("{:e}", opt_ref.lr(l, k, epoch))))
            .collect();
        let f = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_default();
        let row = format!(
            // The loss at full precision: a resume decides the early stop from it.
            "{done},{train_loss},{},{},{},{},{},{:.6},{:.6},{:.6},{wall:.3}",
            f(Some(train_acc).filter(|a| a.is_finite())),
            f(test_loss),
            f(acc_mf),
            f(acc_mean),
            lrs.join(","),
            sp[0],
            sp[1],
            sp[2]
        );
        self.train_loss = train_loss;
        if stop_early {
            self.stopped_early = true;
        }
        Ok(EpochEnd {
            row,
            train_loss,
            test_acc: acc_mf,
            stop_early,
        })
    }
    fn checkpoint(&self, path: &Path, meta: crate::run::CheckpointMeta) -> Result<()> {
        let net = self.net();
        let opt = self.opt.as_ref().expect("initialized or loaded");
        crate::run::write_checkpoint(path, |w| checkpoint::write_params(w, net), net, opt, meta)
    }
    fn write_history(&self, path: &Path, epoch: usize) -> Result<()> {
        save_history(path, self.net(), epoch)
    }
    fn finish(
        &mut self,
        run_dir: &Path,
        epochs: usize,
        new_epochs: usize,
        wall_s: f64,
    ) -> Result<TrainSummary> {
        Ok(TrainSummary {
            run_dir: run_dir.to_path_buf(),
            epochs,
            train_loss: self.train_loss,
            test_acc: self.test_acc,
            stopped_early: self.stopped_early,
            wall_s,
            new_epochs,
        })
    }
}

/// The mean-field noise of training minibatch `mb` of `epoch`: fresh ε every step
/// ([`RandomNoise`]) or, with `train.eps_fixed_in_trial`, ε held fixed within each trial
/// ([`TrialFixedNoise`]); both keyed by (run seed, epoch, minibatch).
pub(crate) fn training_noise(cfg: &Config, epoch: usize, mb: usize) -> Box<dyn NoiseSource<f32>> {
    let seed = derive_seed(cfg.seed, &[KEY_NOISE, epoch as u64, mb as u64]);
    if cfg.train.eps_fixed_in_trial {
        Box::new(TrialFixedNoise { seed })
    } else {
        Box::new(RandomNoise { seed })
    }
}

fn save_history(path: &Path, net: &SasNet<f32>, epoch: usize) -> Result<()> {
    let mut w = TensorWriter::new();
    checkpoint::write_params(&mut w, net);
    w.meta("epoch", epoch.to_string());
    w.write(path)
}
