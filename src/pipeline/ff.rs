//! The feed-forward report page and reproductions (docs/MODEL.md §6): `sasnet report` on
//! feed-forward runs and `sasnet reproduce ff-mnist | ff-mnist-full`.
//!
//! [`report_over`] runs every feed-forward analysis (the registry's feed-forward entries) on the
//! runs of one configuration into `<page dir>/analysis/<name>/` and writes one self-contained
//! HTML page ([`crate::report::html::write_page`]) whose header lists the runs, their
//! settings, the weight classes per layer and the final accuracy of every evaluation mode.
//!
//! [`reproduce`] trains `seeds` seeds of a preset (resuming seed directories that hold a
//! checkpoint) into `out/seed-<s>/` and writes `out/report.html` — the same layout as the
//! recurrent [`crate::pipeline::reproduce`]. The quick variants ([`config`] with `quick`) compress the
//! reference schedule: `ff-mnist` 20 epochs with the learning rate halved every 2 epochs
//! (instead of 200 and 20), `ff-mnist-full` 10 epochs halved every epoch (instead of 100 and
//! 20); the analyses then use their quick settings.

use crate::analysis::AnalysisOptions;
use crate::analysis::ff::classes::class_stats;
use crate::analysis::{RunData, load_runs};
use crate::error::{Result, SasError};
use crate::family::FeedForward;
use crate::ff::config::FfConfig;
use crate::ff::{RunSummary, train_mnist};
use crate::output::num;
use crate::pipeline::analyze::run_all_with;
use crate::pipeline::seeds::{fan_out, seed_dir};
use crate::pipeline::steps::{ReproduceOptions, ReproduceSummary, Target, run_timed, start_training};
use crate::report::html::{esc, href, rel_path, write_page};
use crate::run::TrainOptions;
use crate::run::files;
use crate::train::TrainSummary;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The feed-forward reproduction targets (those of the feed-forward presets).
pub const TARGETS: [Target; 2] = [Target::FfMnist, Target::FfMnistFull];

/// The configuration of a feed-forward target (one of [`TARGETS`]; `quick` for the quick
/// variant), validated.
pub fn config(target: Target, quick: bool) -> Result<FfConfig> {
    let preset = target.preset_among(&TARGETS, "feed-forward")?;
    let mut c = FfConfig::of_preset(preset)?;
    if quick {
        let (epochs, every) = if target == Target::FfMnist {
            (20, 2)
        } else {
            (10, 2)
        };
        c.train.epochs = epochs;
        c.optim.step_every = every;
        c.eval.sampled = 5;
    }
    c.validate()?;
    Ok(c)
}

impl From<&RunSummary> for TrainSummary {
    fn from(s: &RunSummary) -> TrainSummary {
        TrainSummary {
            run_dir: s.run_dir.clone(),
            epochs: s.epochs,
            train_loss: s.train_loss,
            test_acc: s.accuracy(crate::ff::EvalMode::MeanField),
            stopped_early: false,
            wall_s: s.wall_s,
            new_epochs: s.new_epochs,
        }
    }
}

