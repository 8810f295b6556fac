import math

import numpy as np
import pandas as pd
import pytest

from asd.metrics import (
    RESULT_COLUMNS,
    auc_pauc,
    chance_auc_sd,
    chance_upper,
    dcase_result_rows,
    precision_recall_f1,
    results_table,
    type_means,
)

# McClish-standardised pAUC of a perfectly reversed ranking, max_fpr = 0.1:
# 0.5 * (1 + (0 - 0.005) / (0.1 - 0.005))
REVERSED_PAUC = 0.5 * (1 - 0.005 / 0.095)


def test_perfect_ranking_scores_one():
    assert auc_pauc([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9]) == (1.0, 1.0)


def test_reversed_ranking_gives_zero_auc_and_mcclish_floor():
    auc, pauc = auc_pauc([0, 0, 0, 1, 1], [0.9, 0.8, 0.7, 0.2, 0.1])
    assert auc == 0.0
    assert pauc == pytest.approx(REVERSED_PAUC)
    assert pauc == pytest.approx(0.47368, abs=1e-5)


def test_all_ties_are_chance():
    auc, pauc = auc_pauc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    assert auc == 0.5
    assert pauc == pytest.approx(0.5)


def test_partial_tie_counts_half(rng):
    # one anomaly tied with one normal, the other anomaly above everything: AUC = (1 + 1 + 1 + 0.5 + ...)/n
    y_true = [0, 0, 1, 1]
    scores = [0.1, 0.5, 0.5, 0.9]
    auc, _ = auc_pauc(y_true, scores)
    assert auc == pytest.approx((2 + 1.5) / 4)


def test_single_class_gives_nan():
    auc, pauc = auc_pauc([0, 0, 0], [0.1, 0.2, 0.3])
    assert math.isnan(auc) and math.isnan(pauc)


def test_nan_scores_are_rejected():
    with pytest.raises(ValueError, match="NaN"):
        auc_pauc([0, 1], [0.1, float("nan")])


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="shape"):
        auc_pauc([0, 1, 1], [0.1, 0.2])


def _scores():
    return pd.DataFrame(
        {
            "machine_type": ["fan"] * 8 + ["pump"] * 4,
            "machine_id": ["00"] * 4 + ["02"] * 4 + ["00"] * 4,
            "label": ["normal", "normal", "anomaly", "anomaly"] * 3,
            "score": [0, 1, 2, 3] + [3, 2, 1, 0] + [0, 2, 1, 3],
        }
    )


def test_results_table_per_id():
    results = results_table(_scores(), model="m")
    assert list(results.columns) == RESULT_COLUMNS
    assert results[["machine_type", "machine_id"]].values.tolist() == [["fan", "00"], ["fan", "02"], ["pump", "00"]]
    assert results.auc.tolist() == [1.0, 0.0, 0.75]
    assert results.n_normal.tolist() == [2, 2, 2] and results.n_anomaly.tolist() == [2, 2, 2]


def test_unknown_labels_are_left_out():
    scores = _scores()
    scores.loc[0, "label"] = "unknown"
    assert results_table(scores, model="m").n_normal.tolist() == [1, 2, 2]


def test_means_weigh_types_equally():
    results = results_table(_scores(), model="m")
    means = type_means(results)
    assert means.auc.tolist() == [0.5, 0.75]
    assert means.auc.mean() == 0.625  # each machine type weighs the same in the overall mean


def test_dcase_rows_layout():
    rows = dcase_result_rows(results_table(_scores(), model="m"))
    assert rows[0] == ["fan"]
    assert rows[1] == ["id", "AUC", "pAUC"]
    assert rows[2][0] == "id_00" and rows[4][0] == "Average"
    assert rows[-1][0] == "Average" and rows[-1][1] == pytest.approx(0.625)


def test_precision_recall_f1():
    assert precision_recall_f1([0, 0, 1, 1], [False, True, True, True]) == pytest.approx((2 / 3, 1.0, 0.8))
    precision, recall, f1 = precision_recall_f1([0, 1], [False, False])  # nothing flagged
    assert math.isnan(precision) and recall == 0.0 and f1 == 0.0
    precision, recall, f1 = precision_recall_f1([0, 0], [True, False])  # no anomaly at all
    assert precision == 0.0 and math.isnan(recall) and math.isnan(f1)


def test_precision_recall_f1_matches_the_counts(rng):
    y_true = rng.integers(0, 2, size=200)
    decisions = rng.random(200) < 0.3
    tp = np.sum((y_true == 1) & decisions)
    precision, recall, f1 = precision_recall_f1(y_true, decisions)
    assert precision == pytest.approx(tp / decisions.sum())
    assert recall == pytest.approx(tp / (y_true == 1).sum())
    assert f1 == pytest.approx(2 * precision * recall / (precision + recall))


def test_precision_recall_f1_shape_mismatch():
    with pytest.raises(ValueError, match="differ in shape"):
        precision_recall_f1([0, 1, 1], [True, False])


def test_chance_auc_sd_matches_random_scores():
    rng = np.random.default_rng(0)
    for n_normal, n_anomaly in ((3, 9), (20, 20), (10, 20)):
        labels = np.r_[np.zeros(n_normal), np.ones(n_anomaly)]
        scores = rng.random((20000, labels.size))
        ranks = scores.argsort(axis=1).argsort(axis=1) + 1  # the AUC from ranks (Mann-Whitney U)
        aucs = (ranks[:, n_normal:].sum(axis=1) - n_anomaly * (n_anomaly + 1) / 2) / (n_normal * n_anomaly)
        assert aucs[:3] == pytest.approx([auc_pauc(labels, row)[0] for row in scores[:3]])
        assert np.std(aucs) == pytest.approx(chance_auc_sd(n_normal, n_anomaly), rel=0.03)
    assert chance_auc_sd(3, 9) == pytest.approx(math.sqrt(13 / 324))
    assert chance_auc_sd([3, 20], [9, 20]).shape == (2,)
    with pytest.raises(ValueError, match="at least one"):
        chance_auc_sd(0, 5)


def test_chance_upper_of_a_mean_of_independent_aucs():
    assert chance_upper([0.2]) == pytest.approx(0.5 + 1.96 * 0.2)
    assert chance_upper([0.2, 0.2, 0.2, 0.2]) == pytest.approx(0.5 + 1.96 * 0.1)  # four types: half the spread
    with pytest.raises(ValueError, match="at least one"):
        chance_upper([])
