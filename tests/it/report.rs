//! End-to-end: a tiny MSI run, `sasnet analyze` and `sasnet report` through the binary, and a
//! headless-browser check that every image of the report page loads (skipped, visibly, when
//! Chromium is not installed).

use crate::common::browser::{attr, chromium, dump_dom};
use crate::common::{sasnet, tiny_msi_run};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sasnet-test-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn report_of_a_tiny_msi_run_embeds_all_figures_and_loads_in_a_browser() {
    let root = tmp("e2e");
    let run = root.join("run");
    tiny_msi_run(&run, false);
    let run_s = run.to_str().unwrap();

    // One analysis, JSON output.
    let o = sasnet(&["analyze", "accuracy", run_s, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["name"], "accuracy");
    let files: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(files.iter().any(|f| f.ends_with(".svg")) && files.iter().any(|f| f.ends_with(".png")));
    for f in &files {
        assert!(Path::new(f).is_file(), "{f}");
    }
    assert!(run.join("analysis/accuracy").is_dir());

    // Unknown analysis: a clear error and exit code 1.
    let o = sasnet(&["analyze", "nope", run_s]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown analysis `nope`"));

    // The report.
    let page = root.join("out").join("report.html");
    let o = sasnet(&["report", run_s, "--quick", "--out", page.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), page.to_str().unwrap());
    let html = std::fs::read_to_string(&page).unwrap();
    let imgs = count(&html, "<img ");
    assert!(imgs >= 5, "only {imgs} images");
    assert_eq!(count(&html, "src=\"data:image/png;base64,iVBORw0KGgo"), imgs);
    assert!(
        !html.contains("src=\"http") && !html.contains("<link "),
        "external resource"
    );
    for section in ["a-accuracy", "a-sparsity", "a-psychometric", "a-weights"] {
        assert!(html.contains(&format!("id=\"{section}\"")), "{section} missing");
    }
    assert!(html.contains("href=\"analysis/accuracy/"), "relative data links");
    assert!(page.parent().unwrap().join("analysis/accuracy").is_dir());
    if html.contains("id=\"failed\"") {
        eprintln!("note: some analyses failed: {stderr}");
    }

    // The browser check: every image decodes.
    match chromium() {
        None => eprintln!("skipping browser check: chromium not installed"),
        Some(chrome) => {
            let dom = dump_dom(&chrome, &page, &root.join("profile"));
            let ok = attr(&dom, "data-images-ok").expect("the page's load script did not run");
            let total = attr(&dom, "data-images-total").unwrap();
            assert_eq!(total, imgs.to_string());
            assert_eq!(ok, total, "only {ok} of {total} images loaded");
            eprintln!("browser check: {ok} of {total} images loaded");
        }
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn report_rejects_runs_of_different_configurations() {
    let root = tmp("mixed");
    let a = root.join("a");
    tiny_msi_run(&a, false);
    // Same run, edited configuration: not a seed of the same configuration any more.
    let b = root.join("b");
    std::fs::create_dir_all(&b).unwrap();
    for f in std::fs::read_dir(&a).unwrap().flatten() {
        if f.path().is_file() {
            std::fs::copy(f.path(), b.join(f.file_name())).unwrap();
        }
    }
    let cfg = std::fs::read_to_string(b.join("config.toml")).unwrap();
    let edited = cfg.replacen("\nsigma = 0.15", "\nsigma = 0.1", 1);
    assert_ne!(cfg, edited);
    std::fs::write(b.join("config.toml"), edited).unwrap();
    let o = sasnet(&["report", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("different configurations"), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn analysis_settings_thresholds_and_time_steps() {
    let root = tmp("settings");
    let run = root.join("run");
    tiny_msi_run(&run, false);
    let run_s = run.to_str().unwrap();
    let out = root.join("a");
    let out_s = out.to_str().unwrap();

    // The weight-class thresholds reach `classes` and `perturb` (one rule for both).
    let o = sasnet(&[
        "analyze",
        "classes",
        run_s,
        "--out",
        out_s,
        "--json",
        "--vip-pi-max",
        "0.3",
        "--vip-m-min",
        "0.01",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["thresholds"]["pi_max"], 0.3);
    assert_eq!(v["summary"]["thresholds"]["m_min"], 0.01);

    // A fast time step for an analysis that evaluates many times is applied and reported.
    let o = sasnet(&[
        "analyze",
        "perturb",
        run_s,
        "--out",
        out_s,
        "--json",
        "--quick",
        "--fast-dt",
        "40",
        "--vip-pi-max",
        "0.3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["msi_test_dt_ms"], 40.0);
    let caption = v["figures"][0]["caption"].as_str().unwrap();
    assert!(
        caption.contains("Δt = 40 ms") && caption.contains("π ≤ 0.3"),
        "{caption}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("perturb/summary.json")).unwrap()).unwrap();
    assert_eq!(json["msi_test_dt_ms"], 40.0);
    // ... but not to an analysis that evaluates once: it keeps the run's own Δt.
    let o = sasnet(&[
        "analyze",
        "psychometric",
        run_s,
        "--out",
        out_s,
        "--json",
        "--quick",
        "--fast-dt",
        "40",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["summary"].get("msi_test_dt_ms").is_none());

    // Invalid settings are errors that name the flag, and write nothing.
    for (flag, value, needle) in [
        ("--vip-pi-max", "1.5", "vip-pi-max"),
        ("--vip-xi-max", "nan", "not a finite number ≥ 0"),
        ("--uip-pi", "0.05", "uip-pi"),
        ("--fast-dt", "-1", "fast-dt"),
        ("--test-dt", "0", "test-dt"),
    ] {
        let bad = root.join("bad");
        let arg = format!("{flag}={value}");
        let o = sasnet(&["analyze", "perturb", run_s, "--out", bad.to_str().unwrap(), &arg]);
        assert_eq!(o.status.code(), Some(1), "{flag} {value}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{flag} {value}: {err}");
        assert!(!bad.exists(), "{flag} {value}: wrote {}", bad.display());
    }
    std::fs::remove_dir_all(&root).unwrap();
}
