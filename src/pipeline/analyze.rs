//! Running analyses: one ([`run_one`]) or every applicable one ([`run_all_with`]) on the
//! runs of one configuration of either family, each into `<out>/<name>/` with its figures
//! rendered there (SVG and PNG) next to its data; and the infinite-width theory without runs
//! ([`run_theory`]).

use crate::analysis::registry::{Analysis, Analyzable};
use crate::analysis::{AnalysisOptions, RunData, load_runs};
use crate::error::{Result, SasError};
use crate::output::AnalysisOutput;
use std::path::{Path, PathBuf};

/// Renders the figures of `out` into `dir` and adds the SVG and PNG paths to its files.
fn render_figures(out: &mut AnalysisOutput, dir: &Path) -> Result<()> {
    for f in &out.figures {
        let (svg, png) = crate::report::render::render(f, dir)?;
        out.files.extend([svg, png]);
    }
    Ok(())
}

/// Runs `a` on `runs` with output folder `dir`, renders its figures there and adds the SVG
/// and PNG paths to the output's `files`. Fails if the analysis does not apply.
pub fn run_one<F: Analyzable>(
    a: &Analysis,
    runs: &[RunData<F>],
    dir: &Path,
    opts: &AnalysisOptions,
) -> Result<AnalysisOutput> {
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
    crate::analysis::start(runs, a.name, dir)?;
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
    let mut out = run(runs, dir, opts)?;
    if let Some((dt, own)) = changed {
        if let serde_json::Value::Object(m) = &mut out.summary {
            m.insert("msi_test_dt_ms".into(), serde_json::json!(dt));
            crate::output::write_json(&dir.join("summary.json"), &out.summary)?;
        }
        for f in &mut out.figures {
            f.caption.push_str(&format!(
                " MSI test protocol at Δt = {dt} ms (the runs' own: {own} ms)."
            ));
        }
    }
    render_figures(&mut out, dir)?;
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
) -> Vec<(&'static str, Result<AnalysisOutput>)> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    F::report_order()
        .into_iter()
        .filter(|a| F::applies(a, &first.cfg) && !opts.skip.iter().any(|s| s == a.name))
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
) -> Vec<(&'static str, Result<AnalysisOutput>)> {
    run_all_with(runs, out, opts, &mut |_| {})
}

/// Runs the analyses selected by `name` ([`crate::analysis::registry::select`]) on the runs
/// in `dirs`, each into `out/<analysis name>/` (the command `sasnet analyze NAME RUN...`).
pub fn analyze<F: Analyzable>(
    name: &str,
    dirs: &[PathBuf],
    out: &Path,
    opts: &AnalysisOptions,
) -> Result<Vec<(PathBuf, AnalysisOutput)>> {
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

/// Runs the infinite-width theory experiments (`opts.quick`: small sizes) into `dir` without
/// any run and renders their figures there (SVG and PNG, added to the output's `files`).
pub fn run_theory(dir: &Path, opts: &AnalysisOptions) -> Result<AnalysisOutput> {
    let mut out = crate::theory::run_theory(dir, opts.data_dir.as_deref(), opts.quick)?;
    render_figures(&mut out, dir)?;
    Ok(out)
}
