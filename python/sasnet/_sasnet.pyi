"""Typed stubs of the Rust extension ``sasnet._sasnet`` (use the ``sasnet`` package instead)."""

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

__version__: str

def presets() -> List[Tuple[str, str]]: ...
def analyses() -> List[Tuple[str, str]]: ...
DEFAULT_SEED: int

def train(
    preset: str,
    out: str,
    config_toml: Optional[str] = None,
    config_path: Optional[str] = None,
    sets: List[str] = ...,
    seed: Optional[int] = None,
    epochs: Optional[int] = None,
    resume: bool = False,
    progress: bool = True,
    data_dir: Optional[str] = None,
    task: Optional[Dict[str, Any]] = None,
    test: Optional[Dict[str, Any]] = None,
) -> RunHandle: ...
def analyze(
    name: str,
    runs: List[str],
    out: str,
    seed: Optional[int] = None,
    quick: bool = False,
    data_dir: Optional[str] = None,
    test_dt_ms: Optional[float] = None,
    fast_dt_ms: Optional[float] = None,
    vip_rule: Optional[str] = None,
    vip_pi_max: Optional[float] = None,
    vip_xi_max: Optional[float] = None,
    vip_m_min: Optional[float] = None,
    condition: Optional[str] = None,
    group: Optional[str] = None,
    choice: Optional[int] = None,
) -> str: ...
def report(
    runs: List[str],
    page: str,
    seed: Optional[int] = None,
    quick: bool = False,
    data_dir: Optional[str] = None,
    test_dt_ms: Optional[float] = None,
    fast_dt_ms: Optional[float] = None,
    skip: List[str] = ...,
    progress: bool = True,
    condition: Optional[str] = None,
    group: Optional[str] = None,
    choice: Optional[int] = None,
) -> str: ...
def toml_to_json(text: str) -> str: ...
def checkpoint_tensors(run_dir: str) -> List[Tuple[str, List[int], npt.NDArray[np.float64]]]: ...

class RunHandle:
    def __init__(self, path: str) -> None: ...
    @property
    def path(self) -> str: ...
    @property
    def epoch(self) -> int: ...
    @property
    def family(self) -> str: ...
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
        seed: Optional[int] = None,
        data_dir: Optional[str] = None,
    ) -> str: ...
    def forward(
        self, x: npt.NDArray[np.float32], mode: str, seed: int = 0, resample_every: Optional[int] = None
    ) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...
