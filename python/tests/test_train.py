"""Training through Python: the same bits as the CLI, evaluation, user tasks, errors and
Ctrl-C."""

from __future__ import annotations

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
from conftest import QUICK, ROOT

EPOCHS = 3


def _cli_sets() -> list:
    out = []
    for k, v in QUICK.items():
        out += ["--set", f"{k}={v}"]
    return out


def assert_same_tensors(a: Path, b: Path) -> None:
    ta, tb = sasnet.Run(a).params(), sasnet.Run(b).params()
    assert sorted(ta) == sorted(tb)
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
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in params.values())
    ev = run.evaluate(trials=1)
    assert 0.0 <= ev["accuracy"] <= 1.0 and ev["epoch"] == EPOCHS


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
    with pytest.raises(sasnet.RunDirError):
        sasnet.Run(tmp_path / "nothing-here")
    sasnet.train("msi", out=tmp_path / "c", epochs=1, set=QUICK, progress=False)
    with pytest.raises(sasnet.SasnetError, match="already holds a run"):
        sasnet.train("msi", out=tmp_path / "c", epochs=1, set=QUICK, progress=False)
    with pytest.raises(sasnet.UnknownNameError):
        sasnet.Run(tmp_path / "c").evaluate(mode="no-such-mode")


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


def test_version_and_lists() -> None:
    assert sasnet.__version__
    names = [p for p, _ in sasnet.presets()]
    assert "msi" in names
    assert len(sasnet.analyses()) > 5


# --------------------------------------------------------------------------- Ctrl-C
_TRAINER = textwrap.dedent(
    """
    import sys, sasnet
    out, epochs = sys.argv[1], int(sys.argv[2])
    quick = {"eval.every": 0, "eval.during_trials_per_condition": 1, "task.msi.test_dt_ms": 5}
    try:
        sasnet.train("msi", out=out, seed=4, epochs=epochs, set=quick, progress=True)
    except KeyboardInterrupt:
        print("KEYBOARD_INTERRUPT", flush=True)
        sys.exit(3)
    print("FINISHED", flush=True)
    """
)


def test_ctrl_c_leaves_a_resumable_run(tmp_path: Path) -> None:
    epochs = 40
    full = tmp_path / "full"
    sasnet.train("msi", out=full, seed=4, epochs=epochs, set=QUICK, progress=False)
    cut = tmp_path / "cut"
    p = subprocess.Popen(
        [sys.executable, "-c", _TRAINER, str(cut), str(epochs)],
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
    if "FINISHED" in out:
        pytest.skip("the run finished before SIGINT arrived")
    assert p.returncode == 3 and "KEYBOARD_INTERRUPT" in out, (out, err)
    cut_epoch = sasnet.Run(cut).epoch
    assert 1 <= cut_epoch < epochs
    run = sasnet.train("msi", out=cut, seed=4, epochs=epochs, set=QUICK, resume=True, progress=False)
    assert run.epoch == epochs
    assert_same_tensors(cut, full)
