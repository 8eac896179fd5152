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
use crate::run::{EpochEvent, MinibatchEvent, StartEvent, checkpoint, diverged, files, io_err};
use crate::task::{TargetData, TrialBatch};
use std::path::{Path, PathBuf};
use std::time::Instant;

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
    /// Total wall time, seconds (including earlier sessions of a resumed run).
    pub wall_s: f64,
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

/// Trains `cfg` on `data` in `run_dir`. Fails before any work on a bad configuration, and
/// leaves the last good checkpoint in place if training diverges
/// ([`SasError::Diverged`]) or is stopped through `opts.stop` ([`SasError::Interrupted`]).
/// `opts.observer` sees the start, every minibatch, every committed epoch and the end.
pub fn train(cfg: &Config, data: &TaskData, run_dir: &Path, opts: &TrainOptions) -> Result<TrainSummary> {
    let r = train_run(cfg, data, run_dir, opts);
    opts.notify(|o| o.finish(run_dir));
    r
}

fn train_run(cfg: &Config, data: &TaskData, run_dir: &Path, opts: &TrainOptions) -> Result<TrainSummary> {
    cfg.validate()?;
    let cfg = &crate::data::source::resolve_user_settings(cfg, data)?;
    let (ni, nk) = data.io_dims();
    let ckpt_path = run_dir.join(files::CHECKPOINT);
    let hist_dir = run_dir.join(files::HISTORY);

    let (mut net, mut opt, start_epoch, wall_before, mut rows) = if opts.resume {
        crate::run::check_resume(run_dir, cfg, Config::from_toml, |c| c.train.epochs = 0)?;
        let ck = checkpoint::load(&ckpt_path, cfg)?;
        let rows = crate::run::metrics_rows_upto(run_dir, ck.epoch);
        (ck.net, ck.optim, ck.epoch, ck.wall_s, rows)
    } else {
        crate::run::create(run_dir, &cfg.to_toml())?;
        let net = init::init_network(cfg, ni, nk);
        let opt = Optimizer::new(&cfg.optim, &net);
        (net, opt, 0, 0.0, Vec::new())
    };
    if net.dims().i != ni || net.dims().k != nk || net.dims().n != cfg.model.n {
        return Err(SasError::Shape {
            name: "checkpoint network".into(),
            got: vec![net.dims().n, net.dims().i, net.dims().k],
            expected: vec![cfg.model.n, ni, nk],
        });
    }
    let masks = init::masks(cfg, net.dims());
    if cfg.train.history {
        std::fs::create_dir_all(&hist_dir).map_err(io_err("creating", &hist_dir))?;
        if start_epoch == 0 {
            save_history(&hist_dir, &net, 0)?;
        }
    }
    let mut engine = Engine::<f32>::new(EngineConfig {
        alpha: cfg.model.alpha,
        sigma: cfg.model.sigma,
        chunks: cfg.train.chunks,
    })?;
    let test = data.test_set(
        cfg,
        cfg.eval.batch,
        cfg.eval.during_limit,
        cfg.eval.during_trials_per_condition,
    );
    let h0 = vec![cfg.model.h0 as f32; cfg.train.batch * cfg.model.n];
    opts.notify(|o| {
        o.start(&StartEvent {
            run_dir,
            seed: cfg.seed,
            start_epoch,
            epochs: cfg.train.epochs,
            minibatches: cfg.train.minibatches,
        })
    });
    let t_start = Instant::now();
    let mut last = TrainSummary {
        run_dir: run_dir.to_path_buf(),
        epochs: start_epoch,
        train_loss: f64::NAN,
        test_acc: None,
        stopped_early: false,
        wall_s: wall_before,
    };
    // A resumed run starts from the state its last completed epoch recorded: that epoch's
    // loss and accuracy, and whether it already met the early-stop criterion (then there is
    // nothing left to train).
    if let Some(row) = rows.last() {
        let field = |i: usize| row.split(',').nth(i).and_then(|v| v.trim().parse::<f64>().ok());
        if let Some(l) = field(1) {
            last.train_loss = l;
            last.stopped_early = cfg.train.stop_loss > 0.0
                && start_epoch >= cfg.train.stop_after
                && start_epoch < cfg.train.epochs
                && l <= cfg.train.stop_loss;
        }
        last.test_acc = field(4);
    }
    let end_epoch = if last.stopped_early {
        start_epoch
    } else {
        cfg.train.epochs
    };
    for epoch in start_epoch..end_epoch {
        let (mut loss_sum, mut ok, mut cnt) = (0.0, 0u64, 0u64);
        for mb in 0..cfg.train.minibatches {
            opts.check_stop(run_dir, epoch)?;
            let b = data.train_batch(cfg, epoch, mb);
            let one_hot = b.one_hot();
            let targets = match &b.target {
                TargetData::Labels(_) => Targets::CrossEntropyLast(&one_hot),
                TargetData::Series { y, mask } => Targets::MaskedMse { y, mask },
                TargetData::StepLabels { labels, mask } => Targets::CrossEntropySteps { labels, mask },
            };
            let h0 = if h0.len() == b.size * cfg.model.n {
                h0.clone()
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
            let moments = net.moments();
            let out = engine
                .run(
                    &moments,
                    &batch,
                    noise.as_ref(),
                    RunOptions {
                        grad: true,
                        ..Default::default()
                    },
                )
                .map_err(|e| diverged(epoch, mb, &e.to_string(), &ckpt_path))?;
            let mut grads = net.chain(out.grads.as_ref().expect("gradient run"));
            let last_z = &out.z[(out.out_steps.len() - 1) * b.size * nk..];
            let (o, c) = batch_accuracy(&b, if b.scores_every_step() { &out.z } else { last_z });
            ok += o;
            cnt += c;
            loss_sum += out.loss;
            for (name, g) in grads.layers() {
                if g.m.iter().chain(&g.pi).chain(&g.xi).any(|v| !v.is_finite()) {
                    return Err(diverged(
                        epoch,
                        mb,
                        &format!("non-finite gradient in layer {name}"),
                        &ckpt_path,
                    ));
                }
            }
            opt.step(&mut net, &mut grads, epoch, &masks);
            for (name, l) in net.layers() {
                if l.m.iter().chain(&l.pi).chain(&l.xi).any(|v| !v.is_finite()) {
                    return Err(diverged(
                        epoch,
                        mb,
                        &format!("non-finite parameter in layer {name}"),
                        &ckpt_path,
                    ));
                }
            }
            opts.notify(|o| {
                o.minibatch(&MinibatchEvent {
                    run_dir,
                    epoch: epoch + 1,
                    minibatch: mb + 1,
                    minibatches: cfg.train.minibatches,
                    loss: out.loss,
                })
            });
        }
        let train_loss = loss_sum / cfg.train.minibatches as f64;
        let train_acc = if cnt > 0 { ok as f64 / cnt as f64 } else { f64::NAN };
        let done = epoch + 1;
        let stop_early =
            cfg.train.stop_loss > 0.0 && done >= cfg.train.stop_after && train_loss <= cfg.train.stop_loss;
        let is_last = done == cfg.train.epochs || stop_early;
        let eval_now = is_last || (cfg.eval.every > 0 && done % cfg.eval.every == 0);
        let (mut test_loss, mut acc_mf, mut acc_mean) = (None, None, None);
        if eval_now && !test.batches.is_empty() {
            let seed = derive_seed(cfg.seed, &[KEY_EVAL, done as u64]);
            let mf = eval::evaluate(&net, cfg, data.name(), &test, Mode::MeanField, 1, seed)?;
            let mean = eval::evaluate(&net, cfg, data.name(), &test, Mode::Mean, 1, seed)?;
            test_loss = mf.loss;
            acc_mf = Some(mf.accuracy);
            acc_mean = Some(mean.accuracy);
            last.test_acc = acc_mf;
        }
        let wall = wall_before + t_start.elapsed().as_secs_f64();
        let sp = sparsity(&net);
        let opt_ref = &opt;
        let lrs: Vec<String> = (0..3)
            .flat_map(|l| (0..3).map(move |k| format!("{:e}", opt_ref.lr(l, k, epoch))))
            .collect();
        let f = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_default();
        rows.push(format!(
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
        ));
        // Checkpoint first, then metrics: a kill in between leaves a metrics file that a
        // resume trims to the checkpoint's epoch.
        let meta = crate::run::CheckpointMeta {
            format: checkpoint::FORMAT,
            epoch: done,
            seed: cfg.seed,
            wall_s: wall,
            config: cfg.to_toml(),
        };
        crate::run::write_checkpoint(
            &ckpt_path,
            |w| checkpoint::write_params(w, &net),
            &net,
            &opt,
            meta,
        )?;
        crate::run::write_metrics(run_dir, METRICS_HEADER, &rows)?;
        if cfg.train.history {
            save_history(&hist_dir, &net, done)?;
        }
        opts.notify(|o| {
            o.epoch(&EpochEvent {
                run_dir,
                epoch: done,
                epochs: cfg.train.epochs,
                train_loss,
                test_acc: acc_mf,
                wall_s: wall,
                stopped_early: stop_early,
            })
        });
        last.epochs = done;
        last.train_loss = train_loss;
        last.wall_s = wall;
        if stop_early {
            last.stopped_early = true;
            break;
        }
    }
    Ok(last)
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

fn save_history(dir: &Path, net: &SasNet<f32>, epoch: usize) -> Result<()> {
    let mut w = TensorWriter::new();
    checkpoint::write_params(&mut w, net);
    w.meta("epoch", epoch.to_string());
    w.write(&dir.join(format!("epoch-{epoch:05}.safetensors")))
}
