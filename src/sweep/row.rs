//! Running the rows of a manifest: one row ([`run_row`]: start it without a checkpoint,
//! resume it from one, or find it finished and do nothing), all rows here ([`run_local`]),
//! and where each row stands ([`status`]).
//!
//! Each row keeps a small state file, `state/row-<index>.json` under the manifest's folder
//! ([`StateFile`]: `running`, `finished`, `failed` or `interrupted`, who ran it, how many
//! attempts, the last error), written atomically when a row starts and ends; whether a run is
//! finished is decided from its own files (a checkpoint at `train.epochs`, or stopped early
//! by the configuration's rule; feed-forward runs also need their `summary.json`), so a run
//! directory trained by other means (an older reproduction, an analysis) counts too.

use super::manifest::{Manifest, Row, RowConfig};
use crate::error::{Result, SasError};
use crate::run::{TrainOptions, files};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Folder of the row state files inside the manifest's folder.
pub const STATE_DIR: &str = "state";

/// Where a row stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowState {
    /// No run directory, no state file.
    NotStarted,
    /// A runner said it started and has not said it ended (or was killed without a word).
    Running,
    /// The run is complete.
    Finished,
    /// The last attempt failed with an error (diverged, bad data, …).
    Failed,
    /// The last attempt was stopped (signal, time limit) and resumes where it stopped.
    Interrupted,
}

impl RowState {
    /// The name as printed (`not-started`, `running`, …).
    pub fn name(self) -> &'static str {
        match self {
            RowState::NotStarted => "not-started",
            RowState::Running => "running",
            RowState::Finished => "finished",
            RowState::Failed => "failed",
            RowState::Interrupted => "interrupted",
        }
    }
}

/// The state file of one row.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StateFile {
    /// The state the last runner recorded.
    pub state: RowState,
    /// Who ran it (host, process, Slurm job), as the caller described itself.
    pub worker: String,
    /// Attempts that trained (started or resumed) this row.
    pub attempts: usize,
    /// Seconds since the Unix epoch of the last update.
    pub updated_unix: u64,
    /// The error of a failed or interrupted attempt.
    pub message: Option<String>,
}

fn state_path(root: &Path, index: usize) -> PathBuf {
    root.join(STATE_DIR).join(format!("row-{index}.json"))
}

