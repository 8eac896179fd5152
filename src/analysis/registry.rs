//! The list of analyses ([`ANALYSES`]): each one's command-line name, its [`AnalysisFn`] and
//! which configurations it applies to; and [`run_all`], which runs every applicable analysis
//! on the runs of one configuration and renders their figures (SVG and PNG) next to their
//! data in `<out>/<name>/`.

use super::{AnalysisFn, AnalysisOptions, RunData};

use crate::output::AnalysisOutput;
use crate::config::Config;
use crate::error::{Result, SasError};
use std::path::{Path, PathBuf};

/// One analysis of the registry.
#[derive(Clone, Copy, Debug)]
pub struct Analysis {
    /// Command-line name; also its output folder.
    pub name: &'static str,
    /// What it does (one line, for `--help` and listings).
    pub about: &'static str,
    /// The analysis.
    pub run: AnalysisFn,
    /// Whether it applies to runs of this configuration.
    pub applies: fn(&Config) -> bool,
    /// Whether it evaluates the networks many times (it then runs MSI's test protocol at
    /// [`AnalysisOptions::fast_dt_ms`] when set).
    pub many_evaluations: bool,
}

fn always(_: &Config) -> bool {
    true
}

fn msi_only(c: &Config) -> bool {
    c.task.kind == "msi"
}

fn rec_stochastic(c: &Config) -> bool {
    c.model.sas_rec
}

fn known_task(c: &Config) -> bool {
    matches!(
        c.task.kind.as_str(),
        "msi" | "pixel-mnist" | "row-mnist" | "perm-mnist"
    )
}

fn known_stochastic(c: &Config) -> bool {
    known_task(c) && (c.model.sas_in || c.model.sas_rec || c.model.sas_out)
}

/// Every analysis, in report order.
pub const ANALYSES: &[Analysis] = &[
    Analysis {
        name: super::accuracy::NAME,
        about: "training loss and test accuracy over epochs",
        run: super::accuracy::run,
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: super::baseline::NAME,
        about: "paired BPTT baselines (same seed and budget): ensemble − BPTT per evaluation mode, lr sweep",
        run: super::baseline::run,
        applies: known_stochastic,
        many_evaluations: true,
    },
    Analysis {
        name: super::sparsity::NAME,
        about: "sparsity Σπ/M per layer over epochs (recurrent split into i<j and i>j)",
        run: super::sparsity::run,
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: super::entropy::NAME,
        about: "entropy per connection and its π and Ξ parts",
        run: super::entropy::run,
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: super::weights::NAME,
        about: "hyper-parameter distributions (π, m, Ξ) and matrices",
        run: super::weights::run,
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: super::weights::CLASSES_NAME,
        about: "fractions of VIP, UIP and variable weights over epochs",
        run: super::weights::run_classes,
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: super::symmetry::NAME,
        about: "symmetry-breaking order parameters of Ξ and π over epochs",
        run: super::symmetry::run,
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: super::perturb::NAME,
        about: "accuracy after removing VIP weights vs random weights",
        run: super::perturb::run,
        applies: known_task,
        many_evaluations: true,
    },
    Analysis {
        name: super::selectivity::NAME,
        about: "neural selectivity (SLI) per neuron and time",
        run: super::selectivity::run,
        applies: known_task,
        many_evaluations: true,
    },
    Analysis {
        name: super::psychometric::NAME,
        about: "psychometric curves per modality with fitted thresholds and slopes (MSI)",
        run: super::psychometric::run,
        applies: msi_only,
        many_evaluations: false,
    },
    Analysis {
        name: super::sampled_stats::NAME,
        about: "zero fraction and asymmetry of sampled recurrent networks over time",
        run: super::sampled_stats::run,
        applies: rec_stochastic,
        many_evaluations: false,
    },
    Analysis {
        name: super::plasticity::NAME,
        about: "accuracy per evaluation mode and resampling interval",
        run: super::plasticity::run,
        applies: known_task,
        many_evaluations: true,
    },
    Analysis {
        name: super::dynamics::NAME,
        about: "spectral radius of (1−α)I + αW and rate norms of mean and sampled networks (fixed-network puzzle)",
        run: super::dynamics::run,
        applies: known_task,
        many_evaluations: true,
    },
    Analysis {
        name: super::pca::NAME,
        about: "PCA of the neural activity: variance spectrum, components for 80/85 %, trajectories",
        run: super::pca::run,
        applies: known_task,
        many_evaluations: false,
    },
    Analysis {
        name: super::synaptic_pca::NAME,
        about: "PCA of the per-epoch parameter vectors: spectrum, trajectory, drift along PC1",
        run: super::synaptic_pca::run,
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: super::retrain::NAME,
        about: "retrain with Ξ ≡ 0, π ≡ 0 and both (BPTT) from the same seeds; accuracy side by side",
        run: super::retrain::run,
        applies: known_stochastic,
        many_evaluations: true,
    },
    Analysis {
        name: super::ntk_change::NAME,
        about: "tangent-kernel change of the trained network over epochs (lazy-regime check)",
        run: super::ntk_change::run,
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: THEORY,
        about: "infinite-width (lazy) theory: kernel convergence, learning curves (quick sizes in reports)",
        run: theory_in_report,
        applies: always,
        many_evaluations: false,
    },
];

