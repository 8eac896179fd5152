//! Command-line interface: every subcommand and flag is defined here, and each calls the
//! library. `main` → `try_main`; exit code 0 on success, 1 on any error (printed with its
//! context chain), 2 on a usage error (clap).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
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
    /// Loss and every parameter gradient of one minibatch from a safetensors file (DESIGN §8).
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

/// Runs the program; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match try_main(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn try_main(cli: Cli) -> Result<()> {
    if let Some(t) = cli.threads {
        anyhow::ensure!(t >= 1, "--threads must be at least 1");
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .context("starting the thread pool")?;
    }
    match cli.cmd {
        Command::Grad { input, output, json } => {
            let s = sasnet::grad::grad_file(&input, &output)
                .with_context(|| format!("computing gradients for {}", input.display()))?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "loss": s.loss, "dtype": s.dtype, "n": s.dims.n, "i": s.dims.i,
                        "k": s.dims.k, "batch": s.batch, "steps": s.steps,
                        "output": output.display().to_string(),
                    })
                );
            } else if !cli.quiet {
                println!(
                    "loss {:.10e} ({}; N={}, I={}, K={}, B={}, T={}) -> {}",
                    s.loss,
                    s.dtype,
                    s.dims.n,
                    s.dims.i,
                    s.dims.k,
                    s.batch,
                    s.steps,
                    output.display()
                );
            }
        }
        Command::Bench {
            reps,
            warmup,
            chunks,
            batch,
            ceilings,
            json,
        } => {
            anyhow::ensure!(reps >= 1, "--reps must be at least 1");
            anyhow::ensure!(chunks >= 1, "--chunks must be at least 1");
            let mut w = sasnet::bench::W;
            if let Some(b) = batch {
                anyhow::ensure!(b >= 1, "--batch must be at least 1");
                w.batch = b;
            }
            let r = sasnet::bench::run(w, reps, warmup, chunks, 1).context("running the benchmark")?;
            let c = ceilings.then(sasnet::bench::ceilings);
            if json {
                let mut v = serde_json::to_value(&r)?;
                if let Some(c) = &c {
                    v["ceilings"] = serde_json::to_value(c)?;
                    v["fraction_of_fma_peak"] = (r.gflops / c.fma_peak_gflops).into();
                    v["floor_ms"] = (sasnet::bench::flop(&w) / c.fma_peak_gflops / 1e6).into();
                }
                println!("{v}");
            } else {
                println!(
                    "workload W: B={} N={} T={} I={} K={} (SaS rec+out, deterministic in, CE)",
                    w.batch, w.n, w.steps, w.inputs, w.outputs
                );
                println!(
                    "{:.1} ms per minibatch (median of {}; min {:.1}, max {:.1}), {:.0} GFLOP/s, {} threads, {} chunks",
                    r.ms_per_minibatch, r.reps, r.ms_min, r.ms_max, r.gflops, r.threads, r.chunks
                );
                if let Some(c) = &c {
                    println!(
                        "ceilings: FMA peak {:.0} GFLOP/s on {} threads (floor {:.1} ms for W; engine at {:.0}% of peak); \
                         faer GEMM 1 thread: {:.0} GFLOP/s per-step shape, {:.0} GFLOP/s weight-gradient shape",
                        c.fma_peak_gflops,
                        r.threads,
                        sasnet::bench::flop(&w) / c.fma_peak_gflops / 1e6,
                        100.0 * r.gflops / c.fma_peak_gflops,
                        c.gemm_step_gflops,
                        c.gemm_wgrad_gflops
                    );
                }
            }
        }
    }
    Ok(())
}
