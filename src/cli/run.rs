//! One short function per command: each calls the library (mostly `pipeline::commands`)
//! and prints its result, as text or JSON.

use super::DataCmd;
use anyhow::{Context, Result};
use sasnet::api;
use std::path::PathBuf;

/// Prints an analysis' output: JSON, or its title, key numbers and files.
fn print_analysis(
    o: &api::AnalysisResult,
    runs: usize,
    dir: &std::path::Path,
    json: bool,
    quiet: bool,
) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(o)?);
    } else if !quiet {
        println!("{} ({runs} run(s)) -> {}", o.title, dir.display());
        for (k, v) in api::summary_rows(&o.summary_json()).iter().take(40) {
            println!("  {k}: {v}");
        }
        for f in &o.files {
            println!("  {}", f.display());
        }
    }
    Ok(())
}

/// What `sasnet train` asks for, parsed from its arguments.
pub(super) struct TrainRequest {
    pub preset: String,
    pub config: Option<PathBuf>,
    pub sets: Vec<String>,
    pub data: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub seed: Option<u64>,
    pub epochs: Option<usize>,
    pub seeds: usize,
    pub resume: bool,
    pub progress: bool,
}

/// `sasnet train`: trains the seeds and prints one line (or the JSON summaries) per run.
/// Ctrl-C or SIGTERM stop training at the next minibatch boundary (exit code 130).
pub(super) fn train(req: TrainRequest, json: bool, quiet: bool) -> Result<()> {
    anyhow::ensure!(req.seeds >= 1, "--seeds must be at least 1");
    let context = || format!("training {}", req.preset);
    let preset: api::Preset = req.preset.parse().with_context(context)?;
    let cfg = match &req.config {
        Some(path) => api::RunConfig::build_with_file(preset, path, &req.sets, req.seed, req.epochs),
        None => api::RunConfig::build(preset, None, &req.sets, req.seed, req.epochs),
    }
    .with_context(context)?;
    let out = req
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/{}-seed{}", cfg.preset_name(), cfg.seed())));
    let opts = api::TrainOptions {
        resume: req.resume,
        observer: (req.progress && req.seeds == 1).then(|| {
            std::sync::Arc::new(super::progress::Bar::default()) as std::sync::Arc<dyn api::Observer>
        }),
        stop: Some(super::progress::stop_flag()?),
        command: std::env::args().collect(),
    };
    let task = api::TaskSource::Builtin {
        data_dir: data_dir(req.data.as_deref()),
    };
    let runs = api::train_seeds(&cfg, &task, &out, req.seeds, &opts).with_context(context)?;
    let trained: Vec<&api::Trained> = runs.iter().filter_map(api::Run::trained).collect();
    for t in &trained {
        if req.resume && t.new_epochs() == 0 && !quiet {
            eprintln!(
                "{}: already done ({} epochs); nothing to train",
                t.run_dir().display(),
                t.epochs()
            );
        }
    }
    if json {
        println!("{}", serde_json::to_value(&trained)?);
    } else if !quiet {
        for t in trained {
            println!("{}", t.line());
        }
    }
    Ok(())
}

