"""Official DCASE 2021-2025 scores (asd.official) against independent hand-written computations."""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from asd.errors import ASDError
from asd.official import (
    OfficialScoreError,
    hmean_floored,
    jackknife_ci95,
    official_ci95,
    official_score,
    official_scores,
    section_results,
    type_means,
)

EPS = sys.float_info.epsilon


def mw_auc(normal, anomaly) -> float:
    """Mann-Whitney AUC: share of (normal, anomaly) pairs the anomaly wins, ties half."""
    wins = sum((a > n) + 0.5 * (a == n) for a in anomaly for n in normal)
    return wins / (len(normal) * len(anomaly))


def trapezoid_pauc(normal, anomaly, max_fpr=0.1) -> float:
    """ROC points over every distinct threshold, trapezoid area up to max_fpr, McClish standardisation."""
    thresholds = sorted(set(normal) | set(anomaly), reverse=True)
    points = [(0.0, 0.0)] + [
        (sum(n >= t for n in normal) / len(normal), sum(a >= t for a in anomaly) / len(anomaly)) for t in thresholds
    ]
    area = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 >= max_fpr:
            break
        if x1 > max_fpr:  # interpolate the segment at max_fpr
            y1 = y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0)
            x1 = max_fpr
        area += (x1 - x0) * (y0 + y1) / 2
    lo, hi = max_fpr**2 / 2, max_fpr
    return 0.5 * (1 + (area - lo) / (hi - lo))


def hmean(values) -> float:
    return len(values) / sum(1.0 / max(v, EPS) for v in values)


def section(machine_type, sec, clips):
    """Rows of a scores table from {(domain, label): scores}."""
    rows = []
    for (domain, label), scores in clips.items():
        for i, s in enumerate(scores):
            rows.append(
                {
                    "machine_type": machine_type,
                    "section": sec,
                    "domain": domain,
                    "label": label,
                    "score": float(s),
                    "file_name": f"section_{sec}_{domain}_test_{label}_{i:04d}.wav",
                }
            )
    return rows


RNG = np.random.default_rng(7)
CLIPS = {
    ("source", "normal"): RNG.normal(0.0, 1.0, 14).round(3),
    ("source", "anomaly"): RNG.normal(1.5, 1.0, 9).round(3),
    ("target", "normal"): RNG.normal(1.0, 1.0, 6).round(3),  # the target's normals sound "louder"
    ("target", "anomaly"): RNG.normal(1.2, 1.0, 11).round(3),
}
CLIPS2 = {key: (value * 0.7 + (0.4 if key[1] == "anomaly" else 0.0)).round(3) for key, value in CLIPS.items()}
TABLE = pd.DataFrame(
    section("fan", "00", CLIPS)
    + section("fan", "01", CLIPS2)
    + section("valve", "00", {k: -v for k, v in CLIPS.items()})
)


def expected_2022(clips):
    anomalies = list(clips["source", "anomaly"]) + list(clips["target", "anomaly"])
    normals = list(clips["source", "normal"]) + list(clips["target", "normal"])
    return (
        mw_auc(clips["source", "normal"], anomalies),
        mw_auc(clips["target", "normal"], anomalies),
        trapezoid_pauc(normals, anomalies),
    )


@pytest.mark.parametrize("dataset", ["dcase2022", "dcase2023", "dcase2024", "dcase2025"])
def test_2022_on_auc_source_uses_target_anomalies_and_pauc_pools_domains(dataset):
    results = section_results(TABLE, dataset=dataset)
    row = results[(results.machine_type == "fan") & (results.section == "00")].iloc[0]
    auc_src, auc_tgt, pauc = expected_2022(CLIPS)
    assert row.auc_source == pytest.approx(auc_src, abs=1e-9)
    assert row.auc_target == pytest.approx(auc_tgt, abs=1e-9)
    assert row.pauc == pytest.approx(pauc, abs=1e-9)
    # and these differ from the within-domain values, so the test can tell them apart
    assert abs(auc_src - mw_auc(CLIPS["source", "normal"], CLIPS["source", "anomaly"])) > 1e-3
    within = trapezoid_pauc(list(CLIPS["source", "normal"]), list(CLIPS["source", "anomaly"]))
    assert abs(pauc - within) > 1e-3
    assert row.pauc_source == pytest.approx(within, abs=1e-9)  # diagnostic, within the domain


def test_2022_official_score_is_hmean_over_every_type_and_section():
    _, summary = official_scores(TABLE, dataset="dcase2023", ci=False)
    terms = []
    for clips in (CLIPS, CLIPS2, {k: -v for k, v in CLIPS.items()}):
        terms.extend(expected_2022(clips))
    assert summary.official_score.iloc[0] == pytest.approx(hmean(terms), abs=1e-9)
    assert summary.dataset.iloc[0] == "dcase2023"


