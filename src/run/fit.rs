//! The one training loop of both families. What differs between a recurrent and a
//! feed-forward model (initialise, one minibatch's gradient and step, evaluation at the end
//! of an epoch, its metrics row, checkpoint and history tensors, the final summary) is
//! behind [`Model`]; [`fit`] owns the run directory: its lock, a start or a resume (with
//! the checks and repairs of [`super::resume`]), the observer, the stop flag, the three
//! divergence checks, the commit point of every epoch and `status.json`.
//!
//! # The commit point
//! Every epoch (and epoch 0, the initialization, of a new run) is committed in this order:
//! 1. the history file `history/epoch-NNNNN.safetensors` (when enabled), atomically;
//! 2. `metrics.csv.next`: the whole new metrics file, atomically;
//! 3. `checkpoint.safetensors`, atomically — **the commit**;
//! 4. `metrics.csv.next` renamed to `metrics.csv`.
//!
//! A process killed before step 3 leaves the previous checkpoint, and a resume deletes what
//! steps 1–2 wrote for the uncommitted epoch; killed after step 3, the resume finishes step 4.
//! So no instant of a kill loses or duplicates a metrics row or a history file.

use super::lock::RunLock;
use super::status::{self, State, Status};
use super::{CheckpointMeta, EpochEvent, MinibatchEvent, StartEvent, TrainOptions, diverged, files, io_err};
use crate::error::{Result, SasError};
use crate::io::atomic::write_atomic;
use crate::io::tensors::TensorFile;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What an epoch's end reports to the loop.
pub(crate) struct EpochEnd {
    /// The metrics row (without newline).
    pub row: String,
    /// Training loss of the epoch.
    pub train_loss: f64,
    /// Mean-field test accuracy, when evaluated.
    pub test_acc: Option<f64>,
    /// Whether the early-stop rule ends the run here.
    pub stop_early: bool,
}

/// The model-specific part of training (recurrent or feed-forward).
pub(crate) trait Model {
    /// What a finished call reports.
    type Summary;
    /// Checkpoint format name.
    fn format(&self) -> &'static str;
    /// The run seed.
    fn seed(&self) -> u64;
    /// The epoch count it trains to.
    fn epochs(&self) -> usize;
    /// Minibatches per epoch.
    fn minibatches(&self) -> usize;
    /// The resolved configuration as TOML (`config.toml`, checkpoint metadata `config`).
    fn config_toml(&self) -> String;
    /// `text` (a stored configuration from `source`) parsed and written back as TOML, so
    /// that two configurations compare key by key.
    fn canonical_config(&self, text: &str, source: &str) -> Result<String>;
    /// The header of `metrics.csv`.
    fn metrics_header(&self) -> String;
    /// Whether the parameter history is kept.
    fn history(&self) -> bool;
    /// Tensor names and shapes of a history file of this network.
    fn history_shapes(&self) -> Vec<(String, Vec<usize>)>;
    /// A new network and optimizer (a new run).
    fn init(&mut self) -> Result<()>;
    /// Network and optimizer from checkpoint `f` (its format already checked).
    fn load(&mut self, f: &TensorFile) -> Result<()>;
    /// A resumed run's state from its last metrics row; returns whether it had already
    /// stopped early (then nothing is left to train).
    fn resumed(&mut self, last_row: Option<&str>, epoch: usize) -> bool;
    /// Called before the first minibatch of (0-based) `epoch`.
    fn begin_epoch(&mut self, epoch: usize);
    /// The gradient of minibatch `mb` of `epoch`; its loss, or the engine's error message.
    fn gradient(&mut self, epoch: usize, mb: usize) -> std::result::Result<f64, String>;
    /// The layer of the last gradient holding a non-finite value, if any.
    fn nonfinite_gradient(&self) -> Option<String>;
    /// One optimizer step with the last gradient.
    fn apply(&mut self, epoch: usize);
    /// The layer holding a non-finite parameter, if any.
    fn nonfinite_parameter(&self) -> Option<String>;
    /// Evaluates the end of (0-based) `epoch` and builds its metrics row; `wall_s()` is the
    /// run's wall time so far (s).
    fn end_epoch(&mut self, epoch: usize, wall_s: &dyn Fn() -> f64) -> Result<EpochEnd>;
    /// Writes the checkpoint to `path` with `meta`.
    fn checkpoint(&self, path: &Path, meta: CheckpointMeta) -> Result<()>;
    /// Writes the history file of `epoch` to `path`.
    fn write_history(&self, path: &Path, epoch: usize) -> Result<()>;
    /// The summary of the call: `epochs` completed in total, `new_epochs` in this call,
    /// `wall_s` in total.
    fn finish(
        &mut self,
        run_dir: &Path,
        epochs: usize,
        new_epochs: usize,
        wall_s: f64,
    ) -> Result<Self::Summary>;
}

