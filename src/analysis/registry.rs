//! The list of analyses ([`ANALYSES`]): each one's command-line name, its implementation for
//! each network family it serves ([`AnalysisFn`]) and which configurations it applies to.
//! Running them with their figures rendered is the pipeline's job
//! (`pipeline::analyze`).

use super::AnalysisResult;
use super::{AnalysisFn, AnalysisOptions, RunData};
use crate::config::Config;
use crate::error::{Result, SasError};
use crate::family::{Family, FeedForward, Kind, Recurrent};
use crate::ff::FfConfig;
use std::path::Path;

/// One analysis of the registry.
#[derive(Clone, Copy, Debug)]
pub struct Analysis {
    /// Command-line name; also its output folder.
    pub name: &'static str,
    /// What it does (one line, for `--help` and listings).
    pub about: &'static str,
    /// The analysis of recurrent runs (`None`: it does not serve them).
    pub run: Option<AnalysisFn<Recurrent>>,
    /// The analysis of feed-forward runs (`None`: it does not serve them).
    pub run_ff: Option<AnalysisFn<FeedForward>>,
    /// Whether it applies to recurrent runs of this configuration.
    pub applies: fn(&Config) -> bool,
    /// Whether it evaluates the networks many times (it then runs MSI's test protocol at
    /// [`AnalysisOptions::fast_dt_ms`] when set).
    pub many_evaluations: bool,
}

fn always(_: &Config) -> bool {
    true
}

fn msi_or_user(c: &Config) -> bool {
    matches!(
        c.task.kind,
        crate::config::TaskKind::Msi | crate::config::TaskKind::User
    )
}

fn rec_stochastic(c: &Config) -> bool {
    c.model.sas_rec
}

fn stochastic(c: &Config) -> bool {
    c.model.sas_in || c.model.sas_rec || c.model.sas_out
}

