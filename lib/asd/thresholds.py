"""Per-ID decision thresholds, fitted on the scores of the *training* clips only.

An anomaly score only ranks clips; to decide "anomalous or not" on a running machine a
threshold is needed. No anomalous clip is available at training time, so the threshold is a
high quantile of the distribution of *normal* scores, as the DCASE 2021-2023 baselines do: a
gamma distribution (:data:`scipy.stats.gamma`, location fixed at 0) is fitted to the training
scores of each machine ID and its ``quantile`` (0.9 by default) is the threshold. A clip
scoring above it is declared anomalous, so about 10% of normal clips like the training ones
are expected to be flagged (the false-alarm rate the threshold buys).

The gamma fit needs positive scores and a few of them; when it cannot be used (fewer than
:data:`MIN_GAMMA_CLIPS` clips, a score <= 0, a failed or non-finite fit) the empirical
quantile of the training scores is used instead and the method recorded says so.

``thresholds.json`` (written by :func:`asd.pipeline.train` next to ``train_scores.csv``)::

    {
      "method": "gamma", "quantile": 0.9,
      "machine_type": {"threshold": ..., "method": "gamma", "n_train": 40, "shape": ..., "scale": ...},
      "ids": {"00": {"threshold": ..., "method": "gamma", "n_train": 10, "shape": ..., "scale": ...}, ...}
    }

``machine_type`` is the threshold of all training scores of the machine type pooled; it is
used for clips whose machine ID was not seen in training (or is unknown).
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import write_text_atomic
from .errors import ASDError

logger = logging.getLogger(__name__)

#: Default quantile of the fitted normal-score distribution used as the threshold.
DEFAULT_QUANTILE = 0.9
#: Fewer training scores than this: the empirical quantile is used, not a gamma fit.
MIN_GAMMA_CLIPS = 5
METHODS = ("gamma", "empirical")
THRESHOLDS_FILE = "thresholds.json"


def fit_threshold(scores, *, quantile: float = DEFAULT_QUANTILE, method: str = "gamma") -> dict:
    """Threshold of one set of normal training scores.

    Parameters
    ----------
    scores : array-like of float, shape ``(n_clips,)``
        Anomaly scores of normal training clips (units of the detector's score).
    quantile : float
        In (0, 1): the fraction of normal clips expected below the threshold.
    method : {"gamma", "empirical"}
        ``"gamma"``: quantile of a gamma distribution fitted with location 0 (falls back to
        ``"empirical"`` when the fit cannot be used, see the module docstring);
        ``"empirical"``: the linear-interpolated sample quantile.

    Returns
    -------
    dict
        ``threshold`` (float, score units), ``method`` actually used, ``n_train`` and, for a
        gamma fit, its ``shape`` and ``scale``.
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
    if method not in METHODS:
        raise ValueError(f"unknown threshold method {method!r} (expected one of {METHODS})")
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError("cannot fit a threshold on no scores")
    if not np.isfinite(scores).all():
        raise ValueError("training scores contain NaN or infinite values")
    if method == "gamma":
        fitted = _gamma_threshold(scores, quantile)
        if fitted is not None:
            return fitted
    return {"threshold": float(np.quantile(scores, quantile)), "method": "empirical", "n_train": int(scores.size)}


def _gamma_threshold(scores: np.ndarray, quantile: float) -> dict | None:
    from scipy import stats

    if scores.size < MIN_GAMMA_CLIPS:
        logger.info("%d training scores: too few for a gamma fit, using the empirical quantile", scores.size)
        return None
    if scores.min() <= 0.0 or np.ptp(scores) == 0.0:
        logger.info("training scores not all positive and distinct: using the empirical quantile")
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            shape, _, scale = stats.gamma.fit(scores, floc=0.0)
        threshold = float(stats.gamma.ppf(quantile, shape, loc=0.0, scale=scale))
    except (ValueError, RuntimeError, FloatingPointError) as exc:
        logger.warning("gamma fit failed (%s): using the empirical quantile", exc)
        return None
    if not (math.isfinite(threshold) and threshold > 0.0):
        logger.warning("gamma fit gave threshold %r: using the empirical quantile", threshold)
        return None
    return {"threshold": threshold, "method": "gamma", "n_train": int(scores.size), "shape": float(shape), "scale": float(scale)}


def fit_thresholds(train_scores: pd.DataFrame, *, quantile: float = DEFAULT_QUANTILE, method: str = "gamma") -> dict:
    """Per-ID and pooled thresholds of one machine type from its training scores.

    Parameters
    ----------
    train_scores : DataFrame
        Columns ``machine_id`` and ``score``: the normal training clips of one machine type
        (``train_scores.csv``). Nothing else is read, so test clips cannot influence the result.
    quantile, method
        See :func:`fit_threshold`.

    Returns
    -------
    dict
        The content of ``thresholds.json`` (see the module docstring).
    """
    if train_scores.empty:
        raise ValueError("cannot fit thresholds on an empty table of training scores")
    ids = train_scores["machine_id"].astype(str).str.zfill(2)
    scores = train_scores["score"].to_numpy(dtype=np.float64)
    return {
        "method": method,
        "quantile": quantile,
        "machine_type": fit_threshold(scores, quantile=quantile, method=method),
        "ids": {
            machine_id: fit_threshold(scores[(ids == machine_id).to_numpy()], quantile=quantile, method=method)
            for machine_id in sorted(ids.unique())
        },
    }


def threshold_for(thresholds: dict, machine_id: str | None) -> float:
    """The threshold of ``machine_id``; the pooled machine-type one for an unknown or new ID."""
    per_id = thresholds.get("ids", {})
    if machine_id is not None and str(machine_id) in per_id:
        return float(per_id[str(machine_id)]["threshold"])
    return float(thresholds["machine_type"]["threshold"])


def save_thresholds(path: str | os.PathLike, thresholds: dict) -> Path:
    """Write ``thresholds.json`` atomically."""
    return write_text_atomic(path, json.dumps(thresholds, indent=2))


def load_thresholds(type_dir: str | os.PathLike) -> dict:
    """The thresholds of one machine type of a run.

    Reads ``<type_dir>/thresholds.json``; a run trained before thresholds existed has only
    ``train_scores.csv``, from which they are fitted (with the defaults) on the fly.

    Raises
    ------
    ASDError
        Neither file exists.
    """
    type_dir = Path(type_dir)
    if (type_dir / THRESHOLDS_FILE).is_file():
        return json.loads((type_dir / THRESHOLDS_FILE).read_text(encoding="utf-8"))
    if (type_dir / "train_scores.csv").is_file():
        logger.info("%s: no %s, fitting thresholds on train_scores.csv", type_dir, THRESHOLDS_FILE)
        return fit_thresholds(pd.read_csv(type_dir / "train_scores.csv", dtype={"machine_id": str}))
    raise ASDError(f"{type_dir}: neither {THRESHOLDS_FILE} nor train_scores.csv; retrain the run")


def decide(scores, thresholds) -> np.ndarray:
    """``True`` where a score exceeds its threshold (anomalous), shape ``(n_clips,)``."""
    return np.asarray(scores, dtype=np.float64) > np.asarray(thresholds, dtype=np.float64)


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
    true_positives = float(np.sum(y_true & decisions))
    precision = true_positives / decisions.sum() if decisions.any() else math.nan
    if not y_true.any():
        return float(precision), math.nan, math.nan
    recall = true_positives / y_true.sum()
    if true_positives == 0.0:
        return float(precision), 0.0, 0.0
    return float(precision), float(recall), float(2.0 * precision * recall / (precision + recall))
