//! Paired BPTT baselines: the paper's one performance claim, "comparable or even better than
//! BPTT" (pixel MNIST, Fig. 3a), tested seed by seed.
//!
//! **Baseline.** For every ensemble run (seed `s`) the BPTT baseline is the deterministic
//! limit of the same engine, `π ≡ Ξ ≡ 0` ([`Variant::Bptt`]): same seed (so the same initial
//! `m`, minibatch order and noise streams), same optimizer and schedules otherwise, and the
//! **same budget** (all of the run's epochs and minibatches, the same early-stop rule). It is
//! trained into `<out>/../retrain/bptt/seed-<s>/` — the folder the [`super::retrain`] analysis
//! uses for its BPTT variant, so one run serves both — or reused when it is already finished
//! there (an unfinished one resumes).
//!
//! **Learning-rate sweep.** So that the baseline is not a strawman, the first seed's BPTT run
//! is repeated with every `m` learning rate set to each of [`LR_SWEEP`] (`3e-4, 1e-3, 3e-3`;
//! the schedules unchanged) into `<out>/lr-<lr>/seed-<s>/`; the rate equal to the
//! configuration's own `m` rate is the baseline run itself. Skipped in quick mode.
//!
//! **Comparison.** Ensemble and baseline networks are evaluated on the same test trials
//! ([`test_size`]: all MNIST test images, MSI 20 trials per condition at the run's test
//! protocol) in each mode of [`modes`]: mean field (fresh ε, [`REPEATS`] draws averaged), the
//! mean network `w = μ`, and sampled networks redrawn every step (`k = 1`, [`REPEATS`] draws).
//! The BPTT network is deterministic, so all three modes are the same network for it (they
//! differ only through MSI's recurrent noise). Reported per mode: each seed's accuracies, their
//! mean, sample std and 95 % t-interval ([`crate::stats`]), and the **paired difference**
//! ensemble − BPTT with its 95 % interval over seeds.
//!
//! Outputs: `paired.csv` (seed, mode, ensemble, BPTT, difference), `lr_sweep.csv`,
//! `summary.json`, figures of the paired differences, the learning curves and the sweep.

use super::accuracy::{by_epoch, column_series, describe_runs, line_figure, paired_stat, stat};
use super::retrain::{train_variant, variant_config, variant_dir};
use super::{AnalysisOptions, RunData};
use crate::analysis::AnalysisResult;
use crate::config::Config;
use crate::data::source::TaskData;
use crate::error::{Result, SasError};
use crate::infer::{Mode, evaluate};
use crate::output::csv;
use crate::output::figure::Series;
use crate::rng::derive_seed;
use crate::stats::SeedStats;
use crate::train::variant::Variant;
use rayon::prelude::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Name of the analysis (command line, output folder).
pub const NAME: &str = "baseline";

/// Section title of the analysis in reports.
const TITLE: &str = "Paired BPTT baselines: ensemble − BPTT per seed";

/// `m` learning rates of the BPTT sweep on the first seed.
pub const LR_SWEEP: [f64; 3] = [3e-4, 1e-3, 3e-3];

/// Draws per stochastic evaluation (mean field, sampled networks).
pub const REPEATS: usize = 3;

const KEY_EVAL: u64 = 0x4250_0001;

/// The compared evaluation modes: mean field, mean network, sampled networks with `k = 1`.
pub fn modes() -> [Mode; 3] {
    [Mode::MeanField, Mode::Mean, Mode::Sampled { every: 1 }]
}

/// Test set of the comparison, `(limit, trials_per_condition)`: all MNIST test images (quick:
/// the first 2000), MSI 20 trials per condition (quick 5).
pub(crate) fn test_size(quick: bool) -> (usize, usize) {
    if quick { (2000, 5) } else { (0, 20) }
}