fn read_state(root: &Path, index: usize) -> Option<StateFile> {
    let text = std::fs::read_to_string(state_path(root, index)).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_state(root: &Path, index: usize, s: &StateFile) -> Result<()> {
    let dir = root.join(STATE_DIR);
    std::fs::create_dir_all(&dir).map_err(crate::run::io_err("creating", &dir))?;
    let text = serde_json::to_string_pretty(s).expect("a state serializes");
    crate::io::atomic::write_atomic(&state_path(root, index), text.as_bytes())
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The last row of `dir/metrics.csv`: `(epoch, train_loss)`; `None` without one.
fn last_metrics(dir: &Path) -> Option<(usize, f64)> {
    let text = std::fs::read_to_string(dir.join(files::METRICS)).ok()?;
    let last = text.lines().skip(1).filter(|l| !l.trim().is_empty()).last()?;
    let mut f = last.split(',');
    let epoch = f.next()?.trim().parse().ok()?;
    let loss = f.next()?.trim().parse().unwrap_or(f64::NAN);
    Some((epoch, loss))
}

/// `(completed epochs, finished)` of the run in `dir` with configuration `cfg` (see the
/// module docs); `None` without a checkpoint.
pub fn progress(dir: &Path, cfg: &RowConfig) -> Option<(usize, bool)> {
    if !dir.join(files::CHECKPOINT).is_file() {
        return None;
    }
    let (epoch, loss) = last_metrics(dir).unwrap_or((0, f64::NAN));
    let finished = match cfg {
        RowConfig::Recurrent(c) => {
            let t = &c.train;
            epoch >= t.epochs || (t.stop_loss > 0.0 && epoch >= t.stop_after && loss <= t.stop_loss)
        }
        RowConfig::FeedForward(c) => epoch >= c.train.epochs && dir.join(files::SUMMARY).is_file(),
    };
    Some((epoch, finished))
}

/// What [`run_row`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowOutcome {
    /// The run was already finished: nothing was trained.
    AlreadyFinished,
    /// The run was trained (started or resumed) to its end.
    Trained,
}

/// Runs row `index` of manifest `m` (folder `root`): nothing if its run is finished, else
/// starts it (no checkpoint) or resumes it (a checkpoint) with `opts.stop` as the stop flag
/// (`opts.resume` is decided here). `data_dir` replaces the manifest's MNIST directory when
/// given; `worker` describes the caller in the state file. Errors are the training's:
/// [`SasError::Interrupted`] leaves the row `interrupted` (it resumes on the next call).
pub fn run_row(
    m: &Manifest,
    root: &Path,
    index: usize,
    data_dir: Option<&Path>,
    opts: &TrainOptions,
    worker: &str,
) -> Result<RowOutcome> {
    let row = m.row(index)?;
    let cfg = row.parsed()?;
    let dir = Manifest::row_dir(root, row);
    let prev = read_state(root, index);
    let mut state = StateFile {
        state: RowState::Running,
        worker: worker.into(),
        attempts: prev.as_ref().map_or(0, |s| s.attempts),
        updated_unix: now_unix(),
        message: None,
    };
    if let Some((_, true)) = progress(&dir, &cfg) {
        if prev.as_ref().map(|s| s.state) != Some(RowState::Finished) {
            state.state = RowState::Finished;
            write_state(root, index, &state)?;
        }
        return Ok(RowOutcome::AlreadyFinished);
    }
    state.attempts += 1;
    write_state(root, index, &state)?;
    let result = train_row(row, cfg, &dir, data_dir.or(m.data_dir.as_deref()), opts);
    state.updated_unix = now_unix();
    match &result {
        Ok(()) => state.state = RowState::Finished,
        Err(e) => {
            state.state = if matches!(e, SasError::Interrupted { .. }) {
                RowState::Interrupted
            } else {
                RowState::Failed
            };
            state.message = Some(e.to_string());
        }
    }
    write_state(root, index, &state)?;
    result.map(|()| RowOutcome::Trained)
}

fn train_row(
    row: &Row,
    cfg: RowConfig,
    dir: &Path,
    data_dir: Option<&Path>,
    opts: &TrainOptions,
) -> Result<()> {
    let opts = TrainOptions {
        resume: dir.join(files::CHECKPOINT).is_file(),
        ..opts.clone()
    };
    if !opts.resume {
        std::fs::create_dir_all(dir).map_err(crate::run::io_err("creating", dir))?;
    }
    let what = |e: SasError| match e {
        e @ SasError::Interrupted { .. } => e,
        e => SasError::Training {
            what: format!("row {} ({})", row.index, row.dir.display()),
            source: Box::new(e),
        },
    };
    match cfg {
        RowConfig::Recurrent(mut c) => {
            crate::data::source::resolve_task_paths(&mut c, None);
            let data = crate::data::source::TaskData::load(&c, data_dir).map_err(what)?;
            crate::train::train(&c, &data, dir, &opts).map_err(what)?;
        }
        RowConfig::FeedForward(c) => {
            let mnist = crate::ff::load_mnist(data_dir).map_err(what)?;
            crate::ff::train_mnist(&c, &mnist, dir, &opts).map_err(what)?;
        }
    }
    Ok(())
}

/// One row's standing, for `sweep status`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RowStatus {
    /// Row index.
    pub index: usize,
    /// Run directory (relative to the manifest's folder).
    pub dir: PathBuf,
    /// Where it stands.
    pub state: RowState,
    /// Completed epochs (from `metrics.csv`).
    pub epoch: usize,
    /// Epochs it trains to.
    pub epochs: usize,
    /// Attempts so far.
    pub attempts: usize,
    /// The last runner.
    pub worker: Option<String>,
    /// The last error of a failed or interrupted attempt.
    pub message: Option<String>,
}

/// Where every row of `m` (folder `root`) stands.
pub fn status(m: &Manifest, root: &Path) -> Result<Vec<RowStatus>> {
    m.rows
        .iter()
        .map(|row| {
            let cfg = row.parsed()?;
            let dir = Manifest::row_dir(root, row);
            let st = read_state(root, row.index);
            let prog = progress(&dir, &cfg);
            let state = match (prog, &st) {
                (Some((_, true)), _) => RowState::Finished,
                (_, Some(s)) if s.state != RowState::Finished => s.state,
                (Some(_), _) => RowState::Interrupted,
                (None, _) => RowState::NotStarted,
            };
            Ok(RowStatus {
                index: row.index,
                dir: row.dir.clone(),
                state,
                epoch: prog.map_or(0, |p| p.0),
                epochs: cfg.epochs(),
                attempts: st.as_ref().map_or(0, |s| s.attempts),
                worker: st.as_ref().map(|s| s.worker.clone()),
                message: st.and_then(|s| s.message),
            })
        })
        .collect()
}

/// What [`run_local`] did.
#[derive(Debug, Default)]
pub struct LocalSummary {
    /// Rows trained to their end by this call.
    pub trained: Vec<usize>,
    /// Rows found finished.
    pub already_finished: Vec<usize>,
    /// Rows that failed: `(index, error)`.
    pub failed: Vec<(usize, SasError)>,
    /// Whether the stop flag ended the call (the interrupted rows resume on the next call).
    pub interrupted: bool,
}

