"""sasnet.neurogym: a stand-in env always, the real neurogym 2.2.0 when installed."""

from __future__ import annotations

import warnings
from typing import Any, Dict

import numpy as np
import pytest

import sasnet
import sasnet.neurogym as sng


class _Space:
    def __init__(self, n: int) -> None:
        self.n = n


class StandIn:
    """NeuroGym's trial interface: variable-length trials, fixation then a decision step."""

    dt = 20

    def __init__(self) -> None:
        self.action_space = _Space(3)
        self.rng = np.random.RandomState(0)
        self.start_ind: Dict[str, int] = {}
        self.end_ind: Dict[str, int] = {}

    def seed(self, s: Any = None) -> None:
        self.rng = np.random.RandomState(s)

    def new_trial(self) -> Dict[str, Any]:
        gt = int(self.rng.choice([0, 1]))
        coh = float(self.rng.choice([0.0, 6.4, 25.6]))
        t = int(self.rng.randint(3, 8))
        self.ob = self.rng.randn(t, 2).astype(np.float32)
        self.gt = np.zeros(t, dtype=np.int64)
        self.gt[-1] = 1 + gt
        self.start_ind = {"stimulus": 0, "decision": t - 1}
        self.end_ind = {"stimulus": t - 1, "decision": t}
        return {"ground_truth": gt, "coh": coh, "name": "not numeric"}


def test_stand_in_padding_mask_conditions() -> None:
    t = sng.task(StandIn(), trials=40, seed=7)
    assert t.kind == "per-step" and t.x.shape[0] == 40 and t.dt == 20.0 and t.outputs == 3
    assert t.mask is not None and t.labels is not None
    lengths = t.mask.sum(axis=1).astype(int)
    assert lengths.min() < lengths.max() == t.steps  # variable lengths, padded to the longest
    for i, n in enumerate(lengths):  # left padding: zeros, mask 0, label 0
        pad = t.steps - n
        assert (t.mask[i, :pad] == 0).all() and (t.mask[i, pad:] == 1).all()
        assert (t.x[i, :pad] == 0).all() and (t.labels[i, :pad] == 0).all()
        assert t.labels[i, -1] in (1, 2)  # the last step is the decision
    assert set(t.conditions) == {"coh", "ground_truth", "signed_coh"}
    sign = np.where(t.conditions["ground_truth"] == 1, 1, -1)
    np.testing.assert_array_equal(t.conditions["signed_coh"], sign * t.conditions["coh"])


def test_stand_in_seeded() -> None:
    a, b = sng.task(StandIn(), 10, seed=3), sng.task(StandIn(), 10, seed=3)
    c = sng.task(StandIn(), 10, seed=4)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.x.shape != c.x.shape or not np.array_equal(a.x, c.x)


def test_stand_in_decision_mask() -> None:
    t = sng.task(StandIn(), 12, seed=1, mask="decision")
    assert t.mask is not None
    assert (t.mask.sum(axis=1) == 1).all() and (t.mask[:, -1] == 1).all()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="trials"):
        sng.task(StandIn(), 0, seed=1)
    with pytest.raises(ValueError, match="mask"):
        sng.task(StandIn(), 2, seed=1, mask="stimulus-only")
    with pytest.raises(TypeError, match="new_trial"):
        sng.task(object(), 2, seed=1)


def _neurogym() -> Any:
    try:
        import neurogym
    except ImportError as e:  # pragma: no cover - CI installs it
        pytest.skip(f"neurogym is not installed ({e}); pip install 'neurogym==2.2.0'")
    return neurogym


def test_real_neurogym_perceptual_decision_making() -> None:
    _neurogym()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = sng.task("PerceptualDecisionMaking-v0", trials=30, seed=5)
        b = sng.task("PerceptualDecisionMaking-v0", trials=30, seed=5)
        d = sng.task("PerceptualDecisionMaking-v0", trials=30, seed=5, mask="decision")
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.outputs == 3 and a.inputs == 3 and a.dt == 100.0
    assert {"coh", "ground_truth", "signed_coh"} <= set(a.conditions)
    # Sign convention: ground_truth 1 → the correct action is 2 and stimulus channel 2 is the
    # stronger; signed_coh > 0 for those trials.
    gt = a.conditions["ground_truth"]
    assert a.labels is not None
    np.testing.assert_array_equal(a.labels[:, -1], 1 + gt)
    strong = a.conditions["coh"] > 20
    stim = a.x[:, 1:-1, 1:].mean(axis=1)
    right = stim[:, 1] > stim[:, 0]
    assert (right[strong] == (a.conditions["signed_coh"][strong] > 0)).mean() > 0.9
    assert d.mask is not None and (d.mask[:, -1] == 1).all() and d.mask.sum() < a.mask.sum()  # type: ignore[union-attr]
