//! Training a feed-forward ensemble (docs/MODEL.md §7) and its run directory.
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
use crate::run::{self as rundir, TrainOptions, check_format, diverged, files, io_err, meta_num};
use crate::sas::classes::{LayerClasses, Thresholds, layer_classes};
use crate::task::mnist::Mnist;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Checkpoint format written to the metadata.
pub const FORMAT: &str = "sasnet-ff-checkpoint-1";

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
    /// Training loss of the last epoch (NaN if no epoch ran in this session).
    pub train_loss: f64,
    /// Final evaluations: mean-field (fresh ε), mean network, sampled networks (when
    /// `eval.sampled > 0`).
    pub eval: Vec<AccuracyReport>,
    /// Weight classes per layer.
    pub classes: Vec<LayerClasses>,
    /// Total wall time, seconds (including earlier sessions of a resumed run).
    pub wall_s: f64,
}

impl RunSummary {
    /// Accuracy of evaluation mode `mode` (`mean-field`, `mean`, `sampled`), if evaluated.
    pub fn accuracy(&self, mode: EvalMode) -> Option<f64> {
        self.eval
            .iter()
            .find(|r| r.mode == mode.name())
            .map(|r| r.accuracy)
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

/// Reads a checkpoint written by the trainer for configuration `cfg`.
pub(crate) fn load_checkpoint(path: &Path, cfg: &FfConfig) -> Result<CheckpointState> {
    load_checkpoint_from(&TensorFile::open(path)?, path, cfg)
}

/// [`load_checkpoint`] from the file at `path` already opened as `f`.
pub(crate) fn load_checkpoint_from(f: &TensorFile, path: &Path, cfg: &FfConfig) -> Result<CheckpointState> {
    check_format(f, FORMAT, "a feed-forward checkpoint")?;
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

/// Loads the configuration, network and completed epochs of feed-forward run `run_dir`.
pub fn load_run(run_dir: &Path) -> Result<(FfConfig, FfNet<f32>, usize)> {
    let cfg = read_config(run_dir)?;
    let ck = load_checkpoint(&run_dir.join(files::CHECKPOINT), &cfg)?;
    Ok((cfg, ck.net, ck.epoch))
}

/// [`load_run`] with the run's checkpoint `ck` already opened.
pub(crate) fn load_run_from(run_dir: &Path, ck: &TensorFile) -> Result<(FfConfig, FfNet<f32>, usize)> {
    let cfg = read_config(run_dir)?;
    let ck = load_checkpoint_from(ck, &run_dir.join(files::CHECKPOINT), &cfg)?;
    Ok((cfg, ck.net, ck.epoch))
}

fn read_config(run_dir: &Path) -> Result<FfConfig> {
    let cfg_path = run_dir.join(files::CONFIG);
    let text = std::fs::read_to_string(&cfg_path).map_err(io_err("reading", &cfg_path))?;
    FfConfig::from_toml(&text, &cfg_path.display().to_string())
}

/// Trains `cfg` on MNIST (the first `train.train_limit` training images, tested on the first
/// `eval.test_limit` test images) in run directory `out` (a new one).
pub fn train(cfg: &FfConfig, data: &Mnist, out: &Path) -> Result<RunSummary> {
    train_mnist(cfg, data, out, &TrainOptions::default())
}

/// [`train`] with options (resume).
pub fn train_mnist(cfg: &FfConfig, data: &Mnist, out: &Path, opts: &TrainOptions) -> Result<RunSummary> {
    cfg.validate()?;
    let tr = FfData::mnist_train(data, cfg.train.train_limit)?;
    let te = FfData::mnist_test(data, cfg.eval.test_limit)?;
    train_data(cfg, &tr, &te, out, opts)
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

/// Trains `cfg` on `train_set`, evaluating on `test_set`, in run directory `out`.
///
/// Fails before any work on a bad configuration or data of the wrong width; stops with an
/// error naming the epoch if training diverges ([`SasError::Diverged`]) or is stopped through
/// `opts.stop` ([`SasError::Interrupted`]), keeping the last good checkpoint. `opts.observer`
/// sees the start, every minibatch, every committed epoch and the end.
pub fn train_data(
    cfg: &FfConfig,
    train_set: &FfData,
    test_set: &FfData,
    out: &Path,
    opts: &TrainOptions,
) -> Result<RunSummary> {
    let r = train_data_run(cfg, train_set, test_set, out, opts);
    opts.notify(|o| o.finish(out));
    r
}

fn train_data_run(
    cfg: &FfConfig,
    train_set: &FfData,
    test_set: &FfData,
    out: &Path,
    opts: &TrainOptions,
) -> Result<RunSummary> {
    let run_dir = out;
    cfg.validate()?;
    check_data(cfg, train_set, "training")?;
    check_data(cfg, test_set, "test")?;
    let ckpt_path = out.join(files::CHECKPOINT);
    let nl = cfg.model.sizes.len() - 1;
    let k = cfg.model.sizes[nl];

    let (mut net, mut opt, start_epoch, wall_before, mut rows) = if opts.resume {
        rundir::check_resume(out, cfg, FfConfig::from_toml, |c| c.train.epochs = 0)?;
        let ck = load_checkpoint(&ckpt_path, cfg)?;
        let rows = rundir::metrics_rows_upto(out, ck.epoch);
        (ck.net, ck.optim, ck.epoch, ck.wall_s, rows)
    } else {
        rundir::create(out, &cfg.to_toml())?;
        let net = init_network(cfg);
        let opt = optimizer(&cfg.optim, &net);
        (net, opt, 0, 0.0, Vec::new())
    };

    let mut engine = FfEngine::<f32>::new(cfg.train.chunks)?;
    let bsz = cfg.train.batch;
    let n = train_set.count;
    let minibatches = n.div_ceil(bsz);
    opts.notify(|o| {
        o.start(&crate::run::StartEvent {
            run_dir: out,
            seed: cfg.seed,
            start_epoch,
            epochs: cfg.train.epochs,
            minibatches,
        })
    });
    let t_start = Instant::now();
    let (mut xb, mut yb) = (Vec::new(), Vec::new());
    let mut train_loss = f64::NAN;
    for epoch in start_epoch..cfg.train.epochs {
        let order = epoch_order(cfg, n, epoch);
        if cfg.optim.reset_each_epoch {
            opt.reset();
        }
        let (mut loss_sum, mut hits) = (0.0, 0.0);
        for mb in 0..minibatches {
            opts.check_stop(run_dir, epoch)?;
            let idx = &order[mb * bsz..((mb + 1) * bsz).min(n)];
            train_set.gather(idx, k, &mut xb, &mut yb);
            let noise = LayerNoise::Random {
                seed: derive_seed(cfg.seed, &[KEY_NOISE, epoch as u64, mb as u64]),
            };
            let moments = net.moments();
            let out = engine
                .run(&moments, &xb, idx.len(), Some(&yb), noise, true)
                .map_err(|e| diverged(epoch, mb, &e.to_string(), &ckpt_path))?;
            let out_loss = out.loss;
            loss_sum += out_loss * idx.len() as f64;
            let labels: Vec<u8> = idx.iter().map(|&i| train_set.labels[i]).collect();
            hits += accuracy(&out.z, k, &labels) * idx.len() as f64;
            let mut grads = net.chain(out.grads.as_deref().expect("gradient run"));
            for (l, g) in grads.iter().enumerate() {
                if g.m.iter().chain(&g.pi).chain(&g.xi).any(|v| !v.is_finite()) {
                    let what = format!("non-finite gradient in layer {}", layer_name(l));
                    return Err(diverged(epoch, mb, &what, &ckpt_path));
                }
            }
            opt.step_layers(&mut net, grads.iter_mut().collect(), epoch, &[]);
            for (l, p) in net.layers.iter().enumerate() {
                if p.m.iter().chain(&p.pi).chain(&p.xi).any(|v| !v.is_finite()) {
                    let what = format!("non-finite parameter in layer {}", layer_name(l));
                    return Err(diverged(epoch, mb, &what, &ckpt_path));
                }
            }
            opts.notify(|o| {
                o.minibatch(&crate::run::MinibatchEvent {
                    run_dir,
                    epoch: epoch + 1,
                    minibatch: mb + 1,
                    minibatches,
                    loss: out_loss,
                })
            });
        }
        train_loss = loss_sum / n as f64;
        let train_acc = hits / n as f64;
        let done = epoch + 1;
        let eval_now = done == cfg.train.epochs || (cfg.eval.every > 0 && done % cfg.eval.every == 0);
        let (mut test_loss, mut acc_mf, mut acc_mean) = (None, None, None);
        if eval_now {
            let seed = derive_seed(cfg.seed, &[KEY_EVAL, done as u64]);
            let mf = evaluate(&net, test_set, EvalMode::MeanField, 1, cfg.train.chunks, seed)?;
            let mean = evaluate(&net, test_set, EvalMode::Mean, 1, cfg.train.chunks, seed)?;
            test_loss = Some(mf.loss);
            acc_mf = Some(mf.accuracy);
            acc_mean = Some(mean.accuracy);
        }
        let wall = wall_before + t_start.elapsed().as_secs_f64();
        let f = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_default();
        let mut row = vec![
            done.to_string(),
            format!("{train_loss:.6}"),
            format!("{train_acc:.6}"),
            f(test_loss),
            f(acc_mf),
            f(acc_mean),
        ];
        row.extend((0..3).map(|kind| format!("{:e}", opt.lr(0, kind, epoch))));
        let classes = layer_classes(&net, &Thresholds::for_task("ff"));
        row.extend(net.layers.iter().map(|l| {
            let s = l.pi.iter().map(|&p| p as f64).sum::<f64>() / l.pi.len() as f64;
            format!("{s:.6}")
        }));
        row.extend(classes.iter().map(|c| format!("{:.6}", c.vip_frac)));
        row.extend(classes.iter().map(|c| format!("{:.6}", c.uip_frac)));
        row.extend(classes.iter().map(|c| format!("{:.6}", c.variable_frac)));
        row.push(format!("{wall:.3}"));
        rows.push(row.join(","));
        // Checkpoint first, then metrics: a resume trims metrics to the checkpoint's epoch.
        let meta = rundir::CheckpointMeta {
            format: FORMAT,
            epoch: done,
            seed: cfg.seed,
            wall_s: wall,
            config: cfg.to_toml(),
        };
        rundir::write_checkpoint(&ckpt_path, |w| write_params(w, &net), &net, &opt, meta)?;
        rundir::write_metrics(out, &metrics_header(nl), &rows)?;
        opts.notify(|o| {
            o.epoch(&crate::run::EpochEvent {
                run_dir: out,
                epoch: done,
                epochs: cfg.train.epochs,
                train_loss,
                test_acc: acc_mf,
                wall_s: wall,
                stopped_early: false,
            })
        });
    }
    let wall_s = wall_before + t_start.elapsed().as_secs_f64();
    let epochs = start_epoch.max(cfg.train.epochs);
    let seed = derive_seed(cfg.seed, &[KEY_FINAL, epochs as u64]);
    let mut eval = vec![
        evaluate(&net, test_set, EvalMode::MeanField, 1, cfg.train.chunks, seed)?,
        evaluate(&net, test_set, EvalMode::Mean, 1, cfg.train.chunks, seed)?,
    ];
    if cfg.eval.sampled > 0 {
        eval.push(evaluate(
            &net,
            test_set,
            EvalMode::Sampled,
            cfg.eval.sampled,
            cfg.train.chunks,
            seed,
        )?);
    }
    let summary = RunSummary {
        run_dir: out.to_path_buf(),
        epochs,
        train_loss,
        eval,
        classes: layer_classes(&net, &Thresholds::for_task("ff")),
        wall_s,
    };
    let text = serde_json::to_string_pretty(&summary).map_err(|e| SasError::FileFormat {
        name: files::SUMMARY.into(),
        reason: e.to_string(),
    })?;
    write_atomic(&out.join(files::SUMMARY), text.as_bytes())?;
    Ok(summary)
}
