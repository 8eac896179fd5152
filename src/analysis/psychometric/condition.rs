//! Psychometric curves of any user task (docs/MODEL.md §5.8): the fraction of trials whose
//! decision is one chosen output, against a scalar per-trial condition of the task (e.g.
//! NeuroGym's signed coherence), per level of an optional grouping condition, fitted with the
//! same cumulative Gaussian with lapse as the MSI curves ([`super::fit_cumulative_gaussian`]).
//!
//! **Decision.** The mean-field network (fresh ε, recurrent noise; the run's test protocol)
//! runs every trial of the task's test set; its decision is the argmax of the readout at the
//! trial's decision step: the last step with a positive mask for per-step labels, else the
//! last step. A trial "chooses" when its decision is output [`AnalysisOptions::choice`]
//! (default: the last output, `K − 1`; NeuroGym's two-choice tasks: output 2, "right").
//! A curve that falls with the condition is fitted as `λ + (1−2λ)Φ((μ − c)/σ)` (the summary
//! says `direction: falling`), so σ is its width either way.
//!
//! **Statistics.** The unit of replication is the training seed: each seed gives one curve
//! and one fit (μ threshold, σ width in condition units, λ lapse); μ, σ, λ are summarised over
//! seeds (mean, sample std, 95 % t-interval, n). The points drawn are the fractions pooled
//! over seeds with their 95 % Wilson (binomial) interval, the curve the fit to the pooled
//! counts.
//!
//! Outputs: `psychometric.csv` (group, level, pooled chosen / trials, fraction, Wilson
//! interval, mean and std over seeds), `fits.csv` (per seed and group), `summary.json`.

use super::{PsychFit, fit_cumulative_gaussian};
use crate::analysis::AnalysisResult;
use crate::analysis::{AnalysisOptions, RunData};
use crate::data::source::TaskData;
use crate::engine::noise::RandomNoise;
use crate::engine::{RunOptions, Targets};
use crate::error::{Result, SasError};
use crate::output::figure::{Figure, Plot, Series};
use crate::output::{csv, mean_std};
use crate::rng::derive_seed;
use crate::stats::SeedStats;
use crate::task::TargetData;
use crate::task::user::UserTask;
use serde_json::json;
use std::path::Path;

/// Most distinct values a condition may have to be the x axis of a psychometric curve.
pub const MAX_LEVELS: usize = 64;

const KEY_NOISE: u64 = 0x5053_0101;

/// The distinct finite values of `v`, sorted.
fn levels(v: &[f64]) -> Vec<f64> {
    let mut l: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    l.sort_by(f64::total_cmp);
    l.dedup();
    l
}

/// The 95 % Wilson score interval of `k` successes out of `n` (exactly 0 below at `k = 0`
/// and 1 above at `k = n`, where rounding would miss them).
pub(crate) fn wilson(k: f64, n: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let z = 1.959_963_984_540_054;
    let p = k / n;
    let d = 1.0 + z * z / n;
    let c = (p + z * z / (2.0 * n)) / d;
    let h = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / d;
    let lo = if k <= 0.0 { 0.0 } else { (c - h).max(0.0) };
    let hi = if k >= n { 1.0 } else { (c + h).min(1.0) };
    (lo, hi)
}

fn listing(t: &UserTask) -> String {
    let names: Vec<&str> = t.conditions().iter().map(|(n, _)| n.as_str()).collect();
    if names.is_empty() {
        "this task has no conditions (give per-trial arrays as `conditions`)".into()
    } else {
        format!("this task has: {}", names.join(", "))
    }
}

