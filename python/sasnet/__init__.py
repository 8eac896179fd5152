"""sasnet: spike-and-slab recurrent networks trained by mean-field gBPTT, and the analysis of
the trained ensemble.

Arrays are batch-first (``[trials, T, ...]``); the engine's time-major layout is made inside.
"""

from __future__ import annotations

from . import _sasnet
from ._errors import (
    AnalysisTrainingError,
    NumericalError,
    ConfigError,
    DataError,
    DivergedError,
    InternalError,
    InvalidArgumentError,
    MixedFamiliesError,
    NotApplicableError,
    RenderError,
    RunDirError,
    SasnetError,
    SasnetIOError,
    TrainingStopped,
    UnknownNameError,
)
from ._plot import plot
from ._run import Run, analyses, analyze, presets, report, train
from ._task import Task

__version__: str = _sasnet.__version__

__all__ = [
    "__version__",
    "Task",
    "Run",
    "train",
    "analyze",
    "report",
    "presets",
    "analyses",
    "plot",
    "SasnetError",
    "ConfigError",
    "UnknownNameError",
    "InvalidArgumentError",
    "DataError",
    "RunDirError",
    "NotApplicableError",
    "MixedFamiliesError",
    "DivergedError",
    "TrainingStopped",
    "NumericalError",
    "AnalysisTrainingError",
    "SasnetIOError",
    "RenderError",
    "InternalError",
]
