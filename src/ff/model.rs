//! The feed-forward ensemble (docs/MODEL.md §7) as a [`Model`] of the one training loop
//! ([`crate::run::fit`]), its checkpoint and its run directory.
//!
//! A run directory holds:
//! - `config.toml` — the resolved [`FfConfig`];
//! - `metrics.csv` — one row per epoch ([`metrics_header`]): training loss and accuracy
//!   (mean-field, on the training minibatches), test loss and accuracy (mean-field with fresh
//!   ε, and the mean network), learning rates, and per layer the sparsity `Σπ/M` and the
//!   fractions of VIP, UIP and variable weights;
//! - `checkpoint.safetensors` — tensors `l0.m`, `l0.pi`, `l0.xi`, `l1.*`, … (`n_{l+1} × n_l`,
//!   row = receiving unit, F32), the Adam state `optim.l<i>.<kind>.<m1|m2>`, and metadata
//!   `format`, `epoch`, `seed`, `sizes`, `wall_s`, `config`; written atomically after every
//!   epoch;
//! - `summary.json` — the final [`RunSummary`] (all evaluation modes and the weight classes).
//!
//! Every random stream is keyed by (seed, purpose, epoch, minibatch), so the epoch counter
//! is the whole RNG state: a resumed run equals an uninterrupted one.

use super::config::FfConfig;
use super::engine::{FfEngine, LayerNoise};
use super::eval::{AccuracyReport, EvalMode, evaluate};
use super::optim::optimizer;
use super::{FfData, FfNet, accuracy, layer_name};
use crate::config::Settings as _;
use crate::error::{Result, SasError};
use crate::io::atomic::write_atomic;
use crate::io::tensors::{TensorFile, TensorWriter};
use crate::optim::Optimizer;
use crate::rng::{NormalStream, derive_seed, splitmix64};
use crate::run::fit::{EpochEnd, Model};
use crate::run::{self as rundir, TrainOptions, files, io_err, meta_num};
use crate::sas::classes::{LayerClasses, Thresholds, layer_classes};
use crate::task::mnist::Mnist;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Checkpoint format written to the metadata.
pub const FORMAT: &str = crate::run::FF_FORMAT;

/// Stream keys (purposes) under the run seed.
const KEY_INIT: u64 = 30;
const KEY_SHUFFLE: u64 = 31;
const KEY_NOISE: u64 = 32;
const KEY_EVAL: u64 = 33;
const KEY_FINAL: u64 = 34;

/// What a finished run reports (also written as `summary.json`).
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// Run directory.
    pub run_dir: PathBuf,
    /// Completed epochs.
    pub epochs: usize,
    /// Training loss of the last epoch (NaN if no epoch ran in this attempt).
    pub train_loss: f64,
    /// Final evaluations: mean-field (fresh ε), mean network, sampled networks (when
    /// `eval.sampled > 0`).
    pub eval: Vec<AccuracyReport>,
    /// Weight classes per layer.
    pub classes: Vec<LayerClasses>,
    /// Total wall time, seconds (including earlier attempts of a resumed run).
    pub wall_s: f64,
    /// Epochs trained by this call (0: a finished run resumed, nothing to do).
    #[serde(skip)]
    pub new_epochs: usize,
}

impl RunSummary {
    /// Accuracy of evaluation mode `mode` (`mean-field`, `mean`, `sampled`), if evaluated.
    pub fn accuracy(&self, mode: EvalMode) -> Option<f64> {
        self.eval.iter().find(|r| r.mode == mode).map(|r| r.accuracy)
    }
}