/// Every analysis, in report order.
pub const ANALYSES: &[Analysis] = &[
    Analysis {
        name: super::accuracy::NAME,
        about: "training loss and test accuracy over epochs",
        run: Some(super::accuracy::run),
        run_ff: Some(super::ff::accuracy::run),
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: super::baseline::NAME,
        about: "paired BPTT baselines (same seed and budget): ensemble − BPTT per evaluation mode, lr sweep",
        run: Some(super::baseline::run),
        run_ff: None,
        applies: stochastic,
        many_evaluations: true,
    },
    Analysis {
        name: super::sparsity::NAME,
        about: "sparsity Σπ/M per layer over epochs (recurrent split into i<j and i>j)",
        run: Some(super::sparsity::run),
        run_ff: None,
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: super::entropy::NAME,
        about: "entropy per connection and its π and Ξ parts",
        run: Some(super::entropy::run),
        run_ff: Some(super::ff::entropy::run),
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: super::weights::NAME,
        about: "hyper-parameter distributions (π, m, Ξ) and matrices",
        run: Some(super::weights::run),
        run_ff: Some(super::ff::weights::run),
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: super::weights::CLASSES_NAME,
        about: "fractions of VIP, UIP and variable weights over epochs",
        run: Some(super::weights::run_classes),
        run_ff: Some(super::ff::classes::run),
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: super::symmetry::NAME,
        about: "symmetry-breaking order parameters of Ξ and π over epochs",
        run: Some(super::symmetry::run),
        run_ff: None,
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: super::perturb::NAME,
        about: "accuracy after removing VIP weights vs random weights",
        run: Some(super::perturb::run),
        run_ff: Some(super::ff::perturb::run),
        applies: always,
        many_evaluations: true,
    },
    Analysis {
        name: super::selectivity::NAME,
        about: "neural selectivity (SLI) per neuron and time",
        run: Some(super::selectivity::run),
        run_ff: None,
        applies: always,
        many_evaluations: true,
    },
    Analysis {
        name: super::psychometric::NAME,
        about: "psychometric curves with fitted thresholds and slopes: MSI per modality, user tasks against a condition",
        run: Some(super::psychometric::run),
        run_ff: None,
        applies: msi_or_user,
        many_evaluations: false,
    },
    Analysis {
        name: super::sampled_stats::NAME,
        about: "zero fraction and asymmetry of sampled recurrent networks over time",
        run: Some(super::sampled_stats::run),
        run_ff: None,
        applies: rec_stochastic,
        many_evaluations: false,
    },
    Analysis {
        name: super::plasticity::NAME,
        about: "accuracy per evaluation mode and resampling interval",
        run: Some(super::plasticity::run),
        run_ff: None,
        applies: always,
        many_evaluations: true,
    },
    Analysis {
        name: super::dynamics::NAME,
        about: "spectral radius of (1−α)I + αW and rate norms of mean and sampled networks (fixed-network puzzle)",
        run: Some(super::dynamics::run),
        run_ff: None,
        applies: always,
        many_evaluations: true,
    },
    Analysis {
        name: super::puzzle::NAME,
        about: "why one fixed sampled network fails where the mean network works: slab dose–response, time course, diagonal vs off-diagonal slab, Lyapunov exponents, the BPTT twin under the same noise",
        run: Some(super::puzzle::run),
        run_ff: None,
        applies: rec_stochastic,
        many_evaluations: true,
    },
    Analysis {
        name: super::pca::NAME,
        about: "PCA of the neural activity: variance spectrum, components for 80/85 %, trajectories",
        run: Some(super::pca::run),
        run_ff: None,
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: super::synaptic_pca::NAME,
        about: "PCA of the per-epoch parameter vectors: spectrum, trajectory, drift along PC1",
        run: Some(super::synaptic_pca::run),
        run_ff: None,
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: super::retrain::NAME,
        about: "retrain with Ξ ≡ 0, π ≡ 0 and both (BPTT) from the same seeds; accuracy side by side",
        run: Some(super::retrain::run),
        run_ff: None,
        applies: stochastic,
        many_evaluations: true,
    },
    Analysis {
        name: super::ntk_change::NAME,
        about: "tangent-kernel change of the trained network over epochs (lazy-regime check)",
        run: Some(super::ntk_change::run),
        run_ff: None,
        applies: always,
        many_evaluations: false,
    },
    Analysis {
        name: THEORY,
        about: "infinite-width (lazy) theory: kernel convergence, learning curves (quick sizes in reports)",
        run: Some(theory_in_report),
        run_ff: None,
        applies: always,
        many_evaluations: false,
    },
];

/// The analysis that needs no trained run: the infinite-width theory experiments
/// ([`crate::theory::run_theory`]). In a report of runs it runs at the quick sizes (about a
/// minute); `pipeline::analyze::run_theory` runs either size without runs (`sasnet analyze theory`,
/// `sasnet reproduce theory`).
pub const THEORY: &str = crate::theory::experiments::NAME;

/// The registry form of the theory: the runs are not used, the sizes are always the quick
/// ones (the full sizes take minutes: `sasnet reproduce theory`).
fn theory_in_report(_runs: &[RunData], _work: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    let mut o =
        crate::theory::run_theory(opts.data_dir.as_deref(), true)?.map_summary(super::Summary::Theory);
    o.title = "Infinite-width theory (quick sizes; full sizes: sasnet reproduce theory)".into();
    Ok(o)
}

/// The analysis called `name`.
pub fn find(name: &str) -> Result<&'static Analysis> {
    ANALYSES
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| SasError::UnknownName {
            what: "analysis",
            name: name.into(),
            known: names().join(", "),
        })
}

/// The names of all analyses.
pub fn names() -> Vec<&'static str> {
    ANALYSES.iter().map(|a| a.name).collect()
}

/// The feed-forward report order: accuracy first, then what the weights say, then their
/// perturbation, then the distributions.
const FF_ORDER: [&str; 5] = ["accuracy", "classes", "perturb", "entropy", "weights"];

/// Name that selects every feed-forward analysis at once (`sasnet analyze ff RUN...`).
pub const ALL_FF: &str = "ff";

