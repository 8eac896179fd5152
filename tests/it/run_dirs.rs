//! Run directories under what users and clusters do to them: two writers, kills at any
//! instant (strace fault injection), edited or damaged files, absurd sizes, requeued
//! multi-seed jobs, read-only folders, and outputs aimed at a run's own files. Each test
//! names the finding it covers.

use crate::common::mnist_dir;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sasnet")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sasnet-rundirs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small, fast MSI run: N = 12, one thread, no evaluation but the last.
const SMALL: [&str; 10] = [
    "--set",
    "model.n=12",
    "--set",
    "eval.every=0",
    "--set",
    "eval.during_trials_per_condition=1",
    "--set",
    "task.msi.test_dt_ms=20",
    "--set",
    "train.history=true",
];

fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(["--threads", "1"]).args(args).env_remove("SASNET_DATA");
    c
}

fn train_args(out: &Path, epochs: usize, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["train", "msi", "--quiet", "--out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.push(out.display().to_string());
    v.extend(["--epochs".to_string(), epochs.to_string()]);
    v.extend(SMALL.iter().map(|s| s.to_string()));
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn train(out: &Path, epochs: usize, extra: &[&str]) -> Output {
    let a = train_args(out, epochs, extra);
    cmd(&a.iter().map(String::as_str).collect::<Vec<_>>())
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts exit code 1 and that stderr holds every one of `needles`; returns stderr.
fn fails(o: &Output, needles: &[&str]) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    for n in needles {
        assert!(err.contains(n), "expected `{n}` in: {err}");
    }
    err
}

/// metrics.csv without the wall-time column.
fn metrics(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect()
}

/// A safetensors file's tensors and metadata (sorted), without the wall time.
type Contents = (Vec<(String, Vec<u8>)>, Vec<(String, String)>);

fn contents(path: &Path) -> Contents {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut m: Vec<(String, String)> = meta
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != "wall_s")
        .collect();
    m.sort();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut t: Vec<(String, Vec<u8>)> = st
        .iter()
        .map(|(n, v)| (n.to_string(), v.data().to_vec()))
        .collect();
    t.sort();
    (t, m)
}

/// Whether two contents are equal (compared without printing megabytes on failure).
fn same(a: &Contents, b: &Contents) -> bool {
    a == b
}

fn checkpoint(dir: &Path) -> Contents {
    contents(&dir.join("checkpoint.safetensors"))
}

/// The history files' names and contents.
fn history(dir: &Path) -> Vec<(String, Contents)> {
    let mut v: Vec<(String, Contents)> = std::fs::read_dir(dir.join("history"))
        .map(|rd| {
            rd.flatten()
                .map(|e| (e.file_name().to_string_lossy().into_owned(), contents(&e.path())))
                .collect()
        })
        .unwrap_or_default();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn names<T>(v: &[(String, T)]) -> Vec<&str> {
    v.iter().map(|(n, _)| n.as_str()).collect()
}

/// Whether two histories are equal (names and contents).
fn same_history(a: &[(String, Contents)], b: &[(String, Contents)]) -> bool {
    names(a) == names(b) && a.iter().zip(b).all(|(x, y)| same(&x.1, &y.1))
}

fn status(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("status.json")).unwrap()).unwrap()
}

