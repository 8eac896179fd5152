//! Run directories: the file names inside one ([`files`]), creating a new run or opening
//! one to resume, the per-epoch metrics file and its trimming on resume, checkpoint metadata,
//! divergence errors and the progress bar — what the recurrent and the feed-forward trainers
//! share — and the recurrent checkpoint ([`checkpoint`]).

pub mod checkpoint;
pub(crate) mod fit;
pub mod lock;
pub(crate) mod resume;
pub mod status;

use crate::error::{Result, SasError};
use crate::io::atomic::write_atomic;
use crate::io::tensors::TensorFile;
use std::path::Path;
use std::sync::atomic::Ordering;

/// File names inside a run directory.
pub mod files {
    /// Resolved configuration.
    pub const CONFIG: &str = "config.toml";
    /// Per-epoch metrics.
    pub const METRICS: &str = "metrics.csv";
    /// Latest checkpoint.
    pub const CHECKPOINT: &str = "checkpoint.safetensors";
    /// Final summary (feed-forward runs).
    pub const SUMMARY: &str = "summary.json";
    /// Parameter history folder.
    pub const HISTORY: &str = "history";
    /// Run status and provenance.
    pub const STATUS: &str = super::status::STATUS;
    /// The run directory's lock.
    pub const LOCK: &str = super::lock::LOCK;
    /// The run's own copy of a user task.
    pub const TASK: &str = "task";

    /// Every file or folder a run directory owns (outputs are never written onto them).
    pub const OWN: [&str; 9] = [
        CONFIG,
        METRICS,
        CHECKPOINT,
        SUMMARY,
        HISTORY,
        STATUS,
        LOCK,
        TASK,
        super::METRICS_NEXT,
    ];
}

/// The new metrics file written before the checkpoint commit (see [`fit`]).
pub(crate) const METRICS_NEXT: &str = "metrics.csv.next";

/// Checkpoint format of feed-forward runs.
pub const FF_FORMAT: &str = "sasnet-ff-checkpoint-1";

/// What every checkpoint carries besides the parameters: its format name, completed epochs,
/// the run seed, the wall time so far (s) and the resolved configuration as TOML.
pub struct CheckpointMeta<'a> {
    /// Format name (`sasnet-checkpoint-1`, `sasnet-ff-checkpoint-1`).
    pub format: &'a str,
    /// Completed epochs.
    pub epoch: usize,
    /// Run seed.
    pub seed: u64,
    /// Wall time of training so far, seconds.
    pub wall_s: f64,
    /// The resolved configuration (TOML).
    pub config: String,
}

/// Writes a checkpoint atomically to `path`: the parameters (`params`), the optimizer state
/// of `net`'s groups, and `meta`.
pub(crate) fn write_checkpoint<E: crate::sas::Ensemble + ?Sized>(
    path: &Path,
    params: impl FnOnce(&mut crate::io::tensors::TensorWriter),
    net: &E,
    opt: &crate::optim::Optimizer,
    meta: CheckpointMeta,
) -> Result<()> {
    let mut w = crate::io::tensors::TensorWriter::new();
    params(&mut w);
    opt.save(&mut w, net);
    w.meta("format", meta.format)
        .meta("epoch", meta.epoch.to_string())
        .meta("seed", meta.seed.to_string())
        .meta("wall_s", format!("{}", meta.wall_s))
        .meta("config", meta.config);
    w.write(path)
}

/// Where a training run stands when it starts: the run directory, the epochs already
/// completed (a resumed run) and the epochs it trains to.
#[derive(Clone, Copy, Debug)]
pub struct StartEvent<'a> {
    /// The run directory.
    pub run_dir: &'a Path,
    /// The run's seed.
    pub seed: u64,
    /// Epochs completed before this call (0 for a new run).
    pub start_epoch: usize,
    /// The epoch count it trains to (`train.epochs`).
    pub epochs: usize,
    /// Minibatches per epoch.
    pub minibatches: usize,
}

