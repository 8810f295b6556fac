"""``multistat``: several groups of clip statistics, each judged against normal clips on its own.

Why
    Faults differ in character. Some change the *stationary* sound: a level, a new tone, a
    shifted resonance or speed (fans, pumps); their mark is in the band means. Some add or
    change *transients*: clicks, impacts, knocks, chatter (valves, sliders, toy cars); a few
    10-ms events in a 10-s clip hardly move a band's mean but raise its maximum. Some change the
    *rhythm*: strokes, cycles, belts; the band envelopes keep their levels but repeat at other
    intervals or less regularly. A detector built on one statistic is blind to the faults the
    statistic does not see, and with no anomalous recordings a user cannot tell which statistic
    their machine needs. So this detector looks at every character at once, and the rule that
    combines them is fixed in advance, never chosen per data set or machine type.

Statistics (:func:`clip_statistics`)
    From the DCASE baseline's log-mel spectrogram (``"baseline"`` features: 128 mel bands, hop
    512 = 32 ms, dB), per clip, one vector per group (:data:`GROUPS`):

    ``mean``    per band, mean over frames (dB): stationary level and spectral shape.
    ``peak``    per band, maximum over frames (dB): the loudest event (a click, an impact).
    ``delta``   per band, mean absolute change between consecutive frames (dB per frame):
                roughness, impulsiveness, fast amplitude modulation.
    ``spread``  per band, standard deviation over frames (dB): how much a band varies overall
                (slow swells, on/off cycles, intermittent sounds).
    ``rhythm``  the modulation spectrum of the band envelopes: the log-mel bands are pooled
                into :data:`RHYTHM_BANDS` equal groups of mels, each group's envelope (mean dB
                over its mels) has its mean removed and is Hann-windowed; the power spectrum of
                that envelope (modulation frequency, 0 to the frame rate's Nyquist of 15.6 Hz)
                is pooled into :data:`RHYTHM_BINS` equal-width bins and converted to dB. A
                changed cycle moves power between modulation bins; a less regular cycle
                spreads a peak out.
    ``level``   per coarse band (the same :data:`RHYTHM_BANDS` groups of mels), mean over its
                mels and frames (dB): a broadband rise or a changed tilt. Such a change moves
                every fine band by the same small amount, which the 128-d ``mean`` distance
                dilutes among the larger clip-to-clip differences of single bands; averaging
                16 mels averages those differences out.
    ``narrow``  optional, not in the default groups: per band, mean over frames (dB), as
                ``mean``, but judged by its single most deviant band (the Chebyshev distance:
                the largest standardised difference over the bands) instead of the Euclidean
                distance over all of them. A change confined to one band (a new tone, a shifted
                resonance) can stand several standard deviations out in that band and still
                move the 128-d Euclidean distance by a few percent only; here it is the
                distance. One more group under the maximum also raises every normal clip's
                score, which costs the other groups' weaker signals (docs/detectors.md has the
                worst case that kept it out of the defaults).

Scoring
    For each group separately, with each machine ID on its own:

    1. Standardise every dimension with the mean and standard deviation of that ID's training
       clips. The standard deviation is shrunk towards the group's median one with a prior worth
       :data:`SCALE_PRIOR_CLIPS` clips (a per-dimension estimate from a handful of clips is
       mostly noise) and floored at :data:`MIN_RELATIVE_SCALE` of it, so that a dimension that
       never varied in training cannot dominate.
    2. Distance: mean Euclidean distance (Chebyshev for the groups in :data:`CHEBYSHEV_GROUPS`) to
       the ``n_neighbors`` (``config.detectors.multistat``) nearest training clips of the ID
       (standardised units; :func:`asd.detectors.neighbors.knn_distances`, shared with ``embedding_knn``).
    3. Normalise by what normal clips score: each training clip's *leave-one-out* distance (to
       the other training clips) gives the group's normal distances; the group score is
       ``log(distance / median) / spread``, with ``spread`` the standard deviation of the log
       of the normal distances over their median (floored at :data:`LOG_SPREAD_FLOOR`). It
       reads as "standard deviations above a typical normal clip", whatever the group's number
       of dimensions: distances in the 128-d ``delta`` group vary by a few percent between
       normal clips, those of the ``mean`` group by tens of percent, and a raw ratio would let
       the noisier group decide.

    The clip's score combines the group scores by ``combine`` (``config.detectors.multistat``), fixed: the
    **maximum**. A
    fault of one character (clicks that only the ``peak`` group sees) then counts in full
    instead of being divided by the number of groups, and because every group is on the same
    normal scale, no group raises more false alarms than another. A normal clip scores about 1
    (the maximum of six values around 0); the score can be negative, so decision thresholds
    (:mod:`asd.thresholds`) use the empirical quantile of the training scores. Training scores
    (``train_scores.csv``) are leave-one-out for every group, like those of new normal clips. A
    clip of an ID not seen in training, or of unknown ID, gets the smallest of its scores
    against each known ID.

Cost: no training beyond storing the statistics, no GPU; fitting and scoring take seconds per
machine type (docs/detectors.md). A fitted detector saves ``multistat.npz`` (per ID and group: centre,
scale, standardised training statistics, normal median and spread) and ``detector.json`` (name, settings, IDs).

Knobs: ``groups``, ``n_neighbors`` and ``combine`` in ``config.detectors.multistat``; the
statistics' own resolution and regularisation are module constants (:data:`RHYTHM_BANDS`,
:data:`RHYTHM_BINS`, :data:`MIN_RELATIVE_SCALE`, :data:`SCALE_PRIOR_CLIPS`,
:data:`LOG_SPREAD_FLOOR`). The values were fixed by reasoning, then checked by the worst case over
every available data set (docs/detectors.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..config import MultistatConfig, StudyConfig
from .base import STATE_FILE, Detector, DetectorStateError, register
from .neighbors import (
    BAND_STATISTICS,
    MIN_RELATIVE_SCALE,
    as_log_mel,
    best_over_ids,
    floored_scale,
    knn_distances,
    neighbor_index,
    rows_by_id,
)

logger = logging.getLogger(__name__)

#: Statistic groups, each scored on its own (see the module docstring); the default of
#: ``config.detectors.multistat.groups``, which also holds ``n_neighbors`` (nearest training clips
#: of the same ID averaged into a group's distance) and ``combine`` (``"max"`` or ``"mean"``).
GROUPS: tuple[str, ...] = tuple(MultistatConfig().groups)
#: Equal groups of mel bands whose envelopes give the ``rhythm`` statistic.
RHYTHM_BANDS = 8
#: Equal-width modulation-frequency bins of the ``rhythm`` statistic (0 Hz to the frame rate's Nyquist).
RHYTHM_BINS = 32
#: Weight, in clips, of the prior that shrinks each dimension's standard deviation towards the
#: median one of its group (per ID): with a handful of training clips a per-dimension standard
#: deviation is mostly noise; with hundreds the prior vanishes.
SCALE_PRIOR_CLIPS = 5
#: Groups whose distance is the Chebyshev one (the largest difference over the dimensions).
CHEBYSHEV_GROUPS = frozenset({"narrow"})
#: Floor of a group's spread of log leave-one-out distances (a relative spread of 1 %): only
#: reached with two or three training clips, whose leave-one-out distances (nearly) coincide.
LOG_SPREAD_FLOOR = 0.01

_STATE_KEYS = ("center", "scale", "reference", "median", "spread")
_COMBINERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda s: s.mean(axis=1),
    "max": lambda s: s.max(axis=1),
}


def _envelopes(log_mel: np.ndarray, n_bands: int) -> np.ndarray:
    """Mean dB over each of ``n_bands`` equal groups of mel bands, per frame: ``(n_bands, n_frames)``."""
    bands = np.array_split(np.arange(log_mel.shape[0]), min(n_bands, log_mel.shape[0]))
    return np.stack([log_mel[rows].mean(axis=0) for rows in bands])


def _level(log_mel: np.ndarray, *, n_bands: int = RHYTHM_BANDS) -> np.ndarray:
    """Mean level of each coarse band over the clip, shape ``(n_bands,)``, dB."""
    return _envelopes(log_mel, n_bands).mean(axis=1)


def _rhythm(log_mel: np.ndarray, *, n_bands: int = RHYTHM_BANDS, n_bins: int = RHYTHM_BINS) -> np.ndarray:
    """Modulation spectrum of pooled band envelopes, shape ``(n_bands * n_bins,)``, dB."""
    n_frames = log_mel.shape[1]
    envelopes = _envelopes(log_mel, n_bands)
    if n_frames < 2 * n_bins:  # too short for a modulation spectrum at this resolution
        return np.zeros(len(envelopes) * n_bins)
    envelopes = (envelopes - envelopes.mean(axis=1, keepdims=True)) * np.hanning(n_frames)
    power = np.abs(np.fft.rfft(envelopes, axis=1)[:, 1:]) ** 2 / n_frames  # drop the removed mean (0 Hz)
    pooled = np.stack([chunk.mean(axis=1) for chunk in np.array_split(power, n_bins, axis=1)], axis=1)
    return (10.0 * np.log10(pooled + 1e-10)).ravel()


#: Per-clip statistic of each group, from a ``(n_mels, n_frames)`` dB log-mel.
STATISTICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": BAND_STATISTICS["mean"],
    "peak": BAND_STATISTICS["max"],
    "delta": BAND_STATISTICS["delta"],
    "spread": BAND_STATISTICS["std"],
    "rhythm": _rhythm,
    "level": _level,
    "narrow": BAND_STATISTICS["mean"],
}


def clip_statistics(log_mel: np.ndarray, *, groups: Sequence[str] = GROUPS) -> dict[str, np.ndarray]:
    """The statistic groups of one clip.

    Parameters
    ----------
    log_mel : np.ndarray, shape ``(n_mels, n_frames)``
        Log-mel spectrogram in dB (e.g. :func:`asd.features.baseline_log_mel`).
    groups : sequence of str
        Names from :data:`STATISTICS`.

    Returns
    -------
    dict of str to np.ndarray
        Group name -> float64 vector: ``(n_mels,)`` for the per-band groups (dB, or dB per
        frame for ``delta``), ``(RHYTHM_BANDS * RHYTHM_BINS,)`` for ``rhythm`` (dB).
    """
    log_mel = as_log_mel(log_mel)
    _check_groups(groups)
    return {g: STATISTICS[g](log_mel) for g in groups}


def stack_statistics(features: Sequence[np.ndarray], *, groups: Sequence[str] = GROUPS) -> dict[str, np.ndarray]:
    """:func:`clip_statistics` of every clip, stacked: group -> ``(n_clips, n_dims_of_group)``."""
    if len(features) == 0:
        raise ValueError("no clips")
    per_clip = [clip_statistics(f, groups=groups) for f in features]
    return {g: np.stack([s[g] for s in per_clip]) for g in groups}


def _check_groups(groups: Sequence[str]) -> None:
    unknown = [g for g in groups if g not in STATISTICS]
    if unknown or not groups:
        raise ValueError(
            f"unknown or no statistic group(s) {list(unknown) or list(groups)} (known: {', '.join(STATISTICS)})"
        )


def _scale(raw: np.ndarray) -> np.ndarray:
    """Per-dimension scale of one ID's training statistics ``(n_clips, n_dims)``: the standard
    deviation shrunk towards the median one (:data:`SCALE_PRIOR_CLIPS`), then floored
    (:data:`~asd.detectors.neighbors.MIN_RELATIVE_SCALE`)."""
    std = raw.std(axis=0)
    pooled = float(np.median(std))
    n = len(raw)
    shrunk = np.sqrt((n * std**2 + SCALE_PRIOR_CLIPS * pooled**2) / (n + SCALE_PRIOR_CLIPS))
    return floored_scale(shrunk, median=pooled, relative=MIN_RELATIVE_SCALE)


@register
class MultiStatDetector(Detector):
    """k-NN distances of several clip-statistic groups, each normalised by normal clips, combined."""

    name = "multistat"
    feature_kind = "baseline"
    scores_normalised_per_id = True  # per ID and group: log distance over the median leave-one-out one, in spreads
    settings_class = MultistatConfig
    summary = (
        "log-mel band mean, peak, frame-to-frame change, spread, modulation spectrum and coarse-band level; per group "
        "the "
        "distance to the ID's nearest normal clips, in normal (leave-one-out) spreads; max over groups"
    )
    arrays_file = "multistat.npz"
    saved_files = (arrays_file,)

    def __init__(
        self,
        config: StudyConfig,
        *,
        groups: Sequence[str] | None = None,
        n_neighbors: int | None = None,
        combine: str | None = None,
    ):
        super().__init__(config)
        knobs = config.detectors.multistat
        self.groups = tuple(knobs.groups if groups is None else groups)
        _check_groups(self.groups)
        self.k = int(knobs.n_neighbors if n_neighbors is None else n_neighbors)
        if self.k < 1:
            raise ValueError(f"n_neighbors must be at least 1, got {self.k}")
        self.combine = knobs.combine if combine is None else combine
        if self.combine not in _COMBINERS:
            raise ValueError(f"combine must be one of {', '.join(_COMBINERS)}, got {self.combine!r}")
        self.ids: list[str] = []
        #: (ID, group) -> array: "center"/"scale" (n_dims,), "reference" (n_train_clips, n_dims)
        #: standardised, "median" and "spread" () of the leave-one-out distances (see above).
        self.state: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self._indexes: dict[tuple[str, str], object] = {}

    # -- fitting and scoring ---------------------------------------------------------------
    def fit(self, features, machine_ids, *, progress=True) -> pd.DataFrame:
        """Fit on normal training clips (see :class:`asd.detectors.Detector`).

        Parameters
        ----------
        features : sequence of np.ndarray, each ``(n_mels, n_frames)``
            Baseline log-mels (dB) of the training clips.
        machine_ids : sequence of str
            Machine ID of each clip.
        progress : bool
            Unused (fitting takes seconds).

        Returns
        -------
        DataFrame
            One row: ``epoch`` (1), ``n_clips``, ``n_ids``, and ``median_<group>``, the mean over
            IDs of each group's leave-one-out median distance.
        """
        stats = stack_statistics(features, groups=self.groups)
        rows_of = rows_by_id([str(m) for m in machine_ids], len(features))
        self.ids = [str(m) for m in rows_of]
        self.state, self._indexes = {}, {}
        for m, rows in rows_of.items():
            if len(rows) < 2:
                logger.warning(
                    "%s: machine ID %s has a single training clip: its scores are raw distances", self.name, m
                )
            for g in self.groups:
                self.state[(m, g)] = self._fit_group(stats[g][rows], m, g)
        logger.info("%s: %d clips, %d IDs, groups %s", self.name, len(features), len(self.ids), ", ".join(self.groups))
        history = {"epoch": 1, "n_clips": len(features), "n_ids": len(self.ids)}
        history.update(
            {f"median_{g}": float(np.mean([self.state[(m, g)]["median"] for m in self.ids])) for g in self.groups}
        )
        return pd.DataFrame([history])

    def _fit_group(self, raw: np.ndarray, machine_id: str, group: str) -> dict[str, np.ndarray]:
        """One ID's state of one group from its training statistics ``raw`` ``(n_clips, n_dims)``."""
        center, scale = raw.mean(axis=0), _scale(raw)
        reference = (raw - center) / scale
        loo = knn_distances(self._index(machine_id, group, reference), None, self.k)
        n = len(raw)
        median = max(float(np.median(loo)) if n > 1 else 1.0, 1e-12)
        spread = float(np.std(np.log(np.maximum(loo, 1e-12) / median))) if n > 2 else 0.0
        return {
            "center": center,
            "scale": scale,
            "reference": reference,
            "median": np.float64(median),
            "spread": np.float64(max(spread, LOG_SPREAD_FLOOR)),
        }

    def _index(self, machine_id: str, group: str, reference: np.ndarray | None = None):
        """The nearest-neighbour index of one ID's standardised training statistics of one group (built once)."""
        key = (machine_id, group)
        if key not in self._indexes:
            reference = self.state[key]["reference"] if reference is None else reference
            self._indexes[key] = neighbor_index(reference, chebyshev=group in CHEBYSHEV_GROUPS)
        return self._indexes[key]

    def group_scores(self, features, machine_ids=None, *, exclude_self: bool = False) -> pd.DataFrame:
        """Normalised score of every group for every clip (about 0 for a normal clip).

        Parameters
        ----------
        features : sequence of np.ndarray, each ``(n_mels, n_frames)``
        machine_ids : sequence of str or None, optional
            Machine ID of each clip; ``None`` (or an ID not seen in training): each group's
            scores against the known ID whose combined score is smallest.
        exclude_self : bool
            The clips are the training clips, in training order: leave each one out.

        Returns
        -------
        DataFrame, shape ``(n_clips, n_groups + 1)``
            One column per group, and ``score``, their combination by :attr:`combine`.
        """
        if not self.ids:
            raise RuntimeError(f"{self.name}: fit() or load() first")
        columns = [*self.groups, "score"]
        if len(features) == 0:
            return pd.DataFrame(columns=columns, dtype=float)
        stats = stack_statistics(features, groups=self.groups)
        ids = [None] * len(features) if machine_ids is None else list(machine_ids)
        out = np.empty((len(features), len(self.groups) + 1))
        for m, rows in rows_by_id(ids, len(features)).items():
            if m in self.ids:
                out[rows] = self._against(stats, rows, m, exclude_self=exclude_self)
            else:
                out[rows] = best_over_ids(lambda known, rows=rows: self._against(stats, rows, known), self.ids)
        return pd.DataFrame(out, columns=columns)

    def _against(
        self, stats: dict[str, np.ndarray], rows: np.ndarray, machine_id: str, *, exclude_self=False
    ) -> np.ndarray:
        """Normalised group scores and their combination, ``(n_rows, n_groups + 1)``."""
        per_group = np.empty((len(rows), len(self.groups)))
        for j, g in enumerate(self.groups):
            s = self.state[(machine_id, g)]
            if exclude_self and len(rows) != len(s["reference"]):
                n_train = len(s["reference"])
                raise ValueError(
                    f"{self.name}: leave-one-out scores need the {n_train} training clips of ID {machine_id}"
                )
            queries = None if exclude_self else (stats[g][rows] - s["center"]) / s["scale"]
            distances = knn_distances(self._index(machine_id, g), queries, self.k)
            per_group[:, j] = np.log(np.maximum(distances, 1e-12) / float(s["median"])) / float(s["spread"])
        return np.column_stack([per_group, _COMBINERS[self.combine](per_group)])

    def score(self, features, machine_ids=None) -> np.ndarray:
        """Anomaly score per clip, shape ``(n_clips,)``: the combined normalised group scores."""
        return self.group_scores(features, machine_ids)["score"].to_numpy()

    def training_scores(self, features, machine_ids) -> np.ndarray:
        """Leave-one-out scores of the training clips (each against the others of its ID)."""
        return self.group_scores(features, [str(m) for m in machine_ids], exclude_self=True)["score"].to_numpy()

    # -- persistence -----------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> None:
        """Write ``multistat.npz`` and ``detector.json`` into ``directory`` (atomically)."""
        if not self.ids:
            raise RuntimeError(f"{self.name}: nothing to save, fit() first")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"{key}__{m}__{g}": value for (m, g), s in self.state.items() for key, value in s.items()}
        with atomic_path(directory / self.arrays_file) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
        self.write_state(directory, groups=list(self.groups), n_neighbors=self.k, combine=self.combine, ids=self.ids)

    @classmethod
    def load(cls, directory: str | os.PathLike, config: StudyConfig) -> MultiStatDetector:
        """A detector saved by :meth:`save`; :class:`~asd.detectors.base.DetectorStateError` naming the file
        otherwise."""
        directory = Path(directory)
        state = cls.read_state(directory)
        try:
            detector = cls(config, groups=state["groups"], n_neighbors=state["n_neighbors"], combine=state["combine"])
            detector.ids = [str(m) for m in state["ids"]]
        except (KeyError, TypeError, ValueError) as error:
            problem = f"incomplete or invalid multistat state ({error})"
            raise DetectorStateError(f"{directory / STATE_FILE}: {problem}") from None
        path = directory / cls.arrays_file
        try:
            with np.load(path, allow_pickle=False) as arrays:
                detector.state = {
                    (m, g): {key: arrays[f"{key}__{m}__{g}"] for key in _STATE_KEYS}
                    for m in detector.ids
                    for g in detector.groups
                }
        except (OSError, ValueError, KeyError) as error:
            raise DetectorStateError(f"{path}: unreadable or incomplete ({error})") from None
        return detector
