//! Stochastic plasticity by retraining (docs/MODEL.md §5.12, second half): the runs' configuration
//! retrained from the same seeds with `Ξ ≡ 0`, with `π ≡ 0` and with both (plain BPTT)
//! ([`Variant`]), compared with the reference runs side by side.
//!
//! **Training.** Each given run (seed) gets the three variants of its configuration
//! ([`variant_config`]) trained into `<out>/<variant>/seed-<seed>/` (ordinary run
//! directories, without parameter history), all jobs in parallel. A variant directory that
//! already holds a finished run (all its epochs, or stopped early by the configuration's rule)
//! is reused; an unfinished one is resumed; one holding another configuration is an error.
//!
//! **Length** ([`variant_epochs`]): every variant trains as long as the reference (all its
//! epochs, the same early-stop rule). Only the quick variant caps MNIST-type tasks (row MNIST
//! 5 epochs, pixel / permuted MNIST 1); the reference is then compared at the same epoch from
//! its parameter history (its learning rate schedules are the same up to that epoch). Without
//! a history entry at that epoch the reference's final network is used and the summary says
//! so. The BPTT variant's runs are shared with the [`super::baseline`] analysis (the same
//! folder and configuration), so whichever runs first trains them.
//!
//! **Comparison.** Every network is evaluated on the same test trials ([`test_size`]) in the
//! mean-field mode (3 noise draws, averaged) and as the mean network; reported per variant as
//! mean, sample std and 95 % t-interval over seeds, with the paired difference to the reference. The learning curves (test
//! accuracy of the mean field during training and the training loss) come from each run's
//! `metrics.csv`.
//!
//! Outputs: `final_accuracy.csv` (per variant and seed), `curves.csv` (per variant and epoch:
//! test accuracy and training loss, mean, std, count over seeds), `summary.json`, and the
//! variant run directories.

use super::accuracy::{EpochStats, by_epoch, column_series, describe_runs, line_figure};
use super::result::Stat;
use super::{AnalysisOptions, RunData};
use crate::analysis::AnalysisResult;
use crate::config::Config;
use crate::data::source::TaskData;
use crate::error::{Result, SasError};
use crate::infer::{Mode, evaluate};
use crate::net::SasNet;
use crate::output::csv;
use crate::output::figure::Series;
use crate::rng::derive_seed;
use crate::run::checkpoint::load_run;
use crate::run::files;
use crate::train::variant::Variant;
use crate::train::{TrainOptions, train};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Name of the analysis (command line, output folder).
pub const NAME: &str = "retrain";

/// Section title of the analysis in reports.
const TITLE: &str = "Stochastic plasticity: retraining without π or Ξ";

/// The variants trained besides the reference.
pub const RETRAINED: [Variant; 3] = [Variant::XiZero, Variant::PiZero, Variant::Bptt];

/// Mean-field repeats (noise draws) per accuracy.
pub const REPEATS: usize = 3;

const KEY_EVAL: u64 = 0x5254_0001;

/// Epochs of the variants of a run with configuration `cfg` (see the module docs).
pub(crate) fn variant_epochs(cfg: &Config, quick: bool) -> usize {
    use crate::config::TaskKind;
    let cap = match (cfg.task.kind, quick) {
        (TaskKind::RowMnist, true) => 5,
        (TaskKind::PixelMnist | TaskKind::PermMnist, true) => 1,
        _ => usize::MAX,
    };
    cfg.train.epochs.min(cap)
}

/// The configuration variant `v` of a run with configuration `cfg` is trained with: `v`'s
/// transformation, [`variant_epochs`] epochs, no parameter history.
pub(crate) fn variant_config(v: Variant, cfg: &Config, quick: bool) -> Config {
    let mut c = v.config(cfg);
    c.train.epochs = variant_epochs(cfg, quick);
    c.train.history = false;
    c
}

/// The run directory of variant `v` of seed `seed` under the analysis folder `out`.
pub(crate) fn variant_dir(out: &Path, v: Variant, seed: u64) -> PathBuf {
    out.join(v.name()).join(format!("seed-{seed}"))
}

