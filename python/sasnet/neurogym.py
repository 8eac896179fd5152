"""NeuroGym tasks as :class:`sasnet.Task` (sasnet does not depend on neurogym).

``task(env, trials, seed)`` draws ``trials`` trials from a NeuroGym environment:

- ``env`` is a NeuroGym id (``"PerceptualDecisionMaking-v0"``; then ``neurogym`` is imported
  and ``neurogym.make(env, **env_kwargs)`` called; use ``neurogym==2.2.0``, which needs no
  torch) or any object with NeuroGym's trial interface: ``new_trial()`` returning the trial
  dict, then attributes ``ob`` ``[T, I]``, ``gt`` ``[T]``, ``dt``, ``action_space.n`` and a
  ``seed(s)`` method. A gymnasium wrapper is looked through (``env.unwrapped``).
- **Seeding**: ``env.seed(seed)`` is called before the first trial, so the same seed gives
  identical arrays (every random draw of a NeuroGym ``TrialEnv`` comes from ``env.rng`` and
  the timing distributions, which ``seed`` resets).
- **Labels** are per step, from ``gt`` (NeuroGym's action index: 0 = fixate, 1.. = choices);
  the number of classes is ``action_space.n``.
- **Mask**: by default 1 at every step (NeuroGym trains on every step: fixate while there is
  no decision, then choose). ``mask="decision"`` keeps only the steps of the period named
  ``decision`` (from the env's ``start_ind`` / ``end_ind``), raising ``ValueError`` if the env
  has no such period.
- **Variable-length trials** are padded to the longest, at the **start** (left): the padding
  has ``x = 0``, label 0 and mask 0, so every trial's last step is its own last step (the
  decision, for last-step scoring and the analyses that read the final state).
- **Conditions**: every scalar numeric entry of the trial dicts (``coh``, ``ground_truth``,
  …) becomes a per-trial array. When both ``coh`` and ``ground_truth`` exist and
  ``ground_truth`` takes only the values 0 and 1, a **signed coherence** ``signed_coh`` is
  added: ``+coh`` for ``ground_truth == 1`` and ``-coh`` for ``ground_truth == 0``. In
  ``PerceptualDecisionMaking`` (``dim_ring=2``, ``theta = [0, π]``), ``ground_truth`` 0 makes
  stimulus channel 1 (``ob[:, 1]``) the stronger one and the correct action 1; ``ground_truth``
  1 makes channel 2 stronger and the correct action 2. So ``signed_coh > 0`` is evidence for
  the second choice (action 2, "right" when choice 1 is "left"), and a psychometric curve of
  P(choice 2) against ``signed_coh`` increases.
- ``dt`` (ms) is recorded on the task.
"""

from __future__ import annotations

import numbers
from typing import Any, Dict, List, Optional

import numpy as np

from ._task import Task

__all__ = ["task"]


def _make(env: Any, env_kwargs: Dict[str, Any]) -> Any:
    if isinstance(env, str):
        try:
            import neurogym  # type: ignore[import-not-found]
        except ImportError as e:
            raise ImportError(
                f"sasnet.neurogym.task({env!r}) needs the neurogym package: "
                "pip install 'neurogym==2.2.0' (or pass an environment object)"
            ) from e
        env = neurogym.make(env, **env_kwargs)
    elif env_kwargs:
        raise TypeError("env_kwargs apply only when `env` is a NeuroGym id string")
    return env


def _base(env: Any) -> Any:
    """The object that holds ``new_trial``, ``ob`` and ``gt`` (a gymnasium wrapper's
    ``unwrapped`` env when the wrapper itself does not define ``new_trial``)."""
    inner = getattr(env, "unwrapped", None)
    if inner is not None and inner is not env and hasattr(inner, "new_trial"):
        return inner
    return env