/// One finished minibatch.
#[derive(Clone, Copy, Debug)]
pub struct MinibatchEvent<'a> {
    /// The run directory.
    pub run_dir: &'a Path,
    /// The epoch in progress (1-based).
    pub epoch: usize,
    /// Minibatches of this epoch done so far (1-based).
    pub minibatch: usize,
    /// Minibatches per epoch.
    pub minibatches: usize,
    /// The minibatch's training loss.
    pub loss: f64,
}

/// One completed (committed) epoch: its checkpoint and metrics row are written.
#[derive(Clone, Copy, Debug)]
pub struct EpochEvent<'a> {
    /// The run directory.
    pub run_dir: &'a Path,
    /// Completed epochs (1-based).
    pub epoch: usize,
    /// The epoch count it trains to.
    pub epochs: usize,
    /// Mean training loss of the epoch.
    pub train_loss: f64,
    /// Mean-field test accuracy when the epoch was evaluated (fraction).
    pub test_acc: Option<f64>,
    /// Wall time of the run so far, seconds (earlier attempts included).
    pub wall_s: f64,
    /// Whether the early-stop rule ended the run at this epoch.
    pub stopped_early: bool,
}

/// Receives the events of training runs (progress bars, loggers, notebooks). Every method
/// has an empty default; several runs trained in parallel (`--seeds`) share one observer,
/// so the events carry the run directory. Called from the training threads.
///
/// An observer that stops training after the second epoch through the stop flag; the run
/// keeps two completed epochs and resumes bit for bit:
/// ```
/// use sasnet::api::{self, EpochEvent, Observer, Preset, RunConfig, TaskSource, TrainOptions};
/// use std::sync::{Arc, atomic::{AtomicBool, Ordering}};
/// struct StopAfterTwo(Arc<AtomicBool>);
/// impl Observer for StopAfterTwo {
///     fn epoch(&self, e: &EpochEvent<'_>) {
///         if e.epoch == 2 {
///             self.0.store(true, Ordering::Relaxed);
///         }
///     }
/// }
/// let stop = Arc::new(AtomicBool::new(false));
/// let opts = TrainOptions {
///     observer: Some(Arc::new(StopAfterTwo(stop.clone()))),
///     stop: Some(stop),
///     ..TrainOptions::default()
/// };
/// let cfg = RunConfig::build(Preset::Msi, None, &["model.n=20".into()], Some(1), Some(10))?;
/// let dir = std::env::temp_dir().join(format!("sasnet-doc-stop-{}", std::process::id()));
/// let e = api::train(&cfg, &TaskSource::Builtin { data_dir: None }, &dir, &opts).unwrap_err();
/// assert!(matches!(e, sasnet::SasError::Interrupted { epoch: 2, .. }));
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), sasnet::SasError>(())
/// ```
pub trait Observer: Send + Sync {
    /// A run starts or resumes.
    fn start(&self, _e: &StartEvent<'_>) {}
    /// A minibatch is done.
    fn minibatch(&self, _e: &MinibatchEvent<'_>) {}
    /// An epoch is committed.
    fn epoch(&self, _e: &EpochEvent<'_>) {}
    /// The run ends (finished, stopped early, interrupted or failed).
    fn finish(&self, _run_dir: &Path) {}
}

/// Options of a training run (either family) that are not part of the configuration.
#[derive(Clone, Default)]
pub struct TrainOptions {
    /// Continue from the run directory's checkpoint (only `train.epochs` may differ).
    pub resume: bool,
    /// Receives start, minibatch and epoch events.
    pub observer: Option<std::sync::Arc<dyn Observer>>,
    /// Polled at every minibatch boundary: once set, training stops before the next
    /// minibatch with [`SasError::Interrupted`], leaving the run at its last completed epoch
    /// (resumable bit for bit).
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The command line that started the run, recorded in `status.json` (empty: none).
    pub command: Vec<String>,
}

impl std::fmt::Debug for TrainOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainOptions")
            .field("resume", &self.resume)
            .field("observer", &self.observer.is_some())
            .field("stop", &self.stop.as_ref().map(|s| s.load(Ordering::Relaxed)))
            .field("command", &self.command)
            .finish()
    }
}

impl TrainOptions {
    /// Fails with [`SasError::Interrupted`] when the stop flag is set; `completed` is the
    /// epochs committed in `run_dir`.
    pub(crate) fn check_stop(&self, run_dir: &Path, completed: usize) -> Result<()> {
        if self.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Err(SasError::Interrupted {
                run_dir: run_dir.to_path_buf(),
                epoch: completed,
            });
        }
        Ok(())
    }

