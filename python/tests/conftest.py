"""Shared fixtures: the repository root, the CLI binary and quick MSI settings."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

#: A short MSI run: no evaluation except the final one, one trial per condition (as the
#: Rust CLI tests' QUICK settings).
QUICK: Dict[str, object] = {
    "eval.every": 0,
    "eval.during_trials_per_condition": 1,
    "task.msi.test_dt_ms": 5,
}


@pytest.fixture(scope="session")
def cli() -> Path:
    """The `sasnet` binary: $SASNET_BIN, or target/release/sasnet (built if absent)."""
    env = os.environ.get("SASNET_BIN")
    if env:
        return Path(env)
    exe = ROOT / "target" / "release" / "sasnet"
    if not exe.exists():
        cargo = shutil.which("cargo")
        if cargo is None:
            pytest.skip("no sasnet binary and no cargo to build it (set SASNET_BIN)")
        subprocess.run([cargo, "build", "--release", "--bin", "sasnet"], cwd=ROOT, check=True)
    return exe


def tensors(run_dir: Path) -> Dict[str, np.ndarray]:
    """The checkpoint's tensors of a run (no metadata: it records wall time)."""
    import sasnet

    return sasnet.Run(run_dir).params()
