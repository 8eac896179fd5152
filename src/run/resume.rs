//! Opening a run to resume it: the checks and repairs of its files against its checkpoint
//! (the checkpoint is the truth; docs/RUNS.md lists the rules).
//!
//! - The checkpoint must be of the model's family ([`SasError::WrongFamily`]).
//! - `config.toml` must equal the configuration stored in the checkpoint, and the requested
//!   configuration must equal `config.toml`, except `train.epochs`; a difference names the
//!   key.
//! - An unfinished commit (`metrics.csv.next` holding exactly the checkpoint's epochs) is
//!   completed; a `metrics.csv.next` of an uncommitted epoch and temporary files are
//!   deleted.
//! - `metrics.csv`: rows beyond the checkpoint's epoch are dropped, and so is a last row cut
//!   mid-line; then it must hold exactly one row per epoch up to the checkpoint's, under
//!   this run's header, else the resume is refused naming the file and the epoch.
//! - `history/`: files beyond the checkpoint's epoch are deleted; one of another network
//!   shape is refused, naming the file.

use super::fit::Model;
use super::{files, io_err, meta_num};
use crate::error::{Result, SasError};
use crate::io::tensors::TensorFile;
use std::path::Path;

/// Known checkpoint formats and their family names.
const FAMILIES: [(&str, &str); 2] = [
    (super::checkpoint::FORMAT, "recurrent"),
    (super::FF_FORMAT, "feed-forward"),
];

/// The family name of checkpoint format `format`.
pub(crate) fn family_of(format: &str) -> &'static str {
    FAMILIES
        .iter()
        .find(|(f, _)| *f == format)
        .map(|(_, n)| *n)
        .unwrap_or("unknown")
}

/// Fails with [`SasError::WrongFamily`] when checkpoint `f` is of the other family than
/// `format`, or with the metadata error when it is not a sasnet checkpoint at all.
pub(crate) fn check_family(f: &TensorFile, format: &str) -> Result<()> {
    if let Some(found) = f.metadata().get("format")
        && found != format
        && FAMILIES.iter().any(|(x, _)| *x == found.as_str())
    {
        return Err(SasError::WrongFamily {
            path: f.path().to_path_buf(),
            found: family_of(found).into(),
            expected: family_of(format).into(),
        });
    }
    super::check_format(f, format, "a sasnet checkpoint")
}