def test_2021_scores_within_each_domain():
    results, summary = official_scores(TABLE, dataset="dcase2021")
    row = results[(results.machine_type == "fan") & (results.section == "00")].iloc[0]
    assert row.auc_source == pytest.approx(mw_auc(CLIPS["source", "normal"], CLIPS["source", "anomaly"]), abs=1e-9)
    assert row.auc_target == pytest.approx(mw_auc(CLIPS["target", "normal"], CLIPS["target", "anomaly"]), abs=1e-9)
    assert row.pauc_target == pytest.approx(
        trapezoid_pauc(list(CLIPS["target", "normal"]), list(CLIPS["target", "anomaly"])), abs=1e-9
    )
    terms = []
    for clips in (CLIPS, CLIPS2, {k: -v for k, v in CLIPS.items()}):
        for d in ("source", "target"):
            terms += [
                mw_auc(clips[d, "normal"], clips[d, "anomaly"]),
                trapezoid_pauc(list(clips[d, "normal"]), list(clips[d, "anomaly"])),
            ]
    assert summary.official_score.iloc[0] == pytest.approx(hmean(terms), abs=1e-9)
    assert math.isnan(summary.ci95.iloc[0])  # the 2021 evaluator prints no interval


def test_floor_at_machine_epsilon_applies():
    perfect_miss = {
        ("source", "normal"): [5.0, 6.0],
        ("source", "anomaly"): [1.0, 2.0],
        ("target", "normal"): [7.0, 8.0],
        ("target", "anomaly"): [0.0, 0.5],
    }
    table = pd.DataFrame(section("pump", "00", perfect_miss))
    results = section_results(table, dataset="dcase2022")
    assert results.auc_source.iloc[0] == 0.0 and results.auc_target.iloc[0] == 0.0
    score = official_score(results, dataset="dcase2022")
    expected = 3 / (2 / EPS + 1 / trapezoid_pauc([5, 6, 7, 8], [1, 2, 0, 0.5]))
    assert score == pytest.approx(expected, rel=1e-9, abs=0)
    assert score > 0  # without the floor scipy's hmean of a zero is 0 (or an error)
    assert hmean_floored([0.0, 1.0]) == pytest.approx(2 / (1 / EPS + 1), rel=1e-12)


def test_ci95_is_the_evaluators_jackknife():
    table = pd.DataFrame(section("fan", "00", CLIPS))
    y_true = (table.label == "anomaly").to_numpy(int)
    y_score = table.score.to_numpy()
    n = len(y_true)
    cis = []
    statistics = (
        lambda t, s: mw_auc(s[t == 0], s[t == 1]),
        lambda t, s: trapezoid_pauc(list(s[t == 0]), list(s[t == 1])),
    )
    for stat in statistics:
        thetas = [stat(np.delete(y_true, i), np.delete(y_score, i)) for i in range(n)]
        sigma = math.sqrt(sum((x - np.mean(thetas)) ** 2 for x in thetas) / (n * (n - 1)))
        cis.append(abs(scipy.stats.t.ppf(0.025, n - 1)) * sigma)
    assert official_ci95(table, dataset="dcase2023") == pytest.approx(np.mean(cis), abs=1e-9)
    # For a mean the textbook jackknife SE is sd / sqrt(n); the evaluators' formula gives that divided by n - 1.
    textbook_se = np.std(np.arange(5.0), ddof=1) / math.sqrt(5)
    assert jackknife_ci95(lambda a: float(np.mean(a)), np.arange(5.0)) == pytest.approx(
        abs(scipy.stats.t.ppf(0.025, 4)) * textbook_se / 4, abs=1e-12
    )


def test_type_means_arithmetic_and_harmonic():
    results = section_results(TABLE, dataset="dcase2023")
    means = type_means(results, dataset="dcase2023").set_index("machine_type")
    fan = results[results.machine_type == "fan"]
    aucs = list(fan.auc_source) + list(fan.auc_target)
    assert means.loc["fan", "amean_auc"] == pytest.approx(np.mean(aucs), abs=1e-12)
    assert means.loc["fan", "hmean_auc"] == pytest.approx(hmean(aucs), abs=1e-12)
    assert means.loc["fan", "hmean_pauc"] == pytest.approx(hmean(list(fan.pauc)), abs=1e-12)


def test_unlabelled_rows_are_left_out_and_bad_input_is_one_clear_error():
    table = pd.concat([TABLE, TABLE.head(3).assign(label="unknown", score=np.nan)], ignore_index=True)
    pd.testing.assert_frame_equal(
        section_results(table, dataset="dcase2022"), section_results(TABLE, dataset="dcase2022")
    )
    with pytest.raises(OfficialScoreError, match="dcase2020"):
        section_results(TABLE, dataset="dcase2020")
    with pytest.raises(OfficialScoreError, match="domain"):
        section_results(TABLE.drop(columns="domain"), dataset="dcase2022")
    with pytest.raises(ASDError, match="source"):
        section_results(TABLE.assign(domain="src"), dataset="dcase2022")
    assert issubclass(OfficialScoreError, ValueError)