/// Tensor names and shapes of the parameters of `net` as checkpoints and history files
/// store them (`<layer>.m|pi|xi`, `rows × cols`).
pub(crate) fn layer_shapes<E: crate::sas::Ensemble + ?Sized>(net: &E) -> Vec<(String, Vec<usize>)> {
    net.named_layers()
        .into_iter()
        .flat_map(|(name, l)| ["m", "pi", "xi"].map(|k| (format!("{name}.{k}"), vec![l.rows, l.cols])))
        .collect()
}

/// The history file of `epoch` in `run_dir`.
pub(crate) fn history_path(run_dir: &Path, epoch: usize) -> PathBuf {
    run_dir
        .join(files::HISTORY)
        .join(format!("epoch-{epoch:05}.safetensors"))
}

/// Trains `model` in `run_dir` (see the module documentation). `on_create` runs under the
/// lock before a new run writes anything else (e.g. storing a user task in the run).
///
/// With `opts.resume`, a run directory without a checkpoint (missing, empty, or killed
/// before its first commit) starts a new run, and a finished one trains nothing more: the
/// call is idempotent.
pub(crate) fn fit<M: Model>(
    model: &mut M,
    run_dir: &Path,
    opts: &TrainOptions,
    on_create: &dyn Fn() -> Result<()>,
) -> Result<M::Summary> {
    let r = fit_locked(model, run_dir, opts, on_create);
    opts.notify(|o| o.finish(run_dir));
    r
}

fn fit_locked<M: Model>(
    model: &mut M,
    run_dir: &Path,
    opts: &TrainOptions,
    on_create: &dyn Fn() -> Result<()>,
) -> Result<M::Summary> {
    std::fs::create_dir_all(run_dir).map_err(io_err("creating", run_dir))?;
    // The lock first: a run in use is reported as such, and an unwritable folder fails here.
    let _lock = RunLock::acquire(run_dir)?;
    if !opts.resume {
        super::check_new(run_dir)?;
    }
    let resume = run_dir.join(files::CHECKPOINT).exists();
    let mut status = Status {
        state: State::Running,
        epoch: 0,
        epochs: model.epochs(),
        started: status::now_iso(),
        updated: status::now_iso(),
        ended: None,
        error: None,
        repairs: Vec::new(),
        attempts: Vec::new(),
    };
    let mut repairs_before = 0;
    let (start_epoch, wall_before, rows) = if resume {
        let r = super::resume::open(model, run_dir)?;
        if let Some(old) = status::read_raw(run_dir) {
            status.started = old.started;
            status.attempts = old.attempts;
            status.repairs = old.repairs;
        }
        repairs_before = status.repairs.len();
        status.repairs.extend(r.repairs);
        (r.epoch, r.wall_s, r.rows)
    } else {
        // Nothing committed: what an earlier, killed start left is discarded.
        super::resume::clear_uncommitted(run_dir)?;
        on_create()?;
        write_atomic(&run_dir.join(files::CONFIG), model.config_toml().as_bytes())?;
        model.init()?;
        if model.history() {
            let h = run_dir.join(files::HISTORY);
            std::fs::create_dir_all(&h).map_err(io_err("creating", &h))?;
        }
        commit(model, run_dir, &[], 0, 0.0)?;
        (0, 0.0, Vec::new())
    };
    status.epoch = start_epoch;
    status.attempts.push(status::attempt(&opts.command, start_epoch));
    let done_before =
        model.resumed(rows.last().map(String::as_str), start_epoch) || start_epoch >= model.epochs();
    if !done_before {
        status::write(run_dir, &status)?;
    }
    let r = train_epochs(
        model,
        run_dir,
        opts,
        rows,
        start_epoch,
        wall_before,
        &mut status,
        done_before,
    );
    let now = status::now_iso();
    let (state, error) = match &r {
        Ok((_, stopped_early)) if *stopped_early => (State::StoppedEarly, None),
        Ok(_) => (State::Finished, None),
        Err(e @ SasError::Diverged { .. }) => (State::Diverged, Some(e.to_string())),
        Err(e @ SasError::Interrupted { .. }) => (State::Interrupted, Some(e.to_string())),
        Err(e) => (State::Failed, Some(e.to_string())),
    };
    let repaired = status.repairs.len() > repairs_before;
    if done_before && r.is_ok() && !repaired && status::read_raw(run_dir).is_some_and(|s| s.state.is_done()) {
        // A finished run resumed: nothing trained, nothing written.
    } else {
        status.state = state;
        status.error = error;
        status.updated = now.clone();
        status.ended = Some(now.clone());
        if let Some(s) = status.attempts.last_mut() {
            s.ended = Some(now);
            s.end_epoch = status.epoch;
            s.state = state;
        }
        let w = status::write(run_dir, &status);
        if r.is_ok() {
            w?;
        }
    }
    let (wall, _) = r?;
    let new_epochs = status.epoch - start_epoch;
    model.finish(run_dir, status.epoch, new_epochs, wall)
}