/// Runs the rows `rows` of `m` (folder `root`) here, `jobs` at a time (each training on the
/// shared thread pool), in index order; a failed row does not stop the others, the stop flag
/// in `opts` stops them all. `progress` (called on this thread) gets one line per row start
/// and end.
#[allow(clippy::too_many_arguments)]
pub fn run_local(
    m: &Manifest,
    root: &Path,
    rows: &[usize],
    data_dir: Option<&Path>,
    opts: &TrainOptions,
    jobs: usize,
    worker: &str,
    progress: &mut dyn FnMut(&str),
) -> LocalSummary {
    let next = AtomicUsize::new(0);
    let stopped = || opts.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed));
    let (tx, rx) = std::sync::mpsc::channel::<(Option<(usize, Result<RowOutcome>)>, String)>();
    let mut results = Vec::new();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(rows.len().max(1)) {
            let tx = tx.clone();
            let (next, stopped) = (&next, &stopped);
            s.spawn(move || {
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= rows.len() || stopped() {
                        break;
                    }
                    let i = rows[k];
                    let dir = m
                        .rows
                        .get(i)
                        .map(|r| r.dir.display().to_string())
                        .unwrap_or_default();
                    let _ = tx.send((None, format!("row {i} ({dir}) ...")));
                    let r = run_row(m, root, i, data_dir, opts, worker);
                    let line = match &r {
                        Ok(RowOutcome::AlreadyFinished) => format!("row {i}: already finished"),
                        Ok(RowOutcome::Trained) => format!("row {i}: finished"),
                        Err(e) => format!("row {i}: {e}"),
                    };
                    let _ = tx.send((Some((i, r)), line));
                }
            });
        }
        drop(tx);
        for (r, line) in rx {
            progress(&line);
            results.extend(r);
        }
    });
    results.sort_by_key(|r| r.0);
    let mut out = LocalSummary::default();
    for (i, r) in results {
        match r {
            Ok(RowOutcome::AlreadyFinished) => out.already_finished.push(i),
            Ok(RowOutcome::Trained) => out.trained.push(i),
            Err(SasError::Interrupted { .. }) => out.interrupted = true,
            Err(e) => out.failed.push((i, e)),
        }
    }
    out.interrupted |= stopped();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    fn tiny(root: &Path, seeds: usize) -> Manifest {
        let _ = std::fs::remove_dir_all(root);
        let text = format!(
            "preset = \"msi\"\nseeds = {seeds}\nepochs = 2\nset = [\"model.n=8\", \"eval.every=0\", \
             \"eval.during_trials_per_condition=1\", \"task.msi.test_dt_ms=10\", \"train.minibatches=2\"]\n"
        );
        let m = crate::sweep::Sweep::parse(&text, "t", None)
            .unwrap()
            .manifest(None)
            .unwrap();
        m.write(root, false).unwrap();
        m
    }

    #[test]
    fn rows_start_resume_and_finish_once() {
        let root = std::env::temp_dir().join(format!("sasnet-rows-{}", std::process::id()));
        let m = tiny(&root, 2);
        let st = status(&m, &root).unwrap();
        assert!(
            st.iter()
                .all(|s| s.state == RowState::NotStarted && s.epochs == 2)
        );
        // A stop flag already set: the row is interrupted before its first minibatch.
        let stop = Arc::new(AtomicBool::new(true));
        let opts = TrainOptions {
            stop: Some(stop.clone()),
            ..Default::default()
        };
        let e = run_row(&m, &root, 0, None, &opts, "test").unwrap_err();
        assert!(matches!(e, SasError::Interrupted { .. }), "{e}");
        assert_eq!(status(&m, &root).unwrap()[0].state, RowState::Interrupted);
        stop.store(false, Ordering::Relaxed);
        let s = run_local(&m, &root, &[0, 1], None, &opts, 2, "test", &mut |_| {});
        assert_eq!(
            (s.trained.clone(), s.failed.len(), s.interrupted),
            (vec![0, 1], 0, false)
        );
        let st = status(&m, &root).unwrap();
        assert!(
            st.iter().all(|s| s.state == RowState::Finished && s.epoch == 2),
            "{st:?}"
        );
        assert_eq!(st[0].attempts, 2);
        let again = run_local(&m, &root, &[0, 1], None, &opts, 1, "test", &mut |_| {});
        assert_eq!(again.already_finished, vec![0, 1]);
        assert!(m.row(5).is_err());
        std::fs::remove_dir_all(&root).ok();
    }
}