/// The columns of `metrics.csv` for a network of `layers` layers.
pub(crate) fn metrics_header(layers: usize) -> String {
    let mut h: Vec<String> = [
        "epoch",
        "train_loss",
        "train_acc",
        "test_loss",
        "test_acc_mean_field",
        "test_acc_mean",
        "lr_m",
        "lr_pi",
        "lr_xi",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for what in ["sparsity", "vip", "uip", "variable"] {
        h.extend((0..layers).map(|l| format!("{what}_{}", layer_name(l))));
    }
    h.push("wall_s".into());
    h.join(",")
}

/// The reference initialization: `m ~ N(0, m_gain / fan_in)` (`fan_in` = `init.fan_in`, or
/// the layer's input width `n_l` when that is 0), `Ξ ~ xi_scale · U(0, 1)`, `π = init.pi`;
/// keyed by the run seed.
pub(crate) fn init_network(cfg: &FfConfig) -> FfNet<f32> {
    let mut net = FfNet::<f32>::zeros(&cfg.model.sizes);
    for (l, layer) in net.layers.iter_mut().enumerate() {
        let fan_in = if cfg.init.fan_in == 0 {
            layer.cols
        } else {
            cfg.init.fan_in
        };
        let sd = (cfg.init.m_gain / fan_in as f64).sqrt() as f32;
        NormalStream::new(derive_seed(cfg.seed, &[KEY_INIT, l as u64, 0])).fill(&mut layer.m);
        layer.m.iter_mut().for_each(|m| *m *= sd);
        let mut s = derive_seed(cfg.seed, &[KEY_INIT, l as u64, 1]);
        for x in layer.xi.iter_mut() {
            let u = (splitmix64(&mut s) >> 11) as f64 / (1u64 << 53) as f64;
            *x = (cfg.init.xi_scale * u) as f32;
        }
        layer.pi.fill(cfg.init.pi as f32);
    }
    net
}

/// The order of the `n` training examples in epoch `epoch` (a seeded Fisher–Yates shuffle, or
/// `0..n` without shuffling).
pub(crate) fn epoch_order(cfg: &FfConfig, n: usize, epoch: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    if cfg.train.shuffle {
        let mut s = derive_seed(cfg.seed, &[KEY_SHUFFLE, epoch as u64]);
        for i in (1..n).rev() {
            let j = ((splitmix64(&mut s) as u128 * (i as u128 + 1)) >> 64) as usize;
            idx.swap(i, j);
        }
    }
    idx
}

/// Writes the parameters (`l<i>.m|pi|xi`) and the `sizes` metadata into `w`.
pub(crate) fn write_params(w: &mut TensorWriter, net: &FfNet<f32>) {
    crate::sas::write_layers(w, net);
    let sizes: Vec<String> = net.sizes().iter().map(|s| s.to_string()).collect();
    w.meta("sizes", sizes.join(","));
}

/// Reads the parameters written by [`write_params`] (layers `l0`, `l1`, … until one is
/// absent); shapes must chain and values be valid.
pub(crate) fn read_params(f: &TensorFile) -> Result<FfNet<f32>> {
    let mut layers = Vec::new();
    while f.contains(&format!("{}.m", layer_name(layers.len()))) {
        let n = layer_name(layers.len());
        let s = f.shape(&format!("{n}.m"))?;
        if s.len() != 2 {
            return Err(SasError::InvalidTensor {
                name: format!("{n}.m"),
                reason: format!("has shape {s:?}, expected a matrix"),
            });
        }
        layers.push(crate::sas::read_layer(f, &n, s[0], s[1])?);
    }
    if layers.is_empty() {
        return Err(SasError::MissingTensor {
            name: "l0.m".into(),
            path: f.path().to_path_buf(),
        });
    }
    let net = FfNet { layers };
    net.validate()?;
    Ok(net)
}

/// A feed-forward checkpoint: network, optimizer state, completed epochs, wall time.
pub struct CheckpointState {
    /// The network.
    pub net: FfNet<f32>,
    /// Adam state.
    pub optim: Optimizer,
    /// Completed epochs.
    pub epoch: usize,
    /// Wall time so far, seconds.
    pub wall_s: f64,
}

/// The checkpoint in `f` (format already checked) for configuration `cfg`.
fn checkpoint_from_file(f: &TensorFile, cfg: &FfConfig) -> Result<CheckpointState> {
    let path = f.path();
    let net = read_params(f)?;
    if net.sizes() != cfg.model.sizes {
        return Err(SasError::Shape {
            name: format!("network in {}", path.display()),
            got: net.sizes(),
            expected: cfg.model.sizes.clone(),
        });
    }
    let mut optim = optimizer(&cfg.optim, &net);
    optim.load(f, &net)?;
    Ok(CheckpointState {
        net,
        optim,
        epoch: meta_num(f, "epoch")?,
        wall_s: meta_num(f, "wall_s")?,
    })
}

/// Loads the configuration, network and completed epochs of feed-forward run `run_dir`;
/// `config.toml` must equal the configuration stored in the checkpoint (except
/// `train.epochs`), else the error names the key that differs.
pub fn load_run(run_dir: &Path) -> Result<(FfConfig, FfNet<f32>, usize)> {
    load_run_from(run_dir, &TensorFile::open(&run_dir.join(files::CHECKPOINT))?)
}

/// [`load_run`] with the run's checkpoint `f` already opened.
pub(crate) fn load_run_from(run_dir: &Path, f: &TensorFile) -> Result<(FfConfig, FfNet<f32>, usize)> {
    let cfg_path = run_dir.join(files::CONFIG);
    crate::run::resume::check_family(f, FORMAT)?;
    let canon = |t: &str, s: &str| Ok(FfConfig::from_toml(t, s)?.to_toml());
    crate::run::resume::check_stored_config(f, run_dir, &canon)?;
    let text = std::fs::read_to_string(&cfg_path).map_err(io_err("reading", &cfg_path))?;
    let cfg = FfConfig::from_toml(&text, &cfg_path.display().to_string())?;
    let ck = checkpoint_from_file(f, &cfg)?;
    Ok((cfg, ck.net, ck.epoch))
}

/// Trains `cfg` on MNIST (the first `train.train_limit` training images, tested on the first
/// `eval.test_limit` test images) in run directory `out` (a new one). Exported as
/// `ff::train`.
pub fn fit_new(cfg: &FfConfig, data: &Mnist, out: &Path) -> Result<RunSummary> {
    fit_mnist(cfg, data, out, &TrainOptions::default())
}

/// [`fit_new`] with options (resume). Exported as `ff::train_mnist`.
pub fn fit_mnist(cfg: &FfConfig, data: &Mnist, out: &Path, opts: &TrainOptions) -> Result<RunSummary> {
    cfg.validate()?;
    check_memory(cfg)?;
    let tr = FfData::mnist_train(data, cfg.train.train_limit)?;
    let te = FfData::mnist_test(data, cfg.eval.test_limit)?;
    fit_data(cfg, &tr, &te, out, opts)
}

/// Fails with [`SasError::OutOfMemory`] when the network of `cfg` (parameters, gradients and
/// optimizer state) and one minibatch's activations cannot fit in the available memory.
pub(crate) fn check_memory(cfg: &FfConfig) -> Result<()> {
    let s = &cfg.model.sizes;
    let params: u128 = s.windows(2).map(|w| w[0] as u128 * w[1] as u128).sum();
    let widest = s.iter().copied().max().unwrap_or(0) as u128;
    let bytes = params * 3 * 4 * 4 + cfg.train.batch as u128 * widest * 4 * 4;
    crate::io::mem::check("the network (model.sizes)", bytes)
}

impl RunSummary {
    /// One line for the command line: run directory, epochs, training loss, the test
    /// accuracy of every evaluation mode, the VIP and UIP fractions per layer, wall time.
    pub fn line(&self) -> String {
        let acc: Vec<String> = self
            .eval
            .iter()
            .map(|r| {
                if r.accuracies.len() > 1 {
                    format!(
                        "{} {:.2}% ± {:.2}%",
                        r.mode,
                        100.0 * r.accuracy,
                        100.0 * r.accuracy_std
                    )
                } else {
                    format!("{} {:.2}%", r.mode, 100.0 * r.accuracy)
                }
            })
            .collect();
        let cls: Vec<String> = self
            .classes
            .iter()
            .map(|c| format!("{} {:.1}/{:.1}%", c.layer, 100.0 * c.vip_frac, 100.0 * c.uip_frac))
            .collect();
        format!(
            "{}: {} epochs, train loss {:.5}, test accuracy: {}; VIP/UIP {}; {:.1} s",
            self.run_dir.display(),
            self.epochs,
            self.train_loss,
            acc.join(", "),
            cls.join(", "),
            self.wall_s
        )
    }
}

fn check_data(cfg: &FfConfig, d: &FfData, name: &str) -> Result<()> {
    let s = &cfg.model.sizes;
    if d.dim != s[0] {
        return Err(SasError::Config {
            key: "model.sizes".into(),
            reason: format!(
                "the input width {} differs from the {name} data's {}",
                s[0], d.dim
            ),
        });
    }
    let k = s[s.len() - 1];
    if let Some(&l) = d.labels.iter().find(|&&l| l as usize >= k) {
        return Err(SasError::Config {
            key: "model.sizes".into(),
            reason: format!("the {name} data has label {l}, but the network has {k} outputs"),
        });
    }
    if d.count == 0 {
        return Err(SasError::Data {
            path: PathBuf::from(name),
            reason: "holds no examples".into(),
        });
    }
    Ok(())
}

/// Trains `cfg` on `train_set`, evaluating on `test_set`, in run directory `out` through
/// [`crate::run::fit::fit`] (lock, resume, commit point, `status.json`). Exported as
/// `ff::train_data`.
///
/// Fails before any work on a bad configuration or data of the wrong width; stops with an
/// error naming the epoch if training diverges ([`SasError::Diverged`]) or is stopped through
/// `opts.stop` ([`SasError::Interrupted`]), keeping the last good checkpoint. `opts.observer`
/// sees the start, every minibatch, every committed epoch and the end.
pub fn fit_data(
    cfg: &FfConfig,
    train_set: &FfData,
    test_set: &FfData,
    out: &Path,
    opts: &TrainOptions,
) -> Result<RunSummary> {
    let checks = cfg
        .validate()
        .and_then(|_| check_memory(cfg))
        .and_then(|_| check_data(cfg, train_set, "training"))
        .and_then(|_| check_data(cfg, test_set, "test"))
        .and_then(|_| FfEngine::<f32>::new(cfg.train.chunks));
    let engine = match checks {
        Ok(e) => e,
        Err(e) => {
            opts.notify(|o| o.finish(out));
            return Err(e);
        }
    };
    let mut model = FfModel {
        cfg,
        train_set,
        test_set,
        engine,
        net: None,
        opt: None,
        grads: Vec::new(),
        order: Vec::new(),
        xb: Vec::new(),
        yb: Vec::new(),
        acc: (0.0, 0.0),
        train_loss: f64::NAN,
    };
    crate::run::fit::fit(&mut model, out, opts, &|| Ok(()))
}

/// The feed-forward network as a [`Model`] of the training loop.
struct FfModel<'a> {
    cfg: &'a FfConfig,
    train_set: &'a FfData,
    test_set: &'a FfData,
    engine: FfEngine<f32>,
    net: Option<FfNet<f32>>,
    opt: Option<Optimizer>,
    grads: Vec<crate::sas::SasGrad<f32>>,
    /// The example order of the epoch in progress.
    order: Vec<usize>,
    xb: Vec<f32>,
    yb: Vec<f32>,
    /// Loss sum and hits (each weighted by minibatch size) of the epoch in progress.
    acc: (f64, f64),
    train_loss: f64,
}