/// The analysis that needs no trained run: the infinite-width theory experiments
/// ([`crate::theory::run_theory`]). In a report of runs it runs at the quick sizes (about a
/// minute); [`run_theory`] runs either size without runs (`sasnet analyze theory`,
/// `sasnet reproduce theory`).
pub const THEORY: &str = crate::theory::experiments::NAME;

/// The registry form of the theory: the runs are not used, the sizes are always the quick
/// ones (the full sizes take minutes: `sasnet reproduce theory`).
fn theory_in_report(_runs: &[RunData], out: &Path, opts: &AnalysisOptions) -> Result<AnalysisOutput> {
    let mut o = crate::theory::run_theory(out, opts.data_dir.as_deref(), true)?;
    o.title = "Infinite-width theory (quick sizes; full sizes: sasnet reproduce theory)".into();
    Ok(o)
}

/// Runs the infinite-width theory experiments (`opts.quick`: small sizes) into `dir` without
/// any run and renders their figures there (SVG and PNG, added to the output's `files`).
pub fn run_theory(dir: &Path, opts: &AnalysisOptions) -> Result<AnalysisOutput> {
    let mut out = crate::theory::run_theory(dir, opts.data_dir.as_deref(), opts.quick)?;
    for f in &out.figures {
        let (svg, png) = crate::report::render::render(f, dir)?;
        out.files.extend([svg, png]);
    }
    Ok(out)
}

/// The analysis called `name`.
pub fn find(name: &str) -> Result<&'static Analysis> {
    ANALYSES
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| SasError::InvalidValue {
            name: "analysis".into(),
            reason: format!("unknown analysis `{name}` (known: {})", names().join(", ")),
        })
}

/// The names of all analyses.
pub fn names() -> Vec<&'static str> {
    ANALYSES.iter().map(|a| a.name).collect()
}