/// The BPTT baseline's run directory for the run of seed `seed`, given this analysis' output
/// folder `out`: `<out>/../retrain/bptt/seed-<seed>`.
pub(crate) fn baseline_dir(out: &Path, seed: u64) -> PathBuf {
    let parent = out.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    variant_dir(&parent.join(super::retrain::NAME), Variant::Bptt, seed)
}

/// The configuration of the sweep run with `m` learning rate `lr`: the baseline's
/// configuration with every layer's `m` group at `lr`.
pub(crate) fn sweep_config(base: &Config, lr: f64, quick: bool) -> Config {
    let mut c = variant_config(Variant::Bptt, base, quick);
    for l in [&mut c.optim.inp, &mut c.optim.rec, &mut c.optim.out] {
        l.m.lr = lr;
    }
    c
}

/// The sweep run's directory: `<out>/lr-<lr>/seed-<seed>`.
pub(crate) fn sweep_dir(out: &Path, lr: f64, seed: u64) -> PathBuf {
    out.join(format!("lr-{lr:e}")).join(format!("seed-{seed}"))
}

pub(crate) fn same_lr(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

/// The baseline analysis (an [`super::AnalysisFn`]); see the module docs.
///
/// Summary keys: `modes` (names), `test_trials`, per mode name `ensemble`, `bptt` and
/// `difference` (each [`stat`]: mean, sample std, 95 % interval, n, per-seed values),
/// `bptt_epochs` and `ensemble_epochs` (per seed), `lr_sweep` (`lr`, `accuracy_mean_field`
/// per rate, `seed`), `notes`.
pub fn run(runs: &[RunData], out: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let cfg0 = &runs[0].cfg;
    if !(cfg0.model.sas_in || cfg0.model.sas_rec || cfg0.model.sas_out) {
        return Err(SasError::NotApplicable {
            analysis: NAME.into(),
            reason: "the runs have no spike-and-slab layer: they are BPTT networks already".into(),
        });
    }
    let task = TaskData::load(cfg0, opts.data_dir.as_deref())?;

    // Train (or reuse) the baselines and the sweep.
    let base_lr = cfg0.optim.rec.m.lr;
    let mut jobs: Vec<(Config, PathBuf)> = runs
        .iter()
        .map(|r| {
            (
                variant_config(Variant::Bptt, &r.cfg, opts.quick),
                baseline_dir(out, r.cfg.seed),
            )
        })
        .collect();
    let sweep: Vec<f64> = if opts.quick { Vec::new() } else { LR_SWEEP.to_vec() };
    for &lr in &sweep {
        if !same_lr(lr, base_lr) {
            jobs.push((
                sweep_config(&runs[0].cfg, lr, opts.quick),
                sweep_dir(out, lr, cfg0.seed),
            ));
        }
    }
    let trained: Vec<bool> = jobs
        .par_iter()
        .map(|(c, dir)| {
            train_variant(c, &task, dir)
                .map(|(reused, _)| reused)
                .map_err(|e| SasError::Training {
                    what: format!("{NAME} {}", dir.display()),
                    source: Box::new(e),
                })
        })
        .collect::<Result<_>>()?;
    let reused = trained.iter().filter(|&&r| r).count();
    let bptt: Vec<RunData> = runs
        .iter()
        .map(|r| RunData::load(&baseline_dir(out, r.cfg.seed)))
        .collect::<Result<_>>()?;

    // Evaluate every network in every mode on the same trials.
    let (limit, tpc) = test_size(opts.quick);
    let test = task.test_set(cfg0, cfg0.eval.batch, limit, tpc);
    let ms = modes();
    let jobs: Vec<(usize, usize, bool)> = (0..runs.len())
        .flat_map(|ri| (0..ms.len()).flat_map(move |mi| [(ri, mi, false), (ri, mi, true)]))
        .filter(|&(_, mi, b)| !(b && mi > 0)) // BPTT: one network, evaluated once per draw set
        .collect();
    let evals: Vec<((usize, usize, bool), f64)> = jobs
        .par_iter()
        .map(|&(ri, mi, is_bptt)| {
            let r = if is_bptt { &bptt[ri] } else { &runs[ri] };
            let seed = derive_seed(opts.seed, &[KEY_EVAL, ri as u64, mi as u64]);
            let mode = if is_bptt { Mode::MeanField } else { ms[mi] };
            let reps = if matches!(mode, Mode::Mean) { 1 } else { REPEATS };
            let e = evaluate(&r.net, &r.cfg, task.kind(), &test, mode, reps, seed)?;
            Ok(((ri, mi, is_bptt), e.accuracy))
        })
        .collect::<Result<_>>()?;
    let acc = |ri: usize, mi: usize, b: bool| {
        let key = (ri, if b { 0 } else { mi }, b);
        evals.iter().find(|e| e.0 == key).map_or(f64::NAN, |e| e.1)
    };
    let bptt_acc: Vec<f64> = (0..runs.len()).map(|ri| acc(ri, 0, true)).collect();

    let mut rows = Vec::new();
    let mut summary = serde_json::Map::new();
    let mut diffs: Vec<(String, SeedStats)> = Vec::new();
    for (mi, m) in ms.iter().enumerate() {
        let ens: Vec<f64> = (0..runs.len()).map(|ri| acc(ri, mi, false)).collect();
        for (ri, r) in runs.iter().enumerate() {
            rows.push(vec![
                r.cfg.seed as f64,
                mi as f64,
                ens[ri],
                bptt_acc[ri],
                ens[ri] - bptt_acc[ri],
            ]);
        }
        summary.insert(
            m.name(),
            json!({
                "ensemble": stat(&ens),
                "bptt": stat(&bptt_acc),
                "difference": paired_stat(&ens, &bptt_acc),
            }),
        );
        diffs.push((m.name(), SeedStats::paired(&ens, &bptt_acc)));
    }
    summary.insert(
        "modes".into(),
        json!(ms.iter().map(Mode::name).collect::<Vec<_>>()),
    );
    summary.insert(
        "seeds".into(),
        json!(runs.iter().map(|r| r.cfg.seed).collect::<Vec<_>>()),
    );
    summary.insert(
        "ensemble_epochs".into(),
        json!(runs.iter().map(|r| r.epoch).collect::<Vec<_>>()),
    );
    summary.insert(
        "bptt_epochs".into(),
        json!(bptt.iter().map(|r| r.epoch).collect::<Vec<_>>()),
    );
    summary.insert("reused_runs".into(), json!(reused));
    let trials: usize = test.batches.iter().map(|b| b.size).sum();
    summary.insert("test_trials".into(), json!(trials));
    let mut files = vec![csv(
        "paired.csv",
        &["seed", "mode_index", "ensemble", "bptt", "difference"],
        &rows,
    )?];

    // The learning-rate sweep on the first seed (mean field = the deterministic network).
    let mut sweep_rows = Vec::new();
    let mut sweep_acc = Vec::new();
    for &lr in &sweep {
        let d = if same_lr(lr, base_lr) {
            bptt[0].clone()
        } else {
            RunData::load(&sweep_dir(out, lr, cfg0.seed))?
        };
        let seed = derive_seed(opts.seed, &[KEY_EVAL, 0, 0]);
        let a = evaluate(&d.net, &d.cfg, task.kind(), &test, Mode::MeanField, REPEATS, seed)?.accuracy;
        sweep_rows.push(vec![lr, cfg0.seed as f64, d.epoch as f64, a]);
        sweep_acc.push(a);
    }
    summary.insert(
        "lr_sweep".into(),
        json!({"lr": sweep, "accuracy_mean_field": sweep_acc, "seed": cfg0.seed,
               "ensemble_mean_field": acc(0, 0, false)}),
    );
    if !sweep.is_empty() {
        files.push(csv(
            "lr_sweep.csv",
            &["lr_m", "seed", "epochs", "accuracy_mean_field"],
            &sweep_rows,
        )?);
    }
    let summary = Value::Object(summary);

    // Figures.
    let desc = describe_runs(runs);
    let n = runs.len();
    let xs: Vec<f64> = (0..ms.len()).map(|i| i as f64).collect();
    let legend: Vec<String> = ms
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{i} = {}", m.name()))
        .collect();
    let mut series = vec![Series {
        label: if n > 1 {
            "mean, 95 % CI".into()
        } else {
            "difference".into()
        },
        x: xs.clone(),
        y: diffs.iter().map(|d| d.1.mean).collect(),
        band: (n > 1).then(|| {
            (
                diffs.iter().map(|d| d.1.lo).collect(),
                diffs.iter().map(|d| d.1.hi).collect(),
            )
        }),
        markers: true,
    }];
    // Every seed as its own polyline in one colour (NaN separates them).
    let (mut sx, mut sy) = (Vec::new(), Vec::new());
    for ri in 0..runs.len() {
        sx.extend(xs.iter().copied().chain([f64::NAN]));
        sy.extend(diffs.iter().map(|d| d.1.values[ri]).chain([f64::NAN]));
    }
    series.push(Series {
        label: "each seed".into(),
        x: sx,
        y: sy,
        band: None,
        markers: true,
    });
    let verdict: Vec<String> = diffs
        .iter()
        .map(|(name, s)| format!("{name} {}", s.pm(2, 100.0)))
        .collect();
    let mut figures = vec![line_figure(
        "paired_difference",
        "Ensemble − BPTT, paired by seed",
        "evaluation mode (index)",
        "accuracy difference, ensemble − BPTT (fraction)",
        format!(
            "Test accuracy of each trained ensemble minus that of its BPTT baseline (π ≡ Ξ ≡ 0, \
             same seed, optimizer and budget) on the same {trials} test trials, per evaluation \
             mode of the ensemble ({}); the BPTT network is deterministic and evaluated once \
             per draw set. Differences (mean ± half-width of the 95 % t-interval over n seeds): \
             {}. Mean-field accuracy of the ensembles {}; of the BPTT baselines {}. {desc}.",
            legend.join(", "),
            verdict.join("; "),
            SeedStats::of(&(0..runs.len()).map(|ri| acc(ri, 0, false)).collect::<Vec<_>>())
                .pm_seeds(2, 100.0),
            SeedStats::of(&bptt_acc).pm_seeds(2, 100.0),
        ),
        series,
    )];
    let curve = |rs: &[&RunData], col: &str| -> Result<super::accuracy::EpochStats> {
        let per: Vec<Vec<(usize, f64)>> = rs
            .iter()
            .map(|r| column_series(&r.metrics, col))
            .collect::<Result<_>>()?;
        Ok(by_epoch(&per))
    };
    let ens_refs: Vec<&RunData> = runs.iter().collect();
    let bptt_refs: Vec<&RunData> = bptt.iter().collect();
    let mut acc_series = Vec::new();
    let mut loss_series = Vec::new();
    for (label, rs) in [("ensemble (mean field)", &ens_refs), ("BPTT", &bptt_refs)] {
        let a = curve(rs, "test_acc_mean_field")?;
        if !a.epochs.is_empty() {
            acc_series.push(a.series(label));
        }
        let l = curve(rs, "train_loss")?;
        if !l.epochs.is_empty() {
            let mut s = l.series(label);
            s.markers = false;
            loss_series.push(s);
        }
    }
    if !acc_series.is_empty() {
        figures.push(line_figure(
            "test_accuracy",
            "Test accuracy during training: ensemble and BPTT",
            "epoch",
            "test accuracy (fraction correct)",
            format!(
                "Test accuracy evaluated during training (each run's metrics.csv and eval \
                 settings) of the ensembles (mean field) and their BPTT baselines; {desc}."
            ),
            acc_series,
        ));
    }
    if !loss_series.is_empty() {
        let mut f = line_figure(
            "train_loss",
            "Training loss: ensemble and BPTT",
            "epoch",
            "training loss (log scale)",
            format!("Training loss per epoch of the ensembles and their BPTT baselines; {desc}."),
            loss_series,
        );
        f.log_y = true;
        figures.push(f);
    }
    if !sweep.is_empty() {
        figures.push(line_figure(
            "lr_sweep",
            "BPTT learning-rate sweep",
            "log₁₀ learning rate of m",
            "test accuracy (fraction correct)",
            format!(
                "Mean-field test accuracy ({trials} trials, {REPEATS} draws) of BPTT networks of \
                 seed {} trained with every m learning rate set to {} (schedules unchanged, same \
                 budget), with the ensemble of the same seed for reference (horizontal line).",
                cfg0.seed,
                sweep
                    .iter()
                    .map(|l| format!("{l:e}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            vec![
                Series {
                    label: "BPTT".into(),
                    x: sweep.iter().map(|l| l.log10()).collect(),
                    y: sweep_acc.clone(),
                    band: None,
                    markers: true,
                },
                Series {
                    label: "ensemble, seed ".to_string() + &cfg0.seed.to_string(),
                    x: sweep.iter().map(|l| l.log10()).collect(),
                    y: vec![acc(0, 0, false); sweep.len()],
                    band: None,
                    markers: false,
                },
            ],
        ));
    }
    Ok(AnalysisResult::with(NAME, TITLE, files, figures, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_sweep_configs() {
        let out = Path::new("/r/analysis/baseline");
        assert_eq!(
            baseline_dir(out, 3),
            PathBuf::from("/r/analysis/retrain/bptt/seed-3")
        );
        assert_eq!(
            sweep_dir(out, 3e-4, 1),
            PathBuf::from("/r/analysis/baseline/lr-3e-4/seed-1")
        );
        let c = Config::preset("row-mnist").unwrap();
        let s = sweep_config(&c, 3e-3, false);
        assert_eq!(
            (s.optim.inp.m.lr, s.optim.rec.m.lr, s.optim.out.m.lr),
            (3e-3, 3e-3, 3e-3)
        );
        assert!(!(s.model.sas_in || s.model.sas_rec || s.model.sas_out));
        // Same budget as the ensemble.
        assert_eq!(
            (s.train.epochs, s.train.minibatches),
            (c.train.epochs, c.train.minibatches)
        );
        assert!(same_lr(1e-3, 0.001) && !same_lr(1e-3, 3e-3));
    }

    #[test]
    fn run_on_tiny_runs_pairs_every_seed() {
        let runs = crate::analysis::accuracy::fixture::runs();
        let root = crate::analysis::accuracy::fixture::out("baseline-root");
        let out = root.join(NAME);
        let opts = AnalysisOptions {
            quick: true,
            seed: 2,
            ..Default::default()
        };
        let o = run(&runs, &out, &opts).unwrap().written(&out).unwrap();
        assert!(
            baseline_dir(&out, 1)
                .join(crate::run::files::CHECKPOINT)
                .is_file()
        );
        for m in modes() {
            let d = &o.summary_json()[m.name()]["difference"];
            assert_eq!(d["n"], 2);
            let vals = d["values"].as_array().unwrap();
            let e = &o.summary_json()[m.name()]["ensemble"]["values"];
            let b = &o.summary_json()[m.name()]["bptt"]["values"];
            for i in 0..2 {
                let want = e[i].as_f64().unwrap() - b[i].as_f64().unwrap();
                assert!((vals[i].as_f64().unwrap() - want).abs() < 1e-12);
            }
        }
        // The retrain analysis next to it reuses the same BPTT runs.
        let again = run(&runs, &out, &opts).unwrap().written(&out).unwrap();
        assert_eq!(again.summary_json()["reused_runs"], 2);
    }
}
