//! One short function per command: each calls the library (mostly `pipeline::commands`)
//! and prints its result, as text or JSON.

use super::DataCmd;
use anyhow::{Context, Result};
use sasnet::pipeline::commands;
use std::path::PathBuf;

/// Prints an analysis' output: JSON, or its title, key numbers and files.
fn print_analysis(
    o: &sasnet::output::AnalysisOutput,
    runs: usize,
    dir: &std::path::Path,
    json: bool,
    quiet: bool,
) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(o)?);
    } else if !quiet {
        println!("{} ({runs} run(s)) -> {}", o.title, dir.display());
        for (k, v) in sasnet::report::html::summary_rows(&o.summary).iter().take(40) {
            println!("  {k}: {v}");
        }
        for f in &o.files {
            println!("  {}", f.display());
        }
    }
    Ok(())
}

/// `sasnet train`: trains the seeds and prints one line (or the JSON summaries) per run.
pub(super) fn train(req: &commands::TrainRequest, json: bool, quiet: bool) -> Result<()> {
    anyhow::ensure!(req.seeds >= 1, "--seeds must be at least 1");
    let trained = commands::train(req).with_context(|| format!("training {}", req.preset))?;
    if json {
        println!("{}", trained.to_json());
    } else if !quiet {
        for l in trained.lines() {
            println!("{l}");
        }
    }
    Ok(())
}

/// `sasnet eval`: evaluates one run in one mode.
pub(super) fn eval(req: &commands::EvalRequest, json: bool) -> Result<()> {
    let r = commands::evaluate(req).with_context(|| format!("evaluating {}", req.run_dir.display()))?;
    if json {
        println!("{}", r.json);
    } else {
        for l in &r.text {
            println!("{l}");
        }
    }
    Ok(())
}

/// `sasnet analyze`: runs the selected analyses and prints their outputs.
pub(super) fn analyze(
    name: &str,
    run_dirs: &[PathBuf],
    out: Option<&std::path::Path>,
    opts: &sasnet::analysis::AnalysisOptions,
    json: bool,
    quiet: bool,
) -> Result<()> {
    let outputs = commands::analyze(name, run_dirs, out, opts).with_context(|| format!("analysis {name}"))?;
    if json && outputs.len() > 1 {
        // Several analyses (`ff`): an array of their outputs.
        let all: Vec<_> = outputs.iter().map(|(_, o)| o).collect();
        println!("{}", serde_json::to_string(&all)?);
        return Ok(());
    }
    for (dir, o) in &outputs {
        print_analysis(o, run_dirs.len(), dir, json, quiet)?;
    }
    Ok(())
}

/// Warns about the analyses that failed (they are listed in the report).
pub(super) fn warn_failed(failed: &[(String, String)]) {
    if !failed.is_empty() {
        let names: Vec<&str> = failed.iter().map(|f| f.0.as_str()).collect();
        eprintln!(
            "warning: {} analysis(es) failed and are listed in the report: {}",
            failed.len(),
            names.join(", ")
        );
    }
}

/// `sasnet report`: every applicable analysis over the runs, one HTML page.
pub(super) fn report_cmd(
    run_dirs: &[PathBuf],
    report: &std::path::Path,
    opts: &sasnet::analysis::AnalysisOptions,
    quiet: bool,
) -> Result<()> {
    let (_, failed) = sasnet::pipeline::reproduce::report_over(run_dirs, report, opts, &mut |line: &str| {
        if !quiet {
            eprintln!("{line}");
        }
    })
    .context("writing the report")?;
    warn_failed(&failed);
    println!("{}", report.display());
    Ok(())
}

/// `sasnet reproduce`: trains the target's seeds and writes its report.
pub(super) fn reproduce(
    target: &str,
    seeds: Option<usize>,
    out: Option<PathBuf>,
    analysis: sasnet::analysis::AnalysisOptions,
    json: bool,
    quiet: bool,
) -> Result<()> {
    use sasnet::pipeline::reproduce::{ReproduceOptions, default_seeds};
    let quick = analysis.quick;
    let seeds = seeds.unwrap_or_else(|| default_seeds(target));
    anyhow::ensure!(seeds >= 1, "--seeds must be at least 1");
    let out = out.unwrap_or_else(|| {
        PathBuf::from(format!(
            "runs/reproduce-{target}{}",
            if quick { "-quick" } else { "" }
        ))
    });
    let opts = ReproduceOptions {
        seeds,
        quick,
        out,
        analysis,
    };
    let quiet = quiet || json;
    let s = sasnet::pipeline::reproduce::reproduce(target, &opts, &mut |line: &str| {
        if !quiet {
            eprintln!("{line}");
        }
    })
    .with_context(|| format!("reproducing {target}"))?;
    if json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        warn_failed(&s.failed);
        println!("{}", s.report.display());
    }
    Ok(())
}

/// `sasnet data verify|fetch`.
pub(super) fn data_cmd(cmd: DataCmd) -> Result<()> {
    match cmd {
        DataCmd::Verify { dir } => {
            let dir = sasnet::task::mnist::data_dir(dir.as_deref())
                .context("no data directory: pass DIR or set SASNET_DATA")?;
            let checks = sasnet::data::files::verify(&dir)?;
            let mut bad = 0;
            for c in &checks {
                println!("{c}");
                if !c.is_ok() {
                    bad += 1;
                }
            }
            anyhow::ensure!(
                bad == 0,
                "{bad} of {} files failed verification in {}",
                checks.len(),
                dir.display()
            );
        }
        DataCmd::Fetch { dir, mirrors } => {
            let mirrors = if mirrors.is_empty() {
                sasnet::data::files::default_mirrors()
            } else {
                mirrors
            };
            for f in sasnet::data::files::fetch(&dir, &mirrors)? {
                println!("{f}");
            }
        }
    }
    Ok(())
}

/// `sasnet grad IN OUT`: loss and gradients of one minibatch.
pub(super) fn grad(input: &std::path::Path, output: &std::path::Path, json: bool, quiet: bool) -> Result<()> {
    let s = sasnet::grad::grad_file(input, output)
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
    } else if !quiet {
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
    Ok(())
}

/// `sasnet bench`: times workload W (and the machine's ceilings).
pub(super) fn bench(
    reps: usize,
    warmup: usize,
    chunks: usize,
    batch: Option<usize>,
    ceilings: bool,
    json: bool,
) -> Result<()> {
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
            v["fma_peak_gflops"] = c.fma_peak_gflops.into();
            v["fraction_of_fma_peak"] = (r.gflops / c.fma_peak_gflops).into();
            v["floor_ms"] = c.floor_ms(sasnet::bench::flop(&w)).into();
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
            println!("{}", c.describe(sasnet::bench::flop(&w), r.gflops));
        }
    }
    Ok(())
}
