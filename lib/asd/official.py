"""The official scores of DCASE 2021-2025 Task 2, computed as the challenge's evaluators compute them.

Input is a plain table of clip scores (one row per test clip): columns ``machine_type``, ``section``
(two digits), ``domain`` (``source``/``target``), ``label`` (``normal``/``anomaly``; other labels,
e.g. ``unknown``, are left out), ``score`` (higher = more anomalous) and optionally ``decision``
(``anomaly``/``normal``, or 1/0) and ``model``. Every AUC comes from
:func:`sklearn.metrics.roc_auc_score`; every pAUC from the same with ``max_fpr=0.1``, i.e. the
McClish-standardised partial AUC (:mod:`asd.metrics` says what that is).

Per (machine type, section), by year (docs/dcase_years.md has the table and the sources):

``dcase2021`` (``y-kawagu/dcase2021_task2_evaluator``)
    AUC and pAUC **within each domain**: ``auc_source``/``pauc_source`` on the section's source normals
    and source anomalies only, ``auc_target``/``pauc_target`` likewise. Official score: the harmonic
    mean of all ``auc_*`` and ``pauc_*`` values over every machine type, section and domain. The
    ``pauc`` column (both domains pooled) is diagnostic there and not part of the score.
``dcase2022`` ... ``dcase2025`` (``Kota-Dohi/dcase2022_evaluator``, ``nttcslab/dcase2023_task2_evaluator``)
    ``auc_source`` on the section's **source normals plus all its anomalies (both domains)**,
    ``auc_target`` on the target normals plus all anomalies, ``pauc`` on every clip of the section
    (both domains pooled). Official score: the harmonic mean of {``auc_source``, ``auc_target``,
    ``pauc``} over every machine type and section. ``pauc_source``/``pauc_target`` (within the
    domain, as the baseline prints them) are diagnostic. 2025's evaluator was not read; it is taken
    to score as 2023/2024 do (the baseline v4.3.0 computes the same quantities) [I].

Every harmonic mean is ``scipy.stats.hmean(numpy.maximum(x, sys.float_info.epsilon))``, so a zero
does not make it undefined.

``ci95`` (2022 on): the evaluators' jackknife (``jackknife_estimate`` in the 2022 and 2023
evaluators, after Mesaros et al. 2019, section IV), read in
``nttcslab/dcase2023_task2_evaluator@c850537`` and the 2022 evaluator: the delete-one jackknife
**over clips**, all test clips of every machine type and section pooled into one list; with
``theta_i`` the statistic without clip ``i`` and ``N`` clips, ``sigma = sqrt(sum_i (theta_i -
mean(theta))**2 / (N (N - 1)))`` and ``ci95 = t_{0.975, N-1} * sigma`` (Student's t). It is computed for
the pooled AUC and the pooled pAUC and the official ``ci95`` is the mean of the two. Note that this
``sigma`` is not the textbook jackknife standard error (which has ``(N - 1) / N`` in place of
``1 / (N (N - 1))``): it is reproduced as the evaluators print it. The 2021 evaluator prints no
interval (NaN here).
"""

from __future__ import annotations

import logging
import math
import sys

import numpy as np
import pandas as pd
import scipy.stats
from sklearn.metrics import roc_auc_score

from .errors import ASDError

logger = logging.getLogger(__name__)

#: The years scored here (2020 stays with :mod:`asd.metrics`).
OFFICIAL_DATASETS = ("dcase2021", "dcase2022", "dcase2023", "dcase2024", "dcase2025")
EPS = sys.float_info.epsilon
#: Columns of the per-(machine type, section) table; the first seven are the contract of ``results.csv``.
SECTION_COLUMNS = [
    "model",
    "machine_type",
    "section",
    "auc_source",
    "auc_target",
    "pauc",
    "pauc_source",
    "pauc_target",
    "n_source_normal",
    "n_source_anomaly",
    "n_target_normal",
    "n_target_anomaly",
    "precision_source",
    "recall_source",
    "f1_source",
    "precision_target",
    "recall_target",
    "f1_target",
]
#: Columns of ``official_score.csv`` (one row per model); the first four are the contract.
SCORE_COLUMNS = ["model", "dataset", "official_score", "ci95", "hmean_source", "hmean_target", "hmean_pauc"]