/// The MNIST directory: `arg` if given, else the environment variable `SASNET_DATA` (if set
/// and non-empty), else `None`. No default path is built in.
pub(super) fn data_dir(arg: Option<&std::path::Path>) -> Option<PathBuf> {
    arg.map(std::path::Path::to_path_buf).or_else(|| {
        std::env::var_os(sasnet::task::mnist::DATA_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// What `sasnet eval` asks for, parsed from its arguments.
pub(super) struct EvalRequest {
    pub run_dir: PathBuf,
    pub mode: String,
    pub resample_every: Option<usize>,
    pub params: api::EvalParams,
}

/// `sasnet eval`: evaluates one run in one mode.
pub(super) fn eval(req: EvalRequest, json: bool) -> Result<()> {
    let context = || format!("evaluating {}", req.run_dir.display());
    let run = api::Run::open(&req.run_dir).with_context(context)?;
    let mut mode: api::EvalMode = req.mode.parse().with_context(context)?;
    match (&mut mode, req.resample_every) {
        (api::EvalMode::Sampled { every }, Some(k)) => {
            anyhow::ensure!(
                k >= 1,
                "evaluating {}: invalid value in `resample-every`: must be at least 1",
                req.run_dir.display()
            );
            *every = k;
        }
        (_, Some(_)) if run.family() == api::Family::FeedForward => anyhow::bail!(
            "evaluating {}: invalid value in `eval`: --resample-every and --trials do not apply to a feed-forward run",
            req.run_dir.display()
        ),
        (_, Some(_)) => anyhow::bail!(
            "evaluating {}: invalid value in `resample-every`: applies to --mode sampled only",
            req.run_dir.display()
        ),
        (_, None) => {}
    }
    let r = run.evaluate(mode, &req.params).with_context(context)?;
    if json {
        println!("{}", serde_json::to_value(&r)?);
        return Ok(());
    }
    let sampled = matches!(mode, api::EvalMode::Sampled { .. });
    let kind = if sampled { "sampled networks" } else { "repeats" };
    match &r.report {
        api::FamilyReport::FeedForward(f) => println!(
            "feed-forward ({}, epoch {}): accuracy {:.2}% ± {:.2}% over {} {kind} of {} test images",
            f.mode,
            r.epoch,
            100.0 * f.accuracy,
            100.0 * f.accuracy_std,
            f.accuracies.len(),
            f.examples
        ),
        api::FamilyReport::Recurrent(e) => {
            println!(
                "{} ({}, epoch {}): accuracy {:.2}% ± {:.2}% over {} {kind} of {} trials",
                e.task,
                e.mode.base_name(),
                r.epoch,
                100.0 * e.accuracy,
                100.0 * e.accuracy_std,
                e.accuracies.len(),
                e.trials
            );
            for (m, a) in &e.by_modality {
                println!("  {m}: {:.2}%", 100.0 * a);
            }
        }
    }
    Ok(())
}

/// `sasnet analyze`: runs the selected analyses and prints their outputs.
pub(super) fn analyze(
    name: &str,
    run_dirs: &[PathBuf],
    out: Option<&std::path::Path>,
    opts: &api::AnalysisParams,
    json: bool,
    quiet: bool,
) -> Result<()> {
    let context = || format!("analysis {name}");
    let outputs = analyze_all(name, run_dirs, out, opts).with_context(context)?;
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

/// The analyses selected by `name` over the runs in `dirs`, each into `<out>/<name>/`
/// (default `<first run>/analysis`); `theory` runs without runs into `<out>/theory`
/// (default `analysis/theory`).
fn analyze_all(
    name: &str,
    dirs: &[PathBuf],
    out: Option<&std::path::Path>,
    opts: &api::AnalysisParams,
) -> sasnet::Result<Vec<(PathBuf, api::AnalysisResult)>> {
    if let Some(a) = api::Analysis::named(name).ok().filter(|a| a.is_theory()) {
        let dir = out
            .map_or_else(|| PathBuf::from("analysis"), std::path::Path::to_path_buf)
            .join(a.name());
        if !dirs.is_empty() {
            return Err(api::theory_takes_no_runs());
        }
        return api::analyze(a, &[], &dir, opts).map(|o| vec![(dir, o)]);
    }
    if dirs.is_empty() {
        return Err(sasnet::SasError::InvalidArgument {
            name: name.into(),
            reason: format!("analysis {name} needs at least one run directory: sasnet analyze {name} RUN..."),
        });
    }
    let runs = api::open_runs(dirs)?;
    let base = out.map_or_else(|| dirs[0].join("analysis"), std::path::Path::to_path_buf);
    api::Analysis::select(name, runs[0].family())?
        .into_iter()
        .map(|a| {
            let dir = base.join(a.name());
            api::analyze(a, &runs, &dir, opts).map(|o| (dir, o))
        })
        .collect()
}

/// Warns about the analyses that failed (they are listed in the report).
pub(super) fn warn_failed(failed: &[(&str, String)]) {
    if !failed.is_empty() {
        let names: Vec<&str> = failed.iter().map(|f| f.0).collect();
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
    opts: &api::AnalysisParams,
    quiet: bool,
) -> Result<()> {
    let runs = api::open_runs(run_dirs).context("writing the report")?;
    let r = api::report(&runs, report, opts, &mut |line: &str| {
        if !quiet {
            eprintln!("{line}");
        }
    })
    .context("writing the report")?;
    warn_failed(&r.failed);
    println!("{}", report.display());
    Ok(())
}

/// `sasnet reproduce`: trains the target's seeds and writes its report.
pub(super) fn reproduce(
    target: &str,
    seeds: Option<usize>,
    out: Option<PathBuf>,
    analysis: api::AnalysisParams,
    backend: &super::sweep::BackendArgs,
    json: bool,
    quiet: bool,
) -> Result<()> {
    use super::sweep::Backend;
    use api::{ReproduceOptions, default_seeds};
    let quick = analysis.quick;
    // An unknown target is reported where the library would meet it (after the checks of
    // the options), with the context of the backend's step.
    let parsed: sasnet::Result<api::Target> = target.parse();
    let seeds = seeds.unwrap_or_else(|| parsed.as_ref().map_or(1, |&t| default_seeds(t)));
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
        jobs: backend.jobs.unwrap_or(0),
        stop: Some(super::progress::stop_flag()?),
    };
    if backend.backend != Backend::Local {
        let plan = parsed
            .and_then(|t| api::reproduce_plan(t, &opts))
            .with_context(|| format!("planning {target}"))?;
        plan.write(&opts.out, true)
            .with_context(|| format!("writing the plan of {target}"))?;
        if !quiet {
            eprintln!(
                "{}: {} training run(s) planned in {}; the analyses and the report run after them",
                plan.title,
                plan.rows.len(),
                opts.out.display()
            );
        }
        let mut after = super::sweep::args_without_backend();
        after.extend(["--backend".into(), "local".into()]);
        return super::sweep::submit(&plan, &opts.out, &after, backend, quiet);
    }
    let quiet = quiet || json;
    let s = parsed
        .and_then(|t| {
            api::reproduce(t, &opts, &mut |line: &str| {
                if !quiet {
                    eprintln!("{line}");
                }
            })
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
            let dir = data_dir(dir.as_deref()).context("no data directory: pass DIR or set SASNET_DATA")?;
            let checks = api::data::verify(&dir)?;
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
                api::data::default_mirrors()
            } else {
                mirrors
            };
            for f in api::data::fetch(&dir, &mirrors)? {
                println!("{f}");
            }
        }
    }
    Ok(())
}

/// `sasnet grad IN OUT`: loss and gradients of one minibatch.
pub(super) fn grad(input: &std::path::Path, output: &std::path::Path, json: bool, quiet: bool) -> Result<()> {
    let s = api::grad_file(input, output)
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
    let mut w = api::bench::W;
    if let Some(b) = batch {
        anyhow::ensure!(b >= 1, "--batch must be at least 1");
        w.batch = b;
    }
    let r = api::bench::run(w, reps, warmup, chunks, 1).context("running the benchmark")?;
    let c = ceilings.then(api::bench::ceilings);
    if json {
        let mut v = serde_json::to_value(&r)?;
        if let Some(c) = &c {
            v["ceilings"] = serde_json::to_value(c)?;
            v["fma_peak_gflops"] = c.fma_peak_gflops.into();
            v["fraction_of_fma_peak"] = (r.gflops / c.fma_peak_gflops).into();
            v["floor_ms"] = c.floor_ms(api::bench::flop(&w)).into();
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
            println!("{}", c.describe(api::bench::flop(&w), r.gflops));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_prefers_the_argument() {
        assert_eq!(
            data_dir(Some(std::path::Path::new("/x/y"))),
            Some(PathBuf::from("/x/y"))
        );
    }
}
