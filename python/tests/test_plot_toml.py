"""sasnet.plot on every plot kind of the figure data, and the TOML writer."""

from __future__ import annotations

import json
import math

import pytest

import sasnet
from sasnet import _sasnet
from sasnet._toml import dumps, format_value

FIGS = [
    {"name": "l", "title": "lines", "x_label": "x", "y_label": "y", "log_y": True, "caption": "",
     "plot": {"Lines": [{"label": "a", "x": [0, 1, 2], "y": [1, 2, float("nan")], "band": [[0, 1, 1], [2, 3, 3]], "markers": True}]}},
    {"name": "h", "title": "hist", "x_label": "x", "y_label": "n", "log_y": False, "caption": "",
     "plot": {"Histograms": [{"label": "w", "edges": [0, 1, 2], "counts": [3, 4]}]}},
    {"name": "m", "title": "heat", "x_label": "j", "y_label": "i", "log_y": False, "caption": "",
     "plot": {"Heatmap": {"rows": 2, "cols": 2, "values": [1, -1, 0, 0.5], "range": [-1, 1]}}},
    {"name": "p", "title": "paths", "x_label": "pc1", "y_label": "pc2", "log_y": False, "caption": "",
     "plot": {"Paths": {"paths": [{"label": "a", "x": [0, 1], "y": [0, 1], "c": [0, 1]}], "scale": {"label": "t (ms)", "range": [0, 1]}}}},
    {"name": "q", "title": "paths by label", "x_label": "pc1", "y_label": "pc2", "log_y": False, "caption": "",
     "plot": {"Paths": {"paths": [{"label": "a", "x": [0, 1], "y": [0, 1], "c": None}], "scale": None}}},
]


def test_plot_every_kind() -> None:
    mpl = pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    mpl.use("Agg")
    axes = sasnet.plot({"figures": json.loads(json.dumps(FIGS))})
    assert len(axes) == len(FIGS)
    assert axes[0].get_title() == "lines" and axes[0].get_yscale() == "log"
    with pytest.raises(ValueError):
        sasnet.plot({"nothing": 1})


def test_toml_round_trip_through_rust() -> None:
    d = {"seed": 3, "name": 'a "q"', "train": {"lr": 1e-3, "flag": True, "l": [1, 2.5], "sub": {"x": -0.0}}}
    back = json.loads(_sasnet.toml_to_json(dumps(d)))
    assert back == d
    assert format_value(1.0) == "1.0" and format_value(True) == "true" and format_value("s") == '"s"'
    assert format_value(math.inf) == "inf"
    with pytest.raises(ValueError, match="train.x"):
        dumps({"train": {"x": None}})
    with pytest.raises(sasnet.ConfigError):
        _sasnet.toml_to_json("a = ")
