//! Running analyses: one ([`run_one`]) or every applicable one ([`run_all_with`]) on the
//! runs of one configuration of either family, each into `<out>/<name>/` with its figures
//! rendered there (SVG and PNG) next to its data; and the infinite-width theory without runs
//! ([`run_theory`]). Computing ([`compute_one`], [`compute_theory`]) and writing ([`write`])
//! are separate steps; the `run_*` functions do both.

use crate::analysis::AnalysisResult;
use crate::analysis::registry::{Analysis, Analyzable};
use crate::analysis::{AnalysisOptions, RunData, load_runs};
use crate::error::{Result, SasError};
use std::path::{Path, PathBuf};

/// Writes `result` into `dir` (created): its tables and data, `summary.json`, and its figures
/// rendered as SVG and PNG; adds the paths to its `files`.
pub fn write(result: &mut AnalysisResult, dir: &Path) -> Result<()> {
    let files = result.write(dir)?;
    result.files.extend(files);
    for f in &result.figures {
        let (svg, png) = crate::report::render::render(f, dir)?;
        result.files.extend([svg, png]);
    }
    Ok(())
}

/// Runs `a` on `runs` with output folder `dir`: computes it ([`compute_one`]) and writes it
/// there ([`write`]). Fails if the analysis does not apply.
pub fn run_one<F: Analyzable>(
    a: &Analysis,
    runs: &[RunData<F>],
    dir: &Path,
    opts: &AnalysisOptions,
) -> Result<AnalysisResult> {
    let mut r = compute_one(a, runs, dir, opts)?;
    write(&mut r, dir)?;
    Ok(r)
}

/// Computes `a` on `runs` in memory, writing nothing — except the analyses that train
/// networks (`retrain`, `baseline`), which keep their trained runs in `work` (see
/// [`crate::analysis::AnalysisFn`]). Fails if the analysis does not apply.
pub fn compute_one<F: Analyzable>(
    a: &Analysis,
    runs: &[RunData<F>],
    work: &Path,
    opts: &AnalysisOptions,
) -> Result<AnalysisResult> {
    let Some(first) = runs.first() else {
        return Err(SasError::NoRuns {
            analysis: a.name.into(),
        });
    };
    let Some(run) = F::entry(a).filter(|_| F::applies(a, &first.cfg)) else {
        return Err(SasError::NotApplicable {
            analysis: a.name.into(),
            reason: format!(
                "task `{}`, preset `{}`",
                F::task(&first.cfg),
                F::preset(&first.cfg)
            ),
        });
    };
    opts.validate(F::task(&first.cfg))?;
    crate::analysis::start(runs, a.name)?;
    let dt = opts.msi_dt_override(a.many_evaluations)?;
    let own = F::msi_test_dt(&first.cfg);
    // The MSI test time step the evaluations use when it is not the runs' own.
    let changed = dt.zip(own).filter(|(d, o)| d != o);
    let adjusted: Vec<RunData<F>>;
    let runs = match changed {
        Some((dt, _)) => {
            adjusted = runs
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    F::set_msi_test_dt(&mut r.cfg, dt);
                    r
                })
                .collect();
            &adjusted[..]
        }
        None => runs,
    };
    let mut out = run(runs, work, opts)?;
    if let Some((dt, own)) = changed {
        out.msi_test_dt_ms = Some(dt);
        for f in &mut out.figures {
            f.caption.push_str(&format!(
                " MSI test protocol at Δt = {dt} ms (the runs' own: {own} ms)."
            ));
        }
    }
    Ok(out)
}

