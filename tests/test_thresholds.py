import json
import logging
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from asd.metrics import RESULT_COLUMNS, results_table
from asd.pipeline import evaluate, train
from asd.thresholds import (
    DEFAULT_FALSE_ALARM_RATE,
    false_alarm_rate_of,
    fit_threshold,
    fit_thresholds,
    load_thresholds,
    refit_thresholds,
    threshold_for,
)

CONTRACT_COLUMNS = ["model", "machine_type", "machine_id", "auc", "pauc", "n_normal", "n_anomaly"]


def assert_same_thresholds(actual: dict, expected: dict) -> None:
    """Equal up to float round-off (train_scores.csv stores scores as decimal text)."""
    assert set(actual["ids"]) == set(expected["ids"])
    for machine_id in expected["ids"]:
        assert actual["ids"][machine_id]["method"] == expected["ids"][machine_id]["method"]
        assert threshold_for(actual, machine_id) == pytest.approx(threshold_for(expected, machine_id), rel=1e-9)
    assert threshold_for(actual, None) == pytest.approx(threshold_for(expected, None), rel=1e-9)


def test_gamma_threshold_recovers_the_quantile(rng):
    scores = rng.gamma(shape=4.0, scale=2.0, size=4000)
    fitted = fit_threshold(scores, quantile=0.9)
    assert fitted["method"] == "gamma" and fitted["n_train"] == 4000
    assert fitted["threshold"] == pytest.approx(stats.gamma.ppf(0.9, 4.0, scale=2.0), rel=0.03)
    assert fitted["shape"] == pytest.approx(4.0, rel=0.1)


def test_higher_quantile_higher_threshold(rng):
    scores = rng.gamma(3.0, size=200)
    assert fit_threshold(scores, quantile=0.95)["threshold"] > fit_threshold(scores, quantile=0.9)["threshold"]


@pytest.mark.parametrize(
    "scores, reason",
    [([1.0, 2.0, 3.0], "too few"), ([-1.0, 0.5, 1.0, 2.0, 3.0, 4.0], "not positive"), ([2.0] * 8, "constant")],
)
def test_empirical_fallback(scores, reason):
    fitted = fit_threshold(scores, quantile=0.9)
    assert fitted["method"] == "empirical", reason
    assert fitted["threshold"] == pytest.approx(np.quantile(scores, 0.9))


@pytest.mark.parametrize("bad", [[], [1.0, float("nan"), 2.0]])
def test_bad_scores_are_rejected(bad):
    with pytest.raises(ValueError):
        fit_threshold(bad)


def test_bad_quantile_is_rejected():
    with pytest.raises(ValueError, match="quantile"):
        fit_threshold([1.0, 2.0, 3.0], quantile=1.0)


def test_per_id_and_pooled_thresholds(rng):
    table = pd.DataFrame(
        {"machine_id": ["00"] * 50 + ["02"] * 50, "score": np.r_[rng.gamma(4.0, 1.0, 50), rng.gamma(4.0, 10.0, 50)]}
    )
    thresholds = fit_thresholds(table)
    assert set(thresholds["ids"]) == {"00", "02"}
    low, high = threshold_for(thresholds, "00"), threshold_for(thresholds, "02")
    assert low < high
    pooled = threshold_for(thresholds, "04")  # an ID not seen in training
    assert pooled == threshold_for(thresholds, None) == thresholds["machine_type"]["threshold"]
    json.dumps(thresholds)  # serialisable as is


def test_integer_machine_ids_are_zero_padded():
    table = pd.DataFrame({"machine_id": [0] * 6 + [2] * 6, "score": np.arange(1.0, 13.0)})
    assert set(fit_thresholds(table)["ids"]) == {"00", "02"}


