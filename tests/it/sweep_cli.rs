//! Sweeps through the command line: a 2-point MSI sweep run here (resumable: a second call
//! trains nothing), its status and collected table, the example file, and the scripts of
//! the print backend.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sasnet")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sasnet-sweep-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sasnet(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A tiny MSI sweep: 2 points × 2 seeds of 2 epochs.
pub const TINY: &str = r#"
preset = "msi"
seeds = 2
epochs = 2
set = ["eval.every=0", "eval.during_trials_per_condition=1", "task.msi.test_dt_ms=10",
       "train.minibatches=2"]
[grid]
"model.n" = [8, 12]
"#;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn local_sweep_runs_resumes_and_collects() {
    let d = tmpdir("local");
    let file = d.join("s.toml");
    std::fs::write(&file, TINY).unwrap();
    let out = d.join("out");
    let (f, o) = (file.to_str().unwrap(), out.to_str().unwrap());
    let r = sasnet(&["--threads", "1", "sweep", f, "--out", o]);
    assert!(r.status.success(), "{}", text(&r));
    for dir in [
        "p000-n=8/seed-1",
        "p000-n=8/seed-2",
        "p001-n=12/seed-1",
        "p001-n=12/seed-2",
    ] {
        assert!(out.join(dir).join("checkpoint.safetensors").is_file(), "{dir}");
    }
    assert!(out.join("manifest.json").is_file() && out.join("sweep.toml").is_file());
    let res = json(&out.join("collect/results.json"));
    assert_eq!(res["complete"], true);
    let p = &res["points"][1];
    assert_eq!(p["name"], "p001-n=12");
    assert_eq!(p["test_acc_mean_field"]["n"], 2);
    let vals: Vec<f64> = p["test_acc_mean_field"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let mean = (vals[0] + vals[1]) / 2.0;
    assert!((p["test_acc_mean_field"]["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    for f in ["rows.csv", "points.csv", "results.html"] {
        assert!(out.join("collect").join(f).is_file(), "{f}");
    }
    // Each run equals `sasnet train` of the same configuration.
    let single = d.join("single");
    let r = sasnet(&[
        "--threads",
        "1",
        "train",
        "msi",
        "--quiet",
        "--seed",
        "2",
        "--epochs",
        "2",
        "--set",
        "eval.every=0",
        "--set",
        "eval.during_trials_per_condition=1",
        "--set",
        "task.msi.test_dt_ms=10",
        "--set",
        "train.minibatches=2",
        "--set",
        "model.n=12",
        "--out",
        single.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", text(&r));
    let metrics = |p: &Path| {
        let t = std::fs::read_to_string(p.join("metrics.csv")).unwrap();
        // Without the wall time (last column).
        t.lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(metrics(&single), metrics(&out.join("p001-n=12/seed-2")));

    // Again: nothing is trained, the table is the same.
    let before = std::fs::read_to_string(out.join("p000-n=8/seed-1/metrics.csv")).unwrap();
    let r = sasnet(&["sweep", f, "--out", o]);
    assert!(r.status.success(), "{}", text(&r));
    assert!(text(&r).matches("already finished").count() == 4, "{}", text(&r));
    assert_eq!(
        before,
        std::fs::read_to_string(out.join("p000-n=8/seed-1/metrics.csv")).unwrap()
    );
    assert_eq!(json(&out.join("collect/results.json"))["points"], res["points"]);
    let st = sasnet(&["sweep", "status", o, "--json"]);
    assert!(st.status.success(), "{}", text(&st));
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(st.as_array().unwrap().len(), 4);
    assert!(
        st.as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "finished" && r["epoch"] == 2)
    );

    // Another sweep into the same folder is refused; a missing row is a clear error.
    std::fs::write(&file, TINY.replace("seeds = 2", "seeds = 3")).unwrap();
    let r = sasnet(&["sweep", f, "--out", o]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r));
    assert!(text(&r).contains("another sweep"), "{}", text(&r));
    let r = sasnet(&["sweep", "row", o, "--row", "9"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r).contains("out of range"), "{}", text(&r));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn unfinished_rows_collect_with_exit_3_and_print_writes_the_scripts() {
    let d = tmpdir("print");
    let file = d.join("s.toml");
    std::fs::write(&file, TINY).unwrap();
    let out = d.join("out");
    let (f, o) = (file.to_str().unwrap(), out.to_str().unwrap());
    let r = sasnet(&[
        "sweep",
        f,
        "--out",
        o,
        "--backend",
        "print",
        "--partition",
        "short",
        "--time",
        "0:10:00",
        "--cpus",
        "2",
        "--max-parallel",
        "3",
        "--setup",
        "module load x",
        "--sbatch=--qos=low",
    ]);
    assert!(r.status.success(), "{}", text(&r));
    let script = std::fs::read_to_string(out.join("sweep.sbatch")).unwrap();
    for want in [
        "--array=0-3%3",
        "--partition=short",
        "--time=0:10:00",
        "--cpus-per-task=2",
        "--qos=low",
        "module load x",
        "--requeue",
        "--signal=B:USR1@60",
        "--open-mode=append",
        "sweep row",
    ] {
        assert!(script.contains(want), "{want}\n{script}");
    }
    let after = std::fs::read_to_string(out.join("after.sbatch")).unwrap();
    assert!(after.contains("sweep collect"), "{after}");
    assert!(text(&r).contains("--dependency=afterany"), "{}", text(&r));
    // Nothing ran: collect writes the table of no finished run and says so.
    let r = sasnet(&["sweep", "collect", o]);
    assert_eq!(r.status.code(), Some(3), "{}", text(&r));
    // One row by hand (what an array task runs), then status.
    let r = sasnet(&["--threads", "1", "sweep", "row", o, "--row", "2"]);
    assert!(r.status.success(), "{}", text(&r));
    let st = sasnet(&["sweep", "status", o]);
    let t = text(&st);
    assert!(t.contains("finished 1") && t.contains("not started 3"), "{t}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn the_example_sweep_file_expands() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let s = sasnet::api::Sweep::from_file(&root.join("examples/sweep-msi.toml")).unwrap();
    let m = s.manifest(None).unwrap();
    assert_eq!((m.points.len(), m.rows.len()), (4, 12));
    assert_eq!(m.points[3].name, "p003-n=100,lr=0.003");
}
