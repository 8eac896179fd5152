//! End-to-end reproductions (docs/MODEL.md §6): train several seeds of a preset with its reference
//! settings, run every applicable analysis over them and write the HTML report; and
//! `theory` ([`reproduce_theory`]), the infinite-width experiments without training.
//!
//! Seeds: the paper's counts by default ([`default_seeds`]: 10 for MSI, 5 for MNIST).
//!
//! Output layout of `reproduce(target, opts)` in `opts.out`:
//! - `seed-<s>/` — one run directory per seed (as `sasnet train --seeds`);
//! - `analysis/<name>/` — data files and figures of each analysis (all seeds aggregated);
//!   `analysis/retrain/bptt/seed-<s>/` holds each seed's BPTT baseline (same seed and
//!   budget, trained by the `baseline` analysis and shared with `retrain`);
//! - `report.html` — the self-contained report;
//! - `summary.json` — the training summaries and the headline numbers ([`headline`]): each
//!   seed's mean-field accuracy with mean, sample std and 95 % t-interval, and the paired
//!   ensemble − BPTT difference per evaluation mode with its interval.
//!
//! A seed directory that already holds a checkpoint is resumed (so an interrupted
//! reproduction continues where it stopped, and a finished one only redoes the report).
//!
//! Quick variants ([`config`] with `quick = true`) finish in minutes on 2 cores:
//! - `msi`: 150 epochs (early stop as in the reference), evaluation only at the end on 2
//!   trials per condition, test protocol at Δt = 10 ms;
//! - `row-mnist`: 5 epochs × 100 minibatches on the first 12,800 training images, evaluation
//!   after every epoch on 2,000 test images;
//! - `pixel-mnist`, `perm-mnist`: 1 epoch × 20 minibatches on the first 2,560 training
//!   images, evaluation on 2,000 test images.
//!
//! The full variants use the presets' reference settings (docs/MODEL.md §2), except for MSI's
//! evaluation cost, so that `reproduce msi --seeds 3` fits in 10 minutes on 2 cores:
//! evaluation during training every 100 epochs on 5 trials per condition, and the analyses
//! that evaluate the networks many times (perturbation, plasticity, selectivity) run the test
//! protocol (periods 500/1000/300 ms as in the reference) at Δt = 5 ms ([`MSI_FAST_DT_MS`];
//! docs/MODEL.md §3 requires results stable under Δt changes) instead of the reference 0.5 ms, which
//! the psychometric curves, the sampled-network statistics and the runs' own evaluation
//! keep. `--fast-dt` / `--test-dt` change either.
//! The `retrain` analysis trains three variants per seed (Ξ ≡ 0, π ≡ 0, BPTT) into
//! `analysis/retrain/`, each as long as the reference (the quick variant: 5 epochs for row
//! MNIST, 1 for pixel MNIST); `--skip retrain` leaves it out.

pub use super::steps::{ReproduceOptions, ReproduceSummary, Target};
use super::steps::{run_timed, start_training};
use crate::analysis::AnalysisOptions;
use crate::analysis::registry::THEORY;
use crate::config::Config;
use crate::data::source::TaskData;
use crate::error::{Result, SasError};
use crate::infer::Mode;
use crate::run::files;
use crate::sweep::Manifest;
use crate::train::{TrainOptions, TrainSummary, train};
use std::path::{Path, PathBuf};

/// MSI test-protocol time step of the full reproduction's analyses that evaluate many times
/// (perturbation, plasticity, selectivity), ms. The reference 0.5 ms has 3,600 steps per test
/// trial; 5 ms gives 360, ten times less work. Training-time evaluation, the psychometric
/// curves and the final accuracy use the reference 0.5 ms.
pub const MSI_FAST_DT_MS: f64 = 5.0;
/// MSI test-protocol time step of the quick reproduction, ms.
pub const MSI_QUICK_TEST_DT_MS: f64 = 10.0;

