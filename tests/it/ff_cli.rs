//! End-to-end through the binary on a tiny feed-forward MNIST run (seconds): `sasnet train
//! ff-mnist` (two seeds, resume), `sasnet eval`, `sasnet analyze` (one analysis and `ff` for
//! all), `sasnet report` — whose page must list the three weight classes per layer — and a
//! headless-browser check that every image of the page loads. Needs the MNIST files
//! (`SASNET_DATA`, else `../shared/data/mnist`); skipped, visibly, when they are absent.

use crate::common::browser::{attr, chromium, dump_dom};
use crate::common::mnist_dir;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sasnet-test-ffcli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sasnet(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sasnet"))
        .args(args)
        .env("SASNET_DATA", data)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// A tiny configuration: 784-16-10 (initialized with each layer's fan-in) on 1,000 training
/// and 500 test images.
const TINY: [&str; 10] = [
    "--set",
    "init.fan_in=0",
    "--set",
    "train.train_limit=1000",
    "--set",
    "eval.test_limit=500",
    "--set",
    "model.sizes=[784, 16, 10]",
    "--set",
    "eval.sampled=2",
];

#[test]
fn train_eval_analyze_report_a_tiny_ff_run() {
    let Some(data) = mnist_dir() else {
        eprintln!("skipping: no MNIST data (set SASNET_DATA)");
        return;
    };
    let root = tmp("e2e");
    let base = root.join("runs");
    let base_s = base.to_str().unwrap();

    // Two seeds, one directory each, JSON summaries.
    let mut args = vec![
        "train", "ff-mnist", "--out", base_s, "--epochs", "2", "--seeds", "2", "--json",
    ];
    args.extend(TINY);
    let v: serde_json::Value = serde_json::from_str(&ok(&sasnet(&data, &args))).unwrap();
    let runs = v.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let (s1, s2) = (base.join("seed-1"), base.join("seed-2"));
    for (r, d) in runs.iter().zip([&s1, &s2]) {
        assert_eq!(r["run_dir"], d.to_str().unwrap());
        assert_eq!(r["epochs"], 2);
        let modes: Vec<&str> = r["eval"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["mode"].as_str().unwrap())
            .collect();
        assert_eq!(modes, ["mean-field", "mean", "sampled"]);
        assert!(r["eval"][0]["accuracy"].as_f64().unwrap() > 0.3, "{r}");
        assert_eq!(r["classes"].as_array().unwrap().len(), 2);
    }
    let mean_acc = runs[0]["eval"][1]["accuracy"].as_f64().unwrap();

    // Resume the first seed for one more epoch; a fresh run refuses the occupied directory.
    let s1s = s1.to_str().unwrap();
    let mut args = vec![
        "train", "ff-mnist", "--out", s1s, "--epochs", "3", "--resume", "-q",
    ];
    args.extend(TINY);
    ok(&sasnet(&data, &args));
    let metrics = std::fs::read_to_string(s1.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 4, "{metrics}");
    let mut args = vec!["train", "ff-mnist", "--out", s1s, "--epochs", "3"];
    args.extend(TINY);
    let o = sasnet(&data, &args);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already holds a run"));

    // Evaluation modes of a feed-forward run; the mean network is deterministic, so it equals
    // the training summary's of seed 2 (seed 1 trained on).
    let s2s = s2.to_str().unwrap();
    let e: serde_json::Value =
        serde_json::from_str(&ok(&sasnet(&data, &["eval", s2s, "--mode", "mean", "--json"]))).unwrap();
    assert_eq!(e["mode"], "mean");
    assert_eq!(e["examples"], 500);
    assert_eq!(
        e["accuracy"].as_f64().unwrap(),
        runs[1]["eval"][1]["accuracy"].as_f64().unwrap()
    );
    let _ = mean_acc;
    let text = ok(&sasnet(
        &data,
        &["eval", s2s, "--mode", "sampled", "--samples", "3"],
    ));
    assert!(
        text.contains("over 3 sampled networks of 500 test images"),
        "{text}"
    );
    let o = sasnet(&data, &["eval", s2s, "--mode", "nope"]);
    assert_eq!(o.status.code(), Some(1));

    // One analysis over both seeds; then all of them.
    let an = root.join("an");
    let an_s = an.to_str().unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(&sasnet(
        &data,
        &["analyze", "classes", s1s, s2s, "--out", an_s, "--json"],
    )))
    .unwrap();
    assert_eq!(v["name"], "classes");
    assert_eq!(v["summary"]["seeds"], 2);
    for l in ["l0", "l1"] {
        let c = &v["summary"]["layers"][l];
        let sum: f64 = ["vip", "uip", "variable"]
            .iter()
            .map(|k| c[k]["mean"].as_f64().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-9, "{c}");
    }
    for f in v["files"].as_array().unwrap() {
        assert!(Path::new(f.as_str().unwrap()).is_file(), "{f}");
    }
    let v: serde_json::Value = serde_json::from_str(&ok(&sasnet(
        &data,
        &["analyze", "ff", s1s, s2s, "--out", an_s, "--quick", "--json"],
    )))
    .unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["accuracy", "classes", "perturb", "entropy", "weights"]);
    let o = sasnet(&data, &["analyze", "psychometric", s1s]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("feed-forward"));

    // The report page: the classes table lists VIP, UIP and variable for every layer.
    let page = root.join("rep").join("report.html");
    let o = sasnet(
        &data,
        &["report", s1s, s2s, "--quick", "--out", page.to_str().unwrap()],
    );
    let stdout = ok(&o);
    assert_eq!(stdout.trim(), page.to_str().unwrap());
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("failed"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    let i = html
        .find("<table id=\"ff-classes\">")
        .expect("no weight-class table");
    let table = &html[i..i + html[i..].find("</table>").unwrap()];
    assert!(
        table.contains("<th>VIP</th><th>UIP</th><th>variable</th>"),
        "{table}"
    );
    for l in ["l0", "l1"] {
        let row = table
            .lines()
            .find(|r| r.starts_with(&format!("<tr><th>{l}</th>")))
            .unwrap_or_else(|| panic!("no row for {l}: {table}"));
        assert_eq!(row.matches(" %").count(), 6, "{row}"); // mean ± std of 3 classes
    }
    for section in ["a-accuracy", "a-classes", "a-perturb", "a-entropy", "a-weights"] {
        assert!(html.contains(&format!("id=\"{section}\"")), "{section} missing");
    }
    let imgs = html.matches("<img ").count();
    assert!(imgs >= 10, "only {imgs} images");
    assert_eq!(
        html.matches("src=\"data:image/png;base64,iVBORw0KGgo").count(),
        imgs
    );
    assert!(!html.contains("src=\"http") && !html.contains("<link "));
    match chromium() {
        None => eprintln!("skipping browser check: chromium not installed"),
        Some(chrome) => {
            let dom = dump_dom(&chrome, &page, &root.join("profile"));
            let ok = attr(&dom, "data-images-ok").expect("the page's load script did not run");
            assert_eq!(attr(&dom, "data-images-total").unwrap(), imgs.to_string());
            assert_eq!(ok, imgs.to_string(), "only {ok} of {imgs} images loaded");
        }
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn ff_command_line_errors_are_clear() {
    let root = tmp("errors");
    let out = root.join("r");
    let out_s = out.to_str().unwrap();
    // No data directory: a clear error before any work.
    let o = Command::new(env!("CARGO_BIN_EXE_sasnet"))
        .args(["train", "ff-mnist", "--out", out_s])
        .env_remove("SASNET_DATA")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--data"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A bad key names itself.
    let o = Command::new(env!("CARGO_BIN_EXE_sasnet"))
        .args(["train", "ff-mnist", "--out", out_s, "--set", "optim.nope=1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("optim.nope"));
    assert!(!out.join("checkpoint.safetensors").exists());
    let o = Command::new(env!("CARGO_BIN_EXE_sasnet"))
        .args(["reproduce", "ff-nope", "--quick", "--out", out_s])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ff-mnist"));
    // Bad analysis settings stop a reproduction before it trains or writes anything.
    for (target, flag, needle) in [
        ("ff-mnist", "--vip-pi-max=2", "vip-pi-max"),
        ("msi", "--vip-xi-max=-1", "vip-xi-max"),
    ] {
        let dir = root.join(format!("bad-{target}"));
        let o = Command::new(env!("CARGO_BIN_EXE_sasnet"))
            .args([
                "reproduce",
                target,
                "--quick",
                flag,
                "--out",
                dir.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{target}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{target}: {err}");
        assert!(!dir.exists(), "{target}: wrote {}", dir.display());
    }
    std::fs::remove_dir_all(&root).unwrap();
}