/// The loop over epochs and minibatches; returns the total wall time and whether the
/// early-stop rule ended the run.
#[allow(clippy::too_many_arguments)]
fn train_epochs<M: Model>(
    model: &mut M,
    run_dir: &Path,
    opts: &TrainOptions,
    mut rows: Vec<String>,
    start_epoch: usize,
    wall_before: f64,
    status: &mut Status,
    done_before: bool,
) -> Result<(f64, bool)> {
    let ckpt_path = run_dir.join(files::CHECKPOINT);
    let minibatches = model.minibatches();
    opts.notify(|o| {
        o.start(&StartEvent {
            run_dir,
            seed: model.seed(),
            start_epoch,
            epochs: model.epochs(),
            minibatches,
        })
    });
    let t_start = Instant::now();
    let mut wall = wall_before;
    if done_before {
        let stopped = start_epoch < model.epochs();
        return Ok((wall, stopped));
    }
    for epoch in start_epoch..model.epochs() {
        model.begin_epoch(epoch);
        for mb in 0..minibatches {
            opts.check_stop(run_dir, epoch)?;
            let loss = model
                .gradient(epoch, mb)
                .map_err(|e| diverged(epoch, mb, &e, &ckpt_path))?;
            if let Some(layer) = model.nonfinite_gradient() {
                let what = format!("non-finite gradient in layer {layer}");
                return Err(diverged(epoch, mb, &what, &ckpt_path));
            }
            model.apply(epoch);
            if let Some(layer) = model.nonfinite_parameter() {
                let what = format!("non-finite parameter in layer {layer}");
                return Err(diverged(epoch, mb, &what, &ckpt_path));
            }
            opts.notify(|o| {
                o.minibatch(&MinibatchEvent {
                    run_dir,
                    epoch: epoch + 1,
                    minibatch: mb + 1,
                    minibatches,
                    loss,
                })
            });
        }
        let done = epoch + 1;
        let end = model.end_epoch(epoch, &|| wall_before + t_start.elapsed().as_secs_f64())?;
        wall = wall_before + t_start.elapsed().as_secs_f64();
        rows.push(end.row);
        commit(model, run_dir, &rows, done, wall)?;
        status.epoch = done;
        status.updated = status::now_iso();
        if let Some(s) = status.attempts.last_mut() {
            s.end_epoch = done;
        }
        status::write(run_dir, status)?;
        opts.notify(|o| {
            o.epoch(&EpochEvent {
                run_dir,
                epoch: done,
                epochs: model.epochs(),
                train_loss: end.train_loss,
                test_acc: end.test_acc,
                wall_s: wall,
                stopped_early: end.stop_early,
            })
        });
        if end.stop_early {
            return Ok((wall, true));
        }
    }
    Ok((wall, false))
}

/// Commits `epoch` (see the module documentation): history, `metrics.csv.next` (header and
/// `rows`), the checkpoint (the commit), then `metrics.csv`.
fn commit<M: Model>(model: &M, run_dir: &Path, rows: &[String], epoch: usize, wall_s: f64) -> Result<()> {
    if model.history() {
        model.write_history(&history_path(run_dir, epoch), epoch)?;
    }
    let next = run_dir.join(super::METRICS_NEXT);
    write_atomic(
        &next,
        super::metrics_text(&model.metrics_header(), rows).as_bytes(),
    )?;
    let meta = CheckpointMeta {
        format: model.format(),
        epoch,
        seed: model.seed(),
        wall_s,
        config: model.config_toml(),
    };
    model.checkpoint(&run_dir.join(files::CHECKPOINT), meta)?;
    super::finish_metrics_commit(run_dir)
}