def test_results_table_adds_decision_metrics_after_the_contract_columns():
    scores = pd.DataFrame(
        {
            "machine_type": "fan",
            "machine_id": "00",
            "label": ["normal", "normal", "anomaly", "anomaly"],
            "score": [0.1, 0.6, 0.7, 0.9],
            "decision": ["normal", "anomaly", "anomaly", "normal"],
        }
    )
    results = results_table(scores, model="m")
    assert RESULT_COLUMNS[:7] == CONTRACT_COLUMNS and list(results.columns) == RESULT_COLUMNS
    row = results.iloc[0]
    assert (row.precision, row.recall, row.f1) == pytest.approx((0.5, 0.5, 0.5))
    no_decision = results_table(scores.drop(columns="decision"), model="m")
    assert no_decision[["precision", "recall", "f1"]].isna().all().all()


@pytest.fixture
def fan_root(tiny_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_root / "fan", root / "fan")
    return root


def test_train_writes_thresholds_from_training_scores_only(fan_root, tmp_path, quick_config):
    run_dir = tmp_path / "run"
    train(
        fan_root,
        model="embedding_knn",
        out=run_dir,
        config=quick_config,
        machine_types=["fan"],
        cache_dir=False,
        progress=False,
    )
    type_dir = run_dir / "fan"
    saved = json.loads((type_dir / "thresholds.json").read_text())
    train_scores = pd.read_csv(type_dir / "train_scores.csv", dtype={"machine_id": str})
    assert_same_thresholds(fit_thresholds(train_scores), saved)
    assert load_thresholds(type_dir) == saved

    # Test clips play no part: drop all anomalies and half the normals, retrain, same thresholds.
    for path in (fan_root / "fan" / "test").glob("*.wav"):
        if path.name.startswith("anomaly") or path.name.endswith("1.wav"):
            path.unlink()
    train(
        fan_root,
        model="embedding_knn",
        out=tmp_path / "run2",
        config=quick_config,
        machine_types=["fan"],
        cache_dir=False,
        progress=False,
    )
    assert json.loads((tmp_path / "run2" / "fan" / "thresholds.json").read_text()) == saved


def test_evaluate_adds_threshold_decision_and_f1(fan_root, tmp_path, quick_config):
    run_dir = tmp_path / "run"
    train(
        fan_root,
        model="embedding_knn",
        out=run_dir,
        config=quick_config,
        machine_types=["fan"],
        cache_dir=False,
        progress=False,
    )
    before = (run_dir / "fan" / "thresholds.json").read_text()
    results = evaluate(fan_root, run_dir=run_dir, cache_dir=False, progress=False)
    assert (run_dir / "fan" / "thresholds.json").read_text() == before
    assert list(results.columns) == RESULT_COLUMNS
    scores = pd.read_csv(run_dir / "results" / "scores.csv", dtype={"machine_id": str})
    thresholds = json.loads(before)
    for row in scores.itertuples():
        assert row.threshold == pytest.approx(thresholds["ids"][row.machine_id]["threshold"])
        assert row.decision == ("anomaly" if row.score > row.threshold else "normal")
    assert results[["precision", "recall", "f1"]].apply(lambda c: c.isna() | c.between(0, 1)).all().all()


def test_a_run_without_thresholds_json_is_refused_naming_the_file(fan_root, tmp_path, quick_config):
    from asd.errors import ASDError

    run_dir = tmp_path / "run"
    train(
        fan_root,
        model="embedding_knn",
        out=run_dir,
        config=quick_config,
        machine_types=["fan"],
        cache_dir=False,
        progress=False,
    )
    (run_dir / "fan" / "thresholds.json").unlink()
    with pytest.raises(ASDError, match=r"fan/thresholds.json: missing"):
        evaluate(fan_root, run_dir=run_dir, cache_dir=False, progress=False)


