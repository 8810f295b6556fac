"""Clip embeddings from log-mel statistics, scored by distance to the normal training clips.

The study's autoencoder is asked to *reproduce* a 64x64 image, and a flexible decoder
reproduces an anomalous image nearly as well as a normal one, so its error hardly moves. These
detectors ask a different question: *is this clip's long-term spectrum like that of some normal
clip of the same machine?* A machine's operating sound is close to stationary, and most faults
(a new tone, a shifted resonance or speed, a broadband rattle, knocks, a changed rhythm) change
the average level of some bands or how much they fluctuate from frame to frame. Those are the
two statistics the embedding keeps; a distance to normal clips has nothing it could learn to
reproduce the anomaly with, and averaging over the whole clip removes most of the random detail
(background events, exact phase of a cycle) the autoencoder has to spend its capacity on.

Embedding (:func:`clip_embedding`)
    From the DCASE baseline's log-mel spectrogram (``"baseline"`` features: 128 mel bands,
    1024-point FFT, hop 512 = 32 ms, dB), per band over all frames: the mean (dB) and the mean
    absolute difference of consecutive frames (``"delta"``, dB per frame), concatenated:
    ``2 * 128 = 256`` values (``detectors.embedding.statistics`` in the config, default
    :data:`STATISTICS`). Each dimension is then standardised with the mean and standard
    deviation of the training embeddings of the clip's machine ID. The clip's overall level is
    kept: a real fault often changes the loudness too. How these choices were measured against
    the alternatives (other statistics, level normalisation, more neighbours) is in
    ``docs/detectors.md``.

``embedding_knn``
    Score = mean Euclidean distance (standardised units) from the clip's embedding to its
    ``detectors.embedding.n_neighbors`` nearest training embeddings **of the same machine ID**
    (:class:`sklearn.neighbors.NearestNeighbors`).
``embedding_mahalanobis``
    Score = Mahalanobis distance from the clip's embedding to the mean of the training
    embeddings of its machine ID, with a Ledoit-Wolf shrunk covariance
    (:class:`sklearn.covariance.LedoitWolf`; shrinkage keeps it invertible with fewer clips
    than dimensions).

A clip of an ID not seen in training, or of unknown ID, gets the smallest of its scores against
each known ID. Training scores (``train_scores.csv``, decision thresholds) are computed without
the clip itself: leave-one-out for k-NN (a training clip is its own nearest neighbour, distance
0), ``detectors.embedding.n_folds``-fold cross-fitting for the Mahalanobis distance. Both fit
in well under a second for hundreds of clips and need no GPU. A fitted detector saves
``embedding.npz`` (per-ID standardisation and training embeddings or Gaussians) and
``detector.json`` (name, statistics, settings); loading uses the saved statistics.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..config import EmbeddingConfig, StudyConfig
from ..errors import ConfigError
from ..features import single_threaded_blas
from .base import Detector, DetectorStateError, register
from .neighbors import (
    BAND_STATISTICS,
    as_log_mel,
    best_over_ids,
    floored_scale,
    knn_distances,
    neighbor_index,
    rows_by_id,
)

logger = logging.getLogger(__name__)

#: Per-band statistics over frames that make up the embedding, in order (the config's default,
#: ``detectors.embedding.statistics``); any of :data:`asd.detectors.neighbors.BAND_STATISTICS`.
STATISTICS: tuple[str, ...] = tuple(EmbeddingConfig().statistics)


def clip_embedding(log_mel: np.ndarray, *, statistics: Sequence[str] = STATISTICS) -> np.ndarray:
    """Per-band statistics of one clip's log-mel spectrogram.

    Parameters
    ----------
    log_mel : np.ndarray, shape ``(n_mels, n_frames)``
        Log-mel spectrogram in dB (e.g. :func:`asd.features.baseline_log_mel`).
    statistics : sequence of str
        Any of ``"mean"``, ``"std"``, ``"max"``, ``"min"``, ``"delta"`` (mean absolute
        difference of consecutive frames), each taken per band over the frames.

    Returns
    -------
    np.ndarray, shape ``(len(statistics) * n_mels,)``, float64
        The statistics concatenated in the order given (dB, or dB per frame for ``delta``).
    """
    log_mel = as_log_mel(log_mel)
    unknown = [s for s in statistics if s not in BAND_STATISTICS]
    if unknown:
        raise ValueError(f"unknown statistic(s) {unknown} (known: {sorted(BAND_STATISTICS)})")
    return np.concatenate([BAND_STATISTICS[s](log_mel) for s in statistics])


def embed_clips(features: Sequence[np.ndarray], *, statistics: Sequence[str] = STATISTICS) -> np.ndarray:
    """:func:`clip_embedding` of every clip, shape ``(n_clips, len(statistics) * n_mels)``."""
    if len(features) == 0:
        raise ValueError("no clips to embed")
    return np.stack([clip_embedding(f, statistics=statistics) for f in features])


class _EmbeddingDetector(Detector):
    """Shared plumbing: embeddings, per-ID standardisation, save/load.

    Each machine ID gets its own standardisation (mean and standard deviation of each
    dimension over that ID's training embeddings), so a dimension that varies a lot for one
    machine but not for another is weighed accordingly for each.
    """

    feature_kind = "baseline"
    settings_class = EmbeddingConfig
    settings_section = "embedding"
    arrays_file: ClassVar[str] = "embedding.npz"
    saved_files: ClassVar[tuple[str, ...]] = ("embedding.npz",)

    def __init__(self, config: StudyConfig):
        super().__init__(config)
        self.settings: EmbeddingConfig = config.detectors.embedding
        #: per-band statistics of the embedding, in order (``detectors.embedding.statistics``)
        self.statistics: tuple[str, ...] = tuple(self.settings.statistics)
        unknown = [s for s in self.statistics if s not in BAND_STATISTICS]
        if unknown or not self.statistics:
            raise ConfigError(
                f"detectors.embedding.statistics: expected a non-empty list of {', '.join(sorted(BAND_STATISTICS))}, "
                f"got {list(self.statistics)}"
            )
        self.ids: list[str] = []
        self.centers: dict[str, np.ndarray] = {}  #: ID -> (n_dims,) training mean of each dimension
        self.scales: dict[str, np.ndarray] = {}  #: ID -> (n_dims,) training std of each dimension, floored

    # -- embeddings ------------------------------------------------------------------------
    def embed(self, features: Sequence[np.ndarray], machine_id: str) -> np.ndarray:
        """Embeddings standardised with ``machine_id``'s training statistics, ``(n_clips, n_dims)``."""
        if machine_id not in self.centers:
            raise ValueError(f"{self.name}: no machine ID {machine_id!r} in training (has {', '.join(self.ids)})")
        return (embed_clips(features, statistics=self.statistics) - self.centers[machine_id]) / self.scales[machine_id]

    def _standardise(self, raw: np.ndarray, machine_id: str) -> np.ndarray:
        return (raw - self.centers[machine_id]) / self.scales[machine_id]

    def fit(self, features, machine_ids, *, progress=True) -> pd.DataFrame:
        """Fit on normal training clips (see :class:`asd.detectors.base.Detector`).

        Returns a one-row history: ``n_clips``, ``n_ids``, ``n_dims``.
        """
        raw = embed_clips(features, statistics=self.statistics)
        groups = rows_by_id([str(m) for m in machine_ids], len(features))
        self.ids = [str(m) for m in groups]
        self.centers = {m: raw[rows].mean(axis=0) for m, rows in groups.items()}
        relative = self.settings.min_relative_scale
        self.scales = {}
        for m, rows in groups.items():
            std = raw[rows].std(axis=0)
            self.scales[m] = floored_scale(std, median=float(np.median(std)), relative=relative)
        with single_threaded_blas():
            self._fit_groups({m: self._standardise(raw[rows], m) for m, rows in groups.items()})
        logger.info("%s: %d clips, %d IDs, %d dims", self.name, len(features), len(groups), raw.shape[1])
        return pd.DataFrame([{"epoch": 1, "n_clips": len(features), "n_ids": len(groups), "n_dims": raw.shape[1]}])

    def score(self, features, machine_ids=None) -> np.ndarray:
        """Anomaly score per clip, shape ``(n_clips,)`` (distance in standardised units).

        A clip of an ID not seen in training, or of unknown ID (``None``), gets the smallest
        of its scores against each known ID.
        """
        return self._scores(features, machine_ids, exclude_self=False)

    def training_scores(self, features, machine_ids) -> np.ndarray:
        """Scores of the training clips, each computed without itself (k-NN: leave-one-out;
        Mahalanobis: Gaussians fitted on the other folds), as a new normal clip would get."""
        return self._scores(features, [str(m) for m in machine_ids], exclude_self=True)

    def _scores(self, features, machine_ids, *, exclude_self: bool) -> np.ndarray:
        if not self.ids:
            raise RuntimeError(f"{self.name}: fit() or load() first")
        if len(features) == 0:
            return np.empty(0)
        raw = embed_clips(features, statistics=self.statistics)
        groups = rows_by_id([None] * len(features) if machine_ids is None else machine_ids, len(features))
        scores = np.empty(len(features))
        with single_threaded_blas():
            for m, rows in groups.items():
                if m in self.centers:
                    scores[rows] = self._distances(self._standardise(raw[rows], m), m, exclude_self=exclude_self)
                else:
                    scores[rows] = best_over_ids(
                        lambda k, rows=rows: self._distances(self._standardise(raw[rows], k), k), self.ids
                    )
        return scores

    # -- subclass hooks --------------------------------------------------------------------
    def _fit_groups(self, embeddings: dict[str, np.ndarray]) -> None:
        """Fit on the standardised training embeddings of each ID, ``(n_clips_of_id, n_dims)``."""
        raise NotImplementedError

    def _distances(self, embeddings: np.ndarray, machine_id: str, *, exclude_self: bool = False) -> np.ndarray:
        """Scores of ``embeddings`` (standardised for ``machine_id``) against that ID's model;
        ``exclude_self``: they are that ID's training embeddings, in training order."""
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    # -- persistence -----------------------------------------------------------------------
    def _state(self) -> dict:
        return {"name": self.name, "statistics": list(self.statistics), "ids": self.ids}

    def save(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"center_{m}": self.centers[m] for m in self.ids}
        arrays.update({f"scale_{m}": self.scales[m] for m in self.ids})
        with atomic_path(directory / self.arrays_file) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays, **self._arrays())
        state = self._state()
        state.pop("name")
        self.write_state(directory, **state)

    @classmethod
    def load(cls, directory: str | os.PathLike, config: StudyConfig) -> _EmbeddingDetector:
        """The detector saved in ``directory``, with the statistics and settings it was fitted with."""
        directory = Path(directory)
        state = cls.read_state(directory)
        detector = cls(config)
        path = directory / cls.arrays_file
        try:
            detector._load_state(state)
            with np.load(path, allow_pickle=False) as arrays:
                arrays = {key: arrays[key] for key in arrays.files}
            detector.centers = {m: arrays.pop(f"center_{m}") for m in detector.ids}
            detector.scales = {m: arrays.pop(f"scale_{m}") for m in detector.ids}
            detector._load_arrays(arrays)
        except (OSError, ValueError, KeyError, TypeError) as exc:  # a damaged or incomplete file
            raise DetectorStateError(f"{path}: unreadable or incomplete ({type(exc).__name__}: {exc})") from None
        return detector

    def _load_state(self, state: dict) -> None:
        self.ids = list(state["ids"])
        self.statistics = tuple(state["statistics"])


