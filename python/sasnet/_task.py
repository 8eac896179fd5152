"""User tasks as numpy arrays, batch-first (``[trials, T, ...]``).

A :class:`Task` is validated here, in Python, so that a bad array raises a ``ValueError`` that
names it; the Rust side validates the same arrays again when it receives them. The engine
works time-major (``[T, trials, ...]``); :meth:`Task.engine_arrays` makes that layout.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import numpy as np

__all__ = ["Task"]

#: Largest number of classes accepted for ``labels`` (the Rust side's ``MAX_CLASSES``).
MAX_CLASSES = 1 << 16


def _float_array(name: str, a: Any, ndim: int) -> np.ndarray:
    """``a`` as a C-contiguous float64 array of ``ndim`` dimensions with finite values."""
    try:
        arr = np.asarray(a)
    except Exception as e:  # ragged lists, objects numpy cannot convert
        raise ValueError(f"`{name}` cannot be converted to a numpy array: {e}") from None
    if arr.dtype == np.bool_:
        arr = arr.astype(np.float64)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"`{name}` must hold numbers, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimensions, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty (shape {arr.shape})")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"`{name}` holds a non-finite value ({arr[idx]}) at index {idx}")
    return arr


def _label_array(name: str, a: Any) -> np.ndarray:
    """``a`` as an int64 array of class indices (integers, or floats holding integers)."""
    try:
        arr = np.asarray(a)
    except Exception as e:
        raise ValueError(f"`{name}` cannot be converted to a numpy array: {e}") from None
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        out = np.ascontiguousarray(arr, dtype=np.int64)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
            raise ValueError(f"`{name}` holds a non-finite value at index {idx}")
        if (arr != np.round(arr)).any():
            idx = tuple(int(i) for i in np.argwhere(arr != np.round(arr))[0])
            raise ValueError(f"`{name}` must hold integer class indices, got {arr[idx]} at index {idx}")
        out = np.ascontiguousarray(arr, dtype=np.int64)
    else:
        raise ValueError(f"`{name}` must hold integer class indices, got dtype {arr.dtype}")
    if out.size and out.min() < 0:
        idx = tuple(int(i) for i in np.argwhere(out < 0)[0])
        raise ValueError(f"`{name}` holds a negative class index ({out[idx]}) at index {idx}")
    if out.size and out.max() >= MAX_CLASSES:
        idx = tuple(int(i) for i in np.argwhere(out >= MAX_CLASSES)[0])
        raise ValueError(
            f"`{name}` holds class index {out[idx]} at index {idx}, beyond the limit of {MAX_CLASSES} classes"
        )
    return out


class Task:
    """A supervised task given as arrays, batch-first.

    Args:
        x: inputs ``[trials, T, I]`` (the complete input of every trial: baseline and noise
            included).
        labels: class per trial ``[trials]`` (cross-entropy on the last step) or class per
            step ``[trials, T]`` (cross-entropy on the steps where ``mask`` ``[trials, T]``
            is positive; every step when ``mask`` is ``None``).
        target: per-step targets ``[trials, T, K]`` (masked MSE), with ``mask``
            ``[trials, T, K]``.
        mask: per-step weights, ``>= 0`` (0 = not scored); shape as above.
        conditions: per-trial values ``[trials]`` by name (e.g. ``coh``), kept for analyses.
        dt: time step in ms, recorded as metadata ``dt`` (the ``cognitive`` preset derives
            ``model.alpha = dt / model.tau_ms`` from it).
        metadata: further string metadata; ``outputs`` (an int) widens the output layer.

    Give ``labels`` or ``target`` (with ``mask``), not both. Any int dtype and non-contiguous
    arrays are accepted; values are stored as float64 / int64 and sent to the engine as
    float32 / int64 in its time-major layout. Every problem raises ``ValueError`` naming the
    array.
    """

    x: np.ndarray
    labels: Optional[np.ndarray]
    target: Optional[np.ndarray]
    mask: Optional[np.ndarray]
    conditions: Dict[str, np.ndarray]
    dt: Optional[float]
    metadata: Dict[str, str]

    def __init__(
        self,
        x: Any,
        labels: Any = None,
        target: Any = None,
        mask: Any = None,
        conditions: Optional[Mapping[str, Any]] = None,
        dt: Optional[float] = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self.x = _float_array("x", x, 3)
        n, steps, _ = self.x.shape
        self.labels = None
        self.target = None
        self.mask = None
        if labels is not None and target is not None:
            raise ValueError("give either `labels` or `target` (with `mask`), not both")
        if labels is None and target is None:
            raise ValueError("a task needs `labels` ([trials] or [trials, T]) or `target` with `mask`")
        if labels is not None:
            lab = _label_array("labels", labels)
            if lab.ndim == 1:
                if lab.shape[0] != n:
                    raise ValueError(f"`labels` has {lab.shape[0]} trials, `x` has {n} (shape {self.x.shape})")
                if mask is not None:
                    raise ValueError(
                        "`mask` applies to per-step labels [trials, T] or to `target`; "
                        "last-step labels [trials] take no mask"
                    )
            elif lab.ndim == 2:
                if lab.shape != (n, steps):
                    raise ValueError(
                        f"`labels` has shape {lab.shape}, expected [trials, T] = {(n, steps)} from `x`"
                    )
                m = np.ones((n, steps)) if mask is None else _float_array("mask", mask, 2)
                if m.shape != (n, steps):
                    raise ValueError(f"`mask` has shape {m.shape}, expected [trials, T] = {(n, steps)}")
                self.mask = m
            else:
                raise ValueError(f"`labels` must be [trials] or [trials, T], got shape {lab.shape}")
            self.labels = lab
        else:
            if mask is None:
                raise ValueError("`target` needs a `mask` of the same shape [trials, T, K]")
            tgt = _float_array("target", target, 3)
            if tgt.shape[:2] != (n, steps):
                raise ValueError(f"`target` has shape {tgt.shape}, expected [trials, T, K] with [trials, T] = {(n, steps)}")
            m = _float_array("mask", mask, 3)
            if m.shape != tgt.shape:
                raise ValueError(f"`mask` has shape {m.shape}, expected the shape of `target` {tgt.shape}")
            self.target = tgt
            self.mask = m
        if self.mask is not None:
            if (self.mask < 0).any():
                idx = tuple(int(i) for i in np.argwhere(self.mask < 0)[0])
                raise ValueError(f"`mask` holds a negative weight ({self.mask[idx]}) at index {idx}")
            if not (self.mask > 0).any():
                raise ValueError("`mask` is zero everywhere: no step would be scored")
        self.conditions = {}
        for key, value in (conditions or {}).items():
            if not isinstance(key, str) or not key or not all(c.isascii() and (c.isalnum() or c == "_") for c in key):
                raise ValueError(f"`conditions`: the name {key!r} must be non-empty and made of [A-Za-z0-9_]")
            c = _float_array(f"conditions[{key!r}]", value, 1)
            if c.shape[0] != n:
                raise ValueError(f"`conditions[{key!r}]` has {c.shape[0]} trials, `x` has {n}")
            self.conditions[str(key)] = c
        if dt is not None:
            dt = float(dt)
            if not (np.isfinite(dt) and dt > 0):
                raise ValueError(f"`dt` must be a positive number of ms, got {dt}")
        self.dt = dt
        self.metadata = {str(k): str(v) for k, v in (metadata or {}).items()}
        if dt is not None:
            self.metadata.setdefault("dt", repr(dt))

    # ------------------------------------------------------------------ shapes
    @property
    def trials(self) -> int:
        """Number of trials."""
        return int(self.x.shape[0])

    @property
    def steps(self) -> int:
        """Time steps ``T``."""
        return int(self.x.shape[1])

    @property
    def inputs(self) -> int:
        """Input channels ``I``."""
        return int(self.x.shape[2])

    @property
    def outputs(self) -> int:
        """Outputs ``K``: classes (``max label + 1``, at least 2, or metadata ``outputs``) or
        the width of ``target``."""
        if self.target is not None:
            return int(self.target.shape[2])
        assert self.labels is not None
        k = max(int(self.labels.max()) + 1, 2)
        if "outputs" in self.metadata:
            k = max(k, int(self.metadata["outputs"]))
        return k

    @property
    def kind(self) -> str:
        """``"last-step"`` (labels ``[trials]``), ``"per-step"`` (labels ``[trials, T]``) or
        ``"series"`` (target + mask)."""
        if self.target is not None:
            return "series"
        assert self.labels is not None
        return "last-step" if self.labels.ndim == 1 else "per-step"

    def __len__(self) -> int:
        return self.trials

    def __repr__(self) -> str:
        cond = f", conditions={sorted(self.conditions)}" if self.conditions else ""
        dt = f", dt={self.dt}" if self.dt is not None else ""
        return (
            f"Task(trials={self.trials}, T={self.steps}, inputs={self.inputs}, "
            f"outputs={self.outputs}, kind={self.kind!r}{cond}{dt})"
        )

    def subset(self, idx: Any) -> "Task":
        """The trials ``idx`` (an index array or slice) as a new task."""
        sel = np.arange(self.trials)[idx]
        return Task(
            self.x[sel],
            labels=None if self.labels is None else self.labels[sel],
            target=None if self.target is None else self.target[sel],
            mask=None if self.mask is None else self.mask[sel],
            conditions={k: v[sel] for k, v in self.conditions.items()},
            dt=self.dt,
            metadata=self.metadata,
        )

    # ------------------------------------------------------------------ engine layout
    def engine_arrays(self) -> Dict[str, np.ndarray]:
        """The arrays in the engine's time-major layout, C-contiguous.

        Returns:
            ``x`` float32 ``[T, trials, I]``; then ``labels`` int64 ``[trials]`` (last-step),
            or ``labels`` int64 ``[T, trials]`` and ``mask`` float32 ``[T, trials]``
            (per-step), or ``target`` and ``mask`` float32 ``[T, trials, K]`` (series).
        """
        out: Dict[str, np.ndarray] = {
            "x": np.ascontiguousarray(self.x.transpose(1, 0, 2), dtype=np.float32)
        }
        if self.labels is not None and self.labels.ndim == 1:
            out["labels"] = self.labels
        elif self.labels is not None:
            assert self.mask is not None
            out["labels"] = np.ascontiguousarray(self.labels.T)
            out["mask"] = np.ascontiguousarray(self.mask.T, dtype=np.float32)
        else:
            assert self.target is not None and self.mask is not None
            out["target"] = np.ascontiguousarray(self.target.transpose(1, 0, 2), dtype=np.float32)
            out["mask"] = np.ascontiguousarray(self.mask.transpose(1, 0, 2), dtype=np.float32)
        return out

    def _engine_dict(self) -> Dict[str, Any]:
        """What the binding's ``train`` takes: :meth:`engine_arrays` plus ``conditions``
        (float64 ``[trials]`` each) and ``metadata`` (str → str)."""
        d: Dict[str, Any] = dict(self.engine_arrays())
        d["conditions"] = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in self.conditions.items()}
        d["metadata"] = dict(self.metadata)
        return d

    def save_npy(self, directory: Any) -> None:
        """Writes the task as an ``.npy`` task directory in engine layout (``x.npy``;
        ``labels.npy``, or ``labels.npy`` + ``mask.npy`` ``[T, trials]``, or ``target.npy`` +
        ``mask.npy``; ``cond_<name>.npy``; ``meta.json``), readable by ``sasnet train`` with
        ``task.kind = "user"``, ``task.path = DIR``.
        """
        import json
        import os

        os.makedirs(directory, exist_ok=True)
        for name, arr in self.engine_arrays().items():
            np.save(os.path.join(directory, f"{name}.npy"), arr)
        for name, arr in self.conditions.items():
            np.save(os.path.join(directory, f"cond_{name}.npy"), arr)
        meta: Dict[str, Any] = dict(self.metadata)
        if "outputs" in meta:
            meta["outputs"] = int(meta["outputs"])
        with open(os.path.join(directory, "meta.json"), "w") as f:
            json.dump(meta, f)
