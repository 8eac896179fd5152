"""Training through Python: the same bits as the CLI, evaluation, user tasks, errors and
Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import sasnet
from sasnet import _sasnet
from conftest import QUICK, ROOT

EPOCHS = 3


def _cli_sets() -> list:
    out = []
    for k, v in QUICK.items():
        out += ["--set", f"{k}={v}"]
    return out


def checkpoint(run_dir: Path) -> dict:
    """Every tensor of the checkpoint (parameters and optimizer state), not the metadata
    (which records wall time)."""
    return {n: d.reshape(s) for n, s, d in _sasnet.checkpoint_tensors(str(run_dir))}


def assert_same_tensors(a: Path, b: Path) -> None:
    ta, tb = checkpoint(a), checkpoint(b)
    assert sorted(ta) == sorted(tb) and len(ta) > 3
    for k in ta:
        assert ta[k].shape == tb[k].shape, k
        np.testing.assert_array_equal(ta[k], tb[k], err_msg=k)


def test_python_and_cli_give_the_same_checkpoint(tmp_path: Path, cli: Path) -> None:
    run = sasnet.train("msi", out=tmp_path / "py", seed=3, epochs=EPOCHS, set=QUICK, progress=False)
    subprocess.run(
        [str(cli), "train", "msi", "--quiet", "--seed", "3", "--epochs", str(EPOCHS), "--out", str(tmp_path / "cli"), *_cli_sets()],
        check=True,
    )
    assert run.epoch == EPOCHS
    assert_same_tensors(tmp_path / "py", tmp_path / "cli")
    m = run.metrics
    assert "epoch" in m and len(m["epoch"]) == EPOCHS and m["epoch"].dtype == np.float64
    cfg = run.config
    assert cfg["seed"] == 3 and cfg["train"]["epochs"] == EPOCHS
    params = run.params()
    assert {"rec.m", "rec.pi", "rec.xi"} <= set(params)
    assert all(v.dtype == np.float32 and v.ndim == 2 for v in params.values())
    np.testing.assert_array_equal(params["rec.pi"], checkpoint(tmp_path / "cli")["rec.pi"].astype(np.float32))
    # evaluate: the keys and numbers of `sasnet eval --json` (same default seed).
    ev = run.evaluate(trials=1)
    cli_ev = json.loads(
        subprocess.run([str(cli), "eval", str(tmp_path / "cli"), "--trials", "1", "--json"], check=True,
                       capture_output=True, text=True).stdout
    )
    assert set(ev) == set(cli_ev)
    assert ev["accuracy"] == cli_ev["accuracy"] and ev["epoch"] == EPOCHS
    # forward: batch-first in and out, deterministic for a seed.
    n_in = params["in.m"].shape[1]
    x = np.random.default_rng(1).normal(size=(3, 7, n_in))
    z, r = run.forward(x, mode="mean-field", seed=2)
    z2, _ = run.forward(np.asfortranarray(x), mode="mean-field", seed=2)
    assert z.shape == (3, 7, params["out.m"].shape[0]) and r.shape == (3, 7, params["rec.m"].shape[0])
    np.testing.assert_array_equal(z, z2)
    assert np.isfinite(run.forward(x, mode="sampled", resample_every=3)[0]).all()
    with pytest.raises(ValueError, match="`x`"):
        run.forward(np.full((1, 2, n_in), np.nan))
    with pytest.raises(sasnet.SasnetError):
        run.forward(np.zeros((1, 2, n_in + 1)))
    # analyze: figures as data, drawn by sasnet.plot.
    res = sasnet.analyze("sparsity", run, out=tmp_path / "an")
    assert res["dir"] == str(tmp_path / "an" / "sparsity") and isinstance(res["summary"], dict)
    assert isinstance(res["figures"], list)
    if res["figures"]:
        mpl = pytest.importorskip("matplotlib")
        mpl.use("Agg")
        assert len(sasnet.plot(res)) == len(res["figures"])
    # report: one analysis kept, the page written.
    skip = [a for a, _ in sasnet.analyses() if a != "sparsity"]
    page = sasnet.report(run, out=tmp_path / "rep" / "report.html", skip=skip, quick=True, progress=False)
    assert page.endswith("report.html") and os.path.getsize(page) > 1000
    with pytest.raises(ValueError):
        sasnet.report([])


def test_config_dict_and_set_equal_the_cli(tmp_path: Path, cli: Path) -> None:
    sasnet.train(
        "msi", out=tmp_path / "py", seed=2, epochs=2, config={"eval": {"every": 0}},
        set={"eval.during_trials_per_condition": 1, "task.msi.test_dt_ms": 5.0}, progress=False,
    )
    toml = tmp_path / "c.toml"
    toml.write_text("[eval]\nevery = 0\n")
    subprocess.run(
        [str(cli), "train", "msi", "--quiet", "--seed", "2", "--epochs", "2", "--config", str(toml),
         "--set", "eval.during_trials_per_condition=1", "--set", "task.msi.test_dt_ms=5.0",
         "--out", str(tmp_path / "cli")],
        check=True,
    )
    assert_same_tensors(tmp_path / "py", tmp_path / "cli")


def test_errors_are_classes(tmp_path: Path) -> None:
    with pytest.raises(sasnet.UnknownNameError) as e:
        sasnet.train("no-such-preset", out=tmp_path / "a", progress=False)
    assert e.value.kind == "UnknownName" and isinstance(e.value, sasnet.SasnetError)
    with pytest.raises(sasnet.ConfigError) as c:
        sasnet.train("msi", out=tmp_path / "b", set={"model.alpha": 2}, progress=False)
    assert c.value.details["key"] == "model.alpha"
    with pytest.raises(sasnet.RunDirError, match="nothing-here"):
        sasnet.Run(tmp_path / "nothing-here")
    with pytest.raises(sasnet.InvalidArgumentError):
        sasnet.analyze("sparsity", [], out=tmp_path / "x")  # no runs
    with pytest.raises(sasnet.UnknownNameError):
        sasnet.analyze("no-such-analysis", [], out=tmp_path / "x")
    sasnet.train("msi", out=tmp_path / "c", epochs=1, set=QUICK, progress=False)
    with pytest.raises(sasnet.SasnetError, match="already holds a run"):
        sasnet.train("msi", out=tmp_path / "c", epochs=1, set=QUICK, progress=False)
    with pytest.raises(sasnet.UnknownNameError):
        sasnet.Run(tmp_path / "c").evaluate(mode="no-such-mode")
    with pytest.raises(sasnet.InvalidArgumentError):
        sasnet.Run(tmp_path / "c").evaluate(mode="mean", resample_every=2)


def test_user_task_trains(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n, steps = 64, 10
    labels = rng.integers(0, 2, n)
    x = rng.normal(0, 0.5, (n, steps, 2))
    x[np.arange(n), :, labels] += 1.0  # the label's channel is on
    task = sasnet.Task(x, labels=labels)
    run = sasnet.train(task, out=tmp_path / "u", epochs=2, set={"train.batch": 32, "eval.every": 0}, progress=False)
    assert run.epoch == 2
    assert 0.0 <= run.evaluate()["accuracy"] <= 1.0
    # A second task into the same directory is refused and leaves the run's task untouched.
    stored = tmp_path / "u" / "task" / "train.safetensors"
    before = stored.read_bytes()
    with pytest.raises(sasnet.SasnetError, match="already holds a run"):
        sasnet.train(sasnet.Task(x * 2, labels=labels), out=tmp_path / "u", epochs=2, progress=False)
    assert stored.read_bytes() == before
    # Resuming continues with the same task.
    again = sasnet.train(
        task, out=tmp_path / "u", epochs=3, resume=True, set={"train.batch": 32, "eval.every": 0}, progress=False
    )
    assert again.epoch == 3


def test_neurogym_task_trains(tmp_path: Path) -> None:
    import sasnet.neurogym as sng
    from test_neurogym import StandIn

    t = sng.task(StandIn(), 64, seed=1)
    assert t.labels is not None
    last = sasnet.Task(t.x, labels=t.labels[:, -1], conditions=t.conditions, dt=t.dt, metadata=t.metadata)
    run = sasnet.train(last, out=tmp_path / "last", epochs=1, set={"eval.every": 0}, progress=False)
    assert run.epoch == 1 and run.config["task"]["kind"] == "user"
    assert abs(run.config["model"]["alpha"] - 20 / run.config["model"]["tau_ms"]) < 1e-12  # α = dt/τ
    # Per-step labels with the mask (per-step cross-entropy), and a separate test set.
    run = sasnet.train(
        t, out=tmp_path / "steps", epochs=1, set={"eval.every": 0}, test=sng.task(StandIn(), 16, seed=2), progress=False
    )
    assert run.epoch == 1
    assert 0.0 <= run.evaluate()["accuracy"] <= 1.0
    outputs, rates = run.forward(t.x[:4])
    assert outputs.shape == (4, t.steps, 3)
    # The psychometric curve against the signed coherence (conditions stored with the task).
    res = sasnet.analyze("psychometric", run, condition="signed_coh", choice=2, quick=True)
    assert isinstance(res["summary"], dict)


def test_version_and_lists() -> None:
    assert sasnet.__version__
    names = [p for p, _ in sasnet.presets()]
    assert "msi" in names
    assert len(sasnet.analyses()) > 5


# --------------------------------------------------------------------------- Ctrl-C
_TRAINER = textwrap.dedent(
    """
    import json, signal, sys, sasnet
    # A process started with SIGINT ignored (a CI script run in the background: `cmd &`
    # ignores SIGINT) keeps it ignored, and Python then installs no KeyboardInterrupt
    # handler: restore it, as in any interactive session.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    out, epochs, settings = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    try:
        sasnet.train("msi", out=out, seed=4, epochs=epochs, set=settings, progress=True)
    except KeyboardInterrupt:
        print("KEYBOARD_INTERRUPT", flush=True)
        sys.exit(3)
    print("FINISHED", flush=True)
    """
)


def test_ctrl_c_leaves_a_resumable_run(tmp_path: Path) -> None:
    # Long enough (tens of seconds: a wider network, no early stop) for SIGINT to land
    # inside the run on a fast machine too.
    epochs = 400
    slow = {**QUICK, "model.n": 300, "train.stop_loss": 0}
    full = tmp_path / "full"
    sasnet.train("msi", out=full, seed=4, epochs=epochs, set=slow, progress=False)
    cut = tmp_path / "cut"
    p = subprocess.Popen(
        [sys.executable, "-c", _TRAINER, str(cut), str(epochs), json.dumps(slow)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Wait for the first committed epoch, then interrupt.
    deadline = time.time() + 120
    while not (cut / "checkpoint.safetensors").exists():
        assert p.poll() is None, p.communicate()
        assert time.time() < deadline, "no checkpoint after 120 s"
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    # SIGINT lands after epoch 1 of 400: it must be seen (at the next progress line or within
    # 50 ms), however fast the epochs are.
    assert "FINISHED" not in out, "Ctrl-C was not seen before the run finished"
    assert p.returncode == 3 and "KEYBOARD_INTERRUPT" in out, (out, err)
    cut_epoch = sasnet.Run(cut).epoch
    assert 1 <= cut_epoch < epochs
    assert "epoch 1/" in err  # progress lines reach Python's stderr
    run = sasnet.train("msi", out=cut, seed=4, epochs=epochs, set=slow, resume=True, progress=False)
    assert run.epoch == epochs
    assert_same_tensors(cut, full)


def test_divergence_raises_diverged_error(tmp_path: Path) -> None:
    bad = {**QUICK, "optim.rec.m.lr": 1e30, "optim.out.m.lr": 1e30, "optim.kind": "adam"}
    with pytest.raises(sasnet.DivergedError) as e:
        sasnet.train("msi", out=tmp_path / "nan", epochs=50, set=bad, progress=False)
    assert e.value.kind == "Diverged" and "diverged" in str(e.value)
    assert isinstance(e.value.epoch, int) and isinstance(e.value.minibatch, int)
    assert e.value.checkpoint and "checkpoint" in e.value.checkpoint