/// The decision (argmax output at the decision step) of every test trial of `t` for one
/// run, in trial order.
fn decisions(run: &RunData, task: &TaskData, ri: usize, opts: &AnalysisOptions) -> Result<Vec<usize>> {
    let cfg = &run.cfg;
    let test = task.test_set(cfg, cfg.eval.batch, 0, 1);
    let mut engine = crate::infer::test_engine(cfg)?;
    let moments = run.net.moments();
    let (n, k) = (run.net.dims().n, run.net.dims().k);
    let mut out = Vec::new();
    for (bi, b) in test.batches.iter().enumerate() {
        let h0 = vec![cfg.model.h0 as f32; b.size * n];
        let batch = crate::infer::engine_batch(b, &h0, Targets::None);
        let noise = RandomNoise {
            seed: derive_seed(opts.seed, &[KEY_NOISE, ri as u64, bi as u64]),
        };
        let per_step = matches!(b.target, TargetData::StepLabels { .. });
        let o = engine.run(
            &moments,
            &batch,
            &noise,
            RunOptions {
                all_outputs: per_step,
                ..Default::default()
            },
        )?;
        let steps: Vec<usize> = if per_step {
            b.last_scored_steps()
                .into_iter()
                .map(|s| s.unwrap_or(b.steps - 1))
                .collect()
        } else {
            vec![0; b.size]
        };
        for (i, &t) in steps.iter().enumerate() {
            let row = &o.z[(t * b.size + i) * k..(t * b.size + i + 1) * k];
            out.push(crate::infer::argmax(row));
        }
    }
    Ok(out)
}