/// The recurrent reproduction targets (this module's; the feed-forward ones are
/// [`crate::pipeline::ff::TARGETS`]).
pub const TARGETS: [Target; 4] = [
    Target::Msi,
    Target::RowMnist,
    Target::PixelMnist,
    Target::PermMnist,
];

/// The paper's seed count for a target: 10 for `msi`, 5 for the MNIST targets (the
/// feed-forward ones included), 1 where seeds are not used (`theory`).
pub fn default_seeds(target: Target) -> usize {
    match target {
        Target::Msi => 10,
        Target::Theory => 1,
        _ => 5,
    }
}

/// The configuration of a recurrent target (one of [`TARGETS`]; `quick` for the quick
/// variant), validated.
pub fn config(target: Target, quick: bool) -> Result<Config> {
    let preset = target.preset_among(&TARGETS, "recurrent")?;
    let mut c = Config::of_preset(preset)?;
    // Every reproduction keeps the per-epoch parameter history: sparsity, entropy and weight
    // classes over epochs, symmetry breaking and the synaptic PCA read it.
    c.train.history = true;
    match (target, quick) {
        (Target::Msi, false) => {
            c.eval.every = 100;
            c.eval.during_trials_per_condition = 5;
        }
        (Target::Msi, true) => {
            c.train.epochs = 150;
            c.eval.every = 0;
            c.eval.during_trials_per_condition = 2;
            c.eval.trials_per_condition = 10;
            c.task.msi.test_dt_ms = MSI_QUICK_TEST_DT_MS;
        }
        (Target::RowMnist, true) => {
            c.train.epochs = 5;
            c.train.minibatches = 100;
            c.task.train_limit = 100 * c.train.batch;
            c.eval.every = 1;
            c.eval.during_limit = 2000;
        }
        (Target::PixelMnist | Target::PermMnist, true) => {
            c.train.epochs = 1;
            c.train.minibatches = 20;
            c.task.train_limit = 20 * c.train.batch;
            c.eval.every = 0;
            c.eval.during_limit = 2000;
        }
        _ => {}
    }
    c.validate()?;
    Ok(c)
}