/// Test set of the comparison: `(limit, trials_per_condition)` — MNIST and user tasks all
/// test trials (quick: the first 2000); MSI 20 trials per condition, 480 trials (quick 5).
pub(crate) fn test_size(quick: bool) -> (usize, usize) {
    if quick { (2000, 5) } else { (0, 20) }
}

/// Whether the run in `dir` (configuration `cfg`) is finished: all epochs done, or stopped by
/// the early-stop rule at its last epoch. Errors if `dir` holds another configuration
/// (other than in `train.epochs`).
pub fn finished(dir: &Path, cfg: &Config) -> Result<bool> {
    let (saved, _, epoch) = load_run(dir)?;
    let (mut a, mut b) = (saved, cfg.clone());
    a.train.epochs = 0;
    b.train.epochs = 0;
    // The MSI test time step only changes evaluation (analyses may override it), not training.
    a.task.msi.test_dt_ms = 0.0;
    b.task.msi.test_dt_ms = 0.0;
    if a != b {
        return Err(SasError::Config {
            key: "retrain".into(),
            reason: format!(
                "{} holds a run of another configuration; remove it to retrain",
                dir.display()
            ),
        });
    }
    if epoch >= cfg.train.epochs {
        return Ok(true);
    }
    let t = &cfg.train;
    if t.stop_loss > 0.0 && epoch >= t.stop_after {
        let text = std::fs::read_to_string(dir.join(files::METRICS)).unwrap_or_default();
        let m = super::Metrics::parse(&text, "metrics.csv")?;
        let loss = column_series(&m, "train_loss")?
            .into_iter()
            .find(|&(e, _)| e == epoch)
            .map(|(_, l)| l);
        return Ok(loss.is_some_and(|l| l <= t.stop_loss));
    }
    Ok(false)
}

/// One trained (or reused) variant run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VariantRun {
    /// The variant.
    pub variant: Variant,
    /// Seed.
    pub seed: u64,
    /// Run directory.
    pub dir: PathBuf,
    /// Whether a finished run was found and reused.
    pub reused: bool,
    /// Wall time of this call's training, s (0 when reused).
    pub wall_s: f64,
}

/// Trains (or reuses, or resumes) the run of configuration `cfg` in `dir`.
pub(crate) fn train_variant(cfg: &Config, task: &TaskData, dir: &Path) -> Result<(bool, f64)> {
    let exists = dir.join(files::CHECKPOINT).exists();
    if exists && finished(dir, cfg)? {
        return Ok((true, 0.0));
    }
    let t0 = Instant::now();
    train(
        cfg,
        task,
        dir,
        &TrainOptions {
            resume: exists,
            ..Default::default()
        },
    )?;
    Ok((false, t0.elapsed().as_secs_f64()))
}

/// A compared network: `(network, its configuration, the run's epochs, the run's metrics)`.
type Compared = (SasNet<f32>, Config, usize, super::Metrics);

fn stochastic(c: &Config) -> bool {
    c.model.sas_in || c.model.sas_rec || c.model.sas_out
}

/// The key numbers of the retraining analysis (`summary.json`): per variant (keyed by its
/// name: `reference`, `xi0`, `pi0`, `bptt`) its accuracies over seeds, then the settings.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The reference, then the retrained variants, in [`Variant::ALL`] order.
    pub variants: Vec<VariantSummary>,
    /// Epochs each variant trains for.
    pub variant_epochs: usize,
    /// Epoch of each reference run that is compared.
    pub reference_compared_at: Vec<usize>,
    /// Test trials per evaluation.
    pub test_trials: usize,
    /// Notes (e.g. a reference compared at its final epoch for want of a history entry).
    pub notes: Vec<String>,
}

impl Summary {
    /// The numbers of variant `v`, if measured.
    pub fn variant(&self, v: Variant) -> Option<&VariantSummary> {
        self.variants.iter().find(|s| s.variant == v)
    }
}

