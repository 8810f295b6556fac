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


def test_a_keras_model_trains_one_machine_type_per_job_into_one_run(tiny_root, tmp_path):
    """With workers, a model trained in epochs is split into one job per machine type; the parts
    merge into the run folder one training writes (complete, checked, every machine type)."""
    from asd.pipeline import data_fingerprint, load_run
    from asd.data import discover_clips

    config = StudyConfig()
    config.training.epochs["dense_ae"] = 1
    types = ["valve", "fan"]
    table = train_models(tiny_root, runs={"dense_ae": tmp_path / "dense_ae"}, config=config, machine_types=types, cache_dir=tmp_path / "cache", workers=2)
    run, _ = load_run(tmp_path / "dense_ae")
    assert run["machine_types"] == sorted(types) and set(run["n_train_clips"]) == set(types)
    assert run["data_fingerprint"] == data_fingerprint(discover_clips(tiny_root, machine_types=types))
    assert table.loc[0, "train clips"] == sum(run["n_train_clips"].values()) and table.loc[0, "epochs"] == 1
    assert not (tmp_path / "dense_ae.parts").exists()