/// Trains `opts.seeds` seeds of `target` (resuming directories that hold a checkpoint), then
/// runs every applicable analysis over them and writes `opts.out/report.html`. The
/// feed-forward targets (`ff-mnist`, `ff-mnist-full`) go to [`crate::pipeline::ff`],
/// `theory` to [`reproduce_theory`]. `progress` receives one line per step (for the command
/// line).
pub fn reproduce(
    target: Target,
    opts: &ReproduceOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<ReproduceSummary> {
    if crate::pipeline::ff::TARGETS.contains(&target) {
        return crate::pipeline::ff::reproduce(target, opts, progress);
    }
    if target == Target::Theory {
        return reproduce_theory(opts, progress);
    }
    if opts.seeds == 0 {
        return Err(SasError::Config {
            key: "seeds".into(),
            reason: "at least 1 seed is needed".into(),
        });
    }
    let cfg = config(target, opts.quick)?;
    // Bad analysis settings are found before any training, not after.
    opts.analysis.validate(cfg.task.kind.as_str())?;
    let plan = plan_of(target, &cfg, opts)?;
    plan.write(&opts.out, true)?;
    start_training(target, opts, progress)?;
    train_plan(&plan, opts, progress)?;
    let task = TaskData::load(&cfg, opts.analysis.data_dir.as_deref())?;
    // Every seed is finished now: resuming it trains nothing and gives its summary.
    let runs = train_seeds(&cfg, &task, opts)?;
    drop(task);
    for s in &runs {
        progress(&format!("  {}", s.line()));
    }
    let dirs: Vec<PathBuf> = runs.iter().map(|s| s.run_dir.clone()).collect();
    let report = opts.out.join("report.html");
    let aopts = analysis_options(target, opts);
    let (analyses, failed) = report_over(&dirs, &report, &aopts, progress)?;
    let statistics = headline(&crate::report::html::page_dir(&report).join("analysis"), &runs)?;
    let summary = ReproduceSummary {
        target,
        quick: opts.quick,
        runs,
        report,
        analyses,
        failed,
        statistics,
    };
    crate::output::write_json(&opts.out.join("summary.json"), &summary)?;
    Ok(summary)
}

/// The analyses' settings of a reproduction: `opts.analysis` with its `quick`, and for the
/// full MSI reproduction the fast time step [`MSI_FAST_DT_MS`] unless one is given.
fn analysis_options(target: Target, opts: &ReproduceOptions) -> AnalysisOptions {
    let mut aopts = opts.analysis.clone();
    aopts.quick = opts.quick;
    if target == Target::Msi && !opts.quick && aopts.fast_dt_ms.is_none() && aopts.test_dt_ms.is_none() {
        aopts.fast_dt_ms = Some(MSI_FAST_DT_MS);
    }
    aopts
}

/// The plan of a recurrent reproduction: every training run it needs, as a manifest over
/// `opts.out` (validated; nothing written). See [`plan_of`].
pub fn plan(target: Target, opts: &ReproduceOptions) -> Result<Manifest> {
    if crate::pipeline::ff::TARGETS.contains(&target) || target == Target::Theory {
        return Err(SasError::NotApplicable {
            analysis: "reproduce".into(),
            reason: format!(
                "`{target}` has no training plan for a batch system; run it with --backend local"
            ),
        });
    }
    let cfg = config(target, opts.quick)?;
    opts.analysis.validate(cfg.task.kind.as_str())?;
    plan_of(target, &cfg, opts)
}

/// The runs a recurrent reproduction trains, in this order: the seeds (`seed-<s>/`); unless
/// skipped, the `baseline` analysis' BPTT twins (`analysis/retrain/bptt/seed-<s>/`, shared
/// with `retrain`) and, in the full variant, its learning-rate sweep on the first seed
/// (`analysis/baseline/lr-<lr>/seed-<s>/`); unless skipped, the `retrain` analysis' other
/// variants (`analysis/retrain/<variant>/seed-<s>/`). Each row's configuration is exactly the
/// one the analysis would train (the MSI test time step the analysis evaluates with
/// included), so the analyses find these runs finished and reuse them.
fn plan_of(target: Target, cfg: &Config, opts: &ReproduceOptions) -> Result<Manifest> {
    use crate::analysis::{baseline, retrain};
    use crate::sweep::manifest::{Row, RowFamily};
    use crate::train::variant::Variant;
    crate::pipeline::seeds::require(opts.seeds)?;
    let aopts = analysis_options(target, opts);
    let seeds: Vec<u64> = (0..opts.seeds as u64).map(|k| cfg.seed + k).collect();
    let seed_cfg = |s: u64| Config {
        seed: s,
        ..cfg.clone()
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut push = |dir: PathBuf, c: &Config| {
        rows.push(Row {
            index: rows.len(),
            point: None,
            seed: c.seed,
            dir,
            family: RowFamily::Recurrent,
            config: crate::config::Settings::to_toml(c),
        });
    };
    for &s in &seeds {
        push(
            crate::pipeline::seeds::seed_dir(Path::new(""), s, false),
            &seed_cfg(s),
        );
    }
    let stochastic = cfg.model.sas_in || cfg.model.sas_rec || cfg.model.sas_out;
    let wanted = |name: &str| stochastic && !aopts.skip.iter().any(|s| s.name == name);
    // The runs as the many-evaluation analyses (baseline, retrain) see them.
    let seen = |s: u64| -> Result<Config> {
        let mut c = seed_cfg(s);
        if let (Some(dt), crate::config::TaskKind::Msi) = (aopts.msi_dt_override(true)?, c.task.kind) {
            c.task.msi.test_dt_ms = dt;
        }
        Ok(c)
    };
    let analysis = Path::new("analysis");
    let base_out = analysis.join(baseline::NAME);
    let retrain_out = analysis.join(retrain::NAME);
    if wanted(baseline::NAME) || wanted(retrain::NAME) {
        for &s in &seeds {
            push(
                baseline::baseline_dir(&base_out, s),
                &retrain::variant_config(Variant::Bptt, &seen(s)?, opts.quick),
            );
        }
    }
    if wanted(baseline::NAME) && !opts.quick {
        let first = seen(seeds[0])?;
        for lr in baseline::LR_SWEEP {
            if !baseline::same_lr(lr, first.optim.rec.m.lr) {
                push(
                    baseline::sweep_dir(&base_out, lr, seeds[0]),
                    &baseline::sweep_config(&first, lr, opts.quick),
                );
            }
        }
    }
    if wanted(retrain::NAME) {
        for v in [Variant::XiZero, Variant::PiZero] {
            for &s in &seeds {
                push(
                    retrain::variant_dir(&retrain_out, v, s),
                    &retrain::variant_config(v, &seen(s)?, opts.quick),
                );
            }
        }
    }
    Ok(Manifest::new(
        format!("reproduce {target}{}", if opts.quick { " (quick)" } else { "" }),
        opts.analysis.data_dir.clone(),
        Vec::new(),
        rows,
    ))
}

/// Trains every row of `plan` here (finished ones are left alone), `opts.jobs` at a time.
/// Fails if a seed's run failed or the stop flag was set; a failed analysis run is left to
/// its analysis (which tries again and reports the failure).
fn train_plan(plan: &Manifest, opts: &ReproduceOptions, progress: &mut dyn FnMut(&str)) -> Result<()> {
    let jobs = if opts.jobs == 0 {
        rayon::current_num_threads()
    } else {
        opts.jobs
    };
    let topts = TrainOptions {
        stop: opts.stop.clone(),
        ..Default::default()
    };
    let all: Vec<usize> = (0..plan.rows.len()).collect();
    let s = crate::sweep::row::run_local(
        plan,
        &opts.out,
        &all,
        opts.analysis.data_dir.as_deref(),
        &topts,
        jobs,
        "local",
        &mut |l| progress(&format!("  {l}")),
    );
    if s.interrupted {
        return Err(SasError::Interrupted {
            run_dir: opts.out.clone(),
            epoch: 0,
        });
    }
    // Rows 0..seeds are the seeds (see `plan_of`).
    match s.failed.into_iter().find(|(i, _)| *i < opts.seeds) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

fn read_summary(analysis: &Path, name: &str) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(analysis.join(name).join("summary.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The headline numbers of a reproduction from its analyses' summaries in `analysis`:
/// `seeds`; `mean_field_accuracy` (each seed's mean-field test accuracy with mean, sample std,
/// 95 % t-interval and n; from the `baseline` analysis, which evaluates every seed on the
/// whole test set, else each run's last evaluation during training) and its `source`; where
/// the baseline ran, `bptt_accuracy` and `paired_difference` (ensemble − BPTT per evaluation
/// mode, each with its 95 % interval) and `bptt_lr_sweep`.
pub(crate) fn headline(analysis: &Path, runs: &[TrainSummary]) -> Result<serde_json::Value> {
    use serde_json::json;
    let seeds: Vec<u64> = runs
        .iter()
        .map(|r| crate::run::checkpoint::load_run(&r.run_dir).map(|(c, _, _)| c.seed))
        .collect::<Result<_>>()?;
    let mut h = serde_json::Map::new();
    h.insert("seeds".into(), json!(seeds));
    match read_summary(analysis, crate::analysis::baseline::NAME) {
        Some(b) => {
            let mf = Mode::MeanField.name();
            h.insert("mean_field_accuracy".into(), b[&mf]["ensemble"].clone());
            h.insert(
                "source".into(),
                json!(format!(
                    "analysis/baseline: mean field, {} draws, {} test trials",
                    crate::analysis::baseline::REPEATS,
                    b["test_trials"]
                )),
            );
            h.insert("bptt_accuracy".into(), b[&mf]["bptt"].clone());
            let mut diff = serde_json::Map::new();
            for m in crate::analysis::baseline::modes() {
                diff.insert(m.name(), b[&m.name()]["difference"].clone());
            }
            h.insert("paired_difference".into(), serde_json::Value::Object(diff));
            h.insert("bptt_lr_sweep".into(), b["lr_sweep"].clone());
        }
        None => {
            let a = read_summary(analysis, crate::analysis::accuracy::NAME);
            h.insert(
                "mean_field_accuracy".into(),
                a.map_or(serde_json::Value::Null, |a| {
                    a["final_test_acc_mean_field"].clone()
                }),
            );
            h.insert(
                "source".into(),
                json!("analysis/accuracy: each run's last evaluation during training (the baseline analysis did not run)"),
            );
        }
    }
    Ok(serde_json::Value::Object(h))
}

/// `reproduce theory`: every experiment of the infinite-width theory at full size (quick:
/// small sizes, seconds) into `opts.out/analysis/theory/`, and the report page
/// `opts.out/report.html`. The seeds option is not used; the MNIST experiment runs when
/// `opts.data_dir` is given. Full size takes about 12 minutes on 2 cores (kernel convergence up
/// to N = 4000, training at N = 4000, row-MNIST 0 vs 1 up to N = 1024).
pub(crate) fn reproduce_theory(
    opts: &ReproduceOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<ReproduceSummary> {
    let dir = opts.out.join("analysis").join(THEORY);
    progress(&format!(
        "infinite-width theory{} into {}{}",
        if opts.quick { " (quick)" } else { "" },
        dir.display(),
        if opts.analysis.data_dir.is_none() {
            " (no MNIST directory: the MNIST experiment is skipped)"
        } else {
            ""
        }
    ));
    let start = std::time::Instant::now();
    let mut aopts = opts.analysis.clone();
    aopts.quick = opts.quick;
    let o = crate::pipeline::analyze::run_theory(&dir, &aopts)?;
    progress(&format!(
        "  theory done in {:.1} s",
        start.elapsed().as_secs_f64()
    ));
    let report = opts.out.join("report.html");
    crate::report::html::write_report_titled(
        "infinite-width theory",
        std::slice::from_ref(&o),
        &[],
        &[],
        &report,
    )?;
    Ok(ReproduceSummary {
        target: Target::Theory,
        quick: opts.quick,
        runs: Vec::new(),
        report,
        analyses: vec![(THEORY, dir)],
        failed: Vec::new(),
        statistics: serde_json::Value::Null,
    })
}

fn train_seeds(cfg: &Config, task: &TaskData, opts: &ReproduceOptions) -> Result<Vec<TrainSummary>> {
    crate::pipeline::seeds::fan_out(cfg.seed, opts.seeds, |seed| {
        let c = Config { seed, ..cfg.clone() };
        let dir = crate::pipeline::seeds::seed_dir(&opts.out, seed, false);
        let topts = TrainOptions {
            resume: dir.join(files::CHECKPOINT).exists(),
            ..Default::default()
        };
        train(&c, task, &dir, &topts)
    })
}

/// Loads the runs in `dirs`, runs every applicable analysis into `<report dir>/analysis/`,
/// and writes the report page `report` (feed-forward runs: [`crate::pipeline::ff::report_over`]). Returns the analyses that ran (name, folder) and
/// those that failed (name, message).
#[allow(clippy::type_complexity)]
pub fn report_over(
    dirs: &[PathBuf],
    report: &Path,
    opts: &AnalysisOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<(Vec<(&'static str, PathBuf)>, Vec<(&'static str, String)>)> {
    if crate::family::Kind::of_runs(dirs)? == crate::family::Kind::FeedForward {
        return crate::pipeline::ff::report_over(dirs, report, opts, progress);
    }
    let runs = crate::analysis::load_runs::<crate::family::Recurrent>(dirs)?;
    let out = crate::report::html::page_dir(report).join("analysis");
    let (outputs, ran, failed) = run_timed(&out, progress, |starting| {
        crate::pipeline::analyze::run_all_with(&runs, &out, opts, starting)
    });
    crate::report::html::write_report_with_failures(&outputs, &failed, &runs, report)?;
    Ok((ran, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_valid_and_quick_is_smaller() {
        for t in TARGETS {
            let full = config(t, false).unwrap();
            let quick = config(t, true).unwrap();
            assert!(
                quick.train.epochs * quick.train.minibatches
                    <= full.train.epochs * full.train.minibatches / 3,
                "{t}"
            );
        }
        assert!("nope".parse::<Target>().is_err());
        assert!(config(Target::FfMnist, true).is_err());
        assert_eq!(config(Target::Msi, false).unwrap().train.epochs, 500);
    }

    #[test]
    fn the_plan_trains_exactly_what_the_analyses_reuse() {
        use crate::analysis::accuracy::fixture;
        use crate::analysis::registry::ANALYSES;
        use crate::sweep::manifest::RowConfig;
        let runs = fixture::runs();
        let root = std::env::temp_dir().join(format!("sasnet-plan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let opts = ReproduceOptions {
            seeds: 2,
            quick: false,
            out: root.clone(),
            ..Default::default()
        };
        let plan = plan_of(Target::Msi, &runs[0].cfg, &opts).unwrap();
        let dirs: Vec<String> = plan.rows.iter().map(|r| r.dir.display().to_string()).collect();
        assert_eq!(
            dirs[..4],
            [
                "seed-1",
                "seed-2",
                "analysis/retrain/bptt/seed-1",
                "analysis/retrain/bptt/seed-2"
            ]
        );
        let lr_rows = dirs
            .iter()
            .filter(|d| d.starts_with("analysis/baseline/lr-"))
            .count();
        assert!(lr_rows >= 2, "{dirs:?}");
        assert!(
            dirs.contains(&"analysis/retrain/xi0/seed-2".to_string()),
            "{dirs:?}"
        );
        assert_eq!(dirs.len(), 4 + lr_rows + 4);
        // The twins evaluate at the fast MSI time step, as the analysis sees the runs.
        let RowConfig::Recurrent(twin) = plan.rows[2].parsed().unwrap() else {
            panic!("recurrent")
        };
        assert_eq!(twin.task.msi.test_dt_ms, MSI_FAST_DT_MS);
        assert!(!(twin.model.sas_in || twin.model.sas_rec || twin.model.sas_out));
        // Skipping both analyses leaves only the seeds.
        let mut skip = opts.clone();
        skip.analysis.skip = vec![
            crate::analysis::registry::find("baseline").unwrap(),
            crate::analysis::registry::find("retrain").unwrap(),
        ];
        assert_eq!(plan_of(Target::Msi, &runs[0].cfg, &skip).unwrap().rows.len(), 2);

        // Train the analysis runs of the plan (the seeds are the fixture's own runs): the
        // analyses then train nothing.
        plan.write(&root, true).unwrap();
        let rows: Vec<usize> = (2..plan.rows.len()).collect();
        let s = crate::sweep::row::run_local(
            &plan,
            &root,
            &rows,
            None,
            &TrainOptions::default(),
            2,
            "test",
            &mut |_| {},
        );
        assert!(s.failed.is_empty(), "{:?}", s.failed);
        assert_eq!(s.trained.len(), rows.len());
        let aopts = analysis_options(Target::Msi, &opts);
        let run = |name: &str| {
            let a = ANALYSES.iter().find(|a| a.name == name).unwrap();
            crate::pipeline::analyze::run_one(a, &runs, &root.join("analysis").join(name), &aopts).unwrap()
        };
        assert_eq!(run("baseline").summary_json()["reused_runs"], 2 + lr_rows);
        let r = run("retrain");
        for v in crate::analysis::retrain::RETRAINED {
            assert_eq!(r.summary_json()[v.name()]["reused"], 2, "{}", v.name());
        }
        std::fs::remove_dir_all(&root).ok();
    }
}
