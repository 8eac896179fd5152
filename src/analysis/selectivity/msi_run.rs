//! Selectivity of MSI runs: choice and modality SLI per neuron and time.

use super::*;

/// Per-run result of the MSI protocol.
struct MsiRun {
    steps: Vec<usize>,
    dt_ms: f64,
    choice: Vec<f64>,
    modality: Vec<f64>,
    mean_rate: Vec<f64>,
    class: Vec<usize>,
    sli_c: Vec<f64>,
    sli_m: Vec<f64>,
    trials: usize,
    choice_counts: Vec<u64>,
    /// Start of the stimulus and of the decision period, ms.
    period_starts_ms: (f64, f64),
}

fn msi_run(run: &RunData, task: &TaskData, opts: &AnalysisOptions, ri: usize) -> Result<MsiRun> {
    let TaskData::Msi { test, .. } = task else {
        unreachable!("msi_run is only called for MSI tasks")
    };
    let cfg = &run.cfg;
    let n = run.net.dims().n;
    let p = test.periods();
    let tt = p.total();
    let steps = record_steps(tt);
    let tpc = trials_per_condition(opts.quick);
    let mut probe = RateProbe::new(&run.net, cfg)?;
    let mut choice = ClassRates::new(2, steps.len(), n);
    let mut modality = ClassRates::new(2, steps.len(), n);
    let mut trials = 0;
    // One condition per batch keeps the rates small ([T+1, tpc, N]).
    for (ci, c) in msi::conditions().into_iter().enumerate() {
        let key = |k: u64| derive_seed(opts.seed, &[k, ri as u64, ci as u64]);
        let (b, rates, z) = probe.condition(test, c, tpc, (key(KEY_TRIALS), key(KEY_NOISE)))?;
        let ch = msi::choices(&z);
        for (bi, &choice_b) in ch.iter().enumerate() {
            choice.add(&rates, b.size, bi, choice_b, &steps);
            match c.modality {
                Modality::Visual => modality.add(&rates, b.size, bi, 0, &steps),
                Modality::Auditory => modality.add(&rates, b.size, bi, 1, &steps),
                Modality::Both => {}
            }
        }
        trials += b.size;
    }
    let np = steps.len();
    let sc = sli_map(&choice.means(), 2, np, n);
    let sm = sli_map(&modality.means(), 2, np, n);
    // Window: rate indices after the first stimulus step through the end of the decision.
    let lo = p.stimulus_range().start + 1;
    let window: Vec<usize> = (0..np).filter(|&i| steps[i] >= lo).collect();
    let overall = choice.overall();
    let mean_rate: Vec<f64> = (0..n)
        .map(|i| window.iter().map(|&q| overall[q * n + i]).sum::<f64>() / window.len().max(1) as f64)
        .collect();
    let max_rate = mean_rate.iter().cloned().fold(0.0, f64::max);
    let mut class = Vec::new();
    let (mut sli_c, mut sli_m) = (Vec::new(), Vec::new());
    for (i, &rate) in mean_rate.iter().enumerate() {
        let active = max_rate > 0.0 && rate >= ACTIVE_FRACTION * max_rate;
        let c = row_mean(&sc, np, i, &window);
        let m = row_mean(&sm, np, i, &window);
        class.push(msi_class(active, c, m));
        sli_c.push(c);
        sli_m.push(m);
    }
    Ok(MsiRun {
        steps,
        dt_ms: test.config().dt_ms,
        choice: sc,
        modality: sm,
        mean_rate,
        class,
        sli_c,
        sli_m,
        trials,
        choice_counts: choice.count.clone(),
        period_starts_ms: (
            p.stimulus_range().start as f64 * test.config().dt_ms,
            p.decision_range().start as f64 * test.config().dt_ms,
        ),
    })
}

