"""sasnet.Task: conversion, layout and validation (ValueError naming the array)."""

from __future__ import annotations

import numpy as np
import pytest

import sasnet


def test_engine_layout_and_dtype_conversion() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 3, size=(4, 5, 2)).astype(np.int16)  # int dtype
    xf = np.asfortranarray(x)  # non-contiguous (Fortran order)
    t = sasnet.Task(xf, labels=np.array([0, 1, 2, 1], dtype=np.uint8))
    assert t.x.dtype == np.float64 and t.x.flags["C_CONTIGUOUS"]
    assert t.labels is not None and t.labels.dtype == np.int64
    assert (t.trials, t.steps, t.inputs, t.outputs, t.kind) == (4, 5, 2, 3, "last-step")
    e = t.engine_arrays()
    assert e["x"].shape == (5, 4, 2) and e["x"].dtype == np.float32 and e["x"].flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(e["x"][3, 2], x[2, 3])


def test_strided_view_and_per_step_labels() -> None:
    x = np.arange(2 * 6 * 3, dtype=np.float64).reshape(2, 6, 3)[:, ::2, :]  # strided view
    labels = np.tile([0, 0, 1], (2, 1))
    t = sasnet.Task(x, labels=labels)
    assert t.kind == "per-step" and t.mask is not None and t.mask.shape == (2, 3)
    e = t.engine_arrays()
    assert e["labels"].shape == (3, 2) and e["mask"].shape == (3, 2)
    np.testing.assert_array_equal(e["x"][1, 0], x[0, 1])


def test_series_task() -> None:
    x = np.zeros((3, 4, 1))
    y = np.ones((3, 4, 2))
    t = sasnet.Task(x, target=y, mask=np.ones_like(y), conditions={"c": [1, 2, 3]}, dt=10)
    assert t.kind == "series" and t.outputs == 2 and t.dt == 10.0
    assert t.engine_arrays()["target"].shape == (4, 3, 2)
    assert t.conditions["c"].dtype == np.float64


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(x=np.full((2, 3, 1), np.nan), labels=[0, 1]), "`x`"),
        (dict(x=np.full((2, 3, 1), np.inf), labels=[0, 1]), "`x`"),
        (dict(x=np.zeros((2, 3)), labels=[0, 1]), "`x`"),
        (dict(x=np.zeros((2, 3, 1)), labels=[0, 1, 1]), "`labels`"),
        (dict(x=np.zeros((2, 3, 1)), labels=[0, -1]), "`labels`"),
        (dict(x=np.zeros((2, 3, 1)), labels=[0, 1 << 20]), "`labels`"),
        (dict(x=np.zeros((2, 3, 1)), labels=[0.5, 1]), "`labels`"),
        (dict(x=np.zeros((2, 3, 1)), labels=np.zeros((2, 4))), "`labels`"),
        (dict(x=np.zeros((2, 3, 1)), labels=np.zeros((2, 3)), mask=-np.ones((2, 3))), "`mask`"),
        (dict(x=np.zeros((2, 3, 1)), labels=np.zeros((2, 3)), mask=np.ones((2, 2))), "`mask`"),
        (dict(x=np.zeros((2, 3, 1)), target=np.zeros((2, 3, 2))), "`mask`"),
        (dict(x=np.zeros((2, 3, 1)), target=np.zeros((2, 3, 2)), mask=np.ones((2, 3, 1))), "`mask`"),
        (dict(x=np.zeros((2, 3, 1)), target=np.zeros((2, 2, 2)), mask=np.ones((2, 2, 2))), "`target`"),
        (dict(x=np.zeros((2, 3, 1)), target=np.full((2, 3, 1), np.nan), mask=np.ones((2, 3, 1))), "`target`"),
        (dict(x=np.zeros((2, 3, 1)), labels=[0, 1], conditions={"coh": [1.0]}), "conditions['coh']"),
        (dict(x=np.zeros((2, 3, 1)), labels=[0, 1], dt=-1), "`dt`"),
        (dict(x=np.zeros((2, 3, 1)), labels=[0, 1], conditions={"a-b": [1, 2]}), "`conditions`"),
        (dict(x=np.zeros((2, 3, 1))), "labels"),
        (dict(x=[[[1.0], [2.0]], [[1.0]]], labels=[0, 1]), "`x`"),
        (dict(x=np.array([[["a"]]]), labels=[0]), "`x`"),
    ],
)
def test_bad_arrays_name_the_array(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError) as e:
        sasnet.Task(**kwargs)
    assert name in str(e.value), str(e.value)


def test_save_npy_round_trip(tmp_path) -> None:
    t = sasnet.Task(np.ones((3, 2, 1)), labels=[0, 1, 0], metadata={"outputs": 4})
    t.save_npy(tmp_path / "t")
    x = np.load(tmp_path / "t" / "x.npy")
    assert x.shape == (2, 3, 1) and x.dtype == np.float32
    assert np.load(tmp_path / "t" / "labels.npy").tolist() == [0, 1, 0]
    assert t.outputs == 4
