//! The exclusive lock of a run directory: `<run>/.lock`, holding the holder's process id and
//! host name. It is written whole to a temporary file first and then hard-linked to `.lock`
//! (atomic, and exclusive like `O_EXCL`), so a process killed at any instant never leaves a
//! lock without a holder. A second writer fails with [`SasError::Locked`] naming
//! the holder; the lock of a process that no longer exists on this host is stale and taken
//! over. The lock is removed when the [`RunLock`] is dropped (a killed process leaves a
//! stale lock behind, which the next writer takes over).

use crate::error::{Result, SasError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the lock inside a run directory.
pub const LOCK: &str = ".lock";

/// A held run-directory lock; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

/// This machine's host name (`/proc/sys/kernel/hostname`, `/etc/hostname`, `$HOSTNAME`),
/// or `unknown`.
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// The `(pid, host)` recorded in lock file `path`, if it can be read.
pub fn holder(path: &Path) -> Option<(u32, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut pid = None;
    let mut host = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("pid=") {
            pid = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("host=") {
            host = Some(v.trim().to_string());
        }
    }
    Some((pid?, host.unwrap_or_else(|| "unknown".into())))
}

/// Whether process `pid` exists on this host (`/proc/<pid>`); `true` when that cannot be
/// told (no `/proc`).
fn alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether the run in `dir` is held by a live process (a lock whose holder runs, or runs
/// on another host, where it cannot be told).
pub fn is_held(dir: &Path) -> bool {
    match holder(&dir.join(LOCK)) {
        Some((pid, host)) => host != host_name() || alive(pid),
        None => dir.join(LOCK).exists(),
    }
}

impl RunLock {
    /// Takes the lock of run directory `dir` (which must exist). Fails with
    /// [`SasError::Locked`] while another live process holds it, and with
    /// [`SasError::Io`] when the folder is not writable.
    pub fn acquire(dir: &Path) -> Result<RunLock> {
        let path = dir.join(LOCK);
        let host = host_name();
        remove_stale_temporaries(dir, &host);
        for _ in 0..3 {
            match create_exclusive(dir, &path, &host) {
                Ok(()) => return Ok(RunLock { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    match holder(&path) {
                        Some((pid, h)) if h == host && !alive(pid) => {
                            // Stale: its process is gone. Take it over.
                            let _ = std::fs::remove_file(&path);
                        }
                        Some((pid, h)) => {
                            return Err(SasError::Locked {
                                dir: dir.to_path_buf(),
                                pid,
                                host: h,
                            });
                        }
                        None => {
                            // Being written by its creator right now, or unreadable.
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            if holder(&path).is_none() && path.exists() {
                                return Err(SasError::RunInconsistent {
                                    path,
                                    reason: "is a lock file without a holder; remove it if no \
                                             process uses this run directory"
                                        .into(),
                                });
                            }
                        }
                    }
                }
                Err(e) => return Err(super::io_err("creating", &path)(e)),
            }
        }
        Err(match holder(&path) {
            Some((pid, host)) => SasError::Locked {
                dir: dir.to_path_buf(),
                pid,
                host,
            },
            None => super::io_err("creating", &path)(std::io::Error::other("lock contended")),
        })
    }
}

/// The temporary file a process of `host` with id `pid` writes before linking it to `.lock`.
fn temporary(dir: &Path, host: &str, pid: u32) -> PathBuf {
    dir.join(format!("{LOCK}.{host}.{pid}.tmp"))
}

/// Creates `path` holding this process's id and `host`, failing with `AlreadyExists` when it
/// exists: the content is written and synced to a temporary file, which is then hard-linked
/// to `path` (on a file system without hard links, `O_EXCL` creation and a write).
fn create_exclusive(dir: &Path, path: &Path, host: &str) -> std::io::Result<()> {
    let pid = std::process::id();
    let text = format!("pid={pid}\nhost={host}\n");
    let write = |p: &Path, new: bool| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .create_new(new)
            .truncate(true)
            .open(p)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    };
    let tmp = temporary(dir, host, pid);
    write(&tmp, false)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => write(path, true),
        other => other,
    }
}

/// Removes the temporary lock files that processes of this host which no longer exist left
/// behind (killed between writing and linking them).
fn remove_stale_temporaries(dir: &Path, host: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{LOCK}.{host}.");
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(".tmp"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if !alive(pid) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if holder(&self.path).is_some_and(|(pid, _)| pid == std::process::id()) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_and_stale_locks_are_taken_over() {
        let d = std::env::temp_dir().join(format!("sasnet-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let l = RunLock::acquire(&d).unwrap();
        assert!(is_held(&d));
        let e = RunLock::acquire(&d).unwrap_err();
        assert!(
            matches!(&e, SasError::Locked { pid, .. } if *pid == std::process::id()),
            "{e}"
        );
        assert!(e.to_string().contains(&host_name()), "{e}");
        drop(l);
        assert!(!d.join(LOCK).exists());
        // A lock of a process that does not exist (pid beyond pid_max) on this host.
        std::fs::write(d.join(LOCK), format!("pid=4294967\nhost={}\n", host_name())).unwrap();
        assert!(!is_held(&d));
        let l = RunLock::acquire(&d).unwrap();
        assert_eq!(holder(&d.join(LOCK)).unwrap().0, std::process::id());
        drop(l);
        // A temporary lock file left by a killed process of this host is removed; one of
        // another host is left alone.
        let dead = temporary(&d, &host_name(), 4294967);
        let other = temporary(&d, "elsewhere.example", 4294967);
        std::fs::write(&dead, "pid=4294967\n").unwrap();
        std::fs::write(&other, "pid=4294967\n").unwrap();
        let l = RunLock::acquire(&d).unwrap();
        assert!(!dead.exists() && other.exists());
        drop(l);
        std::fs::remove_file(&other).unwrap();
        // Another host's lock cannot be judged: refused.
        std::fs::write(d.join(LOCK), "pid=1\nhost=elsewhere.example\n").unwrap();
        let e = RunLock::acquire(&d).unwrap_err().to_string();
        assert!(e.contains("elsewhere.example") && e.contains("process 1"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
