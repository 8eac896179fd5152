"""Typed stubs of the Rust extension ``sasnet._sasnet`` (use the ``sasnet`` package instead)."""

from typing import List, Optional, Tuple

import numpy as np
import numpy.typing as npt

__version__: str

def presets() -> List[Tuple[str, str]]: ...
def analyses() -> List[Tuple[str, str]]: ...
def train(
    preset: str,
    out: str,
    config_path: Optional[str] = None,
    sets: List[str] = ...,
    seed: Optional[int] = None,
    epochs: Optional[int] = None,
    resume: bool = False,
    progress: bool = True,
) -> str: ...
def analyze(name: str, runs: List[str], out: Optional[str] = None, seed: int = 0, quick: bool = False) -> str: ...
def report(runs: List[str], out: Optional[str] = None) -> str: ...
def toml_to_json(text: str) -> str: ...

class RunHandle:
    def __init__(self, path: str) -> None: ...
    @property
    def path(self) -> str: ...
    @property
    def epoch(self) -> int: ...
    @property
    def config_toml(self) -> str: ...
    def metrics(self) -> List[Tuple[str, npt.NDArray[np.float64]]]: ...
    def params(self) -> List[Tuple[str, List[int], npt.NDArray[np.float32]]]: ...
    def evaluate(
        self,
        mode: str,
        samples: Optional[int] = None,
        resample_every: Optional[int] = None,
        trials: Optional[int] = None,
        limit: int = 0,
        seed: int = 0,
    ) -> str: ...
    def forward(
        self, x: npt.NDArray[np.float32], mode: str, seed: int = 0
    ) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...