impl serde::Serialize for Summary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for v in &self.variants {
            m.serialize_entry(v.variant.name(), v)?;
        }
        m.serialize_entry("variant_epochs", &self.variant_epochs)?;
        m.serialize_entry("reference_compared_at", &self.reference_compared_at)?;
        m.serialize_entry("test_trials", &self.test_trials)?;
        m.serialize_entry("notes", &self.notes)?;
        m.end()
    }
}

/// One variant of the retraining analysis, over seeds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VariantSummary {
    /// Which variant.
    #[serde(skip)]
    pub variant: Variant,
    /// Its label.
    pub label: &'static str,
    /// Mean-field test accuracy.
    pub accuracy_mean_field: Stat,
    /// Mean-network test accuracy.
    pub accuracy_mean: Stat,
    /// Retrained variants: mean-field accuracy minus the reference's of the same seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_mean_field: Option<Stat>,
    /// Retrained variants: the same for the mean network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_mean: Option<Stat>,
    /// Retrained variants: training wall time per seed (s; NaN where reused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_wall_s: Option<Vec<f64>>,
    /// Retrained variants: how many seeds' trainings were reused from an earlier call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused: Option<usize>,
    /// Epoch compared, per seed.
    pub epochs: Vec<usize>,
}

/// The retraining analysis (an [`super::AnalysisFn`]); see the module docs.
///
/// Summary keys: `variant_epochs`, `reference_compared_at` (per seed), `test_trials`,
/// `notes`, and per variant name (`reference`, `xi0`, `pi0`, `bptt`): `label`,
/// `accuracy_mean_field`, `accuracy_mean` (mean, sample std, 95 % interval, per-seed values), `delta_mean_field`, `delta_mean` (the paired
/// differences to the reference of the same seed), `epochs` (per seed),
/// `train_wall_s` (per seed; 0 = reused) and `reused`.
pub fn run(runs: &[RunData], out: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let cfg0 = &runs[0].cfg;
    if !stochastic(cfg0) {
        return Err(SasError::NotApplicable {
            analysis: NAME.into(),
            reason: "the runs have no spike-and-slab layer: every variant would be the run itself".into(),
        });
    }
    let task = TaskData::load(cfg0, opts.data_dir.as_deref())?;
    let ev = variant_epochs(cfg0, opts.quick);

    // Train every (run, variant): the variants one after the other (BPTT, shared with the
    // baseline analysis, first), the seeds of one variant in parallel.
    let mut trained: Vec<VariantRun> = Vec::new();
    for v in [Variant::Bptt, Variant::XiZero, Variant::PiZero] {
        let jobs: Vec<(usize, Variant)> = (0..runs.len()).map(|ri| (ri, v)).collect();
        let part: Vec<VariantRun> = jobs
            .par_iter()
            .map(|&(ri, v)| {
                let r = &runs[ri];
                let c = variant_config(v, &r.cfg, opts.quick);
                let dir = variant_dir(out, v, r.cfg.seed);
                let (reused, wall_s) = train_variant(&c, &task, &dir).map_err(|e| SasError::Training {
                    what: format!("{NAME} {} seed {}", v.name(), r.cfg.seed),
                    source: Box::new(e),
                })?;
                Ok(VariantRun {
                    variant: v,
                    seed: r.cfg.seed,
                    dir,
                    reused,
                    wall_s,
                })
            })
            .collect::<Result<_>>()?;
        trained.extend(part);
    }

    // The networks compared: the reference at epoch min(ev, its epochs), then the variants.
    let mut notes: Vec<String> = Vec::new();
    let mut compared_at = Vec::new();
    // nets[variant index in Variant::ALL][run]: (network, configuration, epoch, metrics)
    let mut nets: Vec<Vec<Compared>> = vec![Vec::new(); 4];
    for r in runs {
        let at = ev.min(r.epoch);
        let (net, at) = if at == r.epoch {
            (r.net.clone(), at)
        } else {
            match r.history()?.into_iter().find(|(e, _)| *e == at) {
                Some((_, n)) => (n, at),
                None => {
                    notes.push(format!(
                        "{}: no history at epoch {at}; the reference is its final network (epoch {})",
                        r.dir.display(),
                        r.epoch
                    ));
                    (r.net.clone(), r.epoch)
                }
            }
        };
        compared_at.push(at);
        nets[0].push((net, r.cfg.clone(), r.epoch, r.metrics.clone()));
    }
    for (vi, v) in Variant::ALL.iter().enumerate().skip(1) {
        for r in runs {
            let vr = trained
                .iter()
                .find(|t| t.variant == *v && t.seed == r.cfg.seed)
                .expect("every job ran");
            let d = RunData::<crate::family::Recurrent>::load(&vr.dir)?;
            nets[vi].push((d.net, d.cfg, d.epoch, d.metrics));
        }
    }

    // Evaluate everything on the same test trials.
    let (limit, tpc) = test_size(opts.quick);
    let test = task.test_set(cfg0, cfg0.eval.batch, limit, tpc);
    let evals: Vec<((usize, usize), (f64, f64))> = (0..4)
        .flat_map(|vi| (0..runs.len()).map(move |ri| (vi, ri)))
        .collect::<Vec<_>>()
        .par_iter()
        .map(|&(vi, ri)| {
            let (net, cfg, _, _) = &nets[vi][ri];
            let seed = derive_seed(opts.seed, &[KEY_EVAL, ri as u64]);
            let mf = evaluate(net, cfg, task.kind(), &test, Mode::MeanField, REPEATS, seed)?;
            let mean = evaluate(net, cfg, task.kind(), &test, Mode::Mean, 1, seed)?;
            Ok(((vi, ri), (mf.accuracy, mean.accuracy)))
        })
        .collect::<Result<_>>()?;
    let acc = |vi: usize, ri: usize| {
        evals
            .iter()
            .find(|e| e.0 == (vi, ri))
            .map(|e| e.1)
            .unwrap_or((f64::NAN, f64::NAN))
    };
    let trials = evaluate_trials(&test);

    // Final-accuracy table and summary.
    let mut rows = Vec::new();
    let mut variants = Vec::new();
    let mut means = [[f64::NAN; 2]; 4];
    let mut stds = [[f64::NAN; 2]; 4];
    let mean_ref: Vec<f64> = (0..runs.len()).map(|ri| acc(0, ri).1).collect();
    for (vi, v) in Variant::ALL.iter().enumerate() {
        let mut mf = Vec::new();
        let mut mn = Vec::new();
        let mut delta = Vec::new();
        let mut epochs = Vec::new();
        let mut walls = Vec::new();
        let mut reused = 0;
        for (ri, r) in runs.iter().enumerate() {
            let (a, b) = acc(vi, ri);
            let epoch = if vi == 0 { compared_at[ri] } else { nets[vi][ri].2 };
            let wall = if vi == 0 {
                f64::NAN
            } else {
                let t = trained
                    .iter()
                    .find(|t| t.variant == *v && t.seed == r.cfg.seed)
                    .expect("job");
                reused += t.reused as usize;
                t.wall_s
            };
            rows.push(vec![
                vi as f64,
                ri as f64,
                r.cfg.seed as f64,
                epoch as f64,
                a,
                b,
                wall,
            ]);
            mf.push(a);
            mn.push(b);
            delta.push(a - acc(0, ri).0);
            epochs.push(epoch);
            walls.push(wall);
        }
        let (s_mf, s_mn) = (Stat::of(&mf), Stat::of(&mn));
        means[vi] = [s_mf.mean, s_mn.mean];
        // Band half-widths: the 95 % t-intervals over seeds (0 for one seed).
        let half = |x: f64| if x.is_finite() { x } else { 0.0 };
        stds[vi] = [half(s_mf.ci95), half(s_mn.ci95)];
        let retrained = vi > 0;
        variants.push(VariantSummary {
            variant: *v,
            label: v.label(),
            accuracy_mean_field: s_mf,
            accuracy_mean: s_mn,
            delta_mean_field: retrained.then(|| Stat::of(&delta)),
            delta_mean: retrained.then(|| Stat::paired(&mn, &mean_ref)),
            train_wall_s: retrained.then_some(walls),
            reused: retrained.then_some(reused),
            epochs,
        });
    }
    let summary = Summary {
        variants,
        variant_epochs: ev,
        reference_compared_at: compared_at.clone(),
        test_trials: trials,
        notes: notes.clone(),
    };
    let mut files = vec![csv(
        "final_accuracy.csv",
        &[
            "variant_index",
            "run",
            "seed",
            "epoch",
            "acc_mean_field",
            "acc_mean",
            "train_wall_s",
        ],
        &rows,
    )?];

    // Curves from metrics.csv (the reference cut at the variants' length).
    let curve = |vi: usize, col: &str| -> Result<EpochStats> {
        let per: Vec<Vec<(usize, f64)>> = nets[vi]
            .iter()
            .map(|(_, _, _, m)| {
                column_series(m, col).map(|s| s.into_iter().filter(|&(e, _)| vi > 0 || e <= ev).collect())
            })
            .collect::<Result<_>>()?;
        Ok(by_epoch(&per))
    };
    let mut crow = Vec::new();
    let mut acc_series = Vec::new();
    let mut loss_series = Vec::new();
    for (vi, v) in Variant::ALL.iter().enumerate() {
        let a = curve(vi, "test_acc_mean_field")?;
        let l = curve(vi, "train_loss")?;
        for (i, &e) in l.epochs.iter().enumerate() {
            let ai = a.epochs.binary_search(&e).ok();
            crow.push(vec![
                vi as f64,
                e as f64,
                ai.map_or(f64::NAN, |j| a.mean[j]),
                ai.map_or(f64::NAN, |j| a.std[j]),
                ai.map_or(0.0, |j| a.n[j] as f64),
                l.mean[i],
                l.std[i],
                l.n[i] as f64,
            ]);
        }
        if !a.epochs.is_empty() {
            acc_series.push(a.series(v.label()));
        }
        if !l.epochs.is_empty() {
            let mut s = l.series(v.label());
            s.markers = false;
            loss_series.push(s);
        }
    }
    files.push(csv(
        "curves.csv",
        &[
            "variant_index",
            "epoch",
            "test_acc_mean",
            "test_acc_std",
            "test_acc_n",
            "train_loss_mean",
            "train_loss_std",
            "train_loss_n",
        ],
        &crow,
    )?);

    let desc = describe_runs(runs);
    let legend: Vec<String> = Variant::ALL
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{i} = {}", v.label()))
        .collect();
    let xs: Vec<f64> = (0..4).map(|i| i as f64).collect();
    let bar = |k: usize, label: &str| Series {
        label: label.into(),
        x: xs.clone(),
        y: (0..4).map(|v| means[v][k]).collect(),
        band: Some((
            (0..4).map(|v| means[v][k] - stds[v][k]).collect(),
            (0..4).map(|v| means[v][k] + stds[v][k]).collect(),
        )),
        markers: true,
    };
    let length = if ev < cfg0.train.epochs {
        format!(
            "the variants train {ev} epochs (the reference {}), and the reference is compared at \
             epoch {ev} from its history",
            cfg0.train.epochs
        )
    } else {
        "the variants train as long as the reference, with the same early-stop rule".to_string()
    };
    let mut figures = vec![line_figure(
        "final_accuracy",
        "Accuracy of networks trained with and without π and Ξ",
        "variant (index)",
        "test accuracy (fraction correct)",
        format!(
            "Test accuracy ({trials} test trials) of the reference ensembles and of networks \
             retrained from the same seeds with Ξ ≡ 0, with π ≡ 0 and with both (plain BPTT) \
             ({}): mean-field propagation ({REPEATS} noise draws) and the mean network, mean with the \
             95 % t-interval over n = {} seeds; {length}; {desc}.",
            legend.join(", "),
            runs.len()
        ),
        vec![bar(0, "mean field"), bar(1, "mean network")],
    )];
    if !acc_series.is_empty() {
        figures.push(line_figure(
            "test_accuracy",
            "Test accuracy during training, per variant",
            "epoch",
            "test accuracy, mean field (fraction correct)",
            format!(
                "Test accuracy of the mean-field network at the epochs evaluated during training \
                 (each run's metrics.csv; settings of the run's eval section) for the reference and \
                 the three retrained variants, mean with the 95 % t-interval over seeds; {length}."
            ),
            acc_series,
        ));
    }
    if !loss_series.is_empty() {
        let mut f = line_figure(
            "train_loss",
            "Training loss, per variant",
            "epoch",
            "training loss (per trial)",
            format!(
                "Training loss per epoch of the reference and the retrained variants, mean with the 95 % \
                 t-interval over seeds; {length}."
            ),
            loss_series,
        );
        f.log_y = true;
        figures.push(f);
    }
    Ok(AnalysisResult::with(
        NAME,
        TITLE,
        files,
        figures,
        super::Summary::Retrain(summary),
    ))
}

