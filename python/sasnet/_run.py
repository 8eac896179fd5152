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
        p = os.fspath(path)
        if not os.path.isfile(os.path.join(p, "checkpoint.safetensors")):
            from ._errors import RunDirError

            what = "does not exist" if not os.path.exists(p) else "holds no checkpoint.safetensors"
            raise RunDirError(f"{p} is not a run directory: it {what}")
        self._h = _sasnet.RunHandle(p)
        self.path: str = self._h.path

    @classmethod
    def _from_handle(cls, h: Any) -> "Run":
        run = cls.__new__(cls)
        run._h = h
        run.path = h.path
        return run

    def __repr__(self) -> str:
        return f"Run({self.path!r}, epoch={self.epoch})"

    def __fspath__(self) -> str:
        return self.path

    @property
    def epoch(self) -> int:
        """Completed epochs (from the checkpoint)."""
        return int(self._h.epoch)

    @property
    def family(self) -> str:
        """``"recurrent"`` or ``"feed-forward"``."""
        return str(self._h.family)

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
        """The parameters: ``<layer>.m``, ``<layer>.pi``, ``<layer>.xi`` of every layer →
        float32 array ``[rows, cols]`` (receiving × sending units)."""
        return {name: data.reshape(shape) for name, shape, data in self._h.params()}

    def evaluate(
        self,
        mode: str = "mean-field",
        samples: Optional[int] = None,
        resample_every: Optional[int] = None,
        trials: Optional[int] = None,
        limit: int = 0,
        seed: Optional[int] = None,
        data_dir: Optional[PathLike] = None,
    ) -> Dict[str, Any]:
        """Evaluates the run on its test set (as ``sasnet eval --json``).

        Args:
            mode: ``"mean-field"``, ``"eps0"``, ``"mean"`` or ``"sampled"`` (as the CLI's
                ``--mode``).
            samples: sampled networks or repeats (default 10 sampled, else 1).
            resample_every: sampled mode: redraw the network every k steps.
            trials: MSI trials per condition (default: the run's).
            limit: at most this many test examples (0: the run's).
            seed: seed of the evaluation's draws (``None``: the CLI's default, so that the
                numbers equal ``sasnet eval``'s).
            data_dir: the MNIST directory (MNIST runs; default ``$SASNET_DATA``).

        Returns:
            The report: ``accuracy``, ``accuracy_std``, ``accuracies``, ``mode``, ``epoch``,
            ``run_dir``, … (the keys of ``sasnet eval --json``).
        """
        return json.loads(
            self._h.evaluate(
                mode, samples, resample_every, trials, int(limit), seed, _data_dir(data_dir)
            )
        )

    def forward(
        self, x: Any, mode: str = "mean-field", seed: int = 0, resample_every: Optional[int] = None
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Runs the network on inputs ``x`` ``[trials, T, I]`` (the complete input: baseline
        and noise included) under the run's test protocol.

        Args:
            x: inputs ``[trials, T, I]``, any real dtype and memory order.
            mode: ``"mean-field"``, ``"eps0"``, ``"mean"`` or ``"sampled"``.
            seed: seed of the draws.
            resample_every: sampled mode: redraw the network every k steps.

        Returns:
            ``(outputs, rates)``: readout ``[trials, T, K]`` and rates ``[trials, T, N]``,
            float32.
        """
        from ._task import _float_array

        xs = _float_array("x", x, 3)
        xt = np.ascontiguousarray(xs.transpose(1, 0, 2), dtype=np.float32)
        z, r = self._h.forward(xt, mode, int(seed), resample_every)
        return np.ascontiguousarray(z.transpose(1, 0, 2)), np.ascontiguousarray(r.transpose(1, 0, 2))


def _data_dir(d: Optional[PathLike]) -> Optional[str]:
    """The MNIST directory: ``d``, else ``$SASNET_DATA`` (as the CLI)."""
    if d is not None:
        return os.fspath(d)
    return os.environ.get("SASNET_DATA") or None


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
    data_dir: Optional[PathLike] = None,
) -> Run:
    """Trains one run and returns it.

    Args:
        preset_or_task: a preset name (see :func:`presets`) or a :class:`Task` (trained with
            the ``cognitive`` preset: ``model.alpha = dt / model.tau_ms`` when the task has a
            ``dt``, one pass over the trials per epoch).
        out: the run directory.
        seed: seed of every random stream (``None``: the preset's).
        epochs: number of epochs (``None``: the preset's).
        config: a TOML file path or a (nested) dict overriding any subset of the settings.
        set: dotted overrides applied after ``config``, exactly as the CLI's
            ``--set KEY=VALUE`` (``{"train.lr": 1e-3, "net.n": 64}``).
        test: test trials for a ``Task`` (default: the training task). The run stores both
            in its directory (``task/``), so it evaluates and analyses from anywhere; with
            ``resume=True`` pass the same task again.
        resume: continue the run in ``out`` from its checkpoint.
        progress: print one line per epoch to stderr.
        data_dir: the MNIST directory (MNIST presets; default ``$SASNET_DATA``).

    The GIL is released while training. Ctrl-C raises ``KeyboardInterrupt`` and leaves a run
    that ``resume=True`` continues.

    Raises:
        ConfigError, UnknownNameError, DataError, DivergedError, …: see ``sasnet._errors``.
    """
    out_s = os.fspath(out)
    sets = _sets(set)
    config_path: Optional[str] = None
    config_toml: Optional[str] = None
    if isinstance(config, Mapping):
        config_toml = _toml_dumps(config)
    elif config is not None:
        config_path = os.fspath(config)
    task_arrays: Optional[Dict[str, Any]] = None
    test_arrays: Optional[Dict[str, Any]] = None
    if isinstance(preset_or_task, Task):
        # The run stores the task in its directory (task/train.safetensors, task/test.safetensors);
        # resume=True needs the same task again.
        preset = "cognitive"
        if not resume and os.path.exists(os.path.join(out_s, "checkpoint.safetensors")):
            # Checked here too: the library stores the task before it checks the directory,
            # which would overwrite the existing run's task/train.safetensors.
            from ._errors import RunDirError

            raise RunDirError(
                f"{out_s} already holds a run; use resume=True to continue it or choose another out"
            )
        task_arrays = preset_or_task._engine_dict()
        if test is not None:
            if not isinstance(test, Task):
                raise TypeError(f"`test` must be a sasnet.Task, got {type(test).__name__}")
            test_arrays = test._engine_dict()
    elif isinstance(preset_or_task, str):
        preset = preset_or_task
        if test is not None:
            raise ValueError("`test` applies to a Task, not to a preset")
    else:
        raise TypeError(f"train needs a preset name or a sasnet.Task, got {type(preset_or_task).__name__}")
    for name, v in (("seed", seed), ("epochs", epochs)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0):
            raise ValueError(f"`{name}` must be a non-negative integer, got {v!r}")
    h = _sasnet.train(
        preset,
        out_s,
        config_toml,
        config_path,
        sets,
        None if seed is None else int(seed),
        None if epochs is None else int(epochs),
        bool(resume),
        bool(progress),
        _data_dir(data_dir),
        task_arrays,
        test_arrays,
    )
    return Run._from_handle(h)


def _paths(runs: Union[Run, PathLike, Sequence[Union[Run, PathLike]]]) -> List[str]:
    if isinstance(runs, (Run, str)) or hasattr(runs, "__fspath__"):
        runs = [runs]
    return [r.path if isinstance(r, Run) else os.fspath(r) for r in runs]


_ANALYSIS_PARAMS = (
    "seed", "quick", "data_dir", "test_dt_ms", "fast_dt_ms", "vip_rule", "vip_pi_max", "vip_xi_max", "vip_m_min",
    "condition", "group", "choice",
)


def analyze(
    name: str,
    runs: Union[Run, PathLike, Sequence[Union[Run, PathLike]]],
    *,
    out: Optional[PathLike] = None,
    **params: Any,
) -> Dict[str, Any]:
    """Runs analysis ``name`` (see :func:`analyses`) on one run or several seeds of one
    configuration (``theory`` takes no runs: ``runs=[]``).

    Args:
        name: the analysis.
        runs: a :class:`Run`, a run directory, or a list of them.
        out: as the CLI's ``--out``: the analysis writes into ``out/<name>/`` (default
            ``<first run>/analysis``; the theory: ``./analysis``).
        **params: ``seed`` (default: the CLI's), ``quick``, ``data_dir``, ``test_dt_ms``,
            ``fast_dt_ms``, ``vip_rule`` (``"exact"``, ``"relaxed"``, ``"authors"``),
            ``vip_pi_max``, ``vip_xi_max``, ``vip_m_min``; for user tasks ``condition`` (e.g.
            ``"signed_coh"``), ``group`` and ``choice`` (the psychometric analysis) — as the
            CLI's options.

    Returns:
        ``{"name", "title", "dir", "summary", "figures", "files"}``; ``figures`` is the figure
        data that :func:`sasnet.plot` draws.
    """
    unknown = sorted(set(params) - set(_ANALYSIS_PARAMS))
    if unknown:
        raise TypeError(f"unknown analysis parameter(s) {unknown} (known: {list(_ANALYSIS_PARAMS)})")
    paths = _paths(runs)
    base = os.fspath(out) if out is not None else (os.path.join(paths[0], "analysis") if paths else "analysis")
    kw = dict(params)
    kw["data_dir"] = _data_dir(kw.get("data_dir"))
    return json.loads(_sasnet.analyze(name, paths, os.path.join(base, name), **kw))


def report(
    runs: Union[Run, PathLike, Sequence[Union[Run, PathLike]]],
    out: Optional[PathLike] = None,
    *,
    skip: Sequence[str] = (),
    progress: bool = True,
    **params: Any,
) -> str:
    """Runs every applicable analysis over the runs (seeds of one configuration) and writes the
    self-contained HTML report; returns the page's path.

    Args:
        runs: runs or run directories.
        out: the page (default ``<first run>/report.html``); analyses go to
            ``<page dir>/analysis/``.
        skip: analyses to leave out (e.g. ``["retrain"]``).
        progress: one line per step to stderr.
        **params: ``seed``, ``quick``, ``data_dir``, ``test_dt_ms``, ``fast_dt_ms``,
            ``condition``, ``group``, ``choice``.
    """
    allowed = ("seed", "quick", "data_dir", "test_dt_ms", "fast_dt_ms", "condition", "group", "choice")
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise TypeError(f"unknown report parameter(s) {unknown} (known: {list(allowed)})")
    paths = _paths(runs)
    if not paths:
        raise ValueError("report needs at least one run")
    page = os.fspath(out) if out is not None else os.path.join(paths[0], "report.html")
    kw = dict(params)
    kw["data_dir"] = _data_dir(kw.get("data_dir"))
    r = json.loads(_sasnet.report(paths, page, skip=list(skip), progress=bool(progress), **kw))
    return str(r["page"])


def presets() -> List[Tuple[str, str]]:
    """``(name, description)`` of every preset."""
    return [(str(a), str(b)) for a, b in _sasnet.presets()]


def analyses() -> List[Tuple[str, str]]:
    """``(name, what it answers)`` of every analysis."""
    return [(str(a), str(b)) for a, b in _sasnet.analyses()]
