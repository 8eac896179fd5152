//! `sasnet sweep`: a sweep file into a manifest, run here, on Slurm, or printed; one row
//! (what an array task runs); the status of every row; the collected table. Also the
//! submission of a reproduction's plan (`reproduce --backend slurm|print`).

use super::progress::EXIT_INTERRUPTED;
use anyhow::{Context, Result};
use sasnet::api;
use sasnet::sweep::{collect, row, slurm};
use std::path::{Path, PathBuf};

/// Exit code of `sweep collect` (and of a local sweep) when some rows are not finished: the
/// table is written with the finished ones.
pub(super) const EXIT_INCOMPLETE: i32 = 3;

/// An exit code other than 0, 1 and 130, carried through `anyhow` to `main`.
#[derive(Debug)]
pub(super) struct Exit(pub i32, pub String);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for Exit {}

/// Where a sweep or plan runs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) enum Backend {
    /// Every row here, `--jobs` at a time.
    #[default]
    Local,
    /// A Slurm job array (one task per row) and a dependent job after it, submitted with sbatch.
    Slurm,
    /// Write the Slurm scripts and print the sbatch commands, submit nothing.
    Print,
}

/// The backend and the cluster settings of `sweep` and `reproduce`.
#[derive(clap::Args, Debug, Clone, Default)]
pub(super) struct BackendArgs {
    /// Where the training runs: local (here), slurm (submit a job array), print (write the
    /// scripts and print the commands).
    #[arg(long, value_enum, default_value_t = Backend::Local)]
    pub backend: Backend,
    /// local: training runs at once (default: sweep 1, reproduce as many as threads).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// slurm: --partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// slurm: --account.
    #[arg(long)]
    pub account: Option<String>,
    /// slurm: --time of each array task (e.g. 2:00:00).
    #[arg(long)]
    pub time: Option<String>,
    /// slurm: --time of the job after the array (collect, analyses; default: --time).
    #[arg(long)]
    pub after_time: Option<String>,
    /// slurm: --cpus-per-task (sasnet uses that many threads).
    #[arg(long)]
    pub cpus: Option<usize>,
    /// slurm: --mem (e.g. 4G).
    #[arg(long)]
    pub mem: Option<String>,
    /// slurm: a further #SBATCH option, e.g. --sbatch=--qos=long (repeatable).
    #[arg(long = "sbatch", value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch: Vec<String>,
    /// slurm: shell lines run before sasnet in every job, e.g. 'module load rust'.
    #[arg(long)]
    pub setup: Option<String>,
    /// slurm: at most this many array tasks at once.
    #[arg(long)]
    pub max_parallel: Option<usize>,
    /// slurm: seconds before the time limit at which a task stops and requeues itself.
    #[arg(long, default_value_t = 60)]
    pub signal_before: u32,
    /// slurm: the sasnet program the jobs run (default: this one).
    #[arg(long)]
    pub sasnet: Option<PathBuf>,
    /// slurm: the sbatch program.
    #[arg(long, default_value = "sbatch")]
    pub sbatch_program: String,
}

/// The options of `BackendArgs` that only the slurm/print backends read, with whether they
/// take a value (to leave them out of the command line of the job after the array).
const SLURM_FLAGS: [(&str, bool); 16] = [
    ("--threads", true),
    ("--backend", true),
    ("--jobs", true),
    ("--partition", true),
    ("--account", true),
    ("--time", true),
    ("--after-time", true),
    ("--cpus", true),
    ("--mem", true),
    ("--sbatch", true),
    ("--setup", true),
    ("--max-parallel", true),
    ("--signal-before", true),
    ("--sasnet", true),
    ("--sbatch-program", true),
    ("--json", false),
];

/// This program's own arguments without the backend options, for the job after the array
/// (which then runs with the local backend).
pub(super) fn args_without_backend() -> Vec<String> {
    let mut out = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let name = a.split('=').next().unwrap_or(&a).to_string();
        match SLURM_FLAGS.iter().find(|(f, _)| *f == name) {
            Some((_, true)) if !a.contains('=') => {
                it.next();
            }
            Some(_) => {}
            None => out.push(a),
        }
    }
    out
}

/// Describes this process for the row state files: host, pid, Slurm job if any.
fn worker() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host?".into());
    let mut w = format!("{host} pid {}", std::process::id());
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(j), Some(t)) = (env("SLURM_ARRAY_JOB_ID"), env("SLURM_ARRAY_TASK_ID")) {
        w.push_str(&format!(" slurm {j}_{t}"));
        if let Some(r) = env("SLURM_RESTART_COUNT") {
            w.push_str(&format!(" restart {r}"));
        }
    } else if let Some(j) = env("SLURM_JOB_ID") {
        w.push_str(&format!(" slurm {j}"));
    }
    w
}

