//! The Slurm batch scripts of a manifest (text only; the command line writes and submits
//! them): a job array with one task per row, each running `sasnet sweep row DIR --row
//! $SLURM_ARRAY_TASK_ID`, and a job to run after the whole array (`--dependency=afterany`),
//! e.g. `sasnet sweep collect DIR` or the analyses of a reproduction.
//!
//! Requeue and resume: the array is `--requeue` with `--open-mode=append` (a requeued task
//! appends to its log instead of wiping it). `--signal=B:USR1@<s>` makes Slurm signal the
//! batch shell `s` seconds before the time limit; the script passes USR1 on to sasnet, which
//! stops at the next minibatch boundary (the run keeps its last completed epoch) and exits
//! with 130, and the script then requeues its own task, which resumes the row. A task that is
//! preempted, requeued by hand (`scontrol requeue`) or started twice resumes the same way: a
//! row without a checkpoint starts, a row with one resumes, a finished row does nothing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// File name of the array script inside the sweep folder.
pub const ARRAY_SCRIPT: &str = "sweep.sbatch";
/// File name of the script of the job that runs after the array.
pub const AFTER_SCRIPT: &str = "after.sbatch";
/// Folder of the job logs inside the sweep folder.
pub const LOG_DIR: &str = "logs";

/// What a user sets for their cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct SlurmOptions {
    /// The sasnet program the jobs run (on a file system the nodes see).
    pub exe: PathBuf,
    /// The jobs' working directory (`--chdir`).
    pub workdir: PathBuf,
    /// Job name.
    pub job_name: String,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--time` of each array task (e.g. `2:00:00`).
    pub time: Option<String>,
    /// `--time` of the job after the array (default: `time`).
    pub after_time: Option<String>,
    /// `--cpus-per-task` (sasnet then uses that many threads).
    pub cpus: Option<usize>,
    /// `--mem` (e.g. `4G`).
    pub mem: Option<String>,
    /// Further `#SBATCH` options, each as written after `#SBATCH ` (e.g. `--qos=long`).
    pub extra: Vec<String>,
    /// Shell lines run before sasnet in every job (e.g. `module load ...`).
    pub setup: Option<String>,
    /// At most this many array tasks at once (`%CAP`).
    pub max_parallel: Option<usize>,
    /// Seconds before the time limit at which sasnet is told to stop (`--signal`).
    pub signal_s: u32,
}

impl SlurmOptions {
    /// Defaults: no partition, account, limits or setup; stop 60 s before the time limit.
    pub fn new(exe: PathBuf, workdir: PathBuf) -> SlurmOptions {
        SlurmOptions {
            exe,
            workdir,
            job_name: "sasnet".into(),
            partition: None,
            account: None,
            time: None,
            after_time: None,
            cpus: None,
            mem: None,
            extra: Vec::new(),
            setup: None,
            max_parallel: None,
            signal_s: 60,
        }
    }
}

/// `s` quoted for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+%@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The `--array` range of `rows` rows: `0-(rows-1)`, with `%cap` when capped.
pub fn array_range(rows: usize, cap: Option<usize>) -> String {
    let mut r = format!("0-{}", rows.saturating_sub(1));
    if let Some(c) = cap {
        let _ = write!(r, "%{}", c.max(1));
    }
    r
}

fn header(h: &mut String, o: &SlurmOptions, name: &str, output: &Path, time: Option<&str>) {
    h.push_str("#!/bin/bash\n");
    let mut opt = |s: String| {
        let _ = writeln!(h, "#SBATCH {s}");
    };
    opt(format!("--job-name={name}"));
    opt(format!("--output={}", output.display()));
    opt("--open-mode=append".into());
    opt(format!("--chdir={}", o.workdir.display()));
    if let Some(p) = &o.partition {
        opt(format!("--partition={p}"));
    }
    if let Some(a) = &o.account {
        opt(format!("--account={a}"));
    }
    if let Some(t) = time {
        opt(format!("--time={t}"));
    }
    if let Some(c) = o.cpus {
        opt(format!("--cpus-per-task={c}"));
    }
    if let Some(m) = &o.mem {
        opt(format!("--mem={m}"));
    }
    for e in &o.extra {
        opt(e.trim().to_string());
    }
}

fn setup(h: &mut String, o: &SlurmOptions) {
    if let Some(s) = &o.setup {
        h.push_str("# Site setup (--setup).\n");
        h.push_str(s.trim_end());
        h.push('\n');
    }
}