class OfficialScoreError(ASDError, ValueError):
    """A scores table that cannot be scored the official way (missing column, unknown year, ...)."""


def hmean_floored(values) -> float:
    """``scipy.stats.hmean(numpy.maximum(values, sys.float_info.epsilon))``, the evaluators' harmonic mean.

    Parameters
    ----------
    values : array-like of float, any shape
        Flattened. NaN values (a quantity that was undefined) are an error: the evaluators would fail.
    """
    values = np.asarray(values, dtype=float).ravel()
    if values.size == 0:
        raise OfficialScoreError("harmonic mean of no values")
    if np.isnan(values).any():
        raise OfficialScoreError("harmonic mean over an undefined value (a section without normal or anomalous clips)")
    return float(scipy.stats.hmean(np.maximum(values, EPS)))


def check_dataset(dataset: str) -> str:
    """Return ``dataset`` if it is one of :data:`OFFICIAL_DATASETS`, else raise :class:`OfficialScoreError`."""
    if dataset not in OFFICIAL_DATASETS:
        raise OfficialScoreError(
            f"dataset {dataset!r} has no official score here (expected one of "
            f"{', '.join(OFFICIAL_DATASETS)}; dcase2020 is scored by asd.metrics)"
        )
    return dataset


def _labelled(scores: pd.DataFrame) -> pd.DataFrame:
    needed = ["machine_type", "section", "domain", "label", "score"]
    missing = [c for c in needed if c not in scores.columns]
    if missing:
        raise OfficialScoreError(f"scores table lacks column(s) {', '.join(missing)}")
    labelled = scores[scores["label"].isin(["normal", "anomaly"])].copy()
    bad = sorted(set(labelled["domain"]) - {"source", "target"})
    if bad:
        raise OfficialScoreError(f"domain must be 'source' or 'target', got {', '.join(map(str, bad))}")
    if not np.isfinite(labelled["score"].to_numpy(float)).all():
        raise OfficialScoreError("scores contain NaN or infinite values")
    if "model" not in labelled:
        labelled["model"] = "model"
    labelled["section"] = labelled["section"].map(lambda s: f"{int(s):02d}")
    return labelled


def _auc(y_true: np.ndarray, y_score: np.ndarray, max_fpr: float | None = None) -> float:
    if len(np.unique(y_true)) < 2:
        logger.warning("AUC undefined: only one class among %d clips", len(y_true))
        return math.nan
    return float(roc_auc_score(y_true, y_score, max_fpr=max_fpr))


def _decision_rates(y_true: np.ndarray, decision) -> tuple[float, float, float]:
    """Precision, recall and F1 of the anomaly class as the evaluators compute them (denominators floored at eps)."""
    if decision is None:
        return math.nan, math.nan, math.nan
    flagged = np.asarray(decision, dtype=bool)
    tp = float(np.sum(flagged & (y_true == 1)))
    fp = float(np.sum(flagged & (y_true == 0)))
    fn = float(np.sum(~flagged & (y_true == 1)))
    precision = tp / max(tp + fp, EPS)
    recall = tp / max(tp + fn, EPS)
    return precision, recall, 2.0 * precision * recall / max(precision + recall, EPS)


def _decisions(group: pd.DataFrame):
    if "decision" not in group:
        return None
    values = group["decision"]
    if values.dtype == object:
        return (values == "anomaly").to_numpy()
    return values.to_numpy(int) == 1