def test_false_alarm_rate_is_one_minus_the_quantile(rng):
    scores = rng.gamma(4.0, 2.0, size=300)
    assert fit_threshold(scores, false_alarm_rate=0.05) == fit_threshold(scores, quantile=0.95)
    assert fit_threshold(scores) == fit_threshold(scores, false_alarm_rate=DEFAULT_FALSE_ALARM_RATE)
    fewer = fit_threshold(scores, false_alarm_rate=0.01)["threshold"]
    assert fewer > fit_threshold(scores, false_alarm_rate=0.1)["threshold"]
    with pytest.raises(ValueError, match="not both"):
        fit_threshold(scores, false_alarm_rate=0.1, quantile=0.9)
    with pytest.raises(ValueError, match=r"thresholds.false_alarm_rate: must be > 0 and < 1, got 0.0"):
        fit_threshold(scores, false_alarm_rate=0.0)  # the config's check, a ConfigError (also a ValueError)


def test_empirical_rate_is_met_on_new_normal_scores(rng):
    """On scores from the training distribution, about the chosen fraction lands above the threshold."""
    train_scores, new_scores = rng.gamma(3.0, 1.0, size=2000), rng.gamma(3.0, 1.0, size=20000)
    for rate in (0.1, 0.02):
        threshold = fit_threshold(train_scores, false_alarm_rate=rate)["threshold"]
        assert np.mean(new_scores > threshold) == pytest.approx(rate, abs=0.25 * rate)


def test_thresholds_record_their_rate(rng):
    table = pd.DataFrame({"machine_id": ["00"] * 30, "score": rng.gamma(4.0, 1.0, 30)})
    thresholds = fit_thresholds(table, false_alarm_rate=0.02)
    assert thresholds["false_alarm_rate"] == 0.02 and false_alarm_rate_of(thresholds) == 0.02


def test_config_rate_is_used_at_train_time_and_refit_changes_nothing_on_disk(fan_root, tmp_path, quick_config):
    from asd.config import StudyConfig
    from asd.errors import ConfigError

    quick_config.thresholds.false_alarm_rate = 0.05
    run_dir = tmp_path / "run"
    train(
        fan_root,
        model="embedding_knn",
        out=run_dir,
        config=quick_config,
        machine_types=["fan"],
        cache_dir=False,
        progress=False,
    )
    saved = load_thresholds(run_dir / "fan")
    assert false_alarm_rate_of(saved) == 0.05
    assert StudyConfig.from_yaml(run_dir / "config.yaml").thresholds.false_alarm_rate == 0.05
    before = (run_dir / "fan" / "thresholds.json").read_text()
    assert_same_thresholds(refit_thresholds(run_dir / "fan", false_alarm_rate=0.05), saved)
    looser = refit_thresholds(run_dir / "fan", false_alarm_rate=0.2)
    assert threshold_for(looser, None) < threshold_for(saved, None) and false_alarm_rate_of(looser) == 0.2
    assert (run_dir / "fan" / "thresholds.json").read_text() == before
    with pytest.raises(ConfigError, match="false_alarm_rate: must be > 0 and < 1, got 1.5"):
        refit_thresholds(run_dir / "fan", false_alarm_rate=1.5)
    with pytest.raises(ConfigError, match="thresholds.false_alarm_rate"):
        StudyConfig.from_dict({"thresholds": {"false_alarm_rate": 10}})


def test_fallbacks_to_the_empirical_quantile_are_logged_once_per_machine_type(caplog):
    scores = pd.DataFrame(
        {"machine_id": ["00"] * 10 + ["02"] * 10, "score": np.linspace(-1.0, 2.0, 20)}
    )  # ID 00's <= 0
    with caplog.at_level(logging.INFO, logger="asd.thresholds"):
        fitted = fit_thresholds(scores)
    assert [fit["method"] for fit in (fitted["machine_type"], *fitted["ids"].values())] == [
        "empirical",
        "empirical",
        "gamma",
    ]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == [
        "2 of 3 threshold fits (pooled and per ID) use the empirical quantile instead of a gamma fit: "
        "too few training scores, scores not all positive and distinct, or a failed fit"
    ]
