//! The reference feed-forward run (ignored by default; minutes of work):
//!
//! ```text
//! SASNET_FF_OUT=runs/ff-mnist SASNET_FF_PRESET=ff-mnist SASNET_FF_EPOCHS=100 \
//!   cargo test --release --test ff_reference -- --ignored --nocapture
//! ```
//!
//! trains the preset on MNIST (`SASNET_DATA` or `../shared/data/mnist`), runs the
//! feed-forward analyses into `<out>/analysis/ff` and prints the summary. Optional:
//! `SASNET_FF_SET="key=value;key=value"` (config overrides), `SASNET_FF_QUICK=1` (quick
//! analyses), `SASNET_FF_SKIP_ANALYSIS=1`, `SASNET_FF_ANALYZE_ONLY=1` (analyses of an existing
//! run).

use sasnet::ff::{FfConfig, FfData, FfMode};
use std::path::{Path, PathBuf};

#[test]
#[ignore = "trains the reference network (minutes); run with --ignored"]
fn train_reference_ff_mnist() {
    let data_dir = std::env::var_os("SASNET_DATA")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist"));
    if !data_dir.is_dir() {
        eprintln!("skipping: no MNIST data (set SASNET_DATA)");
        return;
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let preset = env("SASNET_FF_PRESET").unwrap_or_else(|| "ff-mnist".into());
    let out = PathBuf::from(env("SASNET_FF_OUT").unwrap_or_else(|| format!("runs/{preset}")));
    let mut cfg = FfConfig::preset(&preset).unwrap();
    if let Some(e) = env("SASNET_FF_EPOCHS") {
        cfg.train.epochs = e.parse().expect("SASNET_FF_EPOCHS is a number");
    }
    for s in env("SASNET_FF_SET").iter().flat_map(|s| s.split(';')) {
        cfg.set(s).unwrap();
    }
    let data = sasnet::task::mnist::Mnist::load(&data_dir).unwrap();
    if env("SASNET_FF_ANALYZE_ONLY").is_none() {
        let t0 = std::time::Instant::now();
        let sum = sasnet::ff::train(&cfg, &data, &out, true).unwrap();
        eprintln!("trained in {:.1} s", t0.elapsed().as_secs_f64());
        for r in &sum.eval {
            eprintln!(
                "{:>10}: accuracy {:.4} ± {:.4} (loss {:.4})",
                r.mode, r.accuracy, r.accuracy_std, r.loss
            );
        }
        for c in &sum.classes {
            eprintln!(
                "{}: VIP {:.4}  UIP {:.4}  variable {:.4}  ({} connections)",
                c.layer, c.vip_frac, c.uip_frac, c.variable_frac, c.total
            );
        }
        assert!(sum.accuracy(FfMode::MeanField).is_some());
    }
    if env("SASNET_FF_SKIP_ANALYSIS").is_some() {
        return;
    }
    let test = FfData::mnist_test(&data, cfg.eval.test_limit).unwrap();
    let t1 = std::time::Instant::now();
    let opts = sasnet::analysis::AnalysisOptions {
        quick: env("SASNET_FF_QUICK").is_some(),
        seed: 1,
        ..Default::default()
    };
    let res = sasnet::ff::analysis::run(&out, &test, &out.join("analysis/ff"), &opts).unwrap();
    eprintln!("analyses in {:.1} s", t1.elapsed().as_secs_f64());
    eprintln!(
        "{}",
        serde_json::to_string_pretty(&res.summary["entropy"]).unwrap()
    );
    let text = std::fs::read_to_string(out.join("analysis/ff/perturb.csv")).unwrap();
    eprintln!("perturb.csv (layer -1 = all; class 0 vip, 1 uip, 2 random):\n{text}");
}
