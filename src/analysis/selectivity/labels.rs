//! Selectivity of classification runs (MNIST, user tasks): class SLI per neuron and time.

use super::*;

/// Per-run result for a labelled classification task.
struct LabelRun {
    steps: Vec<usize>,
    sli: Vec<f64>,
    mean_rate: Vec<f64>,
    sli_last: Vec<f64>,
    class: Vec<usize>,
    trials: usize,
    classes: usize,
}

fn label_run(run: &RunData, task: &TaskData, opts: &AnalysisOptions, ri: usize) -> Result<LabelRun> {
    let cfg = &run.cfg;
    let d = run.net.dims();
    let n = d.n;
    // Batches small enough that one batch's rates fit the budget.
    let (test, tt) = rate_test_set(task, cfg, n, RATE_BUDGET, mnist_images(opts.quick), NAME)?;
    let steps = record_steps(tt);
    let classes = d.k;
    let mut acc = ClassRates::new(classes, steps.len(), n);
    let mut probe = RateProbe::new(&run.net, cfg)?;
    let seed = |bi: usize| derive_seed(opts.seed, &[KEY_NOISE, ri as u64, bi as u64]);
    let trials = probe.labelled(&test, "selectivity", seed, |r, size, t, l| {
        acc.add(r, size, t, l, &steps)
    })?;
    let np = steps.len();
    let map = sli_map(&acc.means(), classes, np, n);
    let overall = acc.overall();
    let mean_rate: Vec<f64> = (0..n)
        .map(|i| (0..np).map(|q| overall[q * n + i]).sum::<f64>() / np as f64)
        .collect();
    let max_rate = mean_rate.iter().cloned().fold(0.0, f64::max);
    let sli_last: Vec<f64> = (0..n).map(|i| map[i * np + np - 1]).collect();
    let class = (0..n)
        .map(|i| {
            let active = max_rate > 0.0 && mean_rate[i] >= ACTIVE_FRACTION * max_rate;
            label_class(active, sli_last[i])
        })
        .collect();
    Ok(LabelRun {
        steps,
        sli: map,
        mean_rate,
        sli_last,
        class,
        trials,
        classes,
    })
}