def _section_row(group: pd.DataFrame, *, dataset: str, max_fpr: float) -> dict:
    y_true = (group["label"] == "anomaly").to_numpy(int)
    y_score = group["score"].to_numpy(float)
    decision = _decisions(group)
    row = {"pauc": _auc(y_true, y_score, max_fpr)}
    for domain in ("source", "target"):
        in_domain = (group["domain"] == domain).to_numpy()
        row[f"n_{domain}_normal"] = int(np.sum(in_domain & (y_true == 0)))
        row[f"n_{domain}_anomaly"] = int(np.sum(in_domain & (y_true == 1)))
        # 2021 scores within the domain; 2022 on, a domain's normals against ALL the section's anomalies.
        auc_set = in_domain if dataset == "dcase2021" else in_domain | (y_true == 1)
        row[f"auc_{domain}"] = _auc(y_true[auc_set], y_score[auc_set])
        row[f"pauc_{domain}"] = _auc(y_true[in_domain], y_score[in_domain], max_fpr)
        rates = _decision_rates(y_true[in_domain], None if decision is None else decision[in_domain])
        row[f"precision_{domain}"], row[f"recall_{domain}"], row[f"f1_{domain}"] = rates
    return row


def section_results(scores: pd.DataFrame, *, dataset: str, max_fpr: float = 0.1) -> pd.DataFrame:
    """Official per-(model, machine type, section) metrics of one year.

    Parameters
    ----------
    scores : DataFrame
        One row per test clip, columns as in the module docstring.
    dataset : str
        One of :data:`OFFICIAL_DATASETS`; ``dcase2021`` scores within domains.
    max_fpr : float
        Upper end of the pAUC's false-positive-rate range (0.1 in every evaluator).

    Returns
    -------
    DataFrame with columns :data:`SECTION_COLUMNS`, sorted by model, machine type, section. A value
    that is undefined (a domain without normal or anomalous clips) is NaN.
    """
    check_dataset(dataset)
    labelled = _labelled(scores)
    rows = []
    for (model, machine_type, section), group in labelled.groupby(["model", "machine_type", "section"], sort=True):
        rows.append(
            {
                "model": model,
                "machine_type": machine_type,
                "section": section,
                **_section_row(group, dataset=dataset, max_fpr=max_fpr),
            }
        )
    return pd.DataFrame(rows, columns=SECTION_COLUMNS)


def score_terms(results: pd.DataFrame, *, dataset: str) -> np.ndarray:
    """The values the official score is the harmonic mean of, from one model's :func:`section_results`.

    2021: every ``auc_source``, ``auc_target``, ``pauc_source``, ``pauc_target``; 2022 on: every
    ``auc_source``, ``auc_target`` and ``pauc``. Shape ``(n_terms,)``.
    """
    check_dataset(dataset)
    columns = (
        ["auc_source", "auc_target", "pauc_source", "pauc_target"]
        if dataset == "dcase2021"
        else ["auc_source", "auc_target", "pauc"]
    )
    return results[columns].to_numpy(float).T.ravel()


def official_score(results: pd.DataFrame, *, dataset: str) -> float:
    """The official score of one model: :func:`hmean_floored` over :func:`score_terms`."""
    return hmean_floored(score_terms(results, dataset=dataset))


def jackknife_ci95(fn, *arrays) -> float:
    """Half-width of the evaluators' jackknife 95 % interval of ``fn(*arrays)`` (module docstring).

    Parameters
    ----------
    fn : callable
        Statistic of the arrays, e.g. :func:`sklearn.metrics.roc_auc_score`.
    *arrays : array-like, each shape ``(n,)``
        Deleted from together, one index at a time (``n`` >= 2).

    Returns
    -------
    float
        ``t_{0.975, n-1} * sqrt(sum_i (theta_i - mean(theta))**2 / (n (n - 1)))``.
    """
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    if n < 2:
        raise OfficialScoreError("the jackknife needs at least two clips")
    keep = np.ones(n, dtype=bool)
    thetas = np.empty(n)
    for i in range(n):
        keep[i] = False
        thetas[i] = fn(*(a[keep] for a in arrays))
        keep[i] = True
    sigma = math.sqrt(float(np.sum((thetas - thetas.mean()) ** 2)) / (n * (n - 1)))
    return float(abs(scipy.stats.t.ppf(0.025, n - 1)) * sigma)