impl FfModel<'_> {
    fn net(&self) -> &FfNet<f32> {
        self.net.as_ref().expect("initialized or loaded")
    }
    fn opt(&self) -> &Optimizer {
        self.opt.as_ref().expect("initialized or loaded")
    }
}

impl Model for FfModel<'_> {
    type Summary = RunSummary;

    fn format(&self) -> &'static str {
        FORMAT
    }
    fn seed(&self) -> u64 {
        self.cfg.seed
    }
    fn epochs(&self) -> usize {
        self.cfg.train.epochs
    }
    fn minibatches(&self) -> usize {
        self.train_set.count.div_ceil(self.cfg.train.batch)
    }
    fn config_toml(&self) -> String {
        self.cfg.to_toml()
    }
    fn canonical_config(&self, text: &str, source: &str) -> Result<String> {
        Ok(FfConfig::from_toml(text, source)?.to_toml())
    }
    fn metrics_header(&self) -> String {
        metrics_header(self.cfg.model.sizes.len() - 1)
    }
    fn history(&self) -> bool {
        false
    }
    fn history_shapes(&self) -> Vec<(String, Vec<usize>)> {
        crate::run::fit::layer_shapes(self.net())
    }
    fn init(&mut self) -> Result<()> {
        let net = init_network(self.cfg);
        self.opt = Some(optimizer(&self.cfg.optim, &net));
        self.net = Some(net);
        Ok(())
    }
    fn load(&mut self, f: &TensorFile) -> Result<()> {
        let ck = checkpoint_from_file(f, self.cfg)?;
        self.net = Some(ck.net);
        self.opt = Some(ck.optim);
        Ok(())
    }
    fn resumed(&mut self, _last_row: Option<&str>, _epoch: usize) -> bool {
        false
    }
    fn begin_epoch(&mut self, epoch: usize) {
        self.order = epoch_order(self.cfg, self.train_set.count, epoch);
        if self.cfg.optim.reset_each_epoch
            && let Some(o) = self.opt.as_mut()
        {
            o.reset();
        }
        self.acc = (0.0, 0.0);
    }
    fn gradient(&mut self, epoch: usize, mb: usize) -> std::result::Result<f64, String> {
        let (cfg, n) = (self.cfg, self.train_set.count);
        let k = cfg.model.sizes[cfg.model.sizes.len() - 1];
        let bsz = cfg.train.batch;
        let idx = &self.order[mb * bsz..((mb + 1) * bsz).min(n)];
        self.train_set.gather(idx, k, &mut self.xb, &mut self.yb);
        let noise = LayerNoise::Random {
            seed: derive_seed(cfg.seed, &[KEY_NOISE, epoch as u64, mb as u64]),
        };
        let net = self.net.as_ref().expect("initialized or loaded");
        let moments = net.moments();
        let out = self
            .engine
            .run(&moments, &self.xb, idx.len(), Some(&self.yb), noise, true)
            .map_err(|e| e.to_string())?;
        self.acc.0 += out.loss * idx.len() as f64;
        let labels: Vec<u8> = idx.iter().map(|&i| self.train_set.labels[i]).collect();
        self.acc.1 += accuracy(&out.z, k, &labels) * idx.len() as f64;
        self.grads = net.chain(out.grads.as_deref().expect("gradient run"));
        Ok(out.loss)
    }
    fn nonfinite_gradient(&self) -> Option<String> {
        self.grads
            .iter()
            .position(|g| g.m.iter().chain(&g.pi).chain(&g.xi).any(|v| !v.is_finite()))
            .map(layer_name)
    }
    fn apply(&mut self, epoch: usize) {
        if let (Some(net), Some(opt)) = (self.net.as_mut(), self.opt.as_mut()) {
            opt.step_layers(net, self.grads.iter_mut().collect(), epoch, &[]);
        }
    }
    fn nonfinite_parameter(&self) -> Option<String> {
        self.net()
            .layers
            .iter()
            .position(|p| p.m.iter().chain(&p.pi).chain(&p.xi).any(|v| !v.is_finite()))
            .map(layer_name)
    }
    fn end_epoch(&mut self, epoch: usize, wall_s: &dyn Fn() -> f64) -> Result<EpochEnd> {
        let (cfg, n) = (self.cfg, self.train_set.count as f64);
        let train_loss = self.acc.0 / n;
        let train_acc = self.acc.1 / n;
        let done = epoch + 1;
        let eval_now =
            done == cfg.train.epochs || (cfg.eval.every > 0 && done.is_multiple_of(cfg.eval.every));
        let (mut test_loss, mut acc_mf, mut acc_mean) = (None, None, None);
        let net = self.net();
        if eval_now {
            let seed = derive_seed(cfg.seed, &[KEY_EVAL, done as u64]);
            let mf = evaluate(net, self.test_set, EvalMode::MeanField, 1, cfg.train.chunks, seed)?;
            let mean = evaluate(net, self.test_set, EvalMode::Mean, 1, cfg.train.chunks, seed)?;
            test_loss = Some(mf.loss);
            acc_mf = Some(mf.accuracy);
            acc_mean = Some(mean.accuracy);
        }
        let wall = wall_s();
        let f = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_default();
        let mut row = vec![
            done.to_string(),
            format!("{train_loss:.6}"),
            format!("{train_acc:.6}"),
            f(test_loss),
            f(acc_mf),
            f(acc_mean),
        ];
        let opt = self.opt();
        row.extend((0..3).map(|kind| format!("{:e}", opt.lr(0, kind, epoch))));
        let classes = layer_classes(net, &Thresholds::for_task("ff"));
        row.extend(net.layers.iter().map(|l| {
            let s = l.pi.iter().map(|&p| p as f64).sum::<f64>() / l.pi.len() as f64;
            format!("{s:.6}")
        }));
        row.extend(classes.iter().map(|c| format!("{:.6}", c.vip_frac)));
        row.extend(classes.iter().map(|c| format!("{:.6}", c.uip_frac)));
        row.extend(classes.iter().map(|c| format!("{:.6}", c.variable_frac)));
        row.push(format!("{wall:.3}"));
        self.train_loss = train_loss;
        Ok(EpochEnd {
            row: row.join(","),
            train_loss,
            test_acc: acc_mf,
            stop_early: false,
        })
    }
    fn checkpoint(&self, path: &Path, meta: rundir::CheckpointMeta) -> Result<()> {
        let net = self.net();
        rundir::write_checkpoint(path, |w| write_params(w, net), net, self.opt(), meta)
    }
    fn write_history(&self, _path: &Path, _epoch: usize) -> Result<()> {
        Ok(())
    }
    fn finish(
        &mut self,
        run_dir: &Path,
        epochs: usize,
        new_epochs: usize,
        wall_s: f64,
    ) -> Result<RunSummary> {
        let (cfg, net, test_set) = (self.cfg, self.net(), self.test_set);
        let seed = derive_seed(cfg.seed, &[KEY_FINAL, epochs as u64]);
        let mut eval = vec![
            evaluate(net, test_set, EvalMode::MeanField, 1, cfg.train.chunks, seed)?,
            evaluate(net, test_set, EvalMode::Mean, 1, cfg.train.chunks, seed)?,
        ];
        if cfg.eval.sampled > 0 {
            eval.push(evaluate(
                net,
                test_set,
                EvalMode::Sampled,
                cfg.eval.sampled,
                cfg.train.chunks,
                seed,
            )?);
        }
        let summary = RunSummary {
            run_dir: run_dir.to_path_buf(),
            epochs,
            train_loss: self.train_loss,
            eval,
            classes: layer_classes(net, &Thresholds::for_task("ff")),
            wall_s,
            new_epochs,
        };
        let path = run_dir.join(files::SUMMARY);
        if new_epochs > 0 || !path.exists() {
            let text = serde_json::to_string_pretty(&summary).map_err(|e| SasError::FileFormat {
                name: files::SUMMARY.into(),
                reason: e.to_string(),
            })?;
            write_atomic(&path, text.as_bytes())?;
        }
        Ok(summary)
    }
}