/// Scored trials of one evaluation of `test` (MSI: every non-catch trial; else every trial).
fn evaluate_trials(test: &crate::data::source::TestSet) -> usize {
    if test.msi_info.is_empty() {
        test.batches.iter().map(|b| b.size).sum()
    } else {
        test.msi_info
            .iter()
            .flatten()
            .filter(|i| i.condition.is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variant_lengths() {
        let msi = Config::preset("msi").unwrap();
        assert_eq!(variant_epochs(&msi, false), 500);
        let row = Config::preset("row-mnist").unwrap();
        assert_eq!(variant_epochs(&row, false), 200);
        assert_eq!(variant_epochs(&row, true), 5);
        let c = variant_config(Variant::XiZero, &row, false);
        assert_eq!((c.train.epochs, c.train.history), (200, false));
        assert!(c.optim.rec.xi.frozen);
    }

    #[test]
    fn run_on_tiny_runs_trains_and_then_reuses() {
        let runs = crate::analysis::accuracy::fixture::runs();
        let out = crate::analysis::accuracy::fixture::out(NAME);
        let opts = AnalysisOptions {
            quick: true,
            seed: 5,
            ..Default::default()
        };
        let o = run(&runs, &out, &opts).unwrap().written(&out).unwrap();
        for v in RETRAINED {
            for s in [1, 2] {
                assert!(variant_dir(&out, v, s).join(files::CHECKPOINT).is_file());
            }
            assert_eq!(o.summary_json()[v.name()]["reused"], 0);
            assert_eq!(o.summary_json()[v.name()]["epochs"], json!([3, 3]));
        }
        for v in Variant::ALL {
            let a = o.summary_json()[v.name()]["accuracy_mean_field"]["mean"]
                .as_f64()
                .unwrap();
            assert!((0.0..=1.0).contains(&a), "{a}");
        }
        let names: Vec<&str> = o.figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["final_accuracy", "test_accuracy", "train_loss"]);
        // A second call reuses every finished variant and gives the same accuracies.
        let o2 = run(&runs, &out, &opts).unwrap().written(&out).unwrap();
        for v in RETRAINED {
            assert_eq!(o2.summary_json()[v.name()]["reused"], 2);
        }
        assert_eq!(
            o.summary_json()["bptt"]["accuracy_mean_field"],
            o2.summary_json()["bptt"]["accuracy_mean_field"]
        );
        // A variant directory of another configuration is an error.
        let other = variant_config(Variant::XiZero, &runs[0].cfg, true);
        let mut other2 = other.clone();
        other2.model.sigma = 0.3;
        assert!(finished(&variant_dir(&out, Variant::XiZero, 1), &other2).is_err());
        assert!(finished(&variant_dir(&out, Variant::XiZero, 1), &other).unwrap());
    }
}