/// Waits (at most 120 s) until `f` holds.
fn wait_for(mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(120) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn sigterm(pid: u32) {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
}

/// Finding 1: two `train` processes on one `--out` — the second fails naming the holder;
/// SIGTERM stops the first with exit 130 and `status.json` says `interrupted`.
#[test]
fn a_second_writer_is_refused_naming_the_holder() {
    let d = tmpdir("lock");
    let run = d.join("run");
    let a = train_args(&run, 100_000, &[]);
    let mut first = cmd(&a.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(|| status_state(&run).as_deref() == Some("running")));
    let o = train(&run, 5, &[]);
    fails(&o, &["in use by process", &first.id().to_string(), "host"]);
    let o = train(&run, 5, &["--resume"]);
    fails(&o, &["in use by process", &first.id().to_string()]);
    sigterm(first.id());
    let s = first.wait().unwrap();
    assert_eq!(s.code(), Some(130), "a stopped training exits 130");
    let st = status(&run);
    assert_eq!(st["state"], "interrupted");
    assert!(!run.join(".lock").exists(), "the lock is released");
    let epoch = st["epoch"].as_u64().unwrap() as usize;
    assert_eq!(
        metrics(&run).len(),
        1 + epoch,
        "metrics rows match the checkpoint"
    );
    assert_eq!(
        history(&run).len(),
        1 + epoch,
        "history files match the checkpoint"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

fn status_state(dir: &Path) -> Option<String> {
    let t = std::fs::read_to_string(dir.join("status.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&t).ok()?;
    v["state"].as_str().map(String::from)
}

/// Whether strace can trace and inject here (installed, ptrace allowed).
fn strace_works() -> bool {
    let ok = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "-e", "inject=getpid:retval=1", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipping: strace is not installed or may not trace here (apt-get install strace)");
    }
    ok
}

/// The number of calls of `syscalls` (comma-separated) in an uninterrupted run.
fn count_calls(args: &[String], syscalls: &str, log: &Path) -> usize {
    let mut c = Command::new("strace");
    c.args(["-f", "-qq", "-o"])
        .arg(log)
        .args(["-e", &format!("trace={syscalls}"), bin(), "--threads", "1"]);
    let o = c.args(args).env_remove("SASNET_DATA").output().unwrap();
    ok(&o);
    let text = std::fs::read_to_string(log).unwrap();
    text.lines()
        .filter(|l| !l.contains("resumed>") && syscalls.split(',').any(|s| l.contains(&format!("{s}("))))
        .count()
}

/// Finding 2 (the commit point): a 6-epoch run killed (SIGKILL, by strace fault injection)
/// at every rename, at every fsync and at every write, then resumed, equals the
/// uninterrupted run: metrics rows, history files and the checkpoint.
#[test]
fn a_kill_at_any_rename_fsync_or_write_loses_and_duplicates_nothing() {
    if !strace_works() {
        return;
    }
    let d = tmpdir("inject");
    let full = d.join("full");
    ok(&train(&full, 6, &[]));
    let cut = d.join("cut");
    let args = train_args(&cut, 6, &[]);
    let mut tried = 0;
    for syscall in ["rename", "fsync", "write"] {
        let _ = std::fs::remove_dir_all(&cut);
        let n = count_calls(&args, syscall, &d.join("count.log"));
        assert!(n >= 6, "{syscall}: only {n} calls in a 6-epoch run");
        for k in 1..=n {
            let _ = std::fs::remove_dir_all(&cut);
            let o = Command::new("strace")
                .args(["-f", "-qq", "-o", "/dev/null", "-e"])
                .arg(format!("inject={syscall}:signal=SIGKILL:when={k}"))
                .args([bin(), "--threads", "1"])
                .args(&args)
                .env_remove("SASNET_DATA")
                .output()
                .unwrap();
            assert!(!o.status.success(), "{syscall} #{k}: the run was not killed");
            ok(&train(&cut, 6, &["--resume"]));
            assert_eq!(metrics(&cut), metrics(&full), "{syscall} #{k}: metrics differ");
            let (hc, hf) = (history(&cut), history(&full));
            assert!(
                same_history(&hc, &hf),
                "{syscall} #{k}: history differs: {:?} vs {:?}",
                names(&hc),
                names(&hf)
            );
            assert!(
                same(&checkpoint(&cut), &checkpoint(&full)),
                "{syscall} #{k}: checkpoint differs"
            );
            assert!(!cut.join("metrics.csv.next").exists());
            assert_eq!(status(&cut)["state"], "finished");
            tried += 1;
        }
    }
    assert!(tried > 10);
    std::fs::remove_dir_all(&d).unwrap();
}

/// Findings 3 and 8: `--resume` drops rows beyond the checkpoint and a row cut mid-line
/// beyond it, deletes history files beyond it, and refuses (naming the file and the epoch) a
/// cut row of a committed epoch, a header-only or missing metrics file, and a history file
/// of another network.
#[test]
fn resume_repairs_what_it_can_and_refuses_the_rest_clearly() {
    let d = tmpdir("repair");
    let run = d.join("run");
    ok(&train(&run, 3, &[]));
    let good = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let rows = metrics(&run);
    let hist = history(&run);
    let last_row = good.lines().last().unwrap().to_string();
    // Rows beyond the checkpoint, one cut mid-line; a history file beyond it.
    let row4 = last_row.replacen("3,", "4,", 1);
    std::fs::write(run.join("metrics.csv"), format!("{good}{row4}\n5,0.1")).unwrap();
    std::fs::copy(
        run.join("history/epoch-00003.safetensors"),
        run.join("history/epoch-00004.safetensors"),
    )
    .unwrap();
    let o = train(&run, 3, &["--resume"]);
    ok(&o);
    assert_eq!(metrics(&run), rows);
    assert!(same_history(&history(&run), &hist), "{:?}", names(&history(&run)));
    assert!(status(&run)["repairs"].as_array().unwrap().len() >= 2);
    // A cut row of a committed epoch cannot be recomputed.
    let cut = &good[..good.len() - last_row.len() / 2];
    std::fs::write(run.join("metrics.csv"), cut).unwrap();
    fails(&train(&run, 4, &["--resume"]), &["metrics.csv", "epoch 3"]);
    // Header only.
    std::fs::write(
        run.join("metrics.csv"),
        format!("{}\n", good.lines().next().unwrap()),
    )
    .unwrap();
    fails(&train(&run, 4, &["--resume"]), &["metrics.csv", "epoch 1"]);
    // Missing.
    std::fs::remove_file(run.join("metrics.csv")).unwrap();
    fails(&train(&run, 4, &["--resume"]), &["metrics.csv", "is missing"]);
    std::fs::write(run.join("metrics.csv"), &good).unwrap();
    // A history file of another network.
    let other = d.join("other");
    ok(&train(&other, 1, &["--set", "model.n=10"]));
    std::fs::copy(
        other.join("history/epoch-00001.safetensors"),
        run.join("history/epoch-00002.safetensors"),
    )
    .unwrap();
    fails(
        &train(&run, 4, &["--resume"]),
        &["epoch-00002.safetensors", "shape"],
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// Finding 4: an edited `config.toml` (σ) is refused naming the key, by `--resume` and by
/// `eval`; a resume asking for another configuration names the key too.
#[test]
fn an_edited_config_is_refused_naming_the_key() {
    let d = tmpdir("config");
    let run = d.join("run");
    ok(&train(&run, 2, &[]));
    let o = train(&run, 3, &["--resume", "--set", "model.sigma=0.5"]);
    fails(&o, &["differs", "model.sigma"]);
    let cfg = run.join("config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let edited: String = text
        .lines()
        .map(|l| {
            if l.starts_with("sigma =") {
                "sigma = 0.5".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(edited, text, "no sigma line in {text}");
    std::fs::write(&cfg, edited).unwrap();
    fails(&train(&run, 3, &["--resume"]), &["model.sigma", "config.toml"]);
    let o = cmd(&["eval", run.to_str().unwrap(), "--trials", "1"])
        .output()
        .unwrap();
    fails(&o, &["model.sigma", "config.toml"]);
    std::fs::remove_dir_all(&d).unwrap();
}

/// Finding 5: absurd sizes are clear errors with the bytes needed, never an abort.
#[test]
fn absurd_sizes_are_refused_before_allocating() {
    let d = tmpdir("sizes");
    let o = train(&d.join("big"), 1, &["--set", "model.n=100000000"]);
    fails(&o, &["model.n", "bytes"]);
    let run = d.join("run");
    ok(&train(&run, 1, &[]));
    let o = cmd(&["eval", run.to_str().unwrap(), "--trials", "100000000"])
        .output()
        .unwrap();
    fails(&o, &["--trials", "bytes"]);
    let o = cmd(&["bench", "--batch", "100000000"]).output().unwrap();
    fails(&o, &["--batch", "bytes"]);
    let o = cmd(&[
        "train",
        "ff-mnist",
        "--out",
        d.join("ff").to_str().unwrap(),
        "--set",
        "model.sizes=[784,100000000,10]",
    ])
    .output()
    .unwrap();
    fails(&o, &["model.sizes", "bytes"]);
    std::fs::remove_dir_all(&d).unwrap();
}

/// Writes a user task as `.npy` files: `dir/x.npy` (`[T, B, I]` f32) and `dir/labels.npy`
/// (`[B]` i64, classes 0..k).
fn npy_task(dir: &Path, t: usize, b: usize, i: usize, k: usize) {
    fn npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let shape = if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        };
        let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        std::fs::write(path, out).unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    let x: Vec<u8> = (0..t * b * i)
        .flat_map(|v| ((v % 7) as f32 / 7.0).to_le_bytes())
        .collect();
    npy(&dir.join("x.npy"), "<f4", &[t, b, i], &x);
    let l: Vec<u8> = (0..b).flat_map(|v| ((v % k) as i64).to_le_bytes()).collect();
    npy(&dir.join("labels.npy"), "<i8", &[b], &l);
}

/// Finding 6: a test set whose input width or class count differs from the training set's
/// is refused before training, naming both; `task.path` is stored absolute.
#[test]
fn user_task_files_are_checked_against_each_other_before_training() {
    let d = tmpdir("usertask");
    npy_task(&d.join("train"), 5, 8, 2, 2);
    npy_task(&d.join("test3"), 5, 8, 3, 2);
    npy_task(&d.join("testk"), 5, 9, 2, 4);
    npy_task(&d.join("test"), 5, 4, 2, 2);
    let run = d.join("run");
    let go = |test: &str, out: &Path| {
        cmd(&[
            "train",
            "cognitive",
            "--quiet",
            "--epochs",
            "1",
            "--out",
            out.to_str().unwrap(),
        ])
        .args([
            "--set",
            "task.path=\"train\"",
            "--set",
            &format!("task.test_path=\"{test}\""),
        ])
        .current_dir(&d)
        .output()
        .unwrap()
    };
    for bad in ["test3", "testk"] {
        let e = fails(&go(bad, &run), &[bad, "train"]);
        assert!(!run.join("checkpoint.safetensors").exists(), "{e}");
    }
    ok(&go("test", &run));
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    let abs = d.join("train").canonicalize().unwrap();
    assert!(cfg.contains(&format!("path = \"{}\"", abs.display())), "{cfg}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// Finding 7: a foreign checkpoint is a clear error (not a TOML parse error); `--epochs 0`
/// leaves a valid run; `--samples 0` is refused; the same run twice in an analysis is
/// refused; `report --out EXISTING_DIR` fails before any analysis.
#[test]
fn foreign_checkpoints_epochs_zero_samples_zero_duplicate_runs_and_report_folders() {
    let d = tmpdir("misc");
    let run = d.join("run");
    let r = run.to_str().unwrap();
    // --epochs 0: a valid run at epoch 0, evaluable and resumable.
    ok(&train(&run, 0, &[]));
    assert!(run.join("checkpoint.safetensors").is_file());
    assert_eq!(metrics(&run).len(), 1);
    assert_eq!(status(&run)["state"], "finished");
    let o = cmd(&["eval", r, "--trials", "1", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(v["epoch"], 0);
    ok(&train(&run, 2, &["--resume"]));
    assert_eq!(metrics(&run).len(), 3);
    // --samples 0.
    let o = cmd(&["eval", r, "--mode", "sampled", "--samples", "0"])
        .output()
        .unwrap();
    fails(&o, &["samples"]);
    // The same run twice.
    let o = cmd(&[
        "analyze",
        "sparsity",
        r,
        r,
        "--out",
        d.join("a").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("twice") || err.contains("more than once") || err.contains("same"),
        "{err}"
    );
    // report --out an existing folder: refused before the analyses run.
    let folder = d.join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    let o = cmd(&["report", r, "--out", folder.to_str().unwrap()])
        .output()
        .unwrap();
    fails(&o, &["folder"]);
    assert_eq!(
        std::fs::read_dir(&folder).unwrap().count(),
        0,
        "analyses ran before the check"
    );
    // A feed-forward checkpoint in a recurrent run, and back.
    if let Some(data) = mnist_dir() {
        let ff = d.join("ff");
        let o = cmd(&[
            "train",
            "ff-mnist",
            "--quiet",
            "--epochs",
            "1",
            "--out",
            ff.to_str().unwrap(),
        ])
        .args(["--data", data.to_str().unwrap()])
        .args(["--set", "train.train_limit=200", "--set", "eval.test_limit=100"])
        .args(["--set", "model.sizes=[784, 8, 10]", "--set", "eval.sampled=0"])
        .output()
        .unwrap();
        ok(&o);
        let ff_ck = std::fs::read(ff.join("checkpoint.safetensors")).unwrap();
        let rec_ck = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
        std::fs::write(run.join("checkpoint.safetensors"), &ff_ck).unwrap();
        fails(&train(&run, 3, &["--resume"]), &["feed-forward", "recurrent"]);
        let o = cmd(&["eval", r]).output().unwrap();
        let e = fails(&o, &["feed-forward", "recurrent"]);
        assert!(!e.contains("TOML"), "{e}");
        std::fs::write(ff.join("checkpoint.safetensors"), &rec_ck).unwrap();
        let o = cmd(&[
            "train",
            "ff-mnist",
            "--quiet",
            "--epochs",
            "2",
            "--resume",
            "--out",
            ff.to_str().unwrap(),
        ])
        .args(["--data", data.to_str().unwrap()])
        .args(["--set", "train.train_limit=200", "--set", "eval.test_limit=100"])
        .args(["--set", "model.sizes=[784, 8, 10]", "--set", "eval.sampled=0"])
        .output()
        .unwrap();
        let e = fails(&o, &["recurrent", "feed-forward"]);
        assert!(!e.contains("TOML"), "{e}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// Finding 8: outputs never overwrite a run's own files; `RunData::history` refuses a file
/// beyond the checkpoint's epoch.
#[test]
fn outputs_never_overwrite_a_run_and_history_is_checked_on_load() {
    let d = tmpdir("outputs");
    let run = d.join("run");
    let r = run.to_str().unwrap();
    ok(&train(&run, 2, &[]));
    let before = std::fs::read(run.join("config.toml")).unwrap();
    for target in ["config.toml", "metrics.csv", "history/x.html", "status.json"] {
        let o = cmd(&["report", r, "--out", run.join(target).to_str().unwrap()])
            .output()
            .unwrap();
        fails(&o, &["belongs to the run"]);
    }
    let o = cmd(&[
        "analyze",
        "sparsity",
        r,
        "--out",
        run.join("history").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    fails(&o, &["belongs to the run"]);
    assert_eq!(std::fs::read(run.join("config.toml")).unwrap(), before);
    std::fs::copy(
        run.join("history/epoch-00002.safetensors"),
        run.join("history/epoch-00007.safetensors"),
    )
    .unwrap();
    let data = sasnet::analysis::RunData::<sasnet::family::Recurrent>::load(&run).unwrap();
    let e = data.history().unwrap_err().to_string();
    assert!(e.contains("epoch-00007") && e.contains("beyond"), "{e}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// Findings 5 and 9 (item 5): `--resume` is an idempotent start-or-resume — a killed
/// `train --seeds 3` finishes by running it again with `--resume`; a finished run is a
/// no-op (exit 0, saying so); a missing directory starts.
#[test]
fn a_killed_multi_seed_training_finishes_with_resume() {
    let d = tmpdir("seeds");
    let base = d.join("base");
    let a = train_args(&base, 40, &["--seeds", "3"]);
    let mut child = cmd(&a.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(|| {
        (1..=3).any(|s| {
            std::fs::read_to_string(base.join(format!("seed-{s}/metrics.csv")))
                .is_ok_and(|t| t.lines().count() > 2)
        })
    }));
    child.kill().unwrap();
    assert!(
        !child.wait().unwrap().success(),
        "finished before it could be killed"
    );
    let o = train(&base, 40, &["--seeds", "3", "--resume"]);
    ok(&o);
    for s in 1..=3 {
        let dir = base.join(format!("seed-{s}"));
        assert_eq!(status(&dir)["state"], "finished", "seed {s}");
        assert_eq!(metrics(&dir).len(), 41, "seed {s}");
    }
    // Again: nothing to do, and said so.
    let a = train_args(&base, 40, &["--seeds", "3", "--resume"]);
    let o = cmd(&a
        .iter()
        .map(String::as_str)
        .filter(|s| *s != "--quiet")
        .collect::<Vec<_>>())
    .output()
    .unwrap();
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("already done"),
        "{o:?}"
    );
    // A missing directory starts.
    let fresh = d.join("fresh");
    ok(&train(&fresh, 2, &["--resume"]));
    assert_eq!(metrics(&fresh).len(), 3);
    let st = status(&fresh);
    let attempt = &st["attempts"][0];
    assert!(
        attempt["command"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--resume")
    );
    assert!(attempt["sasnet_version"].is_string() && attempt["git_commit"].is_string());
    assert!(attempt["host"].is_string() && attempt["threads"] == 1);
    std::fs::remove_dir_all(&d).unwrap();
}

/// Finding 10: `--resume` into a read-only folder fails at the start; a seed ≥ 2^63 is
/// refused up front (config.toml could not hold it).
#[test]
fn read_only_folders_and_huge_seeds_fail_up_front() {
    use std::os::unix::fs::PermissionsExt;
    let d = tmpdir("readonly");
    let o = train(&d.join("seed"), 1, &["--seed", "9223372036854775808"]);
    fails(&o, &["seed"]);
    assert!(!d.join("seed").exists());
    let run = d.join("run");
    ok(&train(&run, 1, &[]));
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(run.join("probe"), b"x").is_ok() {
        eprintln!("skipping the read-only part: this user (root?) writes into read-only folders");
        let _ = std::fs::remove_file(run.join("probe"));
    } else {
        let t0 = Instant::now();
        let o = train(&run, 50, &["--resume"]);
        fails(&o, &[".lock"]);
        let _ = t0;
        assert_eq!(metrics(&run).len(), 2, "nothing was trained");
    }
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}