pub(super) fn run_msi(runs: &[RunData], _work: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    let results = per_run(runs, opts, msi_run)?;
    let r0 = &results[0];
    let n = r0.class.len();
    let np = r0.steps.len();
    let times: Vec<f64> = r0.steps.iter().map(|&t| t as f64 * r0.dt_ms).collect();
    let header = time_header(&times);
    let hdr: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut files = vec![
        csv("sli_choice.csv", &hdr, &matrix_rows(&r0.choice, n, np))?,
        csv("sli_modality.csv", &hdr, &matrix_rows(&r0.modality, n, np))?,
    ];
    let groups = msi::input_groups(n);
    let group_of = |i: usize| groups.iter().position(|g| g.contains(&i)).unwrap_or(2);
    let neuron_rows: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            vec![
                i as f64,
                group_of(i) as f64,
                r0.mean_rate[i],
                r0.sli_c[i],
                r0.sli_m[i],
                r0.class[i] as f64,
            ]
        })
        .collect();
    files.push(csv(
        "neurons.csv",
        &[
            "neuron",
            "group",
            "mean_rate",
            "sli_choice",
            "sli_modality",
            "class",
        ],
        &neuron_rows,
    )?);
    // Fractions per class: overall (index 3) and per group (0 auditory, 1 visual, 2 none),
    // one series per seed.
    let group_names = ["auditory", "visual", "none", "all"];
    let mut frac: Vec<Vec<Vec<f64>>> = vec![Vec::new(); 4];
    let mut count_rows = Vec::new();
    for (ri, r) in results.iter().enumerate() {
        let rn = r.class.len();
        let rg = msi::input_groups(rn);
        for (gi, members) in rg.iter().cloned().chain(std::iter::once(0..rn)).enumerate() {
            let mut c = [0usize; 4];
            for i in members.clone() {
                c[r.class[i]] += 1;
            }
            let total = members.len().max(1) as f64;
            frac[gi].push(c.iter().map(|&x| x as f64 / total).collect());
            let mut row = vec![ri as f64, gi as f64];
            row.extend(c.iter().map(|&x| x as f64));
            count_rows.push(row);
        }
    }
    files.push(csv(
        "classes.csv",
        &["run", "group", "neither", "choice", "modality", "mixed"],
        &count_rows,
    )?);
    let xs: Vec<f64> = (0..4).map(|i| i as f64).collect();
    let mut frac_series = Vec::new();
    let mut summary_groups = serde_json::Map::new();
    for (gi, name) in group_names.iter().enumerate() {
        let (m, s) = mean_std(&frac[gi]);
        let h = mean_ci(&frac[gi]).1;
        let mut g = serde_json::Map::new();
        let mut over = serde_json::Map::new();
        for (ci, cname) in MSI_CLASSES.iter().enumerate() {
            g.insert((*cname).into(), json!(m[ci]));
            g.insert(format!("{cname}_std"), json!(s[ci]));
            over.insert(
                (*cname).into(),
                json!(SeedStats::of(&frac[gi].iter().map(|f| f[ci]).collect::<Vec<_>>())),
            );
        }
        g.insert("over_seeds".into(), serde_json::Value::Object(over));
        summary_groups.insert((*name).into(), serde_json::Value::Object(g));
        frac_series.push(Series {
            label: format!("group: {name}"),
            x: xs.clone(),
            y: m.clone(),
            band: band(&m, &h),
            markers: true,
        });
    }
    // Population-mean SLI over time, mean and 95 % interval over seeds.
    let pm_c: Vec<Vec<f64>> = results
        .iter()
        .map(|r| population_mean(&r.choice, r.class.len(), r.steps.len()))
        .collect();
    let pm_m: Vec<Vec<f64>> = results
        .iter()
        .map(|r| population_mean(&r.modality, r.class.len(), r.steps.len()))
        .collect();
    let (cm, cs) = mean_ci(&pm_c);
    let (mm, ms) = mean_ci(&pm_m);
    let seeds = runs.len();
    let tpc = trials_per_condition(opts.quick);
    let settings = format!(
        "Mean-field rates, MSI test protocol (Δt = {} ms, {} trials per condition, {} trials), \
         recorded every {} ms",
        r0.dt_ms,
        tpc,
        r0.trials,
        times.get(1).copied().unwrap_or(0.0)
    );
    // The two heat maps share their axes: neurons (rows) by recorded time (columns).
    let sli_map_figure = |name: &str, title: &str, caption: String, values: &[f64]| Figure {
        name: name.into(),
        title: title.into(),
        x_label: format!(
            "time point (0 … {np}−1, ×{:.1} ms)",
            times.get(1).copied().unwrap_or(0.0)
        ),
        y_label: "neuron (index; groups auditory, visual, none)".into(),
        log_y: false,
        caption,
        plot: heatmap(values, n, np),
    };
    let figures = vec![
        sli_map_figure(
            "sli_choice",
            "Choice selectivity (SLI, high vs low choice)",
            format!(
                "SLI (Eq. 15) of each neuron (rows, index order: units {:?} auditory, {:?} visual, \
                 {:?} no input) at each recorded time (columns) with the network's own choice \
                 (high / low) as the two classes; first seed. {settings}.",
                groups[0], groups[1], groups[2]
            ),
            &r0.choice,
        ),
        sli_map_figure(
            "sli_modality",
            "Modality selectivity (SLI, visual vs auditory trials)",
            format!(
                "SLI (Eq. 15) of each neuron (rows, index order) at each recorded time (columns) \
                 with the modality of unisensory trials (visual / auditory) as the two classes; \
                 first seed. {settings}."
            ),
            &r0.modality,
        ),
        Figure {
            name: "sli_population".into(),
            title: "Population-mean selectivity over the trial".into(),
            x_label: "time in the trial (ms)".into(),
            y_label: "mean SLI over neurons".into(),
            log_y: false,
            caption: format!(
                "SLI averaged over all neurons, for choice and modality classes; mean over \
                 {seeds} seed(s), band the 95 % t-interval of the mean (unit: the training seed). \
                 {settings}. The stimulus starts at {} ms and the decision period \
                 at {} ms.",
                r0.period_starts_ms.0, r0.period_starts_ms.1
            ),
            plot: Plot::Lines(vec![
                Series {
                    label: "choice".into(),
                    x: times.clone(),
                    y: cm.clone(),
                    band: band(&cm, &cs),
                    markers: false,
                },
                Series {
                    label: "modality".into(),
                    x: times.clone(),
                    y: mm.clone(),
                    band: band(&mm, &ms),
                    markers: false,
                },
            ]),
        },
        Figure {
            name: "selectivity_classes".into(),
            title: "Selectivity classes of the recurrent units".into(),
            x_label: "class (0 neither, 1 choice, 2 modality, 3 mixed)".into(),
            y_label: "fraction of units in the group".into(),
            log_y: false,
            caption: format!(
                "Fraction of units per selectivity class, per input group and overall; mean over \
                 {seeds} seed(s), band the 95 % t-interval of the mean (unit: the training seed). A unit is selective to choice / modality if it is \
                 active (mean rate ≥ {ACTIVE_FRACTION} × the largest) and its SLI averaged over \
                 the stimulus and decision periods is ≥ {SLI_THRESHOLD}; mixed = both. {settings}."
            ),
            plot: Plot::Lines(frac_series),
        },
    ];
    let choice_counts: Vec<Vec<u64>> = results.iter().map(|r| r.choice_counts.clone()).collect();
    files.push(json_data(
        "selectivity.json",
        &json!({
            "task": "msi",
            "classes": MSI_CLASSES,
            "groups": group_names,
            "sli_threshold": SLI_THRESHOLD,
            "active_fraction": ACTIVE_FRACTION,
            "trials_per_condition": tpc,
            "record_steps": r0.steps,
            "record_times_ms": times,
            "choice_trials_high_low": choice_counts,
        }),
    )?);
    let summary = json!({
        "fractions": summary_groups,
        "trials": r0.trials,
        "trials_per_condition": tpc,
        "seeds": seeds,
        "sli_threshold": SLI_THRESHOLD,
        "mean_sli_choice_window": mean_of(&results.iter().map(|r| finite_mean(&r.sli_c)).collect::<Vec<_>>()),
        "mean_sli_modality_window": mean_of(&results.iter().map(|r| finite_mean(&r.sli_m)).collect::<Vec<_>>()),
    });
    finish(files, figures, summary)
}