def official_ci95(scores: pd.DataFrame, *, dataset: str, max_fpr: float = 0.1) -> float:
    """The ``official score ci95`` of one model's labelled clip scores (NaN for 2021, which prints none).

    The mean of :func:`jackknife_ci95` of the AUC and of the pAUC over every clip pooled. Takes
    ``O(n_clips**2)`` time (one AUC per deleted clip), as the evaluator does.
    """
    check_dataset(dataset)
    if dataset == "dcase2021":
        return math.nan
    labelled = _labelled(scores)
    y_true = (labelled["label"] == "anomaly").to_numpy(int)
    y_score = labelled["score"].to_numpy(float)
    auc_ci = jackknife_ci95(roc_auc_score, y_true, y_score)
    pauc_ci = jackknife_ci95(lambda t, s: roc_auc_score(t, s, max_fpr=max_fpr), y_true, y_score)
    return float(np.mean([auc_ci, pauc_ci]))


def type_means(results: pd.DataFrame, *, dataset: str) -> pd.DataFrame:
    """Per model and machine type: arithmetic and (floored) harmonic means over sections, as the evaluators print.

    Columns ``model``, ``machine_type``, ``amean_auc`` / ``hmean_auc`` (over the sections' ``auc_source``
    and ``auc_target`` together), ``amean_pauc`` / ``hmean_pauc`` (2021: over ``pauc_source`` and
    ``pauc_target``; 2022 on: over ``pauc``), and the arithmetic means ``auc_source``, ``auc_target``,
    ``pauc`` of the evaluators' "paper" table.
    """
    check_dataset(dataset)
    pauc_columns = ["pauc_source", "pauc_target"] if dataset == "dcase2021" else ["pauc"]
    rows = []
    for (model, machine_type), group in results.groupby(["model", "machine_type"], sort=True):
        aucs = group[["auc_source", "auc_target"]].to_numpy(float).ravel()
        paucs = group[pauc_columns].to_numpy(float).ravel()
        rows.append(
            {
                "model": model,
                "machine_type": machine_type,
                "amean_auc": float(np.mean(aucs)),
                "hmean_auc": hmean_floored(aucs),
                "amean_pauc": float(np.mean(paucs)),
                "hmean_pauc": hmean_floored(paucs),
                "auc_source": float(group["auc_source"].mean()),
                "auc_target": float(group["auc_target"].mean()),
                "pauc": float(group["pauc"].mean()),
            }
        )
    return pd.DataFrame(rows)


def official_scores(
    scores: pd.DataFrame, *, dataset: str, max_fpr: float = 0.1, ci: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``results.csv`` and ``official_score.csv`` of a scores table: everything the evaluators print.

    Parameters
    ----------
    scores : DataFrame
        One row per test clip (module docstring); several models allowed (column ``model``).
    dataset : str
        One of :data:`OFFICIAL_DATASETS`.
    ci : bool
        Compute ``ci95`` (quadratic in the number of clips); NaN when False.

    Returns
    -------
    (results, summary) : tuple of DataFrame
        :func:`section_results`, and one row per model with :data:`SCORE_COLUMNS`: the official
        score, its ``ci95``, and the harmonic means over the source AUCs, the target AUCs and the
        pAUC terms (2021: ``pauc_source`` and ``pauc_target``).
    """
    results = section_results(scores, dataset=dataset, max_fpr=max_fpr)
    labelled = _labelled(scores)
    rows = []
    for model, group in results.groupby("model", sort=True):
        pauc_cols = ["pauc_source", "pauc_target"] if dataset == "dcase2021" else ["pauc"]
        rows.append(
            {
                "model": model,
                "dataset": dataset,
                "official_score": official_score(group, dataset=dataset),
                "ci95": official_ci95(labelled[labelled["model"] == model], dataset=dataset, max_fpr=max_fpr)
                if ci
                else math.nan,
                "hmean_source": hmean_floored(group["auc_source"]),
                "hmean_target": hmean_floored(group["auc_target"]),
                "hmean_pauc": hmean_floored(group[pauc_cols].to_numpy(float)),
            }
        )
    return results, pd.DataFrame(rows, columns=SCORE_COLUMNS)
