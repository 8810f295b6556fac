"""asd.report.training: the report's models trained several at a time, as if one at a time."""

from __future__ import annotations

import pandas as pd
import pytest

from asd.config import StudyConfig
from asd.errors import ASDError
from asd.report.training import train_models


@pytest.mark.parametrize("workers", [1, 2])
def test_models_trained_and_scored_at_once_equal_those_trained_and_scored_alone(tiny_root, tmp_path, workers):
    from asd.pipeline import evaluate

    models = ["embedding_knn", "multistat"]
    runs = {m: tmp_path / "runs" / m for m in models}
    results = {m: tmp_path / "results" / m for m in models}
    cache = tmp_path / "cache"
    table = train_models(
        tiny_root,
        runs=runs,
        config=StudyConfig(),
        machine_types=["valve"],
        cache_dir=cache,
        workers=workers,
        results=results,
    )
    assert table["model"].tolist() == models and (table["seconds"] >= 0).all() and (table["scoring seconds"] >= 0).all()
    assert (table["epochs"] == "-").all() and (table["train clips"] > 0).all()
    alone = train_models(
        tiny_root, runs={"multistat": tmp_path / "alone"}, config=StudyConfig(), machine_types=["valve"], workers=1
    )
    assert len(alone) == 1 and "scoring seconds" not in alone
    for name in ("train_scores.csv", "thresholds.json"):
        assert (runs["multistat"] / "valve" / name).read_bytes() == (tmp_path / "alone" / "valve" / name).read_bytes()
    for model in models:  # scored by the training workers as notebook 03 would score them
        evaluate(tiny_root, run_dir=runs[model], out=tmp_path / "again" / model, cache_dir=cache, progress=False)
        for name in ("scores.csv", "results.csv"):
            assert (results[model] / name).read_bytes() == (tmp_path / "again" / model / name).read_bytes()


def test_results_folders_must_match_the_models(tiny_root, tmp_path):
    with pytest.raises(ValueError, match="do not match the models"):
        train_models(
            tiny_root,
            runs={"multistat": tmp_path / "r"},
            config=StudyConfig(),
            results={"embedding_knn": tmp_path / "x"},
        )


def test_a_failed_training_is_raised_and_nothing_is_scored(tiny_root, tmp_path):
    runs = {"multistat": tmp_path / "runs" / "multistat", "embedding_knn": tmp_path / "runs" / "knn"}
    results = {m: tmp_path / "results" / m for m in runs}
    with pytest.raises(ASDError, match="no_such_type"):
        train_models(
            tiny_root, runs=runs, config=StudyConfig(), machine_types=["no_such_type"], workers=2, results=results
        )
    assert not any((tmp_path / "results").rglob("scores.csv"))


def test_each_training_says_when_it_started_and_finished_with_its_epochs(tiny_root, tmp_path, caplog):
    import logging

    from asd.report import training

    for machine_type, epochs in (("fan", 3), ("pump", 3)):
        (tmp_path / "ae" / machine_type).mkdir(parents=True)
        history = pd.DataFrame({"epoch": range(1, epochs + 1), "loss": 1.0})
        history.to_csv(tmp_path / "ae" / machine_type / "history.csv", index=False)
    assert training._epochs_done(tmp_path / "ae") == "3 epochs on each of 2 machine types"
    with caplog.at_level(logging.INFO, logger="asd.report.training"):
        out, cache = str(tmp_path / "knn"), str(tmp_path / "cache")
        training._train_one(str(tiny_root), "embedding_knn", out, StudyConfig(), ["fan"], cache)
    lines = [r.getMessage() for r in caplog.records if r.name == "asd.report.training"]
    assert lines[0] == "embedding_knn: started"
    assert lines[-1].startswith("embedding_knn: finished in ") and lines[-1].endswith(" s (fitted in one step)")


def test_trainings_are_ordered_by_the_reports_schedule(monkeypatch):
    """The longest first: epochs times the epoch cost of asd.report.study's schedule, never a model attribute."""
    from asd.detectors import DETECTORS, Detector
    from asd.report import study
    from asd.report.training import _expected_cost

    config = study.study_config()
    for name, cls in DETECTORS.items():
        expected = (
            config.training.epochs_for(name) * study.report_schedule(name).epoch_cost if cls.trains_in_epochs else 0.0
        )
        assert _expected_cost(name, config) == expected
    assert (
        _expected_cost("conv_ae", config)
        > _expected_cost("conv_vae", config)
        > _expected_cost("multistat", config)
        == 0
    )
    monkeypatch.setitem(DETECTORS, "test_new", type("New", (Detector,), {"name": "test_new", "trains_in_epochs": True}))
    assert _expected_cost("test_new", config) == config.training.default_epochs * study.DEFAULT_SCHEDULE.epoch_cost
    monkeypatch.setitem(study.REPORT_SCHEDULE, "test_new", study.Schedule(epochs=2, epoch_cost=0.5))
    assert _expected_cost("test_new", config) == config.training.default_epochs * 0.5


def test_a_keras_model_trained_on_the_cluster_is_the_same_every_time(tiny_root, tmp_path):
    """The report's Keras trainings run as Dask tasks; run twice, they give the same numbers to the last bit."""
    config = StudyConfig()
    config.training.epochs["dense_ae"] = 1
    for attempt in ("first", "second"):
        train_models(
            tiny_root, runs={"dense_ae": tmp_path / attempt}, config=config, machine_types=["valve"], workers=2
        )
    for name in ("history.csv", "train_scores.csv", "thresholds.json"):
        assert (tmp_path / "first" / "valve" / name).read_bytes() == (tmp_path / "second" / "valve" / name).read_bytes()
