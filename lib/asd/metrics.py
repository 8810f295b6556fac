"""Every metric of the toolkit: AUC and partial AUC as the DCASE 2020 Task 2 evaluator computes
them, and precision/recall/F1 of the decisions taken at a threshold (:mod:`asd.thresholds`).

Both come from :func:`sklearn.metrics.roc_auc_score`. The partial AUC uses ``max_fpr=0.1``;
scikit-learn then returns the **McClish-standardised** partial AUC,
``0.5 * (1 + (A - A_min) / (A_max - A_min))`` with ``A`` the area under the ROC curve for
FPR in [0, max_fpr], ``A_min = max_fpr**2 / 2`` (the chance diagonal) and ``A_max = max_fpr``.
So a random detector scores 0.5, a perfect one 1.0, and a perfectly reversed one
``0.5 * (1 - A_min / (A_max - A_min))`` (0.4737 for ``max_fpr=0.1``), not 0. This is the value
the official DCASE 2020 evaluator and baseline report.

Precision, recall and F1 are those of the anomaly class, from
:func:`sklearn.metrics.precision_recall_fscore_support`. :func:`chance_auc_sd` and :func:`chance_upper` say how far a
detector scoring at random lands from 0.5 by luck on a test set of a given size.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

logger = logging.getLogger(__name__)

#: Columns of the tidy results table (``results.csv``). The first seven are a contract;
#: precision/recall/f1 (anomaly class, at the decision thresholds) are appended after them.
RESULT_COLUMNS = [
    "model",
    "machine_type",
    "machine_id",
    "auc",
    "pauc",
    "n_normal",
    "n_anomaly",
    "precision",
    "recall",
    "f1",
]


def auc_pauc(y_true, y_score, *, max_fpr: float = 0.1) -> tuple[float, float]:
    """AUC and McClish-standardised partial AUC (FPR <= ``max_fpr``) of one set of scores.

    Parameters
    ----------
    y_true : array-like of {0, 1}, shape ``(n_clips,)``
        1 for anomalous clips.
    y_score : array-like of float, shape ``(n_clips,)``
        Higher = more anomalous.
    max_fpr : float
        Upper end of the false-positive-rate range of the partial AUC.

    Returns
    -------
    (auc, pauc) : tuple of float
        NaN for both when only one class is present (logged).
    """
    y_true = np.asarray(y_true, dtype=int)
    y_score = np.asarray(y_score, dtype=float)
    if y_true.shape != y_score.shape:
        raise ValueError(f"y_true {y_true.shape} and y_score {y_score.shape} differ in shape")
    if not np.isfinite(y_score).all():
        raise ValueError("scores contain NaN or infinite values")
    if len(np.unique(y_true)) < 2:
        logger.warning("AUC undefined: only one class among %d clips", len(y_true))
        return math.nan, math.nan
    return float(roc_auc_score(y_true, y_score)), float(roc_auc_score(y_true, y_score, max_fpr=max_fpr))


def precision_recall_f1(y_true, decisions) -> tuple[float, float, float]:
    """Precision, recall and F1 of the anomaly class.

    Parameters
    ----------
    y_true : array-like of {0, 1}, shape ``(n_clips,)``
        1 for anomalous clips.
    decisions : array-like of bool, shape ``(n_clips,)``
        ``True`` where the clip was declared anomalous.

    Returns
    -------
    (precision, recall, f1) : tuple of float
        Precision is NaN when nothing was declared anomalous; recall and F1 are NaN when there
        is no anomalous clip. With anomalies present but none flagged, recall and F1 are 0.
    """
    y_true = np.asarray(y_true, dtype=bool)
    decisions = np.asarray(decisions, dtype=bool)
    if y_true.shape != decisions.shape:
        raise ValueError(f"y_true {y_true.shape} and decisions {decisions.shape} differ in shape")
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true.astype(int), decisions.astype(int), average="binary", pos_label=1, zero_division=np.nan
    )
    if not y_true.any():  # F1 of the anomaly class is undefined without anomalies
        f1 = math.nan
    return float(precision), float(recall), float(f1)


def results_table(scores: pd.DataFrame, *, model: str, max_fpr: float = 0.1) -> pd.DataFrame:
    """Tidy per-ID metrics from a table of labelled clip scores.

    Parameters
    ----------
    scores : DataFrame
        Columns ``machine_type``, ``machine_id``, ``label`` (``normal``/``anomaly``), ``score``,
        and optionally ``decision`` (``anomaly``/``normal`` at a threshold, see
        :mod:`asd.thresholds`); without it precision, recall and F1 are NaN.
        Clips labelled otherwise (e.g. ``unknown``) are left out.
    model : str
        Written into the ``model`` column.

    Returns
    -------
    DataFrame with columns :data:`RESULT_COLUMNS`, one row per machine type and ID.
    """
    labelled = scores[scores["label"].isin(["normal", "anomaly"])]
    rows = []
    for (machine_type, machine_id), group in labelled.groupby(["machine_type", "machine_id"], sort=True):
        y_true = (group["label"] == "anomaly").to_numpy(int)
        auc, pauc = auc_pauc(y_true, group["score"].to_numpy(), max_fpr=max_fpr)
        if "decision" in group:
            precision, recall, f1 = precision_recall_f1(y_true, (group["decision"] == "anomaly").to_numpy())
        else:
            precision = recall = f1 = math.nan
        rows.append(
            {
                "model": model,
                "machine_type": machine_type,
                "machine_id": machine_id,
                "auc": auc,
                "pauc": pauc,
                "n_normal": int((y_true == 0).sum()),
                "n_anomaly": int(y_true.sum()),
                "precision": precision,
                "recall": recall,
                "f1": f1,
            }
        )
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def chance_auc_sd(n_normal, n_anomaly):
    """Standard deviation of the AUC of a detector whose scores are random (tie-free).

    The null distribution of the Mann-Whitney U statistic, divided by ``n_normal * n_anomaly``:
    ``sqrt((n_normal + n_anomaly + 1) / (12 * n_normal * n_anomaly))``. It says how far from 0.5
    a detector that knows nothing lands by luck on a test set of that size, e.g. 0.20 for 3
    normal against 9 anomalous scores, 0.09 for 20 against 20.

    Parameters
    ----------
    n_normal, n_anomaly : int or array of int
        Normal and anomalous test clips (each at least 1).

    Returns
    -------
    float or ndarray
        In AUC units, broadcast over the inputs.
    """
    n_normal, n_anomaly = np.asarray(n_normal, dtype=float), np.asarray(n_anomaly, dtype=float)
    if np.any(n_normal < 1) or np.any(n_anomaly < 1):
        raise ValueError("chance_auc_sd needs at least one normal and one anomalous clip")
    sd = np.sqrt((n_normal + n_anomaly + 1.0) / (12.0 * n_normal * n_anomaly))
    return float(sd) if sd.ndim == 0 else sd


def chance_upper(sds) -> float:
    """Upper end of the central 95 % of a random detector's mean over independent AUCs.

    ``0.5 + 1.96 * sqrt(sum(sd**2)) / len(sds)``, e.g. for a set's mean over machine types with
    ``sds`` the per-type :func:`chance_auc_sd` (normal approximation). A detector whose mean lies
    below it cannot be told from luck on that test set.

    Parameters
    ----------
    sds : sequence of float
        Standard deviations of the averaged AUCs under random scoring (at least one).
    """
    sds = np.asarray(sds, dtype=float)
    if sds.size == 0:
        raise ValueError("chance_upper needs at least one standard deviation")
    return float(0.5 + 1.96 * np.sqrt(np.sum(sds**2)) / sds.size)


def type_means(results: pd.DataFrame) -> pd.DataFrame:
    """Mean AUC and pAUC per model and machine type (the DCASE "Average" rows)."""
    return results.groupby(["model", "machine_type"], sort=True)[["auc", "pauc"]].mean().reset_index()


def dcase_result_rows(results: pd.DataFrame) -> list[list]:
    """Rows of the DCASE 2020 baseline's ``result.csv`` for one model.

    Per machine type: its name, a header ``id, AUC, pAUC``, one row per ID, an ``Average`` row
    and a blank row; at the end the overall average over machine types.
    """
    rows: list[list] = []
    for machine_type, group in results.groupby("machine_type", sort=True):
        rows.append([machine_type])
        rows.append(["id", "AUC", "pAUC"])
        for _, row in group.iterrows():
            rows.append([f"id_{row.machine_id}", row.auc, row.pauc])
        rows.append(["Average", group["auc"].mean(), group["pauc"].mean()])
        rows.append([])
    means = type_means(results)
    rows.append(["All machine types"])
    rows.append(["Average", means["auc"].mean(), means["pauc"].mean()])
    return rows


def detection_rates(scores: pd.DataFrame, *, fpr: float = 0.1) -> pd.DataFrame:
    """True-positive rate at a false-alarm rate, per model and machine type.

    For each machine ID, the share of its anomalous test clips scored above the ``1 - fpr``
    quantile of its normal test clips' scores; averaged over the IDs of a machine type.
    ``scores`` has columns ``model``, ``machine_type``, ``machine_id``, ``label`` and ``score``.
    Returns one row per model (in order of appearance), one column per machine type (sorted)
    and ``mean`` (over machine types); an empty frame when no ID has both labels.
    """
    labelled = scores[scores["label"].isin(["normal", "anomaly"])]
    rows = []
    for (model, machine_type, _), group in labelled.groupby(["model", "machine_type", "machine_id"], sort=False):
        normal = group.loc[group["label"] == "normal", "score"]
        anomaly = group.loc[group["label"] == "anomaly", "score"]
        if len(normal) and len(anomaly):
            rows.append(
                {
                    "model": model,
                    "machine_type": machine_type,
                    "tpr": float((anomaly > normal.quantile(1 - fpr)).mean()),
                }
            )
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows).groupby(["model", "machine_type"], sort=False)["tpr"].mean().unstack("machine_type")
    frame = frame.reindex(columns=sorted(frame.columns))
    frame["mean"] = frame.mean(axis=1)
    return frame.reindex(list(dict.fromkeys(labelled["model"])))
