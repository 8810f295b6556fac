"""Per-ID decision thresholds at a chosen false-alarm rate, fitted on the scores of the *training* clips only.

An anomaly score only ranks clips; to decide "anomalous or not" on a running machine a
threshold is needed. No anomalous clip is available at training time, so the threshold is set
from the distribution of *normal* scores: the user chooses a **false-alarm rate** ``r`` (the
fraction of normal clips expected above the threshold) and the threshold is the ``1 - r``
quantile of a gamma distribution (:data:`scipy.stats.gamma`, location fixed at 0) fitted to the
training scores of each machine ID, as the DCASE 2021-2023 baselines do.

The default rate, :data:`DEFAULT_FALSE_ALARM_RATE` = 0.1, is the DCASE baselines' (their 0.9
quantile): about one normal clip in ten is flagged. It suits comparing detectors; a machine in
operation usually wants fewer alarms, e.g. ``thresholds: {false_alarm_rate: 0.01}`` in the config
at train time, or ``asd score --false-alarm-rate 0.01`` on a trained run (refitted from its
``train_scores.csv``, nothing retrained). The rate is what the fit *expects* on new normal clips
like the training ones. It is only as good as the training scores: detectors that memorise
their clips give leave-one-out training scores (see
:meth:`asd.detectors.Detector.training_scores`), the others score their own training clips,
which look more normal than new ones, so the real rate is then higher. A low rate is an
extrapolation into the tail of the fit and needs many training clips per ID to trust (at 0.01,
hundreds).

The gamma fit needs positive scores and a few of them; when it cannot be used (fewer than
:data:`MIN_GAMMA_CLIPS` clips, a score <= 0, a failed or non-finite fit) the empirical
quantile of the training scores is used instead and the method recorded says so.

``thresholds.json`` (written by :func:`asd.pipeline.train` next to ``train_scores.csv``)::

    {
      "method": "gamma", "false_alarm_rate": 0.1, "quantile": 0.9,
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
from .config import ThresholdConfig, check_knob
from .errors import ASDError, ConfigError

logger = logging.getLogger(__name__)

#: Default expected fraction of normal clips flagged (the DCASE 2021-2023 baselines' 0.9 quantile).
DEFAULT_FALSE_ALARM_RATE = 0.1
#: Fewer training scores than this: the empirical quantile is used, not a gamma fit.
MIN_GAMMA_CLIPS = 5
METHODS = ("gamma", "empirical")
THRESHOLDS_FILE = "thresholds.json"
TRAIN_SCORES_FILE = "train_scores.csv"


def quantile_of(false_alarm_rate: float, *, key: str = "thresholds.false_alarm_rate") -> float:
    """The quantile ``1 - false_alarm_rate``, after the config's check of the rate (in (0, 1)).

    Raises
    ------
    ConfigError
        Naming ``key`` (the config key, or the command-line option that gave the rate).
    """
    return 1.0 - check_knob(ThresholdConfig, "false_alarm_rate", false_alarm_rate, key=key)


def fit_threshold(
    scores, *, false_alarm_rate: float | None = None, quantile: float | None = None, method: str = "gamma"
) -> dict:
    """Threshold of one set of normal training scores.

    Parameters
    ----------
    scores : array-like of float, shape ``(n_clips,)``
        Anomaly scores of normal training clips (units of the detector's score).
    false_alarm_rate : float, optional
        In (0, 1): the fraction of normal clips expected above the threshold (default
        :data:`DEFAULT_FALSE_ALARM_RATE`).
    quantile : float, optional
        In (0, 1): the same choice as ``1 - false_alarm_rate``; give one or the other.
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
    quantile = _resolve_quantile(false_alarm_rate, quantile)
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


def _resolve_quantile(false_alarm_rate: float | None, quantile: float | None) -> float:
    if false_alarm_rate is not None and quantile is not None:
        raise ValueError("give false_alarm_rate or quantile, not both")
    if quantile is None:
        return quantile_of(DEFAULT_FALSE_ALARM_RATE if false_alarm_rate is None else false_alarm_rate)
    if not 0.0 < quantile < 1.0:
        raise ConfigError(f"quantile must lie in (0, 1), got {quantile}")
    return float(quantile)


def _gamma_threshold(scores: np.ndarray, quantile: float) -> dict | None:
    from scipy import stats

    if scores.size < MIN_GAMMA_CLIPS:
        logger.debug("%d training scores: too few for a gamma fit, using the empirical quantile", scores.size)
        return None
    if scores.min() <= 0.0 or np.ptp(scores) == 0.0:
        logger.debug("training scores not all positive and distinct: using the empirical quantile")
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
    return {
        "threshold": threshold,
        "method": "gamma",
        "n_train": int(scores.size),
        "shape": float(shape),
        "scale": float(scale),
    }


def fit_thresholds(
    train_scores: pd.DataFrame,
    *,
    false_alarm_rate: float | None = None,
    quantile: float | None = None,
    method: str = "gamma",
) -> dict:
    """Per-ID and pooled thresholds of one machine type from its training scores.

    Parameters
    ----------
    train_scores : DataFrame
        Columns ``machine_id`` and ``score``: the normal training clips of one machine type
        (``train_scores.csv``). Nothing else is read, so test clips cannot influence the result.
    false_alarm_rate, quantile, method
        See :func:`fit_threshold`.

    Returns
    -------
    dict
        The content of ``thresholds.json`` (see the module docstring).
    """
    if train_scores.empty:
        raise ValueError("cannot fit thresholds on an empty table of training scores")
    quantile = _resolve_quantile(false_alarm_rate, quantile)
    ids = train_scores["machine_id"].astype(str).str.zfill(2)
    scores = train_scores["score"].to_numpy(dtype=np.float64)
    pooled = fit_threshold(scores, quantile=quantile, method=method)
    per_id = {
        machine_id: fit_threshold(scores[(ids == machine_id).to_numpy()], quantile=quantile, method=method)
        for machine_id in sorted(ids.unique())
    }
    fallbacks = sum(fit["method"] != method for fit in (pooled, *per_id.values()))
    if fallbacks:  # one line per machine type, not one per fit
        logger.info(
            "%d of %d threshold fits (pooled and per ID) use the empirical quantile instead of a %s fit: too "
            "few training scores, scores not all positive and distinct, or a failed fit",
            fallbacks,
            1 + len(per_id),
            method,
        )
    return {
        "method": method,
        "false_alarm_rate": round(1.0 - quantile, 12),
        "quantile": quantile,
        "machine_type": pooled,
        "ids": per_id,
    }


def threshold_for(thresholds: dict, machine_id: str | None) -> float:
    """The threshold of ``machine_id``; the pooled machine-type one for an unknown or new ID."""
    per_id = thresholds.get("ids", {})
    if machine_id is not None and str(machine_id) in per_id:
        return float(per_id[str(machine_id)]["threshold"])
    return float(thresholds["machine_type"]["threshold"])


def false_alarm_rate_of(thresholds: dict) -> float:
    """The expected false-alarm rate a ``thresholds.json`` was fitted for."""
    return float(thresholds["false_alarm_rate"])


def refit_thresholds(type_dir: str | os.PathLike, *, false_alarm_rate: float, method: str | None = None) -> dict:
    """Thresholds of one machine type of a run refitted at another false-alarm rate (nothing is written).

    Reads ``<type_dir>/train_scores.csv``; ``method`` defaults to the one of the run's
    ``thresholds.json`` (else ``"gamma"``).

    Raises
    ------
    ASDError
        No ``train_scores.csv``; :class:`asd.errors.ConfigError` for a rate outside (0, 1).
    """
    type_dir = Path(type_dir)
    quantile_of(false_alarm_rate)
    if not (type_dir / TRAIN_SCORES_FILE).is_file():
        raise ASDError(f"{type_dir}: no {TRAIN_SCORES_FILE} to refit thresholds on; retrain the run")
    if method is None:
        saved = type_dir / THRESHOLDS_FILE
        method = _read_thresholds(saved).get("method", "gamma") if saved.is_file() else "gamma"
    train_scores = pd.read_csv(type_dir / TRAIN_SCORES_FILE, dtype={"machine_id": str})
    return fit_thresholds(train_scores, false_alarm_rate=false_alarm_rate, method=method)


def save_thresholds(path: str | os.PathLike, thresholds: dict) -> Path:
    """Write ``thresholds.json`` atomically."""
    return write_text_atomic(path, json.dumps(thresholds, indent=2))


def load_thresholds(type_dir: str | os.PathLike) -> dict:
    """The thresholds of one machine type of a run: ``<type_dir>/thresholds.json``.

    Raises
    ------
    ASDError
        No such file.
    """
    path = Path(type_dir) / THRESHOLDS_FILE
    if not path.is_file():
        raise ASDError(f"{path}: missing; retrain the run")
    return _read_thresholds(path)


def _read_thresholds(path: Path) -> dict:
    """A ``thresholds.json``; :class:`ASDError` naming the file when it is not one."""
    try:
        thresholds = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ASDError(f"{path}: not a thresholds file ({type(exc).__name__}: {exc}); retrain the run") from None
    if not isinstance(thresholds, dict) or not isinstance(thresholds.get("machine_type"), dict):
        raise ASDError(f"{path}: not a thresholds file (no pooled machine_type threshold); retrain the run")
    return thresholds


def unseen_ids(thresholds: dict, machine_ids) -> list[str]:
    """The machine IDs among ``machine_ids`` without a threshold of their own (scored with the pooled one), sorted."""
    known = set(thresholds.get("ids", {}))
    return sorted({str(m) for m in machine_ids if str(m) not in known})


def note_unseen_ids(results: pd.DataFrame, unseen: list[tuple[str, str]]) -> pd.DataFrame:
    """``results`` with a ``note`` column naming the (machine type, ID) pairs decided with the pooled threshold.

    The column is added only when there are such IDs (a test ID with no training clips), and each
    is logged as a warning: its decisions (precision, recall, F1) rest on the other IDs' scores.
    """
    if not unseen:
        return results
    for machine_type, machine_id in unseen:
        logger.warning(
            "%s id %s: no training clips: decided with the pooled %s threshold", machine_type, machine_id, machine_type
        )
    pooled = set(unseen)
    results = results.copy()
    results["note"] = [
        "unseen ID: no training clips, pooled threshold" if (t, m) in pooled else ""
        for t, m in zip(results["machine_type"], results["machine_id"])
    ]
    return results
