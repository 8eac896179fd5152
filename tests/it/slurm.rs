//! Sweeps and reproductions on a real one-node Slurm cluster started on loopback in a
//! temporary folder (munged on its own socket and key, slurmctld and slurmd, all in the
//! foreground), stopped by pid at the end, also when the test fails. Needs root and Debian's
//! `slurm-wlm slurm-client munge` (`.ci/run` installs them); skips visibly otherwise. Release builds
//! only (`cargo test --release --test it slurm`): the runs are real training.
//!
//! The sweep test submits a 2 × 2 sweep as a job array, requeues one array task while it
//! trains (`scontrol requeue`), waits for the collect job that runs after the array, and
//! checks that the collected table equals the same sweep run with `--backend local`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sasnet")
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn output(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A running one-node cluster; dropping it stops the daemons it started.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    daemons: Vec<(&'static str, Child)>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (name, child) in self.daemons.iter_mut().rev() {
            // SIGTERM first (slurmctld saves its state), then SIGKILL after 10 s.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if let Ok(None) = child.try_wait() {
                eprintln!("slurm test: {name} did not stop on SIGTERM; killing it");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Cluster {
    /// Starts the cluster, or `None` (with the reason printed) where that is impossible.
    fn start(name: &str) -> Option<Cluster> {
        let root = output(Command::new("id").arg("-u"));
        if stdout(&root) != "0" {
            eprintln!("skipping the Slurm test: it needs root (slurmd runs jobs as any user)");
            return None;
        }
        for p in ["slurmctld", "slurmd", "sbatch", "scontrol", "munged", "munge"] {
            if !have(p) {
                eprintln!(
                    "skipping the Slurm test: `{p}` is not installed (apt-get install slurm-wlm slurm-client munge)"
                );
                return None;
            }
        }
        let dir = std::env::temp_dir().join(format!("sasnet-slurm-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["state", "spool"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let mut c = Cluster {
            conf: dir.join("slurm.conf"),
            dir,
            daemons: Vec::new(),
        };
        // munged: our own, on a socket and key in the cluster's folder, so that clusters of
        // test runs side by side (two checkouts, two `cargo test`s) never share or stop each
        // other's daemon.
        let sock = c.dir.join("munge.socket");
        let key = c.dir.join("munge.key");
        let st = Command::new("mungekey")
            .arg("--create")
            .arg(format!("--keyfile={}", key.display()))
            .status();
        assert!(
            st.is_ok_and(|s| s.success()),
            "mungekey --create --keyfile={}",
            key.display()
        );
        let child = Command::new("munged")
            .arg("-F")
            .arg(format!("--socket={}", sock.display()))
            .arg(format!("--key-file={}", key.display()))
            .arg(format!("--pid-file={}", c.dir.join("munged.pid").display()))
            .arg(format!("--log-file={}", c.dir.join("munged.log").display()))
            .arg(format!("--seed-file={}", c.dir.join("munged.seed").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting munged");
        c.daemons.push(("munged", child));
        let munge_ok = || {
            Command::new("sh")
                .args([
                    "-c",
                    &format!("munge -n --socket='{0}' | unmunge --socket='{0}'", sock.display()),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let t0 = Instant::now();
        while !munge_ok() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "munged did not come up; log in {}",
                c.dir.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let host = stdout(&output(Command::new("hostname").arg("-s")));
        let node = stdout(&output(Command::new("slurmd").arg("-C")));
        let node = node.lines().next().unwrap_or("");
        let hw = node.split_once(' ').map_or("", |x| x.1);
        // Two free ports, asked of the kernel (held together so they differ): every cluster has
        // its own, also two clusters of one test process.
        let (port, port_d) = {
            let a = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            let b = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
        };
        let d = c.dir.display();
        let conf = format!(
            "ClusterName=sasnettest\nSlurmctldHost={host}(127.0.0.1)\nSlurmUser=root\nSlurmdUser=root\n\
             SlurmctldPort={port}\nSlurmdPort={port_d}\nAuthType=auth/munge\n\
             AuthInfo=socket={d}/munge.socket,cred_expire=10\n\
             StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\nSlurmctldPidFile={d}/slurmctld.pid\n\
             SlurmdPidFile={d}/slurmd.pid\nSlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSelectType=select/cons_tres\n\
             SelectTypeParameters=CR_CPU\nSchedulerType=sched/backfill\n\
             SchedulerParameters=bf_interval=2,sched_interval=2\nJobCompType=jobcomp/filetxt\n\
             JobCompLoc={d}/jobcomp.txt\nReturnToService=2\nMpiDefault=none\nKillWait=10\n\
             NodeName={host} NodeAddr=127.0.0.1 {hw} State=UNKNOWN\n\
             PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
        );
        std::fs::write(&c.conf, conf).unwrap();
        for daemon in ["slurmctld", "slurmd"] {
            let child = Command::new(daemon)
                .args(["-D", "-f"])
                .arg(&c.conf)
                .env("SLURM_CONF", &c.conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting a Slurm daemon");
            c.daemons.push((daemon, child));
        }
        let t0 = Instant::now();
        loop {
            let o = c.cmd("sinfo").args(["-h", "-o", "%t"]).output();
            if o.as_ref().is_ok_and(|o| stdout(o) == "idle") {
                break;
            }
            if t0.elapsed() > Duration::from_secs(60) {
                panic!(
                    "the node did not become idle in 60 s; logs in {}",
                    c.dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Some(c)
    }

    /// A command with this cluster's configuration.
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    /// `scontrol show job ID` as `key=value` pairs (the first record).
    fn job(&self, id: &str) -> Vec<(String, String)> {
        let o = output(self.cmd("scontrol").args(["show", "job", "-o", id]));
        stdout(&o)
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect()
    }

    fn job_state(&self, id: &str) -> String {
        self.job(id)
            .into_iter()
            .find(|(k, _)| k == "JobState")
            .map(|(_, v)| v)
            .unwrap_or_default()
    }

    /// Waits until job `id` has ended, at most `limit`; returns its final state.
    fn wait_done(&self, id: &str, limit: Duration) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.job_state(id);
            if [
                "COMPLETED",
                "FAILED",
                "CANCELLED",
                "TIMEOUT",
                "NODE_FAIL",
                "OUT_OF_MEMORY",
            ]
            .contains(&s.as_str())
            {
                return s;
            }
            assert!(
                t0.elapsed() < limit,
                "job {id} still {s} after {limit:?}; logs in {}",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// The 2 × 2 sweep: long enough (in epochs) that a task can be requeued while it trains.
const SWEEP: &str = r#"
preset = "msi"
seeds = 1
epochs = 40
set = ["eval.every=0", "eval.during_trials_per_condition=1", "task.msi.test_dt_ms=10",
       "train.minibatches=4"]
[grid]
"model.n" = [8, 12]
"optim.rec.m.lr" = [1e-3, 3e-3]
"#;

fn points(dir: &Path) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("collect/results.json")).unwrap()).unwrap();
    assert_eq!(v["complete"], true, "{v}");
    v["points"].clone()
}

fn last_epoch(run: &Path) -> usize {
    std::fs::read_to_string(run.join("metrics.csv"))
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.split(',').next()?.parse().ok()))
        .unwrap_or(0)
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "real training on a real cluster: release builds only"
)]
fn sweep_on_slurm_survives_a_requeue_and_equals_local() {
    let Some(cluster) = Cluster::start("sweep") else {
        return;
    };
    let d = cluster.dir.join("work");
    std::fs::create_dir_all(&d).unwrap();
    let file = d.join("sweep.toml");
    std::fs::write(&file, SWEEP).unwrap();
    let out = d.join("slurm");
    let o = output(
        cluster
            .cmd(bin())
            .args(["sweep"])
            .arg(&file)
            .arg("--out")
            .arg(&out)
            .args([
                "--backend",
                "slurm",
                "--cpus",
                "1",
                "--max-parallel",
                "2",
                "--time",
                "0:30:00",
            ]),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ids: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let (array, after) = (
        ids["array_job"].as_str().unwrap(),
        ids["after_job"].as_str().unwrap(),
    );

    // Requeue task 0 once it has committed at least 2 epochs and before it finishes.
    let run0 = out.join("p000-n=8,lr=0.001/seed-1");
    let t0 = Instant::now();
    while last_epoch(&run0) < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "task 0 did not train; logs in {}",
            out.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let at = last_epoch(&run0);
    assert!(
        at < 40,
        "task 0 finished before it could be requeued (epoch {at})"
    );
    let task0 = format!("{array}_0");
    let r = output(cluster.cmd("scontrol").args(["requeue", &task0]));
    assert!(
        r.status.success(),
        "scontrol requeue: {}",
        String::from_utf8_lossy(&r.stderr)
    );

    let state = cluster.wait_done(after, Duration::from_secs(900));
    assert_eq!(
        state,
        "COMPLETED",
        "the collect job: logs in {}",
        out.join("logs").display()
    );
    for t in 0..4 {
        assert_eq!(
            cluster.job_state(&format!("{array}_{t}")),
            "COMPLETED",
            "task {t}"
        );
    }
    // The requeued task ran twice, resuming: its log holds both starts (append mode), its
    // state file two attempts.
    let log = std::fs::read_to_string(out.join("logs").join(format!("{array}_0.out"))).unwrap();
    assert!(log.matches("sasnet sweep row 0: job").count() >= 2, "{log}");
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("state/row-0.json")).unwrap()).unwrap();
    assert!(st["attempts"].as_u64().unwrap() >= 2, "{st}");
    assert_eq!(st["state"], "finished");

    // The same sweep here gives the same table.
    let local = d.join("local");
    let o = output(
        Command::new(bin())
            .args(["--threads", "1", "--quiet", "sweep"])
            .arg(&file)
            .arg("--out")
            .arg(&local),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(points(&out), points(&local));
    std::fs::remove_dir_all(&d).ok();
}

/// `reproduce msi --quick --seeds 3` on the cluster (the plan as a job array, the analyses as
/// the job after it) against the same reproduction here: the same headline numbers (about
/// six minutes on 2 cores).
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "real training on a real cluster: release builds only"
)]
fn reproduce_on_slurm_equals_local() {
    let Some(cluster) = Cluster::start("reproduce") else {
        return;
    };
    let d = cluster.dir.join("work");
    std::fs::create_dir_all(&d).unwrap();
    let (slurm, local) = (d.join("slurm"), d.join("local"));
    let o = output(
        cluster
            .cmd(bin())
            .args(["--quiet", "reproduce", "msi", "--quick", "--seeds", "3", "--out"])
            .arg(&slurm)
            .args(["--backend", "slurm", "--cpus", "1", "--time", "1:00:00"]),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ids: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let after = ids["after_job"].as_str().unwrap();
    let state = cluster.wait_done(after, Duration::from_secs(1800));
    assert_eq!(state, "COMPLETED", "logs in {}", slurm.join("logs").display());
    let o = output(
        Command::new(bin())
            .args(["--quiet", "reproduce", "msi", "--quick", "--seeds", "3", "--out"])
            .arg(&local),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stats = |dir: &Path| {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
        v["statistics"].clone()
    };
    assert_eq!(stats(&slurm), stats(&local));
    std::fs::remove_dir_all(&d).ok();
}