/// The first key (dotted) where TOML texts `a` and `b` differ, with both values; keys in
/// `ignore` are skipped. `None` if equal.
pub(crate) fn first_difference(a: &str, b: &str, ignore: &[&str]) -> Option<(String, String, String)> {
    fn flat(prefix: &str, v: &toml::Value, out: &mut std::collections::BTreeMap<String, String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flat(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let parse = |s: &str| {
        let mut m = std::collections::BTreeMap::new();
        if let Ok(t) = s.parse::<toml::Table>() {
            flat("", &toml::Value::Table(t), &mut m);
        }
        m
    };
    let (ma, mb) = (parse(a), parse(b));
    let keys: std::collections::BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
    keys.into_iter()
        .filter(|k| !ignore.contains(&k.as_str()))
        .find(|k| ma.get(*k) != mb.get(*k))
        .map(|k| {
            let show = |m: &std::collections::BTreeMap<String, String>| {
                m.get(k).cloned().unwrap_or_else(|| "(absent)".into())
            };
            (k.clone(), show(&ma), show(&mb))
        })
}

/// Checks the configuration stored in checkpoint `f` against `run_dir/config.toml`
/// (canonicalized by `canon`); `train.epochs` may differ. Returns config.toml canonicalized.
pub(crate) fn check_stored_config(
    f: &TensorFile,
    run_dir: &Path,
    canon: &dyn Fn(&str, &str) -> Result<String>,
) -> Result<String> {
    let cfg_path = run_dir.join(files::CONFIG);
    let text = std::fs::read_to_string(&cfg_path).map_err(io_err("reading", &cfg_path))?;
    let on_disk = match canon(&text, &cfg_path.display().to_string()) {
        Ok(c) => c,
        Err(e) => {
            // A configuration of the other family next to this checkpoint: say so.
            let fam = f
                .metadata()
                .get("format")
                .map(|s| family_of(s))
                .unwrap_or("unknown");
            let stored_ok = f
                .metadata()
                .get("config")
                .is_some_and(|c| canon(c, "checkpoint").is_ok());
            if stored_ok && text.parse::<toml::Table>().is_ok() && fam != "unknown" {
                let other = FAMILIES
                    .iter()
                    .map(|(_, n)| *n)
                    .find(|n| *n != fam)
                    .unwrap_or("unknown");
                return Err(SasError::WrongFamily {
                    path: f.path().to_path_buf(),
                    found: fam.into(),
                    expected: format!("{other} (as {} says)", cfg_path.display()),
                });
            }
            return Err(e);
        }
    };
    if let Some(stored) = f.metadata().get("config") {
        let stored = canon(stored, &format!("{} (metadata `config`)", f.path().display()))?;
        if let Some((key, a, b)) = first_difference(&stored, &on_disk, &["train.epochs"]) {
            return Err(SasError::RunInconsistent {
                path: cfg_path,
                reason: format!(
                    "it and the checkpoint hold different configurations: key `{key}` is {b} here but \
                     {a} in the configuration the run was trained with (stored in {}); restore it \
                     (only train.epochs may change)",
                    f.path().display()
                ),
            });
        }
    }
    Ok(on_disk)
}

/// A run opened for resuming.
pub(crate) struct Resumed {
    /// Completed epochs (the checkpoint's).
    pub epoch: usize,
    /// Wall time so far, seconds.
    pub wall_s: f64,
    /// Metrics rows of epochs 1..=epoch.
    pub rows: Vec<String>,
    /// What was repaired.
    pub repairs: Vec<String>,
}

/// Opens `run_dir` (holding a checkpoint) to resume `model` in it: checks, repairs, loads.
pub(crate) fn open<M: Model>(model: &mut M, run_dir: &Path) -> Result<Resumed> {
    let ckpt = run_dir.join(files::CHECKPOINT);
    let f = TensorFile::open(&ckpt)?;
    check_family(&f, model.format())?;
    let canon = |t: &str, s: &str| model.canonical_config(t, s);
    let on_disk = check_stored_config(&f, run_dir, &canon)?;
    let want = model.config_toml();
    if let Some((key, a, b)) = first_difference(&on_disk, &want, &["train.epochs"]) {
        return Err(SasError::Config {
            key: "resume".into(),
            reason: format!(
                "the configuration differs from the one in {} at key `{key}` ({a} there, {b} requested; \
                 only train.epochs may change on resume)",
                run_dir.join(files::CONFIG).display()
            ),
        });
    }
    let epoch: usize = meta_num(&f, "epoch")?;
    let wall_s: f64 = meta_num(&f, "wall_s")?;
    model.load(&f)?;
    drop(f);
    let mut repairs = Vec::new();
    remove_temporaries(run_dir, &mut repairs);
    remove_temporaries(&run_dir.join(files::HISTORY), &mut repairs);
    let header = model.metrics_header();
    let rows = reconcile_metrics(run_dir, &header, epoch, &mut repairs)?;
    reconcile_history(run_dir, epoch, &model.history_shapes(), &mut repairs)?;
    Ok(Resumed {
        epoch,
        wall_s,
        rows,
        repairs,
    })
}

/// Deletes what a start killed before its first commit left in `run_dir` (no checkpoint):
/// temporary files, `metrics.csv.next` and history files.
pub(crate) fn clear_uncommitted(run_dir: &Path) -> Result<()> {
    let mut notes = Vec::new();
    remove_temporaries(run_dir, &mut notes);
    let hist = run_dir.join(files::HISTORY);
    remove_temporaries(&hist, &mut notes);
    let next = run_dir.join(super::METRICS_NEXT);
    if next.exists() {
        std::fs::remove_file(&next).map_err(io_err("deleting", &next))?;
    }
    if let Ok(rd) = std::fs::read_dir(&hist) {
        for e in rd.flatten() {
            if history_epoch(&e.file_name().to_string_lossy()).is_some() {
                std::fs::remove_file(e.path()).map_err(io_err("deleting", &e.path()))?;
            }
        }
    }
    Ok(())
}

/// Deletes the temporary files of interrupted atomic writes (`.NAME.tmp-PID`) in `dir`.
fn remove_temporaries(dir: &Path, repairs: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp-") && std::fs::remove_file(e.path()).is_ok() {
            repairs.push(format!("deleted the temporary file {}", e.path().display()));
        }
    }
}

