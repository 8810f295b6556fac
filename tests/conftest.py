"""Shared fixtures: seeded rng, tiny generated datasets, the shared real MIMII clips, bad files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from asd.runtime import configure_allocators, quiet_tensorflow  # noqa: E402

quiet_tensorflow()  # no CUDA start-up lines on machines without a GPU, as asd's command line
configure_allocators()  # the tests' trainings run in a process set up as asd's command line sets its own

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


@pytest.fixture
def clip_table() -> pd.DataFrame:
    """A clip table as :func:`asd.data.discover_clips` returns it (paths need not exist): fan ids 00 and 02,
    pump id 00; 3 normal training clips and 2 normal + 2 anomalous test clips each."""
    rows = []
    for machine_type, ids in (("fan", ("00", "02")), ("pump", ("00",))):
        for machine_id in ids:
            for i in range(3):
                rows.append(
                    (
                        f"/x/{machine_type}/train/normal_id_{machine_id}_{i:08d}.wav",
                        f"normal_id_{machine_id}_{i:08d}.wav",
                        machine_type,
                        machine_id,
                        "train",
                        "normal",
                    )
                )
            for label in ("normal", "anomaly"):
                for i in range(2):
                    name = f"{label}_id_{machine_id}_{i:08d}.wav"
                    rows.append((f"/x/{machine_type}/test/{name}", name, machine_type, machine_id, "test", label))
    return pd.DataFrame(rows, columns=["path", "file_name", "machine_type", "machine_id", "split", "label"])


@pytest.fixture
def wav_examples(tmp_path, rng):
    """One normal and one anomalous 10 s clip for two machine types, as pick_examples returns them."""
    from asd.audio import write_clip

    rows = []
    t = np.arange(160000) / 16000
    for machine_type in ("fan", "valve"):
        for label in ("normal", "anomaly"):
            samples = 0.1 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(t.size)
            if label == "anomaly":
                samples += 0.05 * np.sin(2 * np.pi * 3000 * t)
            path = write_clip(tmp_path / machine_type / f"{label}_id_00_00000000.wav", samples)
            rows.append(
                {
                    "machine_type": machine_type,
                    "machine_id": "00",
                    "label": label,
                    "file_name": path.name,
                    "path": str(path),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def score_table(rng) -> pd.DataFrame:
    """Scores of two models on fan and pump ids 00 and 02: 10 normal (N(0, 1)) and 10 anomalous
    (N(1, 1)) clips each, as ``scores.csv`` holds them."""
    rows = []
    for model in ("conv_ae", "embedding_knn"):
        for machine_type in ("fan", "pump"):
            for machine_id in ("00", "02"):
                for label, shift in (("normal", 0.0), ("anomaly", 1.0)):
                    for value in rng.normal(shift, 1.0, 10):
                        rows.append(
                            {
                                "model": model,
                                "machine_type": machine_type,
                                "machine_id": machine_id,
                                "label": label,
                                "score": value,
                            }
                        )
    return pd.DataFrame(rows)
