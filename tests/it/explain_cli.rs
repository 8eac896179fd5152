//! The mechanistic analyses through the binary (issue 5): `analyze pca`, `synaptic-pca`,
//! `retrain`, `ntk-change` on a tiny MSI run with history, `analyze theory` without a run, and
//! `reproduce theory --quick`. Small sizes: seconds each.

use crate::common::{sasnet, tiny_msi_run};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sasnet-test-explain-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn json_of(o: &std::process::Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn files(v: &serde_json::Value) -> Vec<String> {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn analyze_projections_retraining_and_kernel_change_on_a_tiny_run() {
    let root = tmp("analyze");
    let run = root.join("run");
    tiny_msi_run(&run, true);
    let run_s = run.to_str().unwrap();
    let out = root.join("out");
    let out_s = out.to_str().unwrap();

    let v = json_of(&sasnet(&[
        "analyze", "pca", run_s, "--quick", "--json", "--out", out_s,
    ]));
    assert_eq!(v["name"], "pca");
    let k80 = v["summary"]["k80"]["mean"].as_f64().unwrap();
    let k85 = v["summary"]["k85"]["mean"].as_f64().unwrap();
    assert!((1.0..=12.0).contains(&k80) && k85 >= k80, "{k80} {k85}");
    let f = files(&v);
    for want in [
        "spectrum.csv",
        "trajectories.csv",
        "spectrum.png",
        "trajectories_time_pc12.svg",
    ] {
        assert!(f.iter().any(|p| p.ends_with(want)), "{want} missing from {f:?}");
    }
    for p in &f {
        assert!(Path::new(p).is_file(), "{p}");
    }

    let v = json_of(&sasnet(&[
        "analyze",
        "synaptic-pca",
        run_s,
        "--json",
        "--out",
        out_s,
    ]));
    assert_eq!(v["summary"]["history"], true);
    assert_eq!(v["summary"]["epochs"], serde_json::json!([6]));
    let pc1 = v["summary"]["joint"]["pc1_fraction"]["mean"].as_f64().unwrap();
    assert!(pc1 > 0.2 && pc1 <= 1.0, "{pc1}");
    assert!(files(&v).iter().any(|p| p.ends_with("trajectory_pc12.png")));

    let v = json_of(&sasnet(&[
        "analyze",
        "ntk-change",
        run_s,
        "--quick",
        "--json",
        "--out",
        out_s,
    ]));
    assert!(v["summary"]["final_change"]["geo_mean"].as_f64().unwrap() > 0.0);

    let v = json_of(&sasnet(&[
        "analyze", "retrain", run_s, "--quick", "--json", "--out", out_s,
    ]));
    for name in ["reference", "xi0", "pi0", "bptt"] {
        let a = v["summary"][name]["accuracy_mean_field"]["mean"]
            .as_f64()
            .unwrap();
        assert!((0.0..=1.0).contains(&a), "{name}: {a}");
    }
    assert!(out.join("retrain/bptt/seed-1/checkpoint.safetensors").is_file());

    // No run directory: a clear error (not clap's), exit code 1.
    let o = sasnet(&["analyze", "pca"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs at least one run directory"));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn theory_runs_without_a_run_directory() {
    let root = tmp("theory");
    let out = root.join("a");
    let v = json_of(&sasnet(&[
        "analyze",
        "theory",
        "--quick",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert_eq!(v["name"], "theory");
    assert_eq!(v["summary"]["quick"], true);
    assert!(
        v["summary"]["mnist"]["skipped"].is_string(),
        "no MNIST directory given"
    );
    let f = files(&v);
    assert!(f.iter().any(|p| p.ends_with("theta_convergence.png")), "{f:?}");
    assert!(out.join("theory/convergence.csv").is_file());
    // With a run directory: refused.
    let o = sasnet(&["analyze", "theory", root.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs no run directory"));

    let r = root.join("r");
    let o = sasnet(&["reproduce", "theory", "--quick", "--out", r.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(r.join("report.html")).unwrap();
    assert!(html.contains("sasnet report: infinite-width theory"));
    assert!(html.contains("id=\"a-theory\""));
    assert!(html.contains("id=\"claims\""), "closing note");
    assert!(html.matches("src=\"data:image/png;base64,").count() >= 5);
    std::fs::remove_dir_all(&root).unwrap();
}