def task(
    env: Any,
    trials: int,
    seed: int,
    *,
    mask: str = "all",
    **env_kwargs: Any,
) -> Task:
    """Draws ``trials`` trials of a NeuroGym environment as a :class:`sasnet.Task`.

    Args:
        env: a NeuroGym id (``"PerceptualDecisionMaking-v0"``) or an env object with
            NeuroGym's trial interface (see the module docs).
        trials: number of trials to draw (``>= 1``).
        seed: seed passed to ``env.seed`` before the first trial.
        mask: ``"all"`` (every real step scored) or ``"decision"`` (only the steps of the
            ``decision`` period).
        **env_kwargs: passed to ``neurogym.make`` (only with an id string).

    Returns:
        A task with ``x`` ``[trials, T, I]`` (float), per-step ``labels`` ``[trials, T]``,
        ``mask`` ``[trials, T]`` (0 on left padding), ``conditions`` (scalar entries of the
        trial dicts, plus ``signed_coh``), ``dt`` and metadata ``outputs = action_space.n``.
    """
    if isinstance(trials, bool) or not isinstance(trials, numbers.Integral) or trials < 1:
        raise ValueError(f"`trials` must be a positive integer, got {trials!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}")
    if mask not in ("all", "decision"):
        raise ValueError(f"`mask` must be 'all' or 'decision', got {mask!r}")
    env = _make(env, env_kwargs)
    base = _base(env)
    for attr in ("new_trial", "seed"):
        if not callable(getattr(base, attr, None)):
            raise TypeError(f"`env` has no method `{attr}` (NeuroGym's trial interface is needed)")
    base.seed(int(seed))

    obs: List[np.ndarray] = []
    gts: List[np.ndarray] = []
    masks: List[np.ndarray] = []
    infos: List[Dict[str, Any]] = []
    for i in range(int(trials)):
        info = base.new_trial()
        ob = np.array(base.ob, dtype=np.float64, copy=True)
        gt = np.array(base.gt, copy=True)
        if ob.ndim == 1:
            ob = ob[:, None]
        if ob.ndim != 2:
            raise ValueError(f"trial {i}: `env.ob` must be [T, I], got shape {ob.shape}")
        if gt.ndim != 1 or gt.shape[0] != ob.shape[0]:
            raise ValueError(
                f"trial {i}: `env.gt` must be [T] with T = {ob.shape[0]} (from `env.ob`), got shape {gt.shape}"
            )
        m = np.ones(ob.shape[0])
        if mask == "decision":
            start = getattr(base, "start_ind", {}) or {}
            end = getattr(base, "end_ind", {}) or {}
            if "decision" not in start or "decision" not in end:
                periods = sorted(start) if start else "none"
                raise ValueError(
                    f"mask='decision': the env has no `decision` period in start_ind/end_ind (periods: {periods})"
                )
            m = np.zeros(ob.shape[0])
            m[int(start["decision"]) : int(end["decision"])] = 1.0
            if not m.any():
                raise ValueError(f"mask='decision': trial {i} has an empty decision period")
        obs.append(ob)
        gts.append(gt)
        masks.append(m)
        infos.append(dict(info) if isinstance(info, dict) else {})

    inputs = {o.shape[1] for o in obs}
    if len(inputs) != 1:
        raise ValueError(f"trials have different numbers of inputs: {sorted(inputs)}")
    steps = max(o.shape[0] for o in obs)
    n_in = obs[0].shape[1]
    x = np.zeros((trials, steps, n_in))
    labels = np.zeros((trials, steps), dtype=np.int64)
    msk = np.zeros((trials, steps))
    for i, (o, g, m) in enumerate(zip(obs, gts, masks)):
        pad = steps - o.shape[0]  # left padding: the last step stays the trial's own
        x[i, pad:] = o
        labels[i, pad:] = g
        msk[i, pad:] = m

    conditions = _conditions(infos)
    n_actions: Optional[int] = None
    space = getattr(base, "action_space", None)
    if space is not None and getattr(space, "n", None) is not None:
        n_actions = int(space.n)
    metadata: Dict[str, Any] = {"source": f"neurogym:{type(base).__name__}"}
    if n_actions is not None:
        if labels.max() >= n_actions:
            raise ValueError(f"`env.gt` holds action {labels.max()} but action_space.n = {n_actions}")
        metadata["outputs"] = n_actions
    dt = getattr(base, "dt", None)
    return Task(
        x,
        labels=labels,
        mask=msk,
        conditions=conditions,
        dt=None if dt is None else float(dt),
        metadata=metadata,
    )


def _conditions(infos: List[Dict[str, Any]]) -> Dict[str, np.ndarray]:
    """Per-trial arrays of the scalar numeric entries present in every trial dict, plus
    ``signed_coh`` (see the module docs)."""
    keys = set.intersection(*(set(d) for d in infos)) if infos else set()
    out: Dict[str, np.ndarray] = {}
    for k in sorted(keys, key=str):
        vals = [d[k] for d in infos]
        if all(
            isinstance(v, (numbers.Real, np.number)) and not isinstance(v, (bool, np.bool_))
            or (isinstance(v, np.ndarray) and v.ndim == 0 and np.issubdtype(v.dtype, np.number))
            for v in vals
        ):
            arr = np.asarray([float(v) for v in vals])
            if np.isfinite(arr).all():
                out[str(k)] = arr
    if "coh" in out and "ground_truth" in out and set(np.unique(out["ground_truth"])) <= {0.0, 1.0}:
        out["signed_coh"] = np.where(out["ground_truth"] == 1.0, out["coh"], -out["coh"]) + 0.0
    return out
