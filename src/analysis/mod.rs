//! Analyses of trained ensembles (docs/MODEL.md §5): each submodule takes run data in and gives a
//! plain result out (serde-serializable, written as CSV/JSON), plus a figure.
//!
//! [`RunData`] is what every analysis starts from: the resolved configuration, the final
//! network (checkpoint), the per-epoch parameter history (when the run kept one) and the
//! per-epoch metrics.

pub mod accuracy;
pub mod baseline;
pub mod claims;
pub mod dynamics;
pub mod entropy;
pub mod ff;
pub mod ntk_change;
pub mod nulls;
pub mod pca;
pub mod perturb;
pub mod plasticity;
pub mod psychometric;
pub mod puzzle;
pub mod registry;
pub mod result;
pub mod retrain;
pub mod sampled_stats;
pub mod selectivity;
pub mod sparsity;
pub mod symmetry;
pub mod synaptic_pca;
pub mod weights;

use crate::error::{Result, SasError};
use crate::family::{Family, Recurrent};
use crate::io::tensors::TensorFile;
use crate::net::SasNet;
use crate::run::{checkpoint, files};
use crate::sas::classes;
pub use result::{AnalysisResult, Summary};
use std::path::{Path, PathBuf};

/// The per-epoch metrics of a run (`metrics.csv`), as named numeric columns.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Column names.
    pub header: Vec<String>,
    /// Rows; empty fields are NaN.
    pub rows: Vec<Vec<f64>>,
}

impl Metrics {
    /// Parses `metrics.csv` text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Metrics> {
        let mut lines = text.lines();
        let header: Vec<String> = lines
            .next()
            .ok_or_else(|| SasError::FileFormat {
                name: source.into(),
                reason: "empty metrics file".into(),
            })?
            .split(',')
            .map(String::from)
            .collect();
        let mut rows = Vec::new();
        for (i, l) in lines.enumerate() {
            let row: Vec<f64> = l
                .split(',')
                .map(|f| f.trim().parse::<f64>().unwrap_or(f64::NAN))
                .collect();
            if row.len() != header.len() {
                return Err(SasError::FileFormat {
                    name: source.into(),
                    reason: format!(
                        "row {} has {} fields, the header {}",
                        i + 2,
                        row.len(),
                        header.len()
                    ),
                });
            }
            rows.push(row);
        }
        Ok(Metrics { header, rows })
    }

    /// The values of column `name` (one per epoch), if it exists.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let i = self.header.iter().position(|h| h == name)?;
        Some(self.rows.iter().map(|r| r[i]).collect())
    }
}

/// Everything an analysis may need from one run directory of family `F` (recurrent by
/// default).
#[derive(Clone, Debug)]
pub struct RunData<F: Family = Recurrent> {
    /// The run directory.
    pub dir: PathBuf,
    /// Its resolved configuration.
    pub cfg: F::Config,
    /// The network of the latest checkpoint.
    pub net: F::Net,
    /// Completed epochs of that checkpoint.
    pub epoch: usize,
    /// Per-epoch metrics.
    pub metrics: Metrics,
    /// The final summary (`summary.json`), when the run wrote one.
    pub summary: Option<serde_json::Value>,
}

impl<F: Family> RunData<F> {
    /// Loads the configuration, checkpoint, metrics and (if present) summary of `dir`.
    pub fn load(dir: &Path) -> Result<RunData<F>> {
        let loaded = F::load_run(dir)?;
        Self::with(dir, loaded)
    }

    /// [`RunData::load`] with the run's checkpoint `ck` already opened (read once).
    pub(crate) fn load_from(dir: &Path, ck: &TensorFile) -> Result<RunData<F>> {
        let loaded = F::load_run_from(dir, ck)?;
        Self::with(dir, loaded)
    }

    /// The run data of `dir` around its loaded configuration, network and epoch.
    fn with(dir: &Path, (cfg, net, epoch): (F::Config, F::Net, usize)) -> Result<RunData<F>> {
        let mpath = dir.join(files::METRICS);
        let text = std::fs::read_to_string(&mpath).map_err(|source| SasError::Io {
            action: "reading",
            path: mpath.clone(),
            source,
        })?;
        let metrics = Metrics::parse(&text, &mpath.display().to_string())?;
        let summary = std::fs::read_to_string(dir.join(files::SUMMARY))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        Ok(RunData {
            dir: dir.to_path_buf(),
            cfg,
            net,
            epoch,
            metrics,
            summary,
        })
    }

