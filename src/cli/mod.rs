//! Command-line interface: every subcommand and flag is defined here; [`run`] holds one short
//! function per command, each a call into the library. `main` → `try_main`; exit code 0 on
//! success, 1 on any error (printed with its context chain), 2 on a usage error (clap), 130 when
//! training was stopped by Ctrl-C or SIGTERM (the run resumes with `--resume`).

mod progress;
mod run;
mod sweep;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use run::{analyze, bench, data_cmd, eval, grad, report_cmd, reproduce, train};
use std::path::PathBuf;

/// sasnet: ensemble-level (spike-and-slab) training and explanation of recurrent networks.
#[derive(Parser, Debug)]
#[command(name = "sasnet", version, about, long_about = None)]
struct Cli {
    /// Worker threads (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Print less.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a network on a preset (default msi; `cognitive` for a user task given by
    /// --set task.path=FILE).
    #[command(after_help = "(listed at run time)")]
    Train(TrainArgs),
    /// Evaluate a trained run on its test set in one evaluation mode.
    Eval(EvalArgs),
    /// Run one analysis on the runs of one configuration (several seeds are aggregated).
    #[command(after_help = "(listed at run time)")]
    Analyze {
        /// Analysis name (see below).
        name: String,
        /// Run directories (seeds of one configuration); none for `theory`.
        run_dirs: Vec<PathBuf>,
        /// Output folder; the analysis writes into OUT/<name> (default: <first run>/analysis;
        /// `theory`: ./analysis).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        settings: AnalysisArgs,
        /// Print the output (files, figures, summary) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run every applicable analysis on the runs of one configuration and write one HTML page.
    Report {
        /// Run directories (seeds of one configuration).
        #[arg(required = true)]
        run_dirs: Vec<PathBuf>,
        /// Report file; analyses go to `analysis/` beside it (default: <first run>/report.html).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        settings: AnalysisArgs,
    },
    /// Train K seeds of a preset with its reference settings, then write the report (`theory`:
    /// the infinite-width experiments, no training).
    Reproduce {
        /// msi, row-mnist, pixel-mnist, perm-mnist, ff-mnist, ff-mnist-full, or theory (no training;
        /// --seeds unused).
        target: String,
        /// Number of seeds (1..=K), trained in parallel where cores allow (default: the paper's
        /// counts, 10 for msi and 5 for the MNIST targets).
        #[arg(long)]
        seeds: Option<usize>,
        /// Output folder (default: runs/reproduce-<target>[-quick]); holds seed-<s>/ run
        /// directories, analysis/ and report.html. Seed directories with a checkpoint resume.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        settings: AnalysisArgs,
        /// Where the training runs (the plan of seeds and analysis runs written to
        /// OUT/manifest.json first); with slurm/print the analyses and the report run as the
        /// job after the array.
        #[command(flatten)]
        backend: Box<sweep::BackendArgs>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Grids of runs: `sweep FILE --out DIR` (a sweep file, see docs/SWEEPS.md) writes
    /// DIR/manifest.json and runs it here, on Slurm, or prints the scripts; `sweep status|collect|row DIR`.
    Sweep(SweepArgs),
    /// MNIST data files: verify checksums or download.
    Data {
        #[command(subcommand)]
        cmd: DataCmd,
    },
    /// Loss and every parameter gradient of one minibatch from a safetensors file (docs/MODEL.md §8).
    Grad {
        /// Input safetensors file (parameters, inputs, noise, targets, metadata).
        input: PathBuf,
        /// Output safetensors file (`loss`, `grad.<layer>.<m|pi|xi>`).
        output: PathBuf,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Time workload W (one pixel-MNIST minibatch: B=128, N=100, T=784, forward + gradients).
    Bench {
        /// Timed repetitions (the median is reported).
        #[arg(long, default_value_t = 15)]
        reps: usize,
        /// Untimed warm-up repetitions.
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        /// Sample chunks per batch (each chunk runs its own time loop on one thread).
        #[arg(long, default_value_t = 2)]
        chunks: usize,
        /// Batch size (default: W's 128).
        #[arg(long)]
        batch: Option<usize>,
        /// Also measure this machine's ceilings (FMA peak, GEMM throughput) for comparison.
        #[arg(long)]
        ceilings: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `sasnet train`.
#[derive(clap::Args, Debug)]
struct TrainArgs {
    /// Preset with the reference settings.
    #[arg(default_value = "msi")]
    preset: String,
    /// TOML file overriding any subset of the settings.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override one setting, e.g. `--set train.epochs=50` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// MNIST data directory (default: $SASNET_DATA).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Run directory (default: runs/<preset>-seed<seed>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed of every random stream.
    #[arg(long)]
    seed: Option<u64>,
    /// Number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Train K seeds (seed, seed+1, ...) of this configuration, one directory each.
    #[arg(long, default_value_t = 1)]
    seeds: usize,
    /// Continue the run in --out from its checkpoint.
    #[arg(long)]
    resume: bool,
    /// Print the final summary as JSON.
    #[arg(long)]
    json: bool,
}

impl TrainArgs {
    fn request(self, quiet: bool) -> run::TrainRequest {
        run::TrainRequest {
            progress: !quiet && !self.json,
            preset: self.preset,
            config: self.config,
            sets: self.sets,
            data: self.data,
            out: self.out,
            seed: self.seed,
            epochs: self.epochs,
            seeds: self.seeds,
            resume: self.resume,
        }
    }
}

/// `sasnet eval`.
#[derive(clap::Args, Debug)]
struct EvalArgs {
    /// Run directory.
    run_dir: PathBuf,
    /// mean-field, eps0, mean or sampled.
    #[arg(long, default_value = "mean-field")]
    mode: String,
    /// Sampled networks: resample every K steps (default: once per trial).
    #[arg(long)]
    resample_every: Option<usize>,
    /// Repeats (sampled networks or noise draws).
    #[arg(long)]
    samples: Option<usize>,
    /// MNIST data directory (default: $SASNET_DATA).
    #[arg(long)]
    data: Option<PathBuf>,
    /// MSI: test trials per condition (default: the run's eval.trials_per_condition).
    #[arg(long)]
    trials: Option<usize>,
    /// Evaluate only the first N test trials (MNIST, user tasks; 0 = all).
    #[arg(long, default_value_t = 0)]
    limit: usize,
    /// Seed of the evaluation draws.
    #[arg(long, default_value_t = sasnet::api::DEFAULT_SEED)]
    seed: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

impl EvalArgs {
    fn request(self) -> run::EvalRequest {
        run::EvalRequest {
            run_dir: self.run_dir,
            mode: self.mode,
            resample_every: self.resample_every,
            params: sasnet::api::EvalParams {
                samples: self.samples,
                data_dir: run::data_dir(self.data.as_deref()),
                trials_per_condition: self.trials,
                limit: self.limit,
                seed: self.seed,
            },
        }
    }
}

/// Analysis settings shared by `analyze`, `report` and `reproduce`.
#[derive(clap::Args, Debug, Clone, Default)]
struct AnalysisArgs {
    /// MNIST data directory (default: $SASNET_DATA).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Smaller, faster settings: fewer trials and repeats (`reproduce`: the quick variant,
    /// minutes on 2 cores, with fewer epochs too).
    #[arg(long)]
    quick: bool,
    /// Weight classes: the VIP rule — exact (π = 0, Ξ = 0, m ≠ 0; the paper's MNIST rule,
    /// default for MNIST and feed-forward runs), relaxed (π < 0.1, |m| > 0.05; the MSI Fig. 17
    /// caption, default for MSI and user tasks), authors (π ≤ 0.1, Ξ < 0.1, |m| > 0.08; the
    /// authors' MSI code). The --vip-pi-max/--vip-xi-max/--vip-m-min bounds replace its own.
    #[arg(long, value_enum, value_name = "RULE")]
    vip_rule: Option<sasnet::sas::classes::VipRule>,
    /// Weight classes: custom rule, VIP weights have π ≤ PI (replaces the rule's π bound).
    /// Feed-forward runs: these three flags set the extra near-VIP set of their analyses
    /// instead (defaults π ≤ 0.001, Ξ < 0.001, m ≠ 0).
    #[arg(long, value_name = "PI")]
    vip_pi_max: Option<f64>,
    /// Weight classes: custom rule, VIP weights have Ξ < XI.
    #[arg(long, value_name = "XI")]
    vip_xi_max: Option<f64>,
    /// Weight classes: custom rule, VIP weights have |m| > M.
    #[arg(long, value_name = "M")]
    vip_m_min: Option<f64>,
    /// Weight classes: smallest π of a UIP weight (default 0.999).
    #[arg(long, value_name = "PI")]
    uip_pi: Option<f64>,
    /// MSI: test-protocol time step in ms for every evaluation (default: the run's, 0.5 ms).
    #[arg(long, value_name = "MS")]
    test_dt: Option<f64>,
    /// MSI: time step in ms for the analyses that evaluate many times (perturb, plasticity,
    /// selectivity); default: --test-dt (`reproduce msi`: 5 ms).
    #[arg(long, value_name = "MS")]
    fast_dt: Option<f64>,
    /// report / reproduce: leave out these analyses (comma-separated names, e.g. `retrain`).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    skip: Vec<String>,
    /// User tasks: the per-trial condition the analyses sort trials by (psychometric: the x
    /// axis, e.g. `signed_coh`; selectivity and PCA: the variable they describe).
    #[arg(long, value_name = "NAME")]
    condition: Option<String>,
    /// User tasks: a second condition; the psychometric analysis draws one curve per level.
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
    /// User tasks: the output whose choice the psychometric curve counts (default: the last).
    #[arg(long, value_name = "K")]
    choice: Option<usize>,
    /// puzzle: test trials per network (MNIST and user tasks: the first N, default 1000,
    /// --quick 200; MSI: N per condition, default 5, --quick 2).
    #[arg(long, value_name = "N")]
    puzzle_trials: Option<usize>,
    /// puzzle: fixed networks per kind and seed (default 5, --quick 2).
    #[arg(long, value_name = "N")]
    puzzle_networks: Option<usize>,
    /// puzzle: BPTT twins of the runs (comma-separated run directories, paired by seed;
    /// default: the finished twins the baseline analysis trained into OUT/retrain/bptt/).
    #[arg(long, value_name = "DIRS", value_delimiter = ',')]
    puzzle_bptt: Vec<PathBuf>,
}

impl AnalysisArgs {
    fn options(&self) -> anyhow::Result<sasnet::api::AnalysisParams> {
        Ok(sasnet::api::AnalysisParams {
            data_dir: run::data_dir(self.data.as_deref()),
            quick: self.quick,
            seed: sasnet::api::DEFAULT_SEED,
            test_dt_ms: self.test_dt,
            fast_dt_ms: self.fast_dt,
            classes: sasnet::analysis::ClassOverrides {
                rule: self.vip_rule,
                pi_max: self.vip_pi_max,
                xi_max: self.vip_xi_max,
                m_min: self.vip_m_min,
                uip_pi: self.uip_pi,
            },
            skip: sasnet::api::parse_skip(&self.skip)?,
            condition: self.condition.clone(),
            group: self.group.clone(),
            choice: self.choice,
            puzzle: sasnet::analysis::puzzle::Options {
                trials: self.puzzle_trials,
                networks: self.puzzle_networks,
                bptt: self.puzzle_bptt.clone(),
            },
        })
    }
}

/// `sasnet sweep`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct SweepArgs {
    #[command(subcommand)]
    cmd: Option<SweepCmd>,
    /// The sweep file (TOML).
    #[arg(required = true)]
    file: Option<PathBuf>,
    /// The sweep folder: manifest.json, the file's copy, one run directory per point and seed.
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// MNIST data directory (default: the sweep file's `data`, else $SASNET_DATA).
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    backend: sweep::BackendArgs,
}

#[derive(Subcommand, Debug)]
enum SweepCmd {
    /// Run one row of DIR/manifest.json: start it, resume it, or nothing if finished (what
    /// each Slurm array task runs). Exit 0 finished, 130 stopped (resumable), 1 failed.
    Row {
        /// The sweep (or reproduction) folder.
        dir: PathBuf,
        /// Row index (0-based).
        #[arg(long)]
        row: usize,
        /// MNIST data directory (default: the manifest's, else $SASNET_DATA).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Where every row stands: not started, running, finished, failed, interrupted; epochs.
    Status {
        /// The sweep (or reproduction) folder.
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One table of every seed's final test accuracy and loss per grid point, with mean,
    /// sd and 95 % interval: DIR/collect/{rows.csv,points.csv,results.json,results.html}.
    /// Exit 3 when some runs are not finished (the table holds the others).
    Collect {
        /// The sweep folder.
        dir: PathBuf,
        /// Print the table as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum DataCmd {
    /// Check the four MNIST files by the SHA-256 of their decompressed contents.
    Verify {
        /// Data directory (default: $SASNET_DATA).
        dir: Option<PathBuf>,
    },
    /// Download the four MNIST files and verify them.
    Fetch {
        /// Target directory.
        dir: PathBuf,
        /// Mirror base URL (repeatable; default: the built-in list).
        #[arg(long = "mirror")]
        mirrors: Vec<String>,
    },
}

/// The analyses of the registry, one per line with what each answers (`analyze --help`).
fn analyses_help() -> String {
    let mut t = String::from("Analyses (recurrent runs; `theory` takes no run directory):\n");
    for (name, about) in sasnet::api::analyses() {
        t.push_str(&format!("  {name:<14} {about}\n"));
    }
    t.push_str("Feed-forward runs: accuracy, classes, perturb, entropy, weights, or `ff` for all of them.");
    t
}

/// The presets, one per line (`train --help`).
fn presets_help() -> String {
    let mut t = String::from("Presets:\n");
    for (name, about) in sasnet::api::presets() {
        t.push_str(&format!("  {name:<14} {about}\n"));
    }
    t
}

/// Runs the program; returns the process exit code.
pub fn main() -> i32 {
    use clap::{CommandFactory, FromArgMatches};
    let command = Cli::command()
        .mut_subcommand("analyze", |c| c.after_help(analyses_help()))
        .mut_subcommand("train", |c| c.after_help(presets_help()));
    let cli = match command.try_get_matches().and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match try_main(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            let interrupted = e
                .chain()
                .any(|c| matches!(c.downcast_ref(), Some(sasnet::SasError::Interrupted { .. })));
            if let Some(x) = e.chain().find_map(|c| c.downcast_ref::<sweep::Exit>()) {
                x.0
            } else if interrupted {
                progress::EXIT_INTERRUPTED
            } else {
                1
            }
        }
    }
}

/// The error with its causes, `: `-separated, leaving out a cause whose text the message
/// already holds (library errors such as `SasError::Io` print their source themselves).
fn error_chain(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let t = cause.to_string();
        if !msg.contains(&t) {
            msg.push_str(": ");
            msg.push_str(&t);
        }
    }
    msg
}

fn try_main(cli: Cli) -> Result<()> {
    if let Some(t) = cli.threads {
        anyhow::ensure!(t >= 1, "--threads must be at least 1");
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .context("starting the thread pool")?;
    }
    let quiet = cli.quiet;
    match cli.cmd {
        Command::Train(args) => {
            let json = args.json;
            train(args.request(quiet), json, quiet)
        }
        Command::Eval(args) => {
            let json = args.json;
            eval(args.request(), json)
        }
        Command::Analyze {
            name,
            run_dirs,
            out,
            settings,
            json,
        } => analyze(
            &name,
            &run_dirs,
            out.as_deref(),
            &settings.options()?,
            json,
            quiet,
        ),
        Command::Report {
            run_dirs,
            out,
            settings,
        } => {
            let report = out.unwrap_or_else(|| run_dirs[0].join("report.html"));
            report_cmd(&run_dirs, &report, &settings.options()?, quiet)
        }
        Command::Reproduce {
            target,
            seeds,
            out,
            settings,
            backend,
            json,
        } => reproduce(&target, seeds, out, settings.options()?, &backend, json, quiet),
        Command::Sweep(args) => match args.cmd {
            Some(SweepCmd::Row { dir, row, data }) => sweep::row_cmd(&dir, row, data.as_deref(), quiet),
            Some(SweepCmd::Status { dir, json }) => sweep::status_cmd(&dir, json),
            Some(SweepCmd::Collect { dir, json }) => sweep::collect_cmd(&dir, json, quiet),
            None => {
                let (Some(file), Some(out)) = (args.file, args.out) else {
                    anyhow::bail!("sweep needs a sweep file and --out DIR");
                };
                sweep::sweep(&file, &out, args.data.as_deref(), &args.backend, quiet)
            }
        },
        Command::Data { cmd } => data_cmd(cmd),
        Command::Grad { input, output, json } => grad(&input, &output, json, quiet),
        Command::Bench {
            reps,
            warmup,
            chunks,
            batch,
            ceilings,
            json,
        } => bench(reps, warmup, chunks, batch, ceilings, json),
    }
}
