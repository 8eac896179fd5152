//! Training end to end through the command line: determinism across thread counts, resume
//! after killing a real process, divergence, and clear errors (exit code 1, never a panic)
//! for invalid configurations and corrupt or foreign checkpoints.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sasnet")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sasnet-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A short MSI run: no evaluation except the final one, one trial per condition.
const QUICK: [&str; 6] = [
    "--set",
    "eval.every=0",
    "--set",
    "eval.during_trials_per_condition=1",
    "--set",
    "task.msi.test_dt_ms=5",
];

fn train(out: &Path, epochs: usize, extra: &[&str]) -> Output {
    Command::new(bin())
        .args(["train", "msi", "--quiet", "--out"])
        .arg(out)
        .args(["--epochs", &epochs.to_string()])
        .args(QUICK)
        .args(extra)
        .output()
        .unwrap()
}

/// The tensors of a checkpoint (parameters and optimizer state), without the metadata
/// (which records wall time).
fn tensors(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<(String, Vec<u8>)> = st
        .iter()
        .map(|(n, t)| (n.to_string(), t.data().to_vec()))
        .collect();
    v.sort();
    v
}

/// metrics.csv without the wall-time column.
fn metrics(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect()
}

#[test]
fn same_seed_same_result_for_any_thread_count() {
    let d = tmpdir("det");
    let a = d.join("a");
    let b = d.join("b");
    let o = train(&a, 8, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(bin())
        .args(["--threads", "1", "train", "msi", "--quiet", "--out"])
        .arg(&b)
        .args(["--epochs", "8"])
        .args(QUICK)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        tensors(&a.join("checkpoint.safetensors")),
        tensors(&b.join("checkpoint.safetensors"))
    );
    assert_eq!(metrics(&a), metrics(&b));
    // A different seed gives a different network.
    let c = d.join("c");
    assert!(train(&c, 8, &["--seed", "2"]).status.success());
    assert_ne!(
        tensors(&a.join("checkpoint.safetensors")),
        tensors(&c.join("checkpoint.safetensors"))
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn killed_run_resumes_to_the_uninterrupted_result() {
    let d = tmpdir("resume");
    let full = d.join("full");
    let cut = d.join("cut");
    let epochs = 150;
    let o = train(&full, epochs, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for kill_after in [3usize, 40] {
        let _ = std::fs::remove_dir_all(&cut);
        let mut child = Command::new(bin())
            .args(["train", "msi", "--quiet", "--out"])
            .arg(&cut)
            .args(["--epochs", &epochs.to_string()])
            .args(QUICK)
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        loop {
            let rows = std::fs::read_to_string(cut.join("metrics.csv"))
                .map(|t| t.lines().count())
                .unwrap_or(0);
            if rows > kill_after || t0.elapsed() > Duration::from_secs(120) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL: no chance to clean up
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "the run finished before it could be killed; make it longer"
        );
        let o = train(&cut, epochs, &["--resume"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            tensors(&full.join("checkpoint.safetensors")),
            tensors(&cut.join("checkpoint.safetensors")),
            "resumed (killed after {kill_after} epochs) differs from uninterrupted"
        );
        assert_eq!(metrics(&full), metrics(&cut));
    }
    // Starting again in a directory that holds a run is refused.
    let o = train(&full, epochs, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--resume"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn divergence_stops_with_a_message_and_keeps_the_last_good_checkpoint() {
    let d = tmpdir("nan");
    let out = d.join("run");
    let o = train(
        &out,
        50,
        &[
            "--set",
            "optim.rec.m.lr=1e30",
            "--set",
            "optim.out.m.lr=1e30",
            "--set",
            "optim.kind=\"adam\"",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("diverged"), "{err}");
    assert!(err.contains("last good checkpoint"), "{err}");
    // Whatever was saved is finite and loadable.
    let ck = out.join("checkpoint.safetensors");
    if ck.exists() {
        let bytes = std::fs::read(&ck).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for (name, t) in st.iter() {
            if format!("{:?}", t.dtype()) == "F32" {
                let ok = t
                    .data()
                    .chunks_exact(4)
                    .all(|c| f32::from_le_bytes(c.try_into().unwrap()).is_finite());
                assert!(ok, "{name} holds non-finite values");
            }
        }
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn invalid_configurations_name_the_key() {
    let d = tmpdir("cfg");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--set".into(), "model.alpha=2".into()], "model.alpha"),
        (vec!["--set".into(), "train.epoch=3".into()], "train.epoch"),
        (
            vec!["--set".into(), "optim.rec.pi.lr=-1".into()],
            "optim.rec.pi.lr",
        ),
        (vec!["--set".into(), "optim.kind=sgd".into()], "optim.kind"),
        (vec!["--set".into(), "init.rec.pi=1.5".into()], "init.rec.pi"),
        (vec!["--set".into(), "train.batch=7".into()], "train.batch"),
    ];
    for (args, key) in cases {
        let o = Command::new(bin())
            .args(["train", "msi", "--out"])
            .arg(d.join("x"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(key), "{args:?}: expected `{key}` in {err}");
        assert!(
            !d.join("x").exists(),
            "{args:?}: a run directory was created for an invalid config"
        );
    }
    let f = d.join("bad.toml");
    std::fs::write(&f, "[train\nepochs = 3").unwrap();
    let o = Command::new(bin())
        .args(["train", "msi", "--config"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.toml"));
    let o = Command::new(bin())
        .args(["train", "no-such-preset"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown preset"));
    let o = Command::new(bin())
        .args(["train", "row-mnist", "--data"])
        .arg(d.join("missing"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn corrupt_or_foreign_checkpoints_are_clear_errors() {
    let d = tmpdir("ckpt");
    let run = d.join("run");
    assert!(train(&run, 2, &[]).status.success());
    let ck = run.join("checkpoint.safetensors");
    let good = std::fs::read(&ck).unwrap();
    let eval = |expect: &str| {
        let o = Command::new(bin())
            .args(["eval"])
            .arg(&run)
            .args(["--trials", "1"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{expect}: {err}");
        assert!(err.contains(expect), "expected `{expect}` in {err}");
    };
    std::fs::write(&ck, &good[..good.len() / 2]).unwrap();
    eval("not a valid safetensors");
    std::fs::write(&ck, b"garbage").unwrap();
    eval("not a valid safetensors");
    // A foreign safetensors file: valid format, but not a sasnet checkpoint.
    let mut foreign = Vec::new();
    let header = br#"{"weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    foreign.extend_from_slice(&(header.len() as u64).to_le_bytes());
    foreign.extend_from_slice(header);
    foreign.extend_from_slice(&1f32.to_le_bytes());
    std::fs::write(&ck, &foreign).unwrap();
    eval("not a sasnet checkpoint");
    std::fs::write(&ck, &good).unwrap();
    let o = Command::new(bin())
        .args(["eval"])
        .arg(&run)
        .args(["--trials", "1", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["task"], "msi");
    assert_eq!(v["mode"], "mean-field");
    let acc = v["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn resuming_an_early_stopped_run_trains_nothing_more() {
    let d = tmpdir("early-stop");
    let run = d.join("run");
    // Stop as soon as the loss is below a generous threshold after 2 epochs.
    let stop = ["--set", "train.stop_loss=1e9", "--set", "train.stop_after=2"];
    let o = train(&run, 20, &stop);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = metrics(&run);
    assert_eq!(before.len(), 1 + 2, "stopped after epoch 2: {before:?}");
    let ckpt = tensors(&run.join("checkpoint.safetensors"));
    let mut args = stop.to_vec();
    args.extend(["--resume", "--json"]);
    let o = train(&run, 20, &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["epochs"], 2);
    assert_eq!(v[0]["stopped_early"], true);
    assert!(v[0]["train_loss"].as_f64().unwrap().is_finite());
    assert_eq!(metrics(&run), before);
    assert_eq!(tensors(&run.join("checkpoint.safetensors")), ckpt);
    std::fs::remove_dir_all(&d).unwrap();
}