    /// The folder for analysis outputs of this run (`<run>/analysis/<name>`), created.
    pub fn out_dir(&self, name: &str) -> Result<PathBuf> {
        let d = self.dir.join("analysis").join(name);
        std::fs::create_dir_all(&d).map_err(|source| SasError::Io {
            action: "creating",
            path: d.clone(),
            source,
        })?;
        Ok(d)
    }

    /// `(mode, accuracy)` of each final evaluation in the run's `summary.json` (feed-forward
    /// runs write one when training finishes); empty without a summary.
    pub fn final_accuracies(&self) -> Vec<(crate::ff::EvalMode, f64)> {
        self.summary
            .as_ref()
            .and_then(|v| v["eval"].as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|r| Some((r["mode"].as_str()?.parse().ok()?, r["accuracy"].as_f64()?)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The final accuracy of evaluation mode `mode` in the run's summary, if evaluated.
    pub fn final_accuracy(&self, mode: crate::ff::EvalMode) -> Option<f64> {
        self.final_accuracies()
            .into_iter()
            .find(|(m, _)| *m == mode)
            .map(|(_, a)| a)
    }
}

/// Loads the runs in `dirs` and checks that they are seeds of one configuration (equal
/// configurations apart from `seed` and `train.epochs`).
pub fn load_runs<F: Family>(dirs: &[PathBuf]) -> Result<Vec<RunData<F>>> {
    if dirs.is_empty() {
        return Err(SasError::InvalidArgument {
            name: "run directories".into(),
            reason: "no run directory given".into(),
        });
    }
    let runs: Vec<RunData<F>> = dirs.iter().map(|d| RunData::load(d)).collect::<Result<_>>()?;
    let first = F::normalized(&runs[0].cfg);
    for r in &runs[1..] {
        if F::normalized(&r.cfg) != first {
            return Err(SasError::Config {
                key: "runs".into(),
                reason: format!(
                    "{} and {} have different configurations (only the seed and train.epochs may differ \
                     between runs analysed together)",
                    runs[0].dir.display(),
                    r.dir.display()
                ),
            });
        }
    }
    Ok(runs)
}

/// The start of every analysis: fails with [`SasError::NoRuns`] when `runs` is empty.
pub fn start<F: Family>(runs: &[RunData<F>], name: &str) -> Result<()> {
    if runs.is_empty() {
        return Err(SasError::NoRuns {
            analysis: name.into(),
        });
    }
    Ok(())
}

/// One line describing the runs for figure captions: preset, network, epochs, seeds
/// (`suffix` appended).
pub(crate) fn describe_runs<F: Family>(runs: &[RunData<F>], suffix: &str) -> String {
    let Some(r0) = runs.first() else {
        return "no runs".into();
    };
    let lo = runs.iter().map(|r| r.epoch).min().unwrap_or(0);
    let hi = runs.iter().map(|r| r.epoch).max().unwrap_or(0);
    let epochs = if lo == hi {
        format!("{lo} epochs")
    } else {
        format!("{lo}–{hi} epochs")
    };
    let seeds: Vec<String> = runs.iter().map(|r| F::seed(&r.cfg).to_string()).collect();
    format!(
        "preset `{}` ({}), {epochs}, {} seed{} ({}){suffix}",
        F::preset(&r0.cfg),
        F::setup(&r0.cfg, &r0.net),
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        seeds.join(", ")
    )
}

impl RunData<Recurrent> {
    /// The per-epoch parameter history `(epoch, network)`, sorted by epoch (epoch 0 = the
    /// initialization); empty if the run kept none (`train.history = false`). A file beyond
    /// the checkpoint's epoch or of another network shape is an error naming it.
    pub fn history(&self) -> Result<Vec<(usize, SasNet<f32>)>> {
        let hdir = self.dir.join(files::HISTORY);
        let Ok(entries) = std::fs::read_dir(&hdir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let p = e.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let Some(num) = name
                .strip_prefix("epoch-")
                .and_then(|s| s.strip_suffix(".safetensors"))
            else {
                continue;
            };
            let Ok(epoch) = num.parse::<usize>() else {
                continue;
            };
            if epoch > self.epoch {
                return Err(SasError::RunInconsistent {
                    path: p,
                    reason: format!(
                        "is beyond the checkpoint's epoch {} (left by an interrupted run; \
                         `train --resume` deletes it)",
                        self.epoch
                    ),
                });
            }
            let f = TensorFile::open(&p)?;
            let net = checkpoint::read_params(&f)?;
            if net.dims() != self.net.dims() {
                return Err(SasError::RunInconsistent {
                    path: p,
                    reason: format!(
                        "holds a network of {:?}, but the run's checkpoint holds {:?}",
                        net.dims(),
                        self.net.dims()
                    ),
                });
            }
            out.push((epoch, net));
        }
        out.sort_by_key(|(e, _)| *e);
        Ok(out)
    }
}

/// Seed of the analyses' own random draws when none is given (fixed, so reports are
/// reproducible; the command line and the Python package use it too).
pub const ANALYSIS_SEED: u64 = 12345;

/// Settings shared by all analyses. The default is what the command line uses: seed
/// [`ANALYSIS_SEED`], no data directory, the task's weight-class rule, the runs' own MSI time
/// step.
#[derive(Clone, Debug)]
pub struct AnalysisOptions {
    /// MNIST data directory (analyses that evaluate networks on MNIST need it).
    pub data_dir: Option<PathBuf>,
    /// Smaller, faster settings (fewer trials, repeats and fractions) for quick reproductions.
    pub quick: bool,
    /// Seed of the analysis' own random draws.
    pub seed: u64,
    /// MSI: time step of the test protocol in ms for every analysis that evaluates networks
    /// (`None`: each run's `task.msi.test_dt_ms`, the reference 0.5 ms).
    pub test_dt_ms: Option<f64>,
    /// MSI: time step in ms for the analyses that run many evaluations (perturbation,
    /// plasticity, selectivity; see [`registry::Analysis::many_evaluations`]); `None`: as
    /// [`Self::test_dt_ms`]. The dynamics are a discretized SDE, so results are stable under
    /// Δt; a coarser step makes these analyses proportionally cheaper.
    pub fast_dt_ms: Option<f64>,
    /// The VIP rule and overrides of its bounds (defaults: [`classes::Thresholds::for_task`]).
    pub classes: ClassOverrides,
    /// Analyses `report` / `reproduce` leave out (e.g. `retrain`, whose full-length variants
    /// cost three trainings per seed); the skins parse their names ([`registry::find`]).
    pub skip: Vec<&'static registry::Analysis>,
    /// User tasks: the per-trial condition an analysis sorts trials by (psychometric: its x
    /// axis; selectivity and PCA: the variable they describe).
    pub condition: Option<String>,
    /// User tasks: a second condition; the psychometric analysis draws one curve per level.
    pub group: Option<String>,
    /// User tasks: the output whose choice the psychometric curve counts (default: the last).
    pub choice: Option<usize>,
    /// Settings of the `puzzle` analysis (test trials, networks, BPTT twins).
    pub puzzle: puzzle::Options,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            data_dir: None,
            quick: false,
            seed: ANALYSIS_SEED,
            test_dt_ms: None,
            fast_dt_ms: None,
            classes: ClassOverrides::default(),
            skip: Vec::new(),
            condition: None,
            group: None,
            choice: None,
            puzzle: puzzle::Options::default(),
        }
    }
}

/// User choices of the weight classes; `None` keeps the task's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct ClassOverrides {
    /// The named VIP rule (`--vip-rule`; default [`classes::VipRule::for_task`]).
    pub rule: Option<classes::VipRule>,
    /// Largest `π` of a VIP weight.
    pub pi_max: Option<f64>,
    /// VIP weights have `Ξ` below this.
    pub xi_max: Option<f64>,
    /// VIP weights have `|m|` above this.
    pub m_min: Option<f64>,
    /// Smallest `π` of a UIP weight.
    pub uip_pi: Option<f64>,
}

