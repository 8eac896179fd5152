"""A small TOML writer for configuration overlays and the ``set`` values of the CLI.

Only what sasnet configurations hold: nested dicts (tables) of strings, booleans, integers,
floats and lists of those.
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any, Dict, List, Mapping

__all__ = ["dumps", "format_value"]


def _key(k: Any) -> str:
    k = str(k)
    if k and all(c.isalnum() or c in "-_" for c in k):
        return k
    return json.dumps(k)


def format_value(v: Any, where: str = "value") -> str:
    """``v`` as a TOML value (also the text of a CLI ``--set KEY=VALUE``).

    Raises:
        ValueError: for a value TOML cannot hold (None, NaN, a dict inside a list, …),
            naming ``where``.
    """
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        r = repr(f)
        return r if ("." in r or "e" in r or "n" in r) else r + ".0"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if hasattr(v, "tolist") and not isinstance(v, Mapping):  # numpy scalars and arrays
        return format_value(v.tolist(), where)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(format_value(x, f"{where}[{i}]") for i, x in enumerate(v)) + "]"
    raise ValueError(f"config `{where}`: cannot write {type(v).__name__} {v!r} as TOML")


def dumps(d: Mapping[str, Any]) -> str:
    """A nested dict as TOML text (tables for nested dicts)."""
    lines: List[str] = []

    def table(prefix: List[str], t: Mapping[str, Any]) -> None:
        scalars = [(k, v) for k, v in t.items() if not isinstance(v, Mapping)]
        tables = [(k, v) for k, v in t.items() if isinstance(v, Mapping)]
        if prefix and (scalars or not tables):
            lines.append("[" + ".".join(_key(p) for p in prefix) + "]")
        for k, v in scalars:
            where = ".".join([*prefix, str(k)])
            lines.append(f"{_key(k)} = {format_value(v, where)}")
        if scalars:
            lines.append("")
        for k, v in tables:
            table([*prefix, str(k)], v)

    if not isinstance(d, Mapping):
        raise ValueError(f"config must be a dict (or a TOML file path), got {type(d).__name__}")
    table([], d)
    return "\n".join(lines).rstrip() + "\n"


def flatten(d: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """``{"train": {"lr": 1e-3}}`` → ``{"train.lr": 1e-3}``."""
    out: Dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
