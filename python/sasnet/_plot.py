"""Drawing an analysis result's figures (figures as data, ``src/output/figure.rs``) with
matplotlib, which is imported only here."""

from __future__ import annotations

import math
from typing import Any, List, Mapping, Optional, Sequence

__all__ = ["plot"]


def _nan(v: Sequence[Any]) -> List[float]:
    return [math.nan if a is None else float(a) for a in v]


def _figures(result: Any) -> List[Mapping[str, Any]]:
    if isinstance(result, Mapping) and "plot" in result:
        return [result]
    if isinstance(result, Mapping) and "figures" in result:
        figs = result["figures"]
    else:
        figs = result
    if not isinstance(figs, (list, tuple)) or not all(isinstance(f, Mapping) and "plot" in f for f in figs):
        raise ValueError(
            "sasnet.plot needs an analysis result (a dict with `figures`), a list of figures or one figure"
        )
    return list(figs)


def _draw(fig: Mapping[str, Any], ax: Any) -> None:
    plot = fig["plot"]
    (kind, data), = plot.items()
    if kind == "Lines":
        for s in data:
            x, y = _nan(s["x"]), _nan(s["y"])
            style = "o-" if s.get("markers") else "-"
            (line,) = ax.plot(x, y, style, label=s.get("label") or None, markersize=3)
            if s.get("band"):
                lo, hi = s["band"]
                ax.fill_between(x, _nan(lo), _nan(hi), color=line.get_color(), alpha=0.25, linewidth=0)
    elif kind == "Histograms":
        for h in data:
            edges, counts = _nan(h["edges"]), _nan(h["counts"])
            ax.stairs(counts, edges, label=h.get("label") or None, fill=len(data) == 1, alpha=0.6 if len(data) == 1 else 1.0)
    elif kind == "Heatmap":
        import numpy as np

        rows, cols = int(data["rows"]), int(data["cols"])
        values = np.asarray(_nan(data["values"])).reshape(rows, cols)
        vmin, vmax = data["range"]
        cmap = "RdBu_r" if vmin is not None and vmax is not None and math.isclose(-vmin, vmax) else "viridis"
        im = ax.imshow(values, aspect="auto", vmin=vmin, vmax=vmax, cmap=cmap, interpolation="nearest")
        ax.figure.colorbar(im, ax=ax)
    elif kind == "Paths":
        scale = data.get("scale")
        seen = set()
        mappable = None
        for p in data["paths"]:
            x, y = _nan(p["x"]), _nan(p["y"])
            if scale is not None and p.get("c") is not None:
                lo, hi = scale["range"]
                cmap = "RdBu_r" if math.isclose(-lo, hi) else "viridis"
                ax.plot(x, y, color="0.7", linewidth=0.5, zorder=1)
                mappable = ax.scatter(x, y, c=_nan(p["c"]), vmin=lo, vmax=hi, cmap=cmap, s=6, zorder=2)
                ax.plot(x[:1], y[:1], "k.", zorder=3)
            else:
                label = p.get("label") if p.get("label") not in seen else None
                seen.add(p.get("label"))
                (line,) = ax.plot(x, y, label=label or None)
                ax.plot(x[:1], y[:1], ".", color=line.get_color())
        if mappable is not None and scale is not None:
            ax.figure.colorbar(mappable, ax=ax, label=scale.get("label", ""))
    else:
        raise ValueError(f"figure `{fig.get('name')}`: unknown plot kind `{kind}`")
    ax.set_title(fig.get("title", ""))
    ax.set_xlabel(fig.get("x_label", ""))
    ax.set_ylabel(fig.get("y_label", ""))
    if fig.get("log_y"):
        ax.set_yscale("log")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def plot(result: Any, ax: Optional[Any] = None) -> List[Any]:
    """Draws the figures of an analysis result with matplotlib.

    Args:
        result: what :func:`sasnet.analyze` returns (a dict with ``figures``), a list of
            figure dicts, or one figure dict.
        ax: an Axes to draw into (only for a single figure) or a sequence of Axes, one per
            figure; ``None`` makes one new matplotlib figure per figure.

    Returns:
        The Axes drawn into, one per figure.

    Raises:
        ImportError: when matplotlib is not installed.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("sasnet.plot needs matplotlib: pip install matplotlib") from e
    figs = _figures(result)
    if ax is None:
        axes = [plt.figure().add_subplot() for _ in figs]
    elif isinstance(ax, (list, tuple)) or hasattr(ax, "flat"):
        axes = list(getattr(ax, "flat", ax))
        if len(axes) < len(figs):
            raise ValueError(f"{len(figs)} figures but only {len(axes)} Axes given")
    else:
        if len(figs) != 1:
            raise ValueError(f"one Axes given for {len(figs)} figures; pass a list of Axes or ax=None")
        axes = [ax]
    for f, a in zip(figs, axes):
        _draw(f, a)
    return axes[: len(figs)]