impl AnalysisOptions {
    /// The weight classes for runs of task `kind`: the named rule ([`ClassOverrides::rule`] or
    /// the task's default), its bounds replaced by any of `pi_max` (`π ≤ x`), `xi_max` (`Ξ <
    /// x`), `m_min` (`|m| > x`) — then the rule is [`classes::VipRule::Custom`] — and the UIP
    /// threshold by `uip_pi`; validated. Feed-forward runs (`ff…`): the bounds overrides set
    /// their near-VIP set instead ([`Self::ff_near`]), not this rule.
    pub fn thresholds(&self, kind: &str) -> Result<classes::Thresholds> {
        use classes::{Thresholds, VipRule};
        let c = &self.classes;
        let ff = kind.starts_with("ff");
        let mut t = match c.rule {
            Some(VipRule::Custom | VipRule::Near) => {
                return Err(SasError::Config {
                    key: "vip-rule".into(),
                    reason: "choose a named rule (exact, relaxed, authors); custom bounds come from \
                             --vip-pi-max / --vip-xi-max / --vip-m-min"
                        .into(),
                });
            }
            Some(r) => Thresholds {
                uip_pi: Thresholds::for_task(kind).uip_pi,
                ..Thresholds::named(r)
            },
            None => Thresholds::for_task(kind),
        };
        t.uip_pi = c.uip_pi.unwrap_or(t.uip_pi);
        if !ff {
            self.apply_bounds(&mut t)?;
        }
        self.check_uip(&t)?;
        if ff {
            self.ff_near()?;
        }
        Ok(t)
    }

