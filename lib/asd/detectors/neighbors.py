"""What the statistics detectors share: band statistics, per-ID rows and scales, nearest neighbours.

``embedding_knn``, ``embedding_mahalanobis`` (:mod:`asd.detectors.embedding`) and ``multistat``
(:mod:`asd.detectors.multistat`) reduce a clip's log-mel to per-band statistics, judge each
machine ID against its own normal clips, and give a clip of an unseen or unknown ID its best
(smallest) score over the known IDs. Those rules live here once.

Nearest neighbours
    :func:`knn_distances` is the one k-nearest-neighbour distance of the package, on
    :class:`sklearn.neighbors.NearestNeighbors` (Euclidean or Chebyshev). Leave-one-out
    distances of the training clips come from ``kneighbors()`` on the fitted set itself, which
    leaves each clip out of its own neighbours (an identical copy of a clip still counts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

logger = logging.getLogger(__name__)

#: A dimension's scale is floored at this fraction of the median scale of its group (per machine
#: ID): a band that never varied in training (e.g. empty above a recorder's low-pass) would
#: otherwise dominate every distance.
MIN_RELATIVE_SCALE = 0.1
#: Absolute floor of a dimension's scale (standardised units would otherwise divide by zero).
MIN_SCALE = 1e-6


def band_delta(log_mel: np.ndarray) -> np.ndarray:
    """Per band, the mean absolute change between consecutive frames, ``(n_mels,)`` (dB per frame); 0 for one frame."""
    if log_mel.shape[1] < 2:
        return np.zeros(log_mel.shape[0])
    return np.abs(np.diff(log_mel, axis=1)).mean(axis=1)


#: Per-band statistics over the frames of a float64 ``(n_mels, n_frames)`` log-mel, each ``(n_mels,)``.
BAND_STATISTICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda x: x.mean(axis=1),
    "std": lambda x: x.std(axis=1),
    "max": lambda x: x.max(axis=1),
    "min": lambda x: x.min(axis=1),
    "delta": band_delta,
}


def as_log_mel(log_mel: np.ndarray) -> np.ndarray:
    """``log_mel`` as float64 ``(n_mels, n_frames)``; ``ValueError`` for another shape or no frames."""
    log_mel = np.asarray(log_mel, dtype=np.float64)
    if log_mel.ndim != 2 or log_mel.shape[1] == 0:
        raise ValueError(f"expected a log-mel spectrogram of shape (n_mels, n_frames), got {log_mel.shape}")
    return log_mel


def rows_by_id(machine_ids: Sequence[str | None], n_clips: int) -> dict[str | None, np.ndarray]:
    """Row indices of each machine ID, IDs sorted; ``None`` (or ``""``) collects the clips of unknown ID."""
    if len(machine_ids) != n_clips:
        raise ValueError(f"{n_clips} clips but {len(machine_ids)} machine IDs")
    keys = np.asarray(["" if m is None else str(m) for m in machine_ids])
    return {(m or None): np.flatnonzero(keys == m) for m in sorted(set(keys))}


def floored_scale(scale: np.ndarray, *, median: float, relative: float = MIN_RELATIVE_SCALE) -> np.ndarray:
    """``scale`` floored at ``relative * median`` and at :data:`MIN_SCALE` (see :data:`MIN_RELATIVE_SCALE`)."""
    return np.maximum(scale, max(relative * median, MIN_SCALE))


def best_over_ids(against: Callable[[str], np.ndarray], ids: Sequence[str]) -> np.ndarray:
    """The unknown-ID rule: each clip's result against the known ID where it scores smallest.

    Parameters
    ----------
    against : callable
        ``against(machine_id)``: the clips' scores against that ID, ``(n_clips,)``, or a table
        ``(n_clips, n_columns)`` whose last column is the score.
    ids : sequence of str
        The known machine IDs.

    Returns
    -------
    np.ndarray
        Per clip, the row of ``against`` of the ID with the smallest score.
    """
    candidates = np.stack([against(m) for m in ids])  # (n_ids, n_clips[, n_columns])
    scores = candidates if candidates.ndim == 2 else candidates[:, :, -1]
    best = np.argmin(scores, axis=0)
    return candidates[best, np.arange(candidates.shape[1])]


def neighbor_index(references: np.ndarray, *, chebyshev: bool = False):
    """A :class:`sklearn.neighbors.NearestNeighbors` fitted on ``references`` ``(n_references, n_dims)``."""
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(metric="chebyshev" if chebyshev else "euclidean").fit(references)


def knn_distances(index, queries: np.ndarray | None, k: int) -> np.ndarray:
    """Mean distance of each query to its ``k`` nearest references, ``(n_queries,)``.

    Parameters
    ----------
    index : sklearn.neighbors.NearestNeighbors
        Fitted on the references (:func:`neighbor_index`).
    queries : np.ndarray of shape ``(n_queries, n_dims)``, or None
        None: leave-one-out distances of the references themselves, each without itself.
    k : int
        Neighbours averaged; fewer when there are fewer references. With one reference left
        out, nothing is left to compare with: the distance is 0 (logged).
    """
    n_references = index.n_samples_fit_
    k = min(k, n_references - (1 if queries is None else 0))
    if k < 1:
        logger.warning("a single training clip: its leave-one-out distance is taken as 0")
        return np.zeros(n_references)
    distances, _ = index.kneighbors(queries, n_neighbors=k)
    return distances.mean(axis=1)