/// The rows of metrics text `text` under `header`: `(epoch, row)` of every complete row
/// (a last line without newline or with the wrong field count is cut: dropped, noted in
/// `cut`). `Err(reason)` on a wrong header or a malformed row before the last.
fn parse_metrics(
    text: &str,
    header: &str,
    cut: &mut bool,
) -> std::result::Result<Vec<(usize, String)>, String> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    // The piece after the last newline is a row cut mid-line (or empty).
    let tail = lines.pop().unwrap_or("");
    if !tail.is_empty() {
        *cut = true;
    }
    let Some(first) = lines.first() else {
        return Err("is empty (no header)".into());
    };
    if first.trim_end() != header {
        return Err("its header differs from this run's metrics columns".into());
    }
    let fields = header.split(',').count();
    let n = lines.len();
    let mut rows = Vec::new();
    for (i, l) in lines.iter().enumerate().skip(1) {
        let epoch = l.split(',').next().and_then(|e| e.parse::<usize>().ok());
        match epoch {
            Some(e) if l.split(',').count() == fields => rows.push((e, l.to_string())),
            _ if i + 1 == n && tail.is_empty() => *cut = true,
            _ => return Err(format!("line {} is not a metrics row: `{l}`", i + 1)),
        }
    }
    Ok(rows)
}

/// Whether `rows` are exactly epochs 1..=epoch; else the first missing epoch.
fn missing_epoch(rows: &[(usize, String)], epoch: usize) -> Option<usize> {
    (1..=epoch).find(|&e| rows.get(e - 1).map(|r| r.0) != Some(e))
}

/// Checks and repairs `metrics.csv` (and an unfinished commit) against checkpoint `epoch`;
/// returns the rows of epochs 1..=epoch.
fn reconcile_metrics(
    run_dir: &Path,
    header: &str,
    epoch: usize,
    repairs: &mut Vec<String>,
) -> Result<Vec<String>> {
    let path = run_dir.join(files::METRICS);
    let next = run_dir.join(super::METRICS_NEXT);
    if let Ok(text) = std::fs::read_to_string(&next) {
        let mut cut = false;
        match parse_metrics(&text, header, &mut cut) {
            Ok(rows) if !cut && rows.len() == epoch && missing_epoch(&rows, epoch).is_none() => {
                super::finish_metrics_commit(run_dir)?;
                repairs.push(format!(
                    "completed the commit of epoch {epoch} ({} → {})",
                    next.display(),
                    path.display()
                ));
            }
            _ => {
                std::fs::remove_file(&next).map_err(io_err("deleting", &next))?;
                repairs.push(format!("deleted {} of an uncommitted epoch", next.display()));
            }
        }
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && epoch == 0 => {
            repairs.push(format!(
                "created the missing {} (no epoch completed)",
                path.display()
            ));
            super::write_metrics(run_dir, header, &[])?;
            return Ok(Vec::new());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SasError::RunInconsistent {
                path,
                reason: format!(
                    "is missing, but the checkpoint holds {epoch} completed epoch(s) whose metrics rows \
                     cannot be recomputed; restore the file or train the run again"
                ),
            });
        }
        Err(e) => return Err(io_err("reading", &path)(e)),
    };
    let mut cut = false;
    let rows = parse_metrics(&text, header, &mut cut).map_err(|reason| SasError::RunInconsistent {
        path: path.clone(),
        reason,
    })?;
    let total = rows.len();
    let rows: Vec<(usize, String)> = rows.into_iter().filter(|r| r.0 <= epoch).collect();
    if let Some(e) = missing_epoch(&rows, epoch).or_else(|| (rows.len() > epoch).then_some(epoch)) {
        let what = if rows.len() > epoch {
            format!("holds more than one row for an epoch ≤ {epoch}")
        } else {
            format!("lacks the row of epoch {e}")
        };
        return Err(SasError::RunInconsistent {
            path,
            reason: format!(
                "{what}, but the checkpoint holds {epoch} completed epoch(s); the metrics cannot be \
                 recomputed: restore the file or train the run again"
            ),
        });
    }
    if cut || total != rows.len() {
        if cut {
            repairs.push(format!("dropped a row cut mid-line from {}", path.display()));
        }
        if total != rows.len() {
            repairs.push(format!(
                "dropped {} row(s) beyond epoch {epoch} from {}",
                total - rows.len(),
                path.display()
            ));
        }
    }
    let rows: Vec<String> = rows.into_iter().map(|r| r.1).collect();
    if cut || total != rows.len() {
        super::write_metrics(run_dir, header, &rows)?;
    }
    Ok(rows)
}