@register
class EmbeddingKNNDetector(_EmbeddingDetector):
    """k-nearest-neighbour distance to the same ID's normal training embeddings."""

    name = "embedding_knn"
    summary = "log-mel band mean + frame-to-frame change; score = distance to the nearest normal clips of the ID"

    def __init__(self, config: StudyConfig, *, n_neighbors: int | None = None):
        super().__init__(config)
        #: neighbours averaged (``detectors.embedding.n_neighbors`` unless given)
        self.k = int(n_neighbors or self.settings.n_neighbors)
        self.references: dict[str, np.ndarray] = {}  #: ID -> (n_train_clips_of_id, n_dims), standardised
        self._indexes: dict[str, object] = {}

    def _fit_groups(self, embeddings):
        self.references = embeddings
        self._build_indexes()

    def _build_indexes(self) -> None:
        self._indexes = {m: neighbor_index(ref) for m, ref in self.references.items()}

    def _distances(self, embeddings, machine_id, *, exclude_self=False):
        if exclude_self and len(embeddings) != self._indexes[machine_id].n_samples_fit_:
            raise ValueError(f"{self.name}: leave-one-out scores need the training clips of ID {machine_id}")
        return knn_distances(self._indexes[machine_id], None if exclude_self else embeddings, self.k)

    def _state(self):
        return {**super()._state(), "n_neighbors": self.k}

    def _load_state(self, state):
        super()._load_state(state)
        self.k = int(state["n_neighbors"])

    def _arrays(self):
        return {f"reference_{m}": ref for m, ref in self.references.items()}

    def _load_arrays(self, arrays):
        self.references = {m: arrays[f"reference_{m}"] for m in self.ids}
        self._build_indexes()