    /// The feed-forward near-VIP rule: [`classes::VipRule::Near`] (`π ≤ 1e-3, Ξ < 1e-3`) with
    /// the bounds overrides applied (then [`classes::VipRule::Custom`]); UIP `π = 1`.
    pub fn ff_near(&self) -> Result<classes::Thresholds> {
        let mut t = classes::Thresholds {
            uip_pi: 1.0,
            ..classes::Thresholds::named(classes::VipRule::Near)
        };
        self.apply_bounds(&mut t)?;
        self.check_uip(&t)?;
        Ok(t)
    }

    /// Validates the bounds overrides and applies them to `t` (which becomes custom if any).
    fn apply_bounds(&self, t: &mut classes::Thresholds) -> Result<()> {
        let c = &self.classes;
        let check = |key: &str, v: Option<f64>, lo: f64, hi: f64| -> Result<()> {
            match v {
                Some(x) if !(x.is_finite() && (lo..=hi).contains(&x)) => Err(SasError::Config {
                    key: key.into(),
                    reason: if hi == f64::MAX {
                        format!("{x} is not a finite number ≥ {lo}")
                    } else {
                        format!("{x} is outside [{lo}, {hi}]")
                    },
                }),
                _ => Ok(()),
            }
        };
        check("vip-pi-max", c.pi_max, 0.0, 1.0)?;
        check("vip-xi-max", c.xi_max, 0.0, f64::MAX)?;
        check("vip-m-min", c.m_min, 0.0, f64::MAX)?;
        if c.pi_max.is_some() || c.xi_max.is_some() || c.m_min.is_some() {
            t.rule = classes::VipRule::Custom;
        }
        if let Some(x) = c.pi_max {
            (t.pi_max, t.pi_strict) = (x, false);
        }
        if let Some(x) = c.xi_max {
            (t.xi_max, t.xi_strict) = (Some(x), true);
        }
        t.m_min = c.m_min.unwrap_or(t.m_min);
        Ok(())
    }

    fn check_uip(&self, t: &classes::Thresholds) -> Result<()> {
        if self
            .classes
            .uip_pi
            .is_some_and(|u| !(u.is_finite() && (0.0..=1.0).contains(&u)))
        {
            return Err(SasError::Config {
                key: "uip-pi".into(),
                reason: format!("{} is outside [0, 1]", self.classes.uip_pi.unwrap_or(f64::NAN)),
            });
        }
        if t.uip_pi <= t.pi_max {
            return Err(SasError::Config {
                key: "uip-pi".into(),
                reason: format!(
                    "the UIP threshold π ≥ {} must lie above the VIP bound π ≤ {}",
                    t.uip_pi, t.pi_max
                ),
            });
        }
        Ok(())
    }

    /// Checks every setting (thresholds for task `kind`, time steps) before anything runs.
    pub fn validate(&self, kind: &str) -> Result<()> {
        self.thresholds(kind)?;
        self.msi_dt_override(false)?;
        self.msi_dt_override(true)?;
        Ok(())
    }

    /// The MSI test time step (ms) to use for an analysis that runs many evaluations
    /// (`many = true`) or few, if it differs from the runs' own; `None` for other tasks or
    /// when no override applies. Errors on a non-positive or non-finite value.
    pub fn msi_dt_override(&self, many: bool) -> Result<Option<f64>> {
        let dt = if many {
            self.fast_dt_ms.or(self.test_dt_ms)
        } else {
            self.test_dt_ms
        };
        match dt {
            Some(x) if !(x.is_finite() && x > 0.0) => Err(SasError::Config {
                key: if many { "fast-dt" } else { "test-dt" }.into(),
                reason: format!("the MSI test time step must be positive, got {x} ms"),
            }),
            d => Ok(d),
        }
    }
}

/// The signature every analysis exposes as `pub fn run`: the runs of one configuration
/// (one per seed; aggregated as mean and spread), a work folder and options; it computes in
/// memory and returns an [`AnalysisResult`] (writing it is a separate step). Only the
/// analyses that train networks (`retrain`, `baseline`) write into the work folder — their
/// trained runs, so that a later call resumes them; every other analysis leaves it alone
/// (it need not exist).
pub type AnalysisFn<F = Recurrent> = fn(&[RunData<F>], &Path, &AnalysisOptions) -> Result<AnalysisResult>;
