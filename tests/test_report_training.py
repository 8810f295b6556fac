"""asd.report.training: the report's models trained several at a time, as if one at a time."""

from __future__ import annotations

import pytest

from asd.config import StudyConfig
from asd.report.training import train_models


@pytest.mark.parametrize("workers", [1, 2])
def test_models_trained_at_once_equal_those_trained_alone(tiny_root, tmp_path, workers):
    models = ["embedding_knn", "multistat"]
    runs = {m: tmp_path / f"{workers}" / m for m in models}
    table = train_models(tiny_root, runs=runs, config=StudyConfig(), machine_types=["valve"], cache_dir=tmp_path / "cache", workers=workers)
    assert table["model"].tolist() == models and (table["seconds"] >= 0).all()
    assert (table["epochs"] == "-").all() and (table["train clips"] > 0).all()
    alone = train_models(tiny_root, runs={"multistat": tmp_path / "alone"}, config=StudyConfig(), machine_types=["valve"], workers=1)
    assert len(alone) == 1
    for name in ("train_scores.csv", "thresholds.json"):
        assert (runs["multistat"] / "valve" / name).read_bytes() == (tmp_path / "alone" / "valve" / name).read_bytes()