pub(super) fn run_labels(runs: &[RunData], _work: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    let results = per_run(runs, opts, label_run)?;
    let r0 = &results[0];
    let n = r0.class.len();
    let np = r0.steps.len();
    let times: Vec<f64> = r0.steps.iter().map(|&t| t as f64).collect();
    let header = time_header(&times);
    let hdr: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut files = vec![csv("sli_label.csv", &hdr, &matrix_rows(&r0.sli, n, np))?];
    let neuron_rows: Vec<Vec<f64>> = (0..n)
        .map(|i| vec![i as f64, r0.mean_rate[i], r0.sli_last[i], r0.class[i] as f64])
        .collect();
    files.push(csv(
        "neurons.csv",
        &["neuron", "mean_rate", "sli_last", "class"],
        &neuron_rows,
    )?);
    let mut frac = Vec::new();
    let mut count_rows = Vec::new();
    for (ri, r) in results.iter().enumerate() {
        let mut c = [0usize; 4];
        for &k in &r.class {
            c[k] += 1;
        }
        frac.push(
            c.iter()
                .map(|&x| x as f64 / r.class.len().max(1) as f64)
                .collect::<Vec<_>>(),
        );
        let mut row = vec![ri as f64];
        row.extend(c.iter().map(|&x| x as f64));
        count_rows.push(row);
    }
    files.push(csv(
        "classes.csv",
        &["run", "silent", "non_selective", "uni_selective", "mixed"],
        &count_rows,
    )?);
    let (fm, fh) = mean_ci(&frac);
    let fs = mean_std(&frac).1;
    let pm: Vec<Vec<f64>> = results
        .iter()
        .map(|r| population_mean(&r.sli, r.class.len(), r.steps.len()))
        .collect();
    let (pmm, pms) = mean_ci(&pm);
    let seeds = runs.len();
    let settings = format!(
        "Mean-field rates over {} test trials, {} classes (labels), recorded every {} steps",
        r0.trials,
        r0.classes,
        times.get(1).copied().unwrap_or(0.0)
    );
    // Histogram of the last-step SLI of active neurons, pooled over seeds.
    let edges: Vec<f64> = (0..=20).map(|i| i as f64 / 20.0).collect();
    let mut counts = vec![0.0; 20];
    for r in &results {
        for (i, &s) in r.sli_last.iter().enumerate() {
            if r.class[i] != 0 && s.is_finite() {
                counts[((s * 20.0) as usize).min(19)] += 1.0;
            }
        }
    }
    let figures = vec![
        Figure {
            name: "sli_label".into(),
            title: "Selectivity (SLI over classes) of each unit over time".into(),
            x_label: format!(
                "time point (0 … {np}−1, ×{} steps)",
                times.get(1).copied().unwrap_or(0.0)
            ),
            y_label: "neuron (index)".into(),
            log_y: false,
            caption: format!(
                "SLI (Eq. 15) of each neuron (rows) at each recorded step (columns); first seed. {settings}."
            ),
            plot: heatmap(&r0.sli, n, np),
        },
        Figure {
            name: "sli_population".into(),
            title: "Population-mean selectivity over the sequence".into(),
            x_label: "time step".into(),
            y_label: "mean SLI over neurons".into(),
            log_y: false,
            caption: format!(
                "SLI averaged over all neurons; mean over {seeds} seed(s), band the 95 % \
                 t-interval of the mean (unit: the training seed). {settings}."
            ),
            plot: Plot::Lines(vec![Series {
                label: "SLI".into(),
                x: times.clone(),
                y: pmm.clone(),
                band: band(&pmm, &pms),
                markers: false,
            }]),
        },
        Figure {
            name: "sli_last_hist".into(),
            title: "Selectivity at the readout step".into(),
            x_label: "SLI at the last step".into(),
            y_label: "active units (count)".into(),
            log_y: false,
            caption: format!(
                "Histogram of the last-step SLI of active units (mean rate ≥ {ACTIVE_FRACTION} × \
                 the largest), pooled over {seeds} seed(s). {settings}."
            ),
            plot: Plot::Histograms(vec![Histogram {
                label: "active units".into(),
                edges,
                counts,
            }]),
        },
        Figure {
            name: "selectivity_classes".into(),
            title: "Selectivity classes of the recurrent units".into(),
            x_label: "class (0 silent, 1 non-selective, 2 uni-selective, 3 mixed)".into(),
            y_label: "fraction of units".into(),
            log_y: false,
            caption: format!(
                "Fraction of units per class at the last step: silent (mean rate < \
                 {ACTIVE_FRACTION} × the largest), non-selective (SLI < {SLI_THRESHOLD}), \
                 uni-selective (SLI ≥ {UNI_THRESHOLD}), mixed (in between); mean over {seeds} \
                 seed(s), band the 95 % t-interval of the mean (unit: the training seed). \
                 {settings}."
            ),
            plot: Plot::Lines(vec![Series {
                label: "all units".into(),
                x: (0..4).map(|i| i as f64).collect(),
                y: fm.clone(),
                band: band(&fm, &fh),
                markers: true,
            }]),
        },
    ];
    files.push(json_data(
        "selectivity.json",
        &json!({
            "task": runs[0].cfg.task.kind,
            "classes": LABEL_CLASSES,
            "sli_threshold": SLI_THRESHOLD,
            "uni_threshold": UNI_THRESHOLD,
            "active_fraction": ACTIVE_FRACTION,
            "record_steps": r0.steps,
        }),
    )?);
    let mut fr = serde_json::Map::new();
    let mut over = serde_json::Map::new();
    for (ci, cname) in LABEL_CLASSES.iter().enumerate() {
        fr.insert((*cname).into(), json!(fm[ci]));
        fr.insert(format!("{cname}_std"), json!(fs[ci]));
        over.insert(
            (*cname).into(),
            json!(SeedStats::of(&frac.iter().map(|f| f[ci]).collect::<Vec<_>>())),
        );
    }
    let summary = json!({
        "fractions": fr,
        "fractions_over_seeds": over,
        "trials": r0.trials,
        "seeds": seeds,
        "mean_sli_last": mean_of(&results.iter().map(|r| finite_mean(&r.sli_last)).collect::<Vec<_>>()),
    });
    finish(files, figures, summary)
}
