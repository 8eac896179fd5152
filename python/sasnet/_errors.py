"""The exceptions of sasnet: one class per kind of library error.

Every error of the Rust library (``sasnet::error::SasError``) is raised as exactly one of
these classes (the binding's match over the variants has no catch-all). Each exception has
``kind`` (the Rust variant's name, e.g. ``"Diverged"``) and ``details`` (its fields as a
dict, e.g. ``{"epoch": 3, "minibatch": 7, "checkpoint": "..."}``).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

__all__ = [
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


class SasnetError(Exception):
    """Base class of every sasnet error.

    Constructed with the message only (so that ``OSError`` subclasses keep a plain message);
    the binding sets the attributes after construction.

    Attributes:
        kind: the Rust ``SasError`` variant (``""`` when raised from Python).
        details: the variant's fields.
    """

    kind: str = ""
    details: Dict[str, Any] = {}

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.kind = ""
        self.details = {}


class ConfigError(SasnetError, ValueError):
    """A configuration value (TOML or ``set``) is invalid; ``details["key"]`` names it."""


class UnknownNameError(SasnetError, ValueError):
    """A preset, analysis, evaluation mode or rule name is not a known one."""


class InvalidArgumentError(SasnetError, ValueError):
    """An argument of a call (or a value) is invalid, out of range or inconsistent."""


class DataError(SasnetError, ValueError):
    """Task data (arrays, task files, MNIST files, tensors) is malformed or missing."""


class RunDirError(SasnetError):
    """A run directory or checkpoint is missing, incomplete or inconsistent."""


class NotApplicableError(SasnetError):
    """An analysis does not apply to the runs (or runs were missing)."""


class MixedFamiliesError(SasnetError, ValueError):
    """Recurrent and feed-forward runs were given together."""


class DivergedError(SasnetError):
    """Training diverged. ``epoch``, ``minibatch`` and ``checkpoint`` (the last good one,
    from which the run resumes with other settings) say where."""

    @property
    def epoch(self) -> Optional[int]:
        return self.details.get("epoch")

    @property
    def minibatch(self) -> Optional[int]:
        return self.details.get("minibatch")

    @property
    def checkpoint(self) -> Optional[str]:
        return self.details.get("checkpoint")


class TrainingStopped(SasnetError):
    """Training was stopped by its stop flag; the run resumes with ``resume=True``. (Ctrl-C
    raises ``KeyboardInterrupt`` instead, after the run is left resumable.)"""


class NumericalError(SasnetError, ArithmeticError):
    """A numerical procedure failed (an eigendecomposition, non-finite intermediate values)."""


class AnalysisTrainingError(SasnetError):
    """Training a network that an analysis needs (a baseline, a retraining variant) failed;
    ``details["source_class"]`` / ``details["source"]`` give the training's own error."""


class SasnetIOError(SasnetError, OSError):
    """Reading, writing or downloading a file failed."""


class RenderError(SasnetError):
    """A figure could not be drawn or encoded."""


class InternalError(SasnetError):
    """A bug in sasnet (a Rust panic, caught): please report it with the message."""
