"""Shared fixtures: seeded rng, tiny generated datasets, the shared real MIMII clips, bad files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_MIMII = PROJECT_ROOT.parent / "shared" / "data" / "mimii-fan-id00-sample"


@pytest.fixture
def rng():
    """A seeded NumPy generator (same numbers every run)."""
    return np.random.default_rng(20200301)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """The tiny synthetic dataset, all six machine types (generated once per session)."""
    from asd.synth import generate_dataset

    root = tmp_path_factory.mktemp("tiny") / "data"
    generate_dataset(root, size="tiny", seed=0, progress=False)
    return root


@pytest.fixture(scope="session")
def mimii_root() -> Path:
    """The real MIMII fan id_00 clips in ../shared (read in place, never copied)."""
    if not SHARED_MIMII.is_dir():
        pytest.skip(f"real MIMII sample not found at {SHARED_MIMII} (../shared is absent on this machine)")
    return SHARED_MIMII


@pytest.fixture
def quick_config():
    """The study's config with epochs cut to a minimum, for fast training tests."""
    from asd.config import StudyConfig

    config = StudyConfig()
    config.training.epochs = {name: 2 for name in config.training.epochs}
    config.training.default_epochs = 2
    return config
