"""The README's Python example, run as written (in a temporary working directory)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(
        r"<!-- readme-example: begin -->\s*```python\n(.*?)```\s*<!-- readme-example: end -->",
        text,
        re.S,
    )
    assert m, "README.md has no Python example between the readme-example markers"
    return m.group(1)


def test_readme_example_runs_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    matplotlib = pytest.importorskip("matplotlib", reason="the example draws with matplotlib")
    matplotlib.use("Agg")
    code = readme_example()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out.splitlines()
    accuracy = float(out[0])
    assert 0.5 < accuracy <= 1.0, out
    assert "mu" in out[1] and "sigma" in out[1], out
    assert (tmp_path / "runs" / "readme-example" / "task" / "train.safetensors").is_file()