fn interrupted(what: String) -> anyhow::Error {
    anyhow::Error::new(Exit(EXIT_INTERRUPTED, what))
}

/// `sasnet sweep FILE --out DIR`: writes the manifest and the file's copy, then runs the rows.
pub(super) fn sweep(
    file: &Path,
    out: &Path,
    data: Option<&Path>,
    b: &BackendArgs,
    quiet: bool,
) -> Result<()> {
    let context = || format!("sweep {}", file.display());
    let s = api::Sweep::from_file(file).with_context(context)?;
    let m = s
        .manifest(super::run::data_dir(data).or_else(|| s.data_dir.clone()))
        .with_context(context)?;
    m.write(out, false).with_context(context)?;
    std::fs::copy(file, out.join("sweep.toml"))
        .with_context(|| format!("copying {} into {}", file.display(), out.display()))?;
    if !quiet {
        eprintln!(
            "{}: {} grid point(s) × seeds = {} run(s) in {}",
            m.title,
            m.points.len(),
            m.rows.len(),
            out.display()
        );
    }
    let after = vec!["sweep".into(), "collect".into(), abs(out)?.display().to_string()];
    match b.backend {
        Backend::Local => {
            run_rows(&m, out, None, b.jobs.unwrap_or(1), quiet)?;
            collect_cmd(out, false, quiet)
        }
        Backend::Slurm | Backend::Print => submit(&m, out, &after, b, quiet),
    }
}

fn abs(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| format!("resolving {}", p.display()))
}

/// Runs rows of the manifest in `dir` here; exit 130 when stopped, an error when one failed.
fn run_rows(m: &api::Manifest, dir: &Path, data: Option<&Path>, jobs: usize, quiet: bool) -> Result<()> {
    anyhow::ensure!(jobs >= 1, "--jobs must be at least 1");
    let opts = api::TrainOptions {
        stop: Some(super::progress::stop_flag()?),
        ..Default::default()
    };
    let all: Vec<usize> = (0..m.rows.len()).collect();
    let s = row::run_local(m, dir, &all, data, &opts, jobs, &worker(), &mut |l| {
        if !quiet {
            eprintln!("{l}");
        }
    });
    if s.interrupted {
        return Err(interrupted(format!(
            "stopped: {} run(s) finished; run the same command again to resume",
            s.trained.len() + s.already_finished.len()
        )));
    }
    if !s.failed.is_empty() {
        for (i, e) in &s.failed {
            eprintln!("row {i} failed: {e}");
        }
        anyhow::bail!(
            "{} of {} run(s) failed (see above); the others finished",
            s.failed.len(),
            m.rows.len()
        );
    }
    Ok(())
}

/// `sasnet sweep row DIR --row I`: one row (a Slurm array task).
pub(super) fn row_cmd(dir: &Path, index: usize, data: Option<&Path>, quiet: bool) -> Result<()> {
    let context = || format!("sweep row {index} of {}", dir.display());
    let m = api::Manifest::read(dir).with_context(context)?;
    let opts = api::TrainOptions {
        stop: Some(super::progress::stop_flag()?),
        ..Default::default()
    };
    let data = super::run::data_dir(data);
    match row::run_row(&m, dir, index, data.as_deref(), &opts, &worker()) {
        Ok(o) => {
            if !quiet {
                println!(
                    "row {index} ({}): {}",
                    m.row(index)?.dir.display(),
                    match o {
                        row::RowOutcome::AlreadyFinished => "already finished",
                        row::RowOutcome::Trained => "finished",
                    }
                );
            }
            Ok(())
        }
        Err(e) => Err(anyhow::Error::new(e).context(context())),
    }
}

/// `sasnet sweep status DIR`.
pub(super) fn status_cmd(dir: &Path, json: bool) -> Result<()> {
    let m = api::Manifest::read(dir).with_context(|| format!("sweep status {}", dir.display()))?;
    let st = row::status(&m, dir)?;
    if json {
        println!("{}", serde_json::to_string(&st)?);
        return Ok(());
    }
    println!("{} in {}: {} run(s)", m.title, dir.display(), st.len());
    for s in &st {
        println!(
            "{:>4}  {:<12} epoch {:>4}/{:<4} {}{}",
            s.index,
            s.state.name(),
            s.epoch,
            s.epochs,
            s.dir.display(),
            s.message
                .as_deref()
                .map(|m| format!("  ({m})"))
                .unwrap_or_default()
        );
    }
    let count = |w: row::RowState| st.iter().filter(|s| s.state == w).count();
    println!(
        "finished {}, running {}, interrupted {}, failed {}, not started {}",
        count(row::RowState::Finished),
        count(row::RowState::Running),
        count(row::RowState::Interrupted),
        count(row::RowState::Failed),
        count(row::RowState::NotStarted)
    );
    Ok(())
}

