"""Zero mean, unit variance with statistics from training data only (stored with a model)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import write_text_atomic


@dataclass
class Standardizer:
    """Zero mean, unit variance with statistics from training data only.

    One scalar mean and standard deviation over every training value (all clips, bands and
    frames), as the study standardises its images. A constant input (silence) has std 0: the
    std is floored at ``min_std`` so nothing divides by zero.
    """

    mean: float = 0.0
    std: float = 1.0
    min_std: float = 1e-6

    @classmethod
    def fit(cls, values: np.ndarray, *, min_std: float = 1e-6) -> Standardizer:
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0:
            raise ValueError("cannot fit a Standardizer on no data")
        return cls(mean=float(values.mean()), std=float(max(values.std(), min_std)), min_std=min_std)

    def transform(self, values: np.ndarray) -> np.ndarray:
        return ((np.asarray(values, dtype=np.float32) - self.mean) / self.std).astype(np.float32)

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float32) * self.std + self.mean).astype(np.float32)

    def save(self, path: str | os.PathLike) -> Path:
        return write_text_atomic(path, json.dumps({"mean": self.mean, "std": self.std, "min_std": self.min_std}))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Standardizer:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