    /// Calls `f` on the observer, if any.
    pub(crate) fn notify(&self, f: impl FnOnce(&dyn Observer)) {
        if let Some(o) = &self.observer {
            f(o.as_ref());
        }
    }
}

/// An I/O error constructor for `action` (`reading`, `creating`, …) on `path`.
pub(crate) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SasError {
    let path = path.to_path_buf();
    move |source| SasError::Io { action, path, source }
}

/// `p` made absolute without following symbolic links below its longest existing
/// ancestor (which is canonicalized).
fn absolute(p: &Path) -> std::path::PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut base = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = base.canonicalize() {
            let mut out = c;
            for r in rest.iter().rev() {
                out.push(r);
            }
            return out;
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                base = parent;
            }
            _ => return abs,
        }
    }
}

/// Fails with [`SasError::InvalidArgument`] (`out`) when output path `out` is, or lies
/// inside, one of the files or folders a run in `runs` owns ([`files::OWN`]): outputs never
/// overwrite a run.
pub fn check_output(out: &Path, runs: &[std::path::PathBuf]) -> Result<()> {
    let o = absolute(out);
    for r in runs {
        let r = absolute(r);
        for own in files::OWN {
            let f = r.join(own);
            if o == f || o.starts_with(&f) {
                return Err(SasError::InvalidArgument {
                    name: "out".into(),
                    reason: format!(
                        "{} would write over {}, which belongs to the run {}; choose another output path",
                        out.display(),
                        f.display(),
                        r.display()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Fails if `run_dir` already holds a run (a checkpoint): a new run never writes over one.
pub(crate) fn check_new(run_dir: &Path) -> Result<()> {
    if run_dir.join(files::CHECKPOINT).exists() {
        return Err(SasError::Config {
            key: "out".into(),
            reason: format!(
                "{} already holds a run; use --resume to continue it or choose another --out",
                run_dir.display()
            ),
        });
    }
    Ok(())
}

/// Starts a new run in `run_dir`: fails if it already holds a checkpoint, creates the folder
/// and writes `config.toml` (`config_toml`). (Training itself goes through [`fit::fit`].)
#[cfg(test)]
pub(crate) fn create(run_dir: &Path, config_toml: &str) -> Result<()> {
    check_new(run_dir)?;
    std::fs::create_dir_all(run_dir).map_err(io_err("creating", run_dir))?;
    write_atomic(&run_dir.join(files::CONFIG), config_toml.as_bytes())
}

/// Checks that `run_dir` can be resumed with configuration `cfg`: its `config.toml`, parsed
/// by `parse(text, source)`, must equal `cfg` once `norm` has cleared on both what may
/// differ (`train.epochs`), and it must hold a checkpoint. (Training checks more, key by
/// key, in [`resume`].)
#[cfg(test)]
pub(crate) fn check_resume<C: PartialEq + Clone>(
    run_dir: &Path,
    cfg: &C,
    parse: impl Fn(&str, &str) -> Result<C>,
    norm: impl Fn(&mut C),
) -> Result<()> {
    let cfg_path = run_dir.join(files::CONFIG);
    let text = std::fs::read_to_string(&cfg_path).map_err(io_err("reading", &cfg_path))?;
    let mut saved = parse(&text, &cfg_path.display().to_string())?;
    let mut want = cfg.clone();
    norm(&mut saved);
    norm(&mut want);
    if saved != want {
        return Err(SasError::Config {
            key: "resume".into(),
            reason: format!(
                "the configuration differs from the one in {} (only train.epochs may change on resume)",
                cfg_path.display()
            ),
        });
    }
    if !run_dir.join(files::CHECKPOINT).exists() {
        return Err(SasError::Config {
            key: "resume".into(),
            reason: format!("{} has no checkpoint to resume from", run_dir.display()),
        });
    }
    Ok(())
}

/// The rows (without header) of `run_dir/metrics.csv` for epochs `≤ epoch` (a resume drops
/// rows written after the checkpoint); none if the file is missing. (Training checks more
/// in [`resume`].)
#[cfg(test)]
pub(crate) fn metrics_rows_upto(run_dir: &Path, epoch: usize) -> Vec<String> {
    let text = std::fs::read_to_string(run_dir.join(files::METRICS)).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter(|l| {
            l.split(',')
                .next()
                .and_then(|e| e.parse::<usize>().ok())
                .is_some_and(|e| e <= epoch)
        })
        .map(String::from)
        .collect()
}

/// The text of a metrics file: `header`, then `rows`, each line ending in a newline.
pub(crate) fn metrics_text(header: &str, rows: &[String]) -> String {
    let mut text = String::with_capacity(header.len() + 1 + rows.iter().map(|r| r.len() + 1).sum::<usize>());
    text.push_str(header);
    text.push('\n');
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    text
}

/// Writes `run_dir/metrics.csv` (atomically) from its header and rows.
pub(crate) fn write_metrics(run_dir: &Path, header: &str, rows: &[String]) -> Result<()> {
    write_atomic(
        &run_dir.join(files::METRICS),
        metrics_text(header, rows).as_bytes(),
    )
}

/// The last step of an epoch's commit: `metrics.csv.next` becomes `metrics.csv` (rename,
/// then the folder synced).
pub(crate) fn finish_metrics_commit(run_dir: &Path) -> Result<()> {
    let next = run_dir.join(METRICS_NEXT);
    let path = run_dir.join(files::METRICS);
    std::fs::rename(&next, &path).map_err(io_err("renaming into", &path))?;
    if let Ok(d) = std::fs::File::open(run_dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Fails unless checkpoint `f` has metadata `format` equal to `expected`; `what` names the
/// expected kind in the error (e.g. "a sasnet checkpoint").
pub(crate) fn check_format(f: &TensorFile, expected: &str, what: &str) -> Result<()> {
    match f.metadata().get("format") {
        Some(v) if v == expected => Ok(()),
        other => Err(SasError::Metadata {
            key: "format".into(),
            path: f.path().to_path_buf(),
            reason: format!("is {other:?}, expected `{expected}` (not {what})"),
        }),
    }
}

/// The number in metadata `key` of checkpoint `f`.
pub(crate) fn meta_num<T: std::str::FromStr>(f: &TensorFile, key: &str) -> Result<T> {
    let s = f.metadata().get(key).ok_or_else(|| SasError::Metadata {
        key: key.into(),
        path: f.path().to_path_buf(),
        reason: "missing (not a sasnet checkpoint?)".into(),
    })?;
    s.parse().map_err(|_| SasError::Metadata {
        key: key.into(),
        path: f.path().to_path_buf(),
        reason: format!("`{s}` is not a number"),
    })
}

/// The error of a run that diverged in (0-based) `epoch`, minibatch `mb`.
pub fn diverged(epoch: usize, mb: usize, what: &str, ckpt: &Path) -> SasError {
    SasError::Diverged {
        epoch: epoch + 1,
        minibatch: mb,
        what: what.into(),
        checkpoint: ckpt.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_trimmed_to_the_checkpoint_epoch() {
        let d = std::env::temp_dir().join(format!("sasnet-rundir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let rows: Vec<String> = (1..=4).map(|e| format!("{e},0.5")).collect();
        write_metrics(&d, "epoch,loss", &rows).unwrap();
        assert_eq!(metrics_rows_upto(&d, 2), vec!["1,0.5", "2,0.5"]);
        assert!(metrics_rows_upto(&d.join("none"), 2).is_empty());
        create(&d.join("run"), "a = 1\n").unwrap();
        std::fs::write(d.join("run").join(files::CHECKPOINT), b"x").unwrap();
        let e = create(&d.join("run"), "a = 1\n").unwrap_err().to_string();
        assert!(e.contains("already holds a run"), "{e}");
        let parse = |t: &str, _: &str| Ok(t.to_string());
        assert!(check_resume(&d.join("run"), &"a = 1\n".to_string(), parse, |_| {}).is_ok());
        let e = check_resume(&d.join("run"), &"a = 2\n".to_string(), parse, |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("differs"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