/// Runs the analysis on the runs (seeds) of one user-task configuration; see the module docs.
pub(super) fn run_user(runs: &[RunData], _work: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    let cfg0 = &runs[0].cfg;
    let task = TaskData::load(cfg0, opts.data_dir.as_deref())?;
    let TaskData::User { train, test } = &task else {
        return Err(SasError::NotApplicable {
            analysis: super::NAME.into(),
            reason: format!("task `{}` has no per-trial conditions", cfg0.task.kind),
        });
    };
    let t: &UserTask = test.as_deref().unwrap_or(train);
    let need = |what: String| SasError::NotApplicable {
        analysis: super::NAME.into(),
        reason: what,
    };
    let Some(cname) = opts.condition.as_deref() else {
        return Err(need(format!(
            "psychometric needs a scalar condition: pass condition=NAME (--condition NAME); {}",
            listing(t)
        )));
    };
    let x = t
        .condition(cname)
        .ok_or_else(|| need(format!("the task has no condition `{cname}`; {}", listing(t))))?;
    let group = match opts.group.as_deref() {
        Some(g) => Some((
            g,
            t.condition(g).ok_or_else(|| {
                need(format!(
                    "the task has no condition `{g}` to group by; {}",
                    listing(t)
                ))
            })?,
        )),
        None => None,
    };
    let k = runs[0].net.dims().k;
    let choice = opts.choice.unwrap_or(k - 1);
    if choice >= k {
        return Err(SasError::InvalidArgument {
            name: "choice".into(),
            reason: format!("output {choice} does not exist: the network has {k} outputs"),
        });
    }
    let xl = levels(x);
    if xl.len() < 2 || xl.len() > MAX_LEVELS {
        return Err(need(format!(
            "condition `{cname}` has {} distinct values; a psychometric curve needs 2 to {MAX_LEVELS}",
            xl.len()
        )));
    }
    let gl = group.map_or_else(|| vec![f64::NAN], |(_, g)| levels(g));
    let gi = |trial: usize| -> Option<usize> {
        match group {
            None => Some(0),
            Some((_, g)) => gl.iter().position(|&v| v == g[trial]),
        }
    };
    // counts[seed][group][level] = (chosen, trials)
    let mut counts = Vec::with_capacity(runs.len());
    for (ri, run) in runs.iter().enumerate() {
        let d = decisions(run, &task, ri, opts)?;
        let mut c = vec![vec![(0.0f64, 0.0f64); xl.len()]; gl.len()];
        for (trial, &dec) in d.iter().enumerate() {
            let (Some(g), Some(l)) = (gi(trial), xl.iter().position(|&v| v == x[trial])) else {
                continue;
            };
            c[g][l].0 += f64::from(u8::from(dec == choice));
            c[g][l].1 += 1.0;
        }
        counts.push(c);
    }
    let group_name = |g: usize| match group {
        None => "all trials".to_string(),
        Some((name, _)) => format!("{name} = {}", gl[g]),
    };
    let (mut rows, mut fit_rows, mut series) = (Vec::new(), Vec::new(), Vec::new());
    let mut groups = Vec::new();
    let lo = xl[0];
    let hi = xl[xl.len() - 1];
    let fine: Vec<f64> = (0..=160).map(|i| lo + (hi - lo) * i as f64 / 160.0).collect();
    for g in 0..gl.len() {
        // Levels of this group that hold trials.
        let used: Vec<usize> = (0..xl.len()).filter(|&l| counts[0][g][l].1 > 0.0).collect();
        if used.is_empty() {
            continue;
        }
        let xs: Vec<f64> = used.iter().map(|&l| xl[l]).collect();
        // A falling curve (fewer choices at the higher levels, pooled over seeds) is fitted
        // on −c, so that σ is its width either way; μ is reported on the condition's scale.
        let pooled_frac = |j: usize| {
            let l = used[j];
            let (k, n) = counts
                .iter()
                .fold((0.0, 0.0), |a, c| (a.0 + c[g][l].0, a.1 + c[g][l].1));
            k / n
        };
        let falling = pooled_frac(xs.len() - 1) < pooled_frac(0);
        let sign = if falling { -1.0 } else { 1.0 };
        let xs_fit: Vec<f64> = xs.iter().map(|&v| sign * v).collect();
        let oriented = |mut f: PsychFit| {
            f.mu *= sign;
            f
        };
        let mut fits: Vec<PsychFit> = Vec::new();
        for (ri, c) in counts.iter().enumerate() {
            let ks: Vec<f64> = used.iter().map(|&l| c[g][l].0).collect();
            let ns: Vec<f64> = used.iter().map(|&l| c[g][l].1).collect();
            let f = oriented(fit_cumulative_gaussian(&xs_fit, &ks, &ns, true)?);
            fit_rows.push(vec![
                runs[ri].cfg.seed as f64,
                g as f64,
                f.mu,
                f.sigma,
                f.lapse,
                f.nll,
                f64::from(u8::from(f.sigma_at_bound)),
            ]);
            fits.push(f);
        }
        let pk: Vec<f64> = used
            .iter()
            .map(|&l| counts.iter().map(|c| c[g][l].0).sum())
            .collect();
        let pn: Vec<f64> = used
            .iter()
            .map(|&l| counts.iter().map(|c| c[g][l].1).sum())
            .collect();
        let pooled = oriented(fit_cumulative_gaussian(&xs_fit, &pk, &pn, true)?);
        let per_seed: Vec<Vec<f64>> = counts
            .iter()
            .map(|c| used.iter().map(|&l| c[g][l].0 / c[g][l].1).collect())
            .collect();
        let (m, s) = mean_std(&per_seed);
        let p: Vec<f64> = pk.iter().zip(&pn).map(|(a, b)| a / b).collect();
        let w: Vec<(f64, f64)> = pk.iter().zip(&pn).map(|(&a, &b)| wilson(a, b)).collect();
        for (j, &l) in used.iter().enumerate() {
            rows.push(vec![
                if group.is_some() { gl[g] } else { f64::NAN },
                xl[l],
                pk[j],
                pn[j],
                p[j],
                w[j].0,
                w[j].1,
                m[j],
                s[j],
            ]);
        }
        let name = group_name(g);
        series.push(Series {
            label: format!("{name} (pooled, 95 % Wilson)"),
            x: xs.clone(),
            y: p.clone(),
            band: Some((w.iter().map(|v| v.0).collect(), w.iter().map(|v| v.1).collect())),
            markers: true,
        });
        series.push(Series {
            label: format!("{name} (fit, σ = {:.3})", pooled.sigma),
            x: fine.clone(),
            // eval takes the fitted orientation: (sign·c − sign·μ)/σ.
            y: fine
                .iter()
                .map(|&v| {
                    let f = PsychFit {
                        mu: sign * pooled.mu,
                        ..pooled
                    };
                    f.eval(sign * v)
                })
                .collect(),
            band: None,
            markers: false,
        });
        let of = |f: &dyn Fn(&PsychFit) -> f64| SeedStats::of(&fits.iter().map(f).collect::<Vec<_>>());
        groups.push(json!({
            "group": name,
            "group_value": if group.is_some() { json!(gl[g]) } else { json!(null) },
            "levels": xs,
            "chosen": pk,
            "trials": pn,
            "fraction": p,
            "wilson95": w,
            "mu": of(&|f| f.mu),
            "sigma": of(&|f| f.sigma),
            "lapse": of(&|f| f.lapse),
            "sigma_at_bound_seeds": fits.iter().filter(|f| f.sigma_at_bound).count(),
            "pooled_fit": pooled,
            "rises": !falling && p.last() > p.first(),
            "direction": if falling { "falling" } else { "rising" },
        }));
    }
    let trials = t.len();
    let files = vec![
        csv(
            "psychometric.csv",
            &[
                "group",
                "level",
                "chosen_pooled",
                "trials_pooled",
                "fraction",
                "wilson_lo",
                "wilson_hi",
                "fraction_mean_over_seeds",
                "fraction_std_over_seeds",
            ],
            &rows,
        )?,
        csv(
            "fits.csv",
            &["seed", "group", "mu", "sigma", "lapse", "nll", "sigma_at_bound"],
            &fit_rows,
        )?,
    ];
    let summary = json!({
        "condition": cname,
        "group_by": group.map(|g| g.0),
        "choice_output": choice,
        "outputs": k,
        "test_trials": trials,
        "seeds": runs.len(),
        "unit_of_replication": "training seed (μ, σ, λ: one fit per seed); points pooled over seeds",
        "model": "P(choice) = λ + (1 − 2λ) Φ((c − μ)/σ), maximum likelihood",
        "groups": groups,
    });
    let figure = Figure {
        name: "psychometric".into(),
        title: format!("Psychometric curve: output {choice} against {cname}"),
        x_label: cname.into(),
        y_label: format!("fraction choosing output {choice}"),
        log_y: false,
        caption: format!(
            "Fraction of the {trials} test trials whose decision (argmax readout at the decision \
             step, mean-field network) is output {choice}, against the condition `{cname}`{}, \
             pooled over {} seed(s) with 95 % Wilson intervals; cumulative Gaussians with lapse \
             λ + (1−2λ)Φ((c−μ)/σ) fitted by maximum likelihood to the pooled counts. Unit of \
             replication for μ, σ and λ in the summary: the training seed.",
            group
                .map(|(g, _)| format!(", per level of `{g}`"))
                .unwrap_or_default(),
            runs.len()
        ),
        plot: Plot::Lines(series),
    };
    Ok(AnalysisResult::with(
        super::NAME,
        super::TITLE,
        files,
        vec![figure],
        summary,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_interval_golden_values() {
        // 8 of 10: (0.4902, 0.9433) (Wilson 1927, z = 1.96).
        let (a, b) = wilson(8.0, 10.0);
        assert!((a - 0.4902).abs() < 1e-4 && (b - 0.9433).abs() < 1e-4, "{a} {b}");
        let (a, b) = wilson(0.0, 20.0);
        assert!(a == 0.0 && (b - 0.1611).abs() < 1e-4, "{b}");
        assert!(wilson(1.0, 0.0).0.is_nan());
    }

    #[test]
    fn levels_are_sorted_and_distinct() {
        assert_eq!(levels(&[0.5, -0.5, 0.5, f64::NAN, 0.0]), vec![-0.5, 0.0, 0.5]);
    }
}