/// The epoch of history file name `name` (`epoch-NNNNN.safetensors`).
pub(crate) fn history_epoch(name: &str) -> Option<usize> {
    name.strip_prefix("epoch-")?
        .strip_suffix(".safetensors")?
        .parse()
        .ok()
}

/// Deletes history files beyond `epoch`; refuses one whose tensors differ from `shapes`.
fn reconcile_history(
    run_dir: &Path,
    epoch: usize,
    shapes: &[(String, Vec<usize>)],
    repairs: &mut Vec<String>,
) -> Result<()> {
    let dir = run_dir.join(files::HISTORY);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(n) = history_epoch(&name) else {
            continue;
        };
        let path = e.path();
        if n > epoch {
            std::fs::remove_file(&path).map_err(io_err("deleting", &path))?;
            repairs.push(format!(
                "deleted {} (beyond the checkpoint's epoch {epoch})",
                path.display()
            ));
            continue;
        }
        check_history_file(&path, shapes)?;
    }
    Ok(())
}

/// Fails unless history file `path` holds tensors of `shapes` (read from its header only).
pub(crate) fn check_history_file(path: &Path, shapes: &[(String, Vec<usize>)]) -> Result<()> {
    let found = crate::io::tensors::header_shapes(path)?;
    for (name, shape) in shapes {
        match found.get(name) {
            Some(s) if s == shape => {}
            other => {
                return Err(SasError::RunInconsistent {
                    path: path.to_path_buf(),
                    reason: format!(
                        "tensor `{name}` has shape {:?}, but this run's network has {shape:?}; \
                         the history file belongs to another run",
                        other.map(|s| s.as_slice()).unwrap_or(&[])
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_differences_name_the_key() {
        let a = "seed = 1\n[model]\nsigma = 0.1\nn = 3\n[train]\nepochs = 4\n";
        let b = "seed = 1\n[model]\nsigma = 0.2\nn = 3\n[train]\nepochs = 9\n";
        let d = first_difference(a, b, &["train.epochs"]).unwrap();
        assert_eq!(d, ("model.sigma".into(), "0.1".into(), "0.2".into()));
        assert!(first_difference(a, a, &[]).is_none());
        let c = "seed = 1\n[model]\nsigma = 0.1\nn = 3\n[train]\nepochs = 9\n";
        assert!(first_difference(a, c, &["train.epochs"]).is_none());
    }

    #[test]
    fn metrics_rows_cut_or_missing_are_told_apart() {
        let h = "epoch,loss";
        let mut cut = false;
        let r = parse_metrics("epoch,loss\n1,0.5\n2,0.", h, &mut cut).unwrap();
        assert!(cut);
        assert_eq!(r.len(), 1);
        let mut cut = false;
        let r = parse_metrics("epoch,loss\n1,0.5\n2,0.4\n", h, &mut cut).unwrap();
        assert!(!cut && missing_epoch(&r, 2).is_none());
        assert_eq!(missing_epoch(&r, 3), Some(3));
        assert!(parse_metrics("epoch,other\n", h, &mut cut).is_err());
        assert!(parse_metrics("epoch,loss\nx,1\n2,3\n", h, &mut cut).is_err());
        assert_eq!(history_epoch("epoch-00012.safetensors"), Some(12));
    }
}