/// `sasnet sweep collect DIR`: the table; exit 3 when some rows are not finished.
pub(super) fn collect_cmd(dir: &Path, json: bool, quiet: bool) -> Result<()> {
    let context = || format!("sweep collect {}", dir.display());
    let m = api::Manifest::read(dir).with_context(context)?;
    let c = collect::collect(&m, dir).with_context(context)?;
    if json {
        println!("{}", serde_json::to_string(&c)?);
    } else if !quiet {
        for p in &c.points {
            println!(
                "{:<40} accuracy {} %, test loss {}",
                p.name,
                p.test_acc_mean_field.pm(2, 100.0),
                p.test_loss.pm(4, 1.0)
            );
        }
        for f in &c.files {
            println!("{}", f.display());
        }
    }
    if !c.complete {
        let open = c
            .rows
            .iter()
            .filter(|r| r.state != row::RowState::Finished)
            .count();
        return Err(anyhow::Error::new(Exit(
            EXIT_INCOMPLETE,
            format!(
                "{open} of {} run(s) are not finished; the table holds the others",
                c.rows.len()
            ),
        )));
    }
    Ok(())
}

/// Writes the Slurm scripts of manifest `m` in `dir`, then submits them (slurm) or prints the
/// commands (print). `after` is the sasnet command line of the job after the array.
pub(super) fn submit(
    m: &api::Manifest,
    dir: &Path,
    after: &[String],
    b: &BackendArgs,
    quiet: bool,
) -> Result<()> {
    let root = abs(dir)?;
    let exe = match &b.sasnet {
        Some(p) => abs(p)?,
        None => std::env::current_exe().context("finding this program's path")?,
    };
    let mut o = slurm::SlurmOptions::new(
        exe,
        std::env::current_dir().context("reading the working directory")?,
    );
    o.job_name = format!(
        "sasnet-{}",
        root.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    );
    o.partition = b.partition.clone();
    o.account = b.account.clone();
    o.time = b.time.clone();
    o.after_time = b.after_time.clone();
    o.cpus = b.cpus;
    o.mem = b.mem.clone();
    o.extra = b.sbatch.clone();
    o.setup = b.setup.clone();
    o.max_parallel = b.max_parallel;
    o.signal_s = b.signal_before;
    anyhow::ensure!(!m.rows.is_empty(), "the manifest has no runs");
    let logs = root.join(slurm::LOG_DIR);
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let array = root.join(slurm::ARRAY_SCRIPT);
    let after_path = root.join(slurm::AFTER_SCRIPT);
    for (p, t) in [
        (&array, slurm::array_script(&root, m.rows.len(), &o)),
        (&after_path, slurm::after_script(&root, after, &o)),
    ] {
        std::fs::write(p, t).with_context(|| format!("writing {}", p.display()))?;
    }
    let sb = &b.sbatch_program;
    if b.backend == Backend::Print {
        println!(
            "jobid=$({sb} --parsable {}) && \\",
            slurm::sh_quote(&array.display().to_string())
        );
        println!(
            "{sb} --dependency=afterany:\"${{jobid%%;*}}\" {}",
            slurm::sh_quote(&after_path.display().to_string())
        );
        return Ok(());
    }
    let run = |args: &[&str]| -> Result<String> {
        let out = std::process::Command::new(sb)
            .args(args)
            .output()
            .with_context(|| format!("running {sb} (is Slurm installed here?)"))?;
        anyhow::ensure!(
            out.status.success(),
            "{sb} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let id = text.trim().split(';').next().unwrap_or("").to_string();
        anyhow::ensure!(
            !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()),
            "{sb} printed no job id: `{}`",
            text.trim()
        );
        Ok(id)
    };
    let array_id = run(&["--parsable", &array.display().to_string()])?;
    let dep = format!("--dependency=afterany:{array_id}");
    let after_id = run(&["--parsable", &dep, &after_path.display().to_string()])?;
    let ids = serde_json::json!({"array_job": array_id, "after_job": after_id, "rows": m.rows.len()});
    std::fs::write(root.join("slurm.json"), serde_json::to_string_pretty(&ids)?)
        .with_context(|| format!("writing {}", root.join("slurm.json").display()))?;
    if !quiet {
        eprintln!(
            "submitted job array {array_id} ({} task(s)) and job {after_id} after it; `sasnet sweep status {}` shows progress",
            m.rows.len(),
            dir.display()
        );
    }
    println!("{ids}");
    Ok(())
}
