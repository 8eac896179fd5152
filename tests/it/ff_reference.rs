//! The reference feed-forward reproduction (ignored by default; minutes of work):
//!
//! ```text
//! SASNET_FF_OUT=/tmp/ff-mnist cargo test --release --test it ff_reference -- --ignored --nocapture
//! ```
//!
//! runs `reproduce ff-mnist` (one seed; `SASNET_FF_TARGET=ff-mnist-full` for the 60,000-image
//! preset, `SASNET_FF_QUICK=1` for the quick variant) on MNIST (`SASNET_DATA` or
//! `../shared/data/mnist`) into `SASNET_FF_OUT` (seed directories there resume), prints the
//! key numbers and checks the issue's targets on the full variants: mean-field test accuracy
//! ≥ 96 % (`ff-mnist`) or ≥ 98 % (`ff-mnist-full`), the three weight classes present, and
//! (`ff-mnist`) removing every VIP weight costs far more accuracy than removing as many random
//! weights, removing the near-VIP set collapses it (below 60 %) while as many random weights
//! do not (above 90 %), and reconnecting the UIP weights costs almost nothing.

use sasnet::pipeline::reproduce::ReproduceOptions;
use std::path::{Path, PathBuf};

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
#[ignore = "trains the reference network (minutes); run with --ignored"]
fn reproduce_reference_ff_mnist() {
    let data_dir = std::env::var_os("SASNET_DATA")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist"));
    if !data_dir.is_dir() {
        eprintln!("skipping: no MNIST data (set SASNET_DATA)");
        return;
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let target = env("SASNET_FF_TARGET").unwrap_or_else(|| "ff-mnist".into());
    let quick = env("SASNET_FF_QUICK").is_some();
    let out = PathBuf::from(env("SASNET_FF_OUT").unwrap_or_else(|| format!("runs/reproduce-{target}")));
    let opts = ReproduceOptions {
        seeds: 1,
        quick,
        out: out.clone(),
        analysis: sasnet::analysis::AnalysisOptions {
            data_dir: Some(data_dir),
            seed: 12345,
            ..Default::default()
        },
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let s = sasnet::pipeline::reproduce::reproduce(target.parse().unwrap(), &opts, &mut |l: &str| {
        eprintln!("{l}")
    })
    .unwrap();
    eprintln!(
        "reproduced in {:.1} s -> {}",
        t0.elapsed().as_secs_f64(),
        s.report.display()
    );
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let acc = read_json(&out.join("analysis/accuracy/summary.json"));
    let classes = read_json(&out.join("analysis/classes/summary.json"));
    let perturb = read_json(&out.join("analysis/perturb/summary.json"));
    eprintln!("accuracy: {}", acc["final_eval"]);
    eprintln!("classes: {}", classes["layers"]);
    eprintln!("perturbation: {}", perturb["targets"]);
    if quick {
        return;
    }
    let mf = acc["final_eval"]["mean-field"]["mean"].as_f64().unwrap();
    let want = if target == "ff-mnist" { 0.96 } else { 0.98 };
    assert!(mf >= want, "mean-field test accuracy {mf} < {want}");
    for (l, c) in classes["layers"].as_object().unwrap() {
        for k in ["vip", "uip", "variable"] {
            assert!(c[k]["mean"].as_f64().unwrap() > 0.0, "{l}: no {k} connections");
        }
    }
    if target == "ff-mnist" {
        let all = &perturb["targets"]["all"];
        let get = |k: &str| all[k]["mean"].as_f64().unwrap();
        let base = perturb["baseline"]["mean"].as_f64().unwrap();
        assert!(
            base - get("vip_removed") > 5.0 * (base - get("random_removed")).max(0.01),
            "{all}"
        );
        assert!(base - get("uip_reconnected") < 0.01, "{all}");
        // The near-VIP set (π ≤ 1e-3, Ξ < 1e-3) carries the credit: removing it collapses
        // accuracy (37.7 % measured for seed 1), as many random connections do not.
        assert!(get("near_vip_removed") < 0.6, "{all}");
        assert!(get("near_random_removed") > 0.9, "{all}");
    }
}