/// The array script over the `rows` rows of the manifest in `root` (absolute).
pub fn array_script(root: &Path, rows: usize, o: &SlurmOptions) -> String {
    let mut h = String::new();
    header(
        &mut h,
        o,
        &o.job_name,
        &root.join(LOG_DIR).join("%A_%a.out"),
        o.time.as_deref(),
    );
    let _ = writeln!(h, "#SBATCH --array={}", array_range(rows, o.max_parallel));
    h.push_str("#SBATCH --requeue\n");
    let _ = writeln!(h, "#SBATCH --signal=B:USR1@{}", o.signal_s);
    let _ = writeln!(
        h,
        "# One row of {} per array task: started, resumed, or left alone when finished.",
        root.join(super::manifest::FILE).display()
    );
    h.push_str("set -u\n");
    setup(&mut h, o);
    let task = "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}";
    let _ = writeln!(
        h,
        "echo \"sasnet sweep row $SLURM_ARRAY_TASK_ID: job {task}, restart ${{SLURM_RESTART_COUNT:-0}}, $(hostname), $(date)\""
    );
    h.push_str("requeue=0\n");
    let _ = writeln!(
        h,
        "{} ${{SLURM_CPUS_PER_TASK:+--threads \"$SLURM_CPUS_PER_TASK\"}} sweep row {} --row \"$SLURM_ARRAY_TASK_ID\" &",
        sh_quote(&o.exe.display().to_string()),
        sh_quote(&root.display().to_string())
    );
    h.push_str(
        "pid=$!\n\
         # USR1 (the time limit is near): sasnet stops at the next minibatch, then this task is requeued.\n\
         trap 'requeue=1; kill -USR1 \"$pid\" 2>/dev/null' USR1\n\
         trap 'kill -TERM \"$pid\" 2>/dev/null' TERM\n\
         while :; do\n  wait \"$pid\"; rc=$?\n  kill -0 \"$pid\" 2>/dev/null || break\ndone\n\
         wait \"$pid\" 2>/dev/null; rc2=$?; [ \"$rc2\" -ne 127 ] && rc=$rc2\n",
    );
    let _ = writeln!(
        h,
        "echo \"sasnet sweep row $SLURM_ARRAY_TASK_ID: exit code $rc, $(date)\"\n\
         if [ \"$rc\" -eq 130 ] && [ \"$requeue\" -eq 1 ]; then\n  \
         echo \"requeueing {task} to resume the row\"\n  scontrol requeue \"{task}\"\nfi\nexit \"$rc\""
    );
    h
}

/// The script of the job that runs `command` (sasnet's arguments) after the array.
pub fn after_script(root: &Path, command: &[String], o: &SlurmOptions) -> String {
    let mut h = String::new();
    let time = o.after_time.as_deref().or(o.time.as_deref());
    header(
        &mut h,
        o,
        &format!("{}-after", o.job_name),
        &root.join(LOG_DIR).join("after_%j.out"),
        time,
    );
    h.push_str("set -u\n");
    setup(&mut h, o);
    let args: Vec<String> = command.iter().map(|a| sh_quote(a)).collect();
    let _ = writeln!(
        h,
        "echo \"sasnet after the array: $(hostname), $(date)\"\nexec {} ${{SLURM_CPUS_PER_TASK:+--threads \"$SLURM_CPUS_PER_TASK\"}} {}",
        sh_quote(&o.exe.display().to_string()),
        args.join(" ")
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_hold_the_options() {
        let mut o = SlurmOptions::new("/opt/sasnet".into(), "/home/u".into());
        o.partition = Some("gpu".into());
        o.time = Some("1:00:00".into());
        o.cpus = Some(4);
        o.extra = vec!["--qos=long".into()];
        o.setup = Some("module load foo".into());
        o.max_parallel = Some(2);
        let a = array_script(Path::new("/s w"), 4, &o);
        for want in [
            "#SBATCH --array=0-3%2",
            "#SBATCH --requeue",
            "#SBATCH --signal=B:USR1@60",
            "#SBATCH --open-mode=append",
            "#SBATCH --output=/s w/logs/%A_%a.out",
            "#SBATCH --partition=gpu",
            "#SBATCH --time=1:00:00",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --qos=long",
            "module load foo",
            "sweep row '/s w' --row \"$SLURM_ARRAY_TASK_ID\"",
        ] {
            assert!(a.contains(want), "{want}\n{a}");
        }
        let b = after_script(
            Path::new("/s"),
            &["sweep".into(), "collect".into(), "/s".into()],
            &o,
        );
        assert!(
            b.contains("exec /opt/sasnet ") && b.contains("sweep collect /s"),
            "{b}"
        );
        assert_eq!(array_range(1, None), "0-0");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
    }
}
