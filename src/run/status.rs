//! `status.json` of a run directory: where the run stands (`state`, `epoch`), when it
//! started, was last updated and ended, and its provenance (sasnet version, the git commit
//! of the build, command line, host, threads) per attempt. Written atomically, never part
//! of the checkpoint.

use crate::error::{Result, SasError};
use crate::io::atomic::write_atomic;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of the status inside a run directory.
pub const STATUS: &str = "status.json";

/// The git commit the library was built from (`unknown` outside a git checkout).
pub const GIT_COMMIT: &str = match option_env!("SASNET_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// A process is training it (or was killed while training: then nobody holds its lock,
    /// and [`read`] reports [`State::Interrupted`]).
    #[serde(rename = "running")]
    Running,
    /// Trained to `train.epochs`.
    #[serde(rename = "finished")]
    Finished,
    /// The early-stop rule ended it.
    #[serde(rename = "stopped early")]
    StoppedEarly,
    /// Training diverged; the last good checkpoint is kept.
    #[serde(rename = "diverged")]
    Diverged,
    /// Stopped by a signal or killed; it resumes with `--resume`.
    #[serde(rename = "interrupted")]
    Interrupted,
    /// Another error ended the attempt (I/O, data); see `error`.
    #[serde(rename = "failed")]
    Failed,
}

impl State {
    /// Whether the run is done: resuming it trains nothing more.
    pub fn is_done(self) -> bool {
        matches!(self, State::Finished | State::StoppedEarly)
    }
}

/// One training attempt (a start or a resume) of a run: provenance and outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// sasnet version.
    pub sasnet_version: String,
    /// The git commit of the build (`unknown` if not known).
    pub git_commit: String,
    /// The command line, as the front end passed it (empty if none).
    pub command: Vec<String>,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Worker threads.
    pub threads: usize,
    /// Start, ISO 8601 UTC.
    pub started: String,
    /// End, ISO 8601 UTC (`None` while running).
    pub ended: Option<String>,
    /// Completed epochs when the attempt started.
    pub start_epoch: usize,
    /// Completed epochs when it ended (or so far).
    pub end_epoch: usize,
    /// How it ended.
    pub state: State,
}

/// The content of `status.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Where the run stands.
    pub state: State,
    /// Completed (committed) epochs.
    pub epoch: usize,
    /// The epoch count it trains to.
    pub epochs: usize,
    /// First start, ISO 8601 UTC.
    pub started: String,
    /// Last update, ISO 8601 UTC.
    pub updated: String,
    /// End of the last attempt, ISO 8601 UTC (`None` while running).
    pub ended: Option<String>,
    /// The error that ended the last attempt, if any.
    pub error: Option<String>,
    /// Repairs made on resume (dropped rows or files, completed commits).
    #[serde(default)]
    pub repairs: Vec<String>,
    /// Every attempt, oldest first.
    #[serde(alias = "sessions")]
    pub attempts: Vec<Attempt>,
}

/// Now as ISO 8601 UTC (`2024-05-01T12:00:00Z`).
pub fn now_iso() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    iso_utc(secs)
}

/// Seconds since 1970 as ISO 8601 UTC.
fn iso_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Reads `dir/status.json` as written: `None` if absent or unreadable.
pub fn read_raw(dir: &Path) -> Option<Status> {
    let text = std::fs::read_to_string(dir.join(STATUS)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Reads `dir/status.json`; a run recorded as running whose lock nobody holds (its process
/// was killed) reads as [`State::Interrupted`]. `None` if there is no readable status.
pub fn read(dir: &Path) -> Option<Status> {
    let mut s = read_raw(dir)?;
    if s.state == State::Running && !super::lock::is_held(dir) {
        s.state = State::Interrupted;
    }
    Some(s)
}

/// Writes `status` to `dir/status.json` atomically.
pub fn write(dir: &Path, status: &Status) -> Result<()> {
    let text = serde_json::to_string_pretty(status).map_err(|e| SasError::FileFormat {
        name: STATUS.into(),
        reason: e.to_string(),
    })?;
    write_atomic(&dir.join(STATUS), format!("{text}\n").as_bytes())
}

/// A new attempt by this process, starting at `start_epoch`.
pub fn attempt(command: &[String], start_epoch: usize) -> Attempt {
    Attempt {
        sasnet_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: GIT_COMMIT.into(),
        command: command.to_vec(),
        host: super::lock::host_name(),
        pid: std::process::id(),
        threads: rayon::current_num_threads(),
        started: now_iso(),
        ended: None,
        start_epoch,
        end_epoch: start_epoch,
        state: State::Running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso_utc(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn states_serialize_as_documented() {
        let s = serde_json::to_string(&State::StoppedEarly).unwrap();
        assert_eq!(s, "\"stopped early\"");
        assert!(State::Finished.is_done() && !State::Interrupted.is_done());
    }

    #[test]
    fn an_older_status_with_sessions_still_reads() {
        let text = r#"{"state":"finished","epoch":2,"epochs":2,"started":"a","updated":"b",
            "ended":"c","error":null,"sessions":[{"sasnet_version":"0.1.0","git_commit":"x",
            "command":[],"host":"h","pid":1,"threads":2,"started":"a","ended":"c",
            "start_epoch":0,"end_epoch":2,"state":"finished"}]}"#;
        let st: Status = serde_json::from_str(text).unwrap();
        assert_eq!(st.attempts.len(), 1);
        assert_eq!(st.attempts[0].end_epoch, 2);
        assert!(st.repairs.is_empty());
        let back = serde_json::to_string(&st).unwrap();
        assert!(back.contains("\"attempts\"") && !back.contains("sessions"));
    }
}