@register
class EmbeddingMahalanobisDetector(_EmbeddingDetector):
    """Mahalanobis distance to a Gaussian (Ledoit-Wolf covariance) per machine ID."""

    name = "embedding_mahalanobis"
    summary = "log-mel band mean + frame-to-frame change; score = Mahalanobis distance to the ID's normal Gaussian"

    def __init__(self, config: StudyConfig):
        super().__init__(config)
        #: training scores are cross-fitted over this many folds per ID (``detectors.embedding.n_folds``)
        self.n_folds = int(self.settings.n_folds)
        self.means: dict[str, np.ndarray] = {}  #: ID -> (n_dims,)
        self.precisions: dict[str, np.ndarray] = {}  #: ID -> (n_dims, n_dims)

    @staticmethod
    def _gaussian(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.covariance import LedoitWolf

        if len(embeddings) < 2:  # no spread to estimate: unit covariance
            return embeddings.mean(axis=0), np.eye(embeddings.shape[1])
        estimator = LedoitWolf().fit(embeddings)
        return estimator.location_, estimator.precision_

    def _fit_groups(self, embeddings):
        self.means, self.precisions = {}, {}
        for m, group in embeddings.items():
            self.means[m], self.precisions[m] = self._gaussian(group)

    @staticmethod
    def _mahalanobis(x: np.ndarray, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
        centred = x - mean
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", centred, precision, centred), 0.0))

    def _distances(self, embeddings, machine_id, *, exclude_self=False):
        if not exclude_self or len(embeddings) < 3:
            return self._mahalanobis(embeddings, self.means[machine_id], self.precisions[machine_id])
        # cross-fitted: each training clip against a Gaussian fitted on the other folds
        scores = np.empty(len(embeddings))
        rows = np.arange(len(embeddings))
        for fold in np.array_split(rows, min(self.n_folds, len(rows))):
            mean, precision = self._gaussian(embeddings[np.setdiff1d(rows, fold)])
            scores[fold] = self._mahalanobis(embeddings[fold], mean, precision)
        return scores

    def _arrays(self):
        arrays = {}
        for m in self.ids:
            arrays[f"mean_{m}"] = self.means[m]
            arrays[f"precision_{m}"] = self.precisions[m]
        return arrays

    def _load_arrays(self, arrays):
        self.means = {m: arrays[f"mean_{m}"] for m in self.ids}
        self.precisions = {m: arrays[f"precision_{m}"] for m in self.ids}