/// Runs every analysis that applies to the runs' configuration and is not in `opts.skip`,
/// each with output folder `out/<name>/`, calling `starting(name)` before each. One failing
/// analysis does not stop the others: each gets its own result.
pub(crate) fn run_all_with<F: Analyzable>(
    runs: &[RunData<F>],
    out: &Path,
    opts: &AnalysisOptions,
    starting: &mut dyn FnMut(&'static str),
) -> Vec<(&'static str, Result<AnalysisResult>)> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    F::report_order()
        .into_iter()
        .filter(|a| F::applies(a, &first.cfg) && !opts.skip.iter().any(|s| s.name == a.name))
        .map(|a| {
            starting(a.name);
            (a.name, run_one(a, runs, &out.join(a.name), opts))
        })
        .collect()
}

/// [`run_all_with`] without progress messages.
pub fn run_all<F: Analyzable>(
    runs: &[RunData<F>],
    out: &Path,
    opts: &AnalysisOptions,
) -> Vec<(&'static str, Result<AnalysisResult>)> {
    run_all_with(runs, out, opts, &mut |_| {})
}

/// Runs the analyses selected by `name` ([`crate::analysis::registry::select`]) on the runs
/// in `dirs`, each into `out/<analysis name>/` (the command `sasnet analyze NAME RUN...`).
pub fn analyze<F: Analyzable>(
    name: &str,
    dirs: &[PathBuf],
    out: &Path,
    opts: &AnalysisOptions,
) -> Result<Vec<(PathBuf, AnalysisResult)>> {
    let selected = crate::analysis::registry::select::<F>(name)?;
    let runs = load_runs::<F>(dirs)?;
    selected
        .into_iter()
        .map(|a| {
            let dir = out.join(a.name);
            run_one(a, &runs, &dir, opts).map(|o| (dir, o))
        })
        .collect()
}

/// Runs the infinite-width theory experiments (`opts.quick`: small sizes) without any run and
/// writes them into `dir` ([`write`]).
pub fn run_theory(dir: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    let mut out = compute_theory(opts)?;
    write(&mut out, dir)?;
    Ok(out)
}

/// Computes the infinite-width theory experiments (`opts.quick`: small sizes) in memory.
pub fn compute_theory(opts: &AnalysisOptions) -> Result<AnalysisResult> {
    Ok(crate::theory::run_theory(opts.data_dir.as_deref(), opts.quick)?
        .map_summary(crate::analysis::Summary::Theory))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::accuracy::fixture;
    use crate::analysis::registry::find;

    #[test]
    fn computing_writes_nothing_and_writing_writes_the_named_files() {
        let runs = fixture::runs();
        let dir = fixture::out("compute-only");
        let opts = AnalysisOptions::default();
        for name in [
            "accuracy",
            "sparsity",
            "entropy",
            "weights",
            "classes",
            "symmetry",
            "synaptic-pca",
        ] {
            let a = find(name).unwrap();
            let r = compute_one(a, &runs, &dir.join(name), &opts).unwrap();
            assert!(!dir.exists(), "{name} wrote into {}", dir.display());
            assert_eq!(r.name, name);
            assert!(r.files.is_empty(), "{name}: {:?}", r.files);
            assert!(
                !r.data.is_empty() || name == "synaptic-pca",
                "{name} computed no table"
            );
        }
        // Writing the accuracy result writes its tables and summary under their names, and
        // the summary holds what summary_json says.
        let mut r = compute_one(find("accuracy").unwrap(), &runs, &dir, &opts).unwrap();
        write(&mut r, &dir).unwrap();
        for f in [
            "accuracy.csv",
            "accuracy_per_seed.csv",
            "summary.json",
            "accuracy.svg",
            "accuracy.png",
        ] {
            assert!(dir.join(f).is_file(), "{f}");
            assert!(r.files.contains(&dir.join(f)), "{f} listed");
        }
        let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
        assert_eq!(text, serde_json::to_string_pretty(&r.summary_json()).unwrap());
        let t = r.table_named("accuracy.csv").unwrap();
        let csv = std::fs::read_to_string(dir.join("accuracy.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + t.rows.len());
        assert_eq!(csv.lines().next().unwrap(), t.header.join(","));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