/// The analyses selected by `name` for runs of family `F`: the one called `name` (if it
/// serves the family), or every one serving a feed-forward run for [`ALL_FF`].
pub fn select<F: Analyzable>(name: &str) -> Result<Vec<&'static Analysis>> {
    if F::KIND == Kind::FeedForward && name == ALL_FF {
        return Ok(F::report_order());
    }
    if F::KIND == Kind::FeedForward {
        let ff: Vec<&str> = ANALYSES
            .iter()
            .filter(|a| a.run_ff.is_some())
            .map(|a| a.name)
            .collect();
        return ANALYSES
            .iter()
            .find(|a| a.name == name && a.run_ff.is_some())
            .map(|a| vec![a])
            .ok_or_else(|| SasError::UnknownName {
                what: "analysis for a feed-forward run:",
                name: name.into(),
                known: format!("{}, or `{ALL_FF}` for all", ff.join(", ")),
            });
    }
    find(name).map(|a| vec![a])
}

/// A family the registry serves: which implementation of an analysis runs on its runs, and
/// whether it applies to a configuration.
pub trait Analyzable: Family {
    /// The implementation of `a` for this family, if `a` serves it.
    fn entry(a: &Analysis) -> Option<AnalysisFn<Self>>;
    /// Whether `a` applies to runs of configuration `cfg`.
    fn applies(a: &Analysis, cfg: &Self::Config) -> bool;
    /// The analyses serving this family, in its report order.
    fn report_order() -> Vec<&'static Analysis>;
    /// The MSI test-protocol time step (ms) of `cfg`, which the analyses' `--test-dt` and
    /// `--fast-dt` override; `None` where the family or task has none.
    fn msi_test_dt(cfg: &Self::Config) -> Option<f64>;
    /// Sets that time step (a no-op where [`Analyzable::msi_test_dt`] is `None`).
    fn set_msi_test_dt(cfg: &mut Self::Config, dt_ms: f64);
}

impl Analyzable for Recurrent {
    fn entry(a: &Analysis) -> Option<AnalysisFn<Recurrent>> {
        a.run
    }

    fn applies(a: &Analysis, cfg: &Config) -> bool {
        a.run.is_some() && (a.applies)(cfg)
    }

    fn report_order() -> Vec<&'static Analysis> {
        ANALYSES.iter().filter(|a| a.run.is_some()).collect()
    }

    fn msi_test_dt(cfg: &Config) -> Option<f64> {
        (cfg.task.kind == crate::config::TaskKind::Msi).then_some(cfg.task.msi.test_dt_ms)
    }

    fn set_msi_test_dt(cfg: &mut Config, dt_ms: f64) {
        if cfg.task.kind == crate::config::TaskKind::Msi {
            cfg.task.msi.test_dt_ms = dt_ms;
        }
    }
}

impl Analyzable for FeedForward {
    fn entry(a: &Analysis) -> Option<AnalysisFn<FeedForward>> {
        a.run_ff
    }

    fn applies(a: &Analysis, _cfg: &FfConfig) -> bool {
        a.run_ff.is_some()
    }

    fn report_order() -> Vec<&'static Analysis> {
        FF_ORDER
            .iter()
            .filter_map(|n| ANALYSES.iter().find(|a| a.name == *n && a.run_ff.is_some()))
            .collect()
    }

    fn msi_test_dt(_cfg: &FfConfig) -> Option<f64> {
        None
    }

    fn set_msi_test_dt(_cfg: &mut FfConfig, _dt_ms: f64) {}
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
    fn names_are_unique_and_selectable() {
        // The feed-forward entries: `ff` selects all of them, each by its name; a recurrent-only
        // analysis is refused with the feed-forward names.
        let all = select::<FeedForward>(ALL_FF).unwrap();
        let mut n: Vec<&str> = all.iter().map(|a| a.name).collect();
        assert_eq!(select::<FeedForward>(ALL_FF).unwrap().len(), n.len());
        n.sort();
        n.dedup();
        assert_eq!(n.len(), all.len());
        for a in &all {
            assert_eq!(select::<FeedForward>(a.name).unwrap()[0].name, a.name);
        }
        let e = select::<FeedForward>("psychometric").unwrap_err().to_string();
        assert!(e.contains("feed-forward") && e.contains("classes"), "{e}");
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