/// Trains `opts.seeds` seeds of `target` (resuming seed directories that hold a checkpoint),
/// then writes the report over them (`opts.out/report.html`). `progress` receives one line
/// per step.
pub fn reproduce(
    target: Target,
    opts: &ReproduceOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<ReproduceSummary> {
    if opts.seeds == 0 {
        return Err(SasError::Config {
            key: "seeds".into(),
            reason: "at least 1 seed is needed".into(),
        });
    }
    opts.analysis.validate("ff")?;
    let cfg = config(target, opts.quick)?;
    let data = crate::ff::load_mnist(opts.analysis.data_dir.as_deref())?;
    start_training(target, opts, progress)?;
    let sums: Vec<RunSummary> = fan_out(cfg.seed, opts.seeds, |seed| {
        let c = FfConfig { seed, ..cfg.clone() };
        let dir = seed_dir(&opts.out, seed, false);
        let o = TrainOptions {
            resume: dir.join(files::CHECKPOINT).exists(),
            ..Default::default()
        };
        train_mnist(&c, &data, &dir, &o)
    })?;
    drop(data);
    for s in &sums {
        progress(&format!("  {}", s.line()));
    }
    let dirs: Vec<PathBuf> = sums.iter().map(|s| s.run_dir.clone()).collect();
    let report = opts.out.join("report.html");
    let mut aopts = opts.analysis.clone();
    aopts.quick = opts.quick;
    let (analyses, failed) = report_over(&dirs, &report, &aopts, progress)?;
    let statistics = headline(&crate::report::html::page_dir(&report).join("analysis"));
    let summary = ReproduceSummary {
        target,
        quick: opts.quick,
        runs: sums.iter().map(TrainSummary::from).collect(),
        report,
        analyses,
        failed,
        statistics,
    };
    crate::output::write_json(&opts.out.join("summary.json"), &summary)?;
    Ok(summary)
}

/// The headline numbers of a feed-forward reproduction: each seed's final mean-field test
/// accuracy (mean, sample std, 95 % interval, per-seed values) from the accuracy analysis.
/// Feed-forward reproductions have no BPTT baseline.
fn headline(analysis: &Path) -> serde_json::Value {
    let a = std::fs::read_to_string(
        analysis
            .join(crate::analysis::ff::accuracy::NAME)
            .join("summary.json"),
    )
    .ok()
    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    serde_json::json!({
        "mean_field_accuracy": a.as_ref().map_or(serde_json::Value::Null, |a| a["final_eval"]["mean-field"].clone()),
        "source": "analysis/accuracy: the final evaluation of each seed (summary.json of the run)",
    })
}

/// Loads the feed-forward runs in `dirs`, runs every analysis into
/// `<report dir>/analysis/<name>/` and writes the page `report`. Returns the analyses that
/// ran (name, folder) and those that failed (name, message).
#[allow(clippy::type_complexity)]
pub fn report_over(
    dirs: &[PathBuf],
    report: &Path,
    opts: &AnalysisOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<(Vec<(&'static str, PathBuf)>, Vec<(&'static str, String)>)> {
    opts.validate("ff")?;
    let runs = load_runs::<FeedForward>(dirs)?;
    let page_dir = crate::report::html::page_dir(report);
    let out = page_dir.join("analysis");
    let (outputs, ran, failed) = run_timed(&out, progress, |starting| {
        run_all_with(&runs, &out, opts, starting)
    });
    let perturb = outputs
        .iter()
        .find(|o| o.name == crate::analysis::ff::perturb::NAME)
        .map(|o| o.summary_json());
    let head = header_html(&runs, &page_dir, perturb.as_ref());
    let title = runs
        .first()
        .map(|r| r.cfg.preset.name().to_string())
        .unwrap_or_default();
    write_page(&outputs, &failed, &title, &head, report)?;
    Ok((ran, failed))
}

/// The table "every connection of a class removed" from the perturbation summary: per target
/// (all layers, each layer) the class sizes and the accuracies at `p = 1`.
fn removal_table(p: &serde_json::Value) -> String {
    let cell = |v: &serde_json::Value| -> String {
        match (v["mean"].as_f64(), v["ci95"].as_f64()) {
            (Some(m), Some(h)) if h.is_finite() => format!("{:.2} % ± {:.2}", 100.0 * m, 100.0 * h),
            (Some(m), _) => format!("{:.2} %", 100.0 * m),
            _ => "–".into(),
        }
    };
    let count = |v: &serde_json::Value| v.as_f64().map_or("–".into(), |c| format!("{c:.0}"));
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<h3>Removing whole classes</h3>\n<p>Mean-field test accuracy (baseline {}) with every \
         connection of a class removed (π ← 1), against as many uniformly random connections; \
         near-VIP: {}; UIP connections given random weights instead (removing them is the \
         identity). Mean ± half-width of the 95 % t-interval over the seeds (n = {}; each seed's \
         repeats averaged first); the curves are in the perturbation section.</p>",
        esc(&cell(&p["baseline"])),
        esc(p["near_vip_rule"].as_str().unwrap_or("?")),
        p["seeds"].as_u64().unwrap_or(0)
    );
    h.push_str(
        "<table id=\"ff-removal\">\n<tr><th>layers</th><th>VIP</th><th>VIP removed</th>\
         <th>as many random</th><th>near-VIP</th><th>near-VIP removed</th><th>as many random</th>\
         <th>UIP reconnected</th></tr>\n",
    );
    if let Some(t) = p["targets"].as_object() {
        for (name, v) in t {
            let _ = writeln!(
                h,
                "<tr><th>{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(name),
                count(&v["vip_count"]),
                esc(&cell(&v["vip_removed"])),
                esc(&cell(&v["random_removed"])),
                count(&v["near_vip_count"]),
                esc(&cell(&v["near_vip_removed"])),
                esc(&cell(&v["near_random_removed"])),
                esc(&cell(&v["uip_reconnected"]))
            );
        }
    }
    h.push_str("</table>\n");
    h
}

/// `mean ± half-width of the 95 % t-interval (95 % CI, n = k)` in percent, from a mean and
/// a sample standard deviation over `seeds` seeds; just the mean for one seed.
fn pct(ms: (f64, f64), seeds: usize) -> String {
    if seeds > 1 {
        let half = crate::stats::t975(seeds - 1) * ms.1 / (seeds as f64).sqrt();
        format!(
            "{:.2} ± {:.2} % (95 % CI, n = {seeds})",
            100.0 * ms.0,
            100.0 * half
        )
    } else {
        format!("{:.2} % (n = 1)", 100.0 * ms.0)
    }
}

/// The header section of a feed-forward report: runs, settings, weight classes per layer,
/// final accuracy per evaluation mode (mean ± std over seeds) and, given the perturbation
/// analysis's summary, the accuracy with whole classes removed.
pub(crate) fn header_html(
    runs: &[RunData<FeedForward>],
    page_dir: &Path,
    perturb: Option<&serde_json::Value>,
) -> String {
    let mut h = String::new();
    h.push_str("<section id=\"runs\"><h2>Runs</h2>\n<table>\n");
    h.push_str("<tr><th>run directory</th><th>seed</th><th>epochs completed</th></tr>\n");
    crate::report::html::run_rows(&mut h, runs, page_dir);
    h.push_str("</table>\n");
    let Some(r) = runs.first() else {
        h.push_str("<p>No runs.</p></section>\n");
        return h;
    };
    let c = &r.cfg;
    let o = &c.optim;
    let sizes: Vec<String> = c.model.sizes.iter().map(|s| s.to_string()).collect();
    let rows: Vec<(&str, String)> = vec![
        ("preset", c.preset.name().to_string()),
        (
            "network",
            format!(
                "{} (ReLU, softmax output), pre-activation (G + ε√S)/√fan-in, every layer spike-and-slab",
                sizes.join("-")
            ),
        ),
        (
            "initialization",
            format!(
                "m ~ N(0, {}/{}), Ξ ~ {}·U(0,1), π = {}",
                num(c.init.m_gain),
                if c.init.fan_in == 0 {
                    "fan-in".to_string()
                } else {
                    c.init.fan_in.to_string()
                },
                num(c.init.xi_scale),
                num(c.init.pi)
            ),
        ),
        (
            "optimizer",
            format!(
                "Adam(β₁ {}, β₂ {}, ε {}){}; lr m {}, π {}, Ξ {}; ×{} every {} epochs; decoupled decay {} on m, Ξ; clip {}",
                num(o.beta1),
                num(o.beta2),
                num(o.eps),
                if o.reset_each_epoch {
                    ", restarted every epoch"
                } else {
                    ""
                },
                num(o.lr_m),
                num(o.lr_pi),
                num(o.lr_xi),
                num(o.gamma),
                o.step_every,
                num(o.decay),
                num(o.clip)
            ),
        ),
        (
            "training",
            format!(
                "{} MNIST training images, batch {}, {} epochs{}",
                if c.train.train_limit == 0 {
                    "all 60,000".to_string()
                } else {
                    format!("the first {}", c.train.train_limit)
                },
                c.train.batch,
                c.train.epochs,
                if c.train.shuffle { ", shuffled" } else { "" }
            ),
        ),
        (
            "evaluation",
            format!(
                "{} test images; mean-field (fresh ε), mean network (w = μ), {} sampled networks",
                if c.eval.test_limit == 0 {
                    "all 10,000".to_string()
                } else {
                    c.eval.test_limit.to_string()
                },
                c.eval.sampled
            ),
        ),
        (
            "seeds",
            runs.iter()
                .map(|r| r.cfg.seed.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    h.push_str("<h3>Settings</h3>\n<table>\n");
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    h.push_str("</table>\n");

    let n = runs.len();
    if runs.iter().any(|r| r.summary.is_some()) {
        h.push_str("<h3>Test accuracy per evaluation mode</h3>\n<table id=\"ff-accuracy\">\n");
        h.push_str("<tr><th>mode</th><th>accuracy</th></tr>\n");
        for m in crate::analysis::ff::accuracy::MODES {
            let v: Vec<f64> = runs.iter().filter_map(|r| r.final_accuracy(m)).collect();
            if !v.is_empty() {
                let _ = writeln!(
                    h,
                    "<tr><th>{}</th><td class=\"num\">{}</td></tr>",
                    esc(m.name()),
                    esc(&pct(crate::analysis::ff::mean_std(&v), v.len()))
                );
            }
        }
        h.push_str("</table>\n");
    }
    h.push_str(
        "<h3>Weight classes per layer</h3>\n<p>VIP: π = 0 and Ξ = 0 exactly (a deterministic, \
         always-present connection); UIP: π = 1 exactly (always absent); variable: the rest.</p>\n\
         <table id=\"ff-classes\">\n<tr><th>layer</th><th>connections</th><th>VIP</th><th>UIP</th>\
         <th>variable</th></tr>\n",
    );
    for s in class_stats(runs) {
        let _ = writeln!(
            h,
            "<tr><th>{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&s.layer),
            s.connections,
            esc(&pct(s.vip, n)),
            esc(&pct(s.uip, n)),
            esc(&pct(s.variable, n))
        );
    }
    h.push_str("</table>\n");
    if let Some(p) = perturb {
        h.push_str(&removal_table(p));
    }
    let cfg_file = r.dir.join(files::CONFIG);
    let _ = writeln!(
        h,
        "<p class=\"links\">Full configuration: <a href=\"{}\">{}</a></p>",
        href(&rel_path(page_dir, &cfg_file)),
        esc(&cfg_file.display().to_string())
    );
    h.push_str("</section>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_configs_are_smaller_and_valid() {
        for t in TARGETS {
            let full = config(t, false).unwrap();
            let quick = config(t, true).unwrap();
            assert!(quick.train.epochs * 5 <= full.train.epochs, "{t}");
            // The same number of learning-rate halvings, compressed.
            assert_eq!(
                quick.train.epochs / quick.optim.step_every,
                full.train.epochs / full.optim.step_every,
                "{t}"
            );
        }
        assert!(config(Target::Msi, true).is_err());
    }
}
