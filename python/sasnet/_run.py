"""Training, trained runs, evaluation and analyses: the Python surface over ``_sasnet``."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _sasnet
from ._task import Task
from ._toml import dumps as _toml_dumps
from ._toml import flatten as _flatten
from ._toml import format_value as _format_value

__all__ = ["Run", "train", "analyze", "report", "presets", "analyses"]

PathLike = Union[str, "os.PathLike[str]"]


class Run:
    """A trained run directory.

    Attributes:
        path: the run directory.
    """

    def __init__(self, path: PathLike) -> None:
        self._h = _sasnet.RunHandle(os.fspath(path))
        self.path: str = self._h.path

    def __repr__(self) -> str:
        return f"Run({self.path!r}, epoch={self.epoch})"

    def __fspath__(self) -> str:
        return self.path

    @property
    def epoch(self) -> int:
        """Completed epochs (from the checkpoint)."""
        return int(self._h.epoch)

    @property
    def config_toml(self) -> str:
        """The resolved configuration as TOML text."""
        return str(self._h.config_toml)

    @property
    def config(self) -> Dict[str, Any]:
        """The resolved configuration as a nested dict."""
        return json.loads(_sasnet.toml_to_json(self.config_toml))

    @property
    def metrics(self) -> Dict[str, np.ndarray]:
        """Per-epoch metrics: column name → float64 array ``[epochs]`` (NaN where a column has
        no value, e.g. test accuracy on epochs that were not evaluated)."""
        return {name: col for name, col in self._h.metrics()}

    def params(self) -> Dict[str, np.ndarray]:
        """The checkpoint's tensors: name → float32 array with the stored shape."""
        return {name: data.reshape(shape) for name, shape, data in self._h.params()}

    def evaluate(
        self,
        mode: str = "mean-field",
        samples: Optional[int] = None,
        resample_every: Optional[int] = None,
        trials: Optional[int] = None,
        limit: int = 0,
        seed: int = 0,
    ) -> Dict[str, Any]:
        """Evaluates the run on its test set (as ``sasnet eval --json``).

        Args:
            mode: ``"mean-field"``, ``"mean"``, ``"sampled"``, … (as the CLI's ``--mode``).
            samples: sampled networks or repeats (default 10 sampled, else 1).
            resample_every: sampled mode: redraw the network every k steps.
            trials: MSI trials per condition (default: the run's).
            limit: at most this many test examples (0: the run's).
            seed: seed of the evaluation's draws.

        Returns:
            The report: ``accuracy``, ``accuracy_std``, ``accuracies``, ``mode``, ``epoch``,
            ``run_dir``, … (the keys of ``sasnet eval --json``).
        """
        return json.loads(self._h.evaluate(mode, samples, resample_every, trials, limit, seed))

    def forward(self, x: Any, mode: str = "mean-field", seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
        """Runs the network on inputs ``x`` ``[trials, T, I]``.

        Returns:
            ``(outputs, rates)``: ``[trials, T, K]`` and ``[trials, T, N]``, float32.
        """
        xs = np.asarray(Task(x, labels=np.zeros(np.shape(x)[0], dtype=np.int64)).x, dtype=np.float32)
        z, r = self._h.forward(np.ascontiguousarray(xs.transpose(1, 0, 2)), mode, seed)
        return np.ascontiguousarray(z.transpose(1, 0, 2)), np.ascontiguousarray(r.transpose(1, 0, 2))


def _sets(set: Optional[Mapping[str, Any]]) -> List[str]:
    """``{"train.lr": 1e-3}`` (or nested dicts) → ``["train.lr=0.001"]``, as the CLI's
    ``--set KEY=VALUE``."""
    if not set:
        return []
    if not isinstance(set, Mapping):
        raise ValueError(f"`set` must be a dict of dotted keys, got {type(set).__name__}")
    return [f"{k}={_format_value(v, k)}" for k, v in _flatten(set).items()]


def train(
    preset_or_task: Union[str, Task],
    *,
    out: PathLike,
    seed: Optional[int] = 1,
    epochs: Optional[int] = None,
    config: Union[None, PathLike, Mapping[str, Any]] = None,
    set: Optional[Mapping[str, Any]] = None,
    test: Optional[Task] = None,
    resume: bool = False,
    progress: bool = True,
) -> Run:
    """Trains one run and returns it.

    Args:
        preset_or_task: a preset name (see :func:`presets`) or a :class:`Task`.
        out: the run directory.
        seed: seed of every random stream (``None``: the preset's).
        epochs: number of epochs (``None``: the preset's).
        config: a TOML file path or a (nested) dict overriding any subset of the settings.
        set: dotted overrides applied after ``config``, exactly as the CLI's
            ``--set KEY=VALUE`` (``{"train.lr": 1e-3, "net.n": 64}``).
        test: test trials for a ``Task`` (default: the training task).
        resume: continue the run in ``out`` from its checkpoint.
        progress: print one line per epoch to stderr.

    The GIL is released while training. Ctrl-C raises ``KeyboardInterrupt`` and leaves a run
    that ``resume=True`` continues.

    Raises:
        ConfigError, UnknownNameError, DataError, DivergedError, …: see ``sasnet._errors``.
    """
    out_s = os.fspath(out)
    sets = _sets(set)
    config_path: Optional[str] = None
    if isinstance(config, Mapping):
        os.makedirs(out_s, exist_ok=True)
        config_path = os.path.join(out_s, "overlay.toml")
        with open(config_path, "w") as f:
            f.write(_toml_dumps(config))
    elif config is not None:
        config_path = os.fspath(config)
    if isinstance(preset_or_task, Task):
        preset = "msi"
        task_dir = os.path.join(out_s, "task")
        if not resume:
            preset_or_task.save_npy(task_dir)
        sets = ["task.kind=\"user\"", f"task.path={_format_value(os.path.abspath(task_dir))}", *sets]
        if test is not None:
            test_dir = os.path.join(out_s, "test_task")
            if not resume:
                test.save_npy(test_dir)
            sets.insert(2, f"task.test_path={_format_value(os.path.abspath(test_dir))}")
    elif isinstance(preset_or_task, str):
        preset = preset_or_task
        if test is not None:
            raise ValueError("`test` applies to a Task, not to a preset")
    else:
        raise TypeError(f"train needs a preset name or a sasnet.Task, got {type(preset_or_task).__name__}")
    for name, v in (("seed", seed), ("epochs", epochs)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0):
            raise ValueError(f"`{name}` must be a non-negative integer, got {v!r}")
    _sasnet.train(
        preset,
        out_s,
        config_path,
        sets,
        None if seed is None else int(seed),
        None if epochs is None else int(epochs),
        bool(resume),
        bool(progress),
    )
    return Run(out_s)


def _paths(runs: Union[Run, PathLike, Sequence[Union[Run, PathLike]]]) -> List[str]:
    if isinstance(runs, (Run, str, os.PathLike)):
        runs = [runs]
    return [r.path if isinstance(r, Run) else os.fspath(r) for r in runs]


def analyze(
    name: str,
    runs: Union[Run, PathLike, Sequence[Union[Run, PathLike]]],
    *,
    out: Optional[PathLike] = None,
    **params: Any,
) -> Dict[str, Any]:
    """Runs analysis ``name`` (see :func:`analyses`) on one run or several seeds.

    Args:
        name: the analysis.
        runs: a :class:`Run`, a run directory, or a list of them (seeds of one configuration).
        out: output folder (default ``<first run>/analysis``); the analysis writes into
            ``out/<name>/``.
        **params: analysis settings (``seed``, ``quick``).

    Returns:
        ``{"name", "title", "dir", "summary", "figures", "files"}`` (``figures`` as data, for
        :func:`sasnet.plot`). A name that selects several analyses returns
        ``{"analyses": [...]}``.
    """
    allowed = {"seed", "quick"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise TypeError(f"unknown analysis parameter(s) {unknown} (known: {sorted(allowed)})")
    res = json.loads(
        _sasnet.analyze(
            name,
            _paths(runs),
            None if out is None else os.fspath(out),
            int(params.get("seed", 0)),
            bool(params.get("quick", False)),
        )
    )
    return res[0] if len(res) == 1 else {"analyses": res}


def report(runs: Union[Run, PathLike, Sequence[Union[Run, PathLike]]], out: Optional[PathLike] = None) -> str:
    """Writes the HTML report of the runs' analyses; returns the page's path."""
    return str(_sasnet.report(_paths(runs), None if out is None else os.fspath(out)))


def presets() -> List[Tuple[str, str]]:
    """``(name, description)`` of every preset."""
    return [(str(a), str(b)) for a, b in _sasnet.presets()]


def analyses() -> List[Tuple[str, str]]:
    """``(name, what it answers)`` of every analysis."""
    return [(str(a), str(b)) for a, b in _sasnet.analyses()]