/// Loads the runs in `dirs` and checks that they are seeds of one configuration (equal
/// configurations apart from `seed` and `train.epochs`).
pub fn load_runs(dirs: &[PathBuf]) -> Result<Vec<RunData>> {
    if dirs.is_empty() {
        return Err(SasError::InvalidValue {
            name: "run directories".into(),
            reason: "no run directory given".into(),
        });
    }
    let runs: Vec<RunData> = dirs.iter().map(|d| RunData::load(d)).collect::<Result<_>>()?;
    let norm = |c: &Config| {
        let mut c = c.clone();
        c.seed = 0;
        c.train.epochs = 0;
        c
    };
    let first = norm(&runs[0].cfg);
    for r in &runs[1..] {
        if norm(&r.cfg) != first {
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

/// Runs `a` on `runs` with output folder `dir`, renders its figures there and adds the SVG
/// and PNG paths to the output's `files`. Fails if the analysis does not apply.
pub fn run_one(a: &Analysis, runs: &[RunData], dir: &Path, opts: &AnalysisOptions) -> Result<AnalysisOutput> {
    let Some(first) = runs.first() else {
        return Err(SasError::InvalidValue {
            name: a.name.into(),
            reason: "no runs given".into(),
        });
    };
    if !(a.applies)(&first.cfg) {
        return Err(SasError::InvalidValue {
            name: a.name.into(),
            reason: format!(
                "does not apply to this configuration (task `{}`, preset `{}`)",
                first.cfg.task.kind, first.cfg.preset
            ),
        });
    }
    opts.validate(&first.cfg.task.kind)?;
    std::fs::create_dir_all(dir).map_err(|source| SasError::Io {
        action: "creating",
        path: dir.to_path_buf(),
        source,
    })?;
    let adjusted;
    let dt = opts.msi_dt_override(a.many_evaluations)?;
    let runs = match dt {
        Some(dt) if first.cfg.task.kind == "msi" => {
            adjusted = runs
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.cfg.task.msi.test_dt_ms = dt;
                    r
                })
                .collect::<Vec<_>>();
            &adjusted[..]
        }
        _ => runs,
    };
    let mut out = (a.run)(runs, dir, opts)?;
    if first.cfg.task.kind == "msi" {
        // Say which test time step the evaluations used when it is not the runs' own.
        if let Some(dt) = dt.filter(|&d| d != first.cfg.task.msi.test_dt_ms) {
            if let serde_json::Value::Object(m) = &mut out.summary {
                m.insert("msi_test_dt_ms".into(), serde_json::json!(dt));
                crate::output::write_json(&dir.join("summary.json"), &out.summary)?;
            }
            for f in &mut out.figures {
                f.caption.push_str(&format!(
                    " MSI test protocol at Δt = {dt} ms (the runs' own: {} ms).",
                    first.cfg.task.msi.test_dt_ms
                ));
            }
        }
    }
    for f in &out.figures {
        let (svg, png) = crate::report::render::render(f, dir)?;
        out.files.extend([svg, png]);
    }
    Ok(out)
}

/// Runs every analysis that applies to the runs' configuration, each with output folder
/// `out/<name>/`, and renders its figures there. One failing analysis does not stop the
/// others: each gets its own result.
pub fn run_all(
    runs: &[RunData],
    out: &Path,
    opts: &AnalysisOptions,
) -> Vec<(&'static str, Result<AnalysisOutput>)> {
    run_all_with(runs, out, opts, &mut |_| {})
}

/// [`run_all`], calling `starting(name)` before each analysis (for progress messages).
pub fn run_all_with(
    runs: &[RunData],
    out: &Path,
    opts: &AnalysisOptions,
    starting: &mut dyn FnMut(&'static str),
) -> Vec<(&'static str, Result<AnalysisOutput>)> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    ANALYSES
        .iter()
        .filter(|a| (a.applies)(&first.cfg) && !opts.skip.iter().any(|s| s == a.name))
        .map(|a| {
            starting(a.name);
            (a.name, run_one(a, runs, &out.join(a.name), opts))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        let n = names();
        let mut s = n.clone();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), n.len());
        for name in n {
            assert_eq!(find(name).unwrap().name, name);
        }
        assert!(find("nope").unwrap_err().to_string().contains("accuracy"));
    }

    #[test]
    fn psychometric_only_for_msi() {
        let msi = Config::preset("msi").unwrap();
        let pix = Config::preset("pixel-mnist").unwrap();
        let p = find("psychometric").unwrap();
        assert!((p.applies)(&msi));
        assert!(!(p.applies)(&pix));
        assert!((find("accuracy").unwrap().applies)(&pix));
    }
}
