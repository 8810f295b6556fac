"""Clips of another length than the training clips: longer ones scored on windows, short ones refused.

A detector fitted on clips of one length learns statistics of that length: the peak of a band
over 10 s is higher than over 2 s, the spread over 60 s wider than over 10 s, a modulation
spectrum finer. A normal clip of another length then scores as an anomaly. This module keeps
that from happening silently, for every detector whose features are frame sequences
(``(n_bands, n_frames)``, time last), without touching the scores of clips of the training
length:

- the run records the frame counts of its training clips per machine type
  (``run.json`` ``"train_frames"``, :func:`frame_range`);
- a clip whose frame count lies within the training clips' range is scored as it is
  (identical to a run without this module);
- a longer clip is cut into windows of the training length (the median training frame count;
  a window every training length, the last aligned to the clip's end) and its score is the
  median of the window scores (:data:`AGGREGATE`);
- a clip shorter than the shortest training clip (by more than :data:`TOLERANCE`) has statistics
  estimated from fewer frames: they scatter more than those of the training clips, so a normal
  clip scores higher the shorter it is, and repeating its frames (plain or mirrored) does not
  remove that (measured in docs/detectors.md, "Clip length"). Where the run's detector fits in
  one step (no epochs) and its training clips are still where the run found them, such a clip is
  scored against **the training clips cut to its length** (:func:`length_matcher`: the detector
  refitted on their first frames) and its score is put on the run's scale (standardised by the
  refitted detector's leave-one-out training scores of its machine ID, then expressed in the
  run's own training scores of that ID), so the run's thresholds apply unchanged; down to
  :data:`MIN_MATCHED_FRACTION` of the training length. Otherwise (a network, training clips
  gone) it is scored as it is with a note stating its reduced confidence down to
  :data:`MIN_FRACTION`, and refused below it with a problem naming its length. A refused clip
  is better than a false alarm.

:func:`score_by_length` is the scoring path: feature frames -> windows -> ``detector.score``
-> aggregate. Runs trained before ``"train_frames"`` was recorded are scored as before.
docs/detectors.md ("Clip length") has the measured scores of halves and concatenations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .detectors.windows import cut_patches

logger = logging.getLogger(__name__)


class TrainingClipsChanged(RuntimeError):
    """The run's training clips are no longer the ones it was fitted on (raised inside a matcher)."""


#: A clip this much shorter than the shortest training clip (a fraction of its frames) is scored as it is, no note.
TOLERANCE = 0.02
#: A clip shorter than this fraction of the shortest training clip is refused, not scored.
MIN_FRACTION = 0.75
#: A clip shorter than this fraction of the training length is refused even where its length can be matched.
MIN_MATCHED_FRACTION = 0.2
#: Frames at a clip's end that its end padding reaches (the frame window is centred): left out where clips are cut.
EDGE_FRAMES = 2
#: How the window scores of a longer clip become its score.
AGGREGATE = np.median


def frame_range(features: Sequence[np.ndarray]) -> dict[str, int]:
    """Frame counts of training features: ``{"min": ..., "median": ..., "max": ...}`` (``run.json``).

    Parameters
    ----------
    features : sequence of np.ndarray, each ``(n_bands, n_frames)``
        One machine type's training features.
    """
    counts = np.array([np.shape(f)[-1] for f in features], dtype=np.int64)
    return {
        "min": int(counts.min()),
        "median": int(np.median(counts)),
        "max": int(counts.max()),
    }


def length_plan(n_frames: int, lengths: dict | None, *, can_match: bool = False) -> tuple[str, str]:
    """How a clip of ``n_frames`` frames is scored: ``(action, note)``.

    ``action`` is ``"as is"``, ``"windows"``, ``"matched"`` (only where ``can_match``: the run has a
    :func:`length_matcher`) or ``"refuse"``; ``note`` is empty for a clip of the training length,
    else one line for the output (the problem itself for ``"refuse"``).
    """
    if not lengths or (1.0 - TOLERANCE) * lengths["min"] <= n_frames <= lengths["max"]:
        return "as is", ""
    width, shortest = int(lengths["median"]), int(lengths["min"])
    if n_frames > lengths["max"]:
        count = -(-n_frames // width)
        note = f"{n_frames / width:.2f}x the training clips' length: median score of {count} windows of their length"
        return "windows", note
    ratio = n_frames / shortest
    if can_match and ratio >= MIN_MATCHED_FRACTION:
        return "matched", (
            f"{ratio:.2f}x the training clips' length: scored against the training clips cut to its length, "
            "on the run's scale"
        )
    if ratio >= MIN_FRACTION:
        return "as is", (
            f"{ratio:.2f}x the training clips' length: less confidence, a shorter normal clip scores higher "
            "(a flag may be a false alarm)"
        )
    return "refuse", (
        f"too short: {n_frames} frames, {ratio:.2f}x the training clips' {shortest}; a normal clip this short "
        f"scores as an anomaly: record at least {MIN_FRACTION:g}x their length, or train a run on clips this long"
    )


def score_by_length(
    detector,
    features: Sequence[np.ndarray],
    machine_ids: Sequence[str | None],
    lengths: dict | None,
    *,
    matcher: Callable[[list[np.ndarray], list, int], np.ndarray] | None = None,
) -> tuple[np.ndarray, list[str], list[str]]:
    """Score clips of any length with a detector fitted on clips of the length ``lengths`` records.

    Parameters
    ----------
    detector : asd.detectors.Detector
        Fitted; its features are frame sequences, time last.
    features : sequence of np.ndarray, each ``(n_bands, n_frames)``
    machine_ids : sequence of str or None
    lengths : dict or None
        :func:`frame_range` of the training clips; None: every clip is scored as it is.
    matcher : callable, optional
        :func:`length_matcher` of the run: ``matcher(features, machine_ids, n_frames)`` scores short
        clips of ``n_frames`` frames on the run's scale. None: short clips are scored as they are or
        refused.

    Returns
    -------
    scores : np.ndarray, shape ``(n_clips,)``
        NaN for refused clips.
    notes : list of str
        Per clip: empty when scored as it is, else how it was scored.
    problems : list of str
        Per clip: empty, or why it was refused.
    """
    plans = [length_plan(np.shape(f)[-1], lengths, can_match=matcher is not None) for f in features]
    scores = np.full(len(features), np.nan)
    direct = [i for i, (action, _) in enumerate(plans) if action == "as is"]  # bit-identical to detector.score
    if direct:
        scores[direct] = detector.score([features[i] for i in direct], [machine_ids[i] for i in direct])
    _score_windows(detector, features, machine_ids, plans, lengths, scores)
    by_length: dict[int, list[int]] = {}
    for i, (action, _) in enumerate(plans):
        if action == "matched":
            by_length.setdefault(int(np.shape(features[i])[-1]), []).append(i)
    for n_frames, members in sorted(by_length.items()):
        try:
            scores[members] = matcher([features[i] for i in members], [machine_ids[i] for i in members], n_frames)
        except TrainingClipsChanged as exc:
            logger.warning("%s: clips shorter than the training clips are scored without matching their length", exc)
            for i in members:
                plans[i] = length_plan(n_frames, lengths)
                if plans[i][0] == "as is":
                    scores[i] = detector.score([features[i]], [machine_ids[i]])[0]
    notes = ["" if action == "refuse" else note for action, note in plans]
    problems = [note if action == "refuse" else "" for action, note in plans]
    return scores, notes, problems


def _score_windows(detector, features, machine_ids, plans, lengths, scores: np.ndarray) -> None:
    """Fill ``scores`` (in place) of the clips planned as ``"windows"``: the median of their window scores."""
    inputs, owners = [], []
    for i, (action, _) in enumerate(plans):
        if action == "windows":
            width = int(lengths["median"])
            windows = cut_patches(np.asarray(features[i]), frames=width, hop=width)
            inputs += list(windows)
            owners += [i] * len(windows)
    if inputs:
        window_scores = np.asarray(detector.score(inputs, [machine_ids[i] for i in owners]), dtype=np.float64)
        owners = np.asarray(owners)
        for i in np.unique(owners):
            scores[i] = AGGREGATE(window_scores[owners == i])


def length_matcher(
    detector_class,
    config,
    train_features: Sequence[np.ndarray],
    train_ids: Sequence[str],
    run_train_scores: np.ndarray,
) -> Callable[[list[np.ndarray], list, int], np.ndarray]:
    """A scorer of short clips against the training clips cut to their length, on the run's scale.

    For a length of ``n_frames`` frames (each length fitted once, when first asked for), the
    detector is refitted on the first ``n_frames`` frames of every training clip (less the
    :data:`EDGE_FRAMES` that the end of the short clip reaches, left out of both); a clip's score
    from it is standardised by that ID's leave-one-out training scores of the refitted detector
    (median and standard deviation) and expressed in the run's training scores of the ID: a
    normal clip of any length then lands among the run's normal scores, and the run's thresholds
    apply unchanged. A clip of an ID the run has not seen uses every ID's scores.

    Parameters
    ----------
    detector_class : type
        The run's detector class (one that fits in one step).
    config : asd.config.StudyConfig
    train_features : sequence of np.ndarray, each ``(n_bands, n_frames)``
        The training clips' features, as the run was fitted on them.
    train_ids : sequence of str
        Their machine IDs.
    run_train_scores : np.ndarray, shape ``(n_train,)``
        The run's training scores of those clips (``train_scores.csv``).
    """
    train_ids = [str(m) for m in train_ids]
    run_train_scores = np.asarray(run_train_scores, dtype=np.float64)
    fitted: dict[int, tuple[object, np.ndarray]] = {}

    def score(features: list[np.ndarray], machine_ids: list, n_frames: int) -> np.ndarray:
        width = max(n_frames - EDGE_FRAMES, 1)  # the clip's last frames see its end, a cut training clip's do not
        if width not in fitted:
            cut = [np.asarray(f)[..., :width] for f in train_features]
            detector = detector_class(config)
            detector.fit(cut, train_ids, progress=False)
            fitted[width] = (detector, np.asarray(detector.training_scores(cut, train_ids), dtype=np.float64))
        detector, reference = fitted[width]
        raw = np.asarray(detector.score([np.asarray(f)[..., :width] for f in features], machine_ids), dtype=np.float64)
        out = np.empty_like(raw)
        for i, machine_id in enumerate(machine_ids):
            own = np.asarray([m == str(machine_id) for m in train_ids])
            rows = own if own.any() else np.ones(len(train_ids), dtype=bool)
            out[i] = _rescale(raw[i], reference[rows], run_train_scores[rows])
        return out

    return score


def _rescale(value: float, reference: np.ndarray, target: np.ndarray) -> float:
    """``value`` standardised by ``reference`` (median, standard deviation) and expressed in ``target``'s."""

    def centre_and_spread(values: np.ndarray) -> tuple[float, float]:
        median = float(np.median(values))
        return median, max(float(np.std(values)), 1e-6 * max(abs(median), 1.0))

    ref_centre, ref_spread = centre_and_spread(reference)
    centre, spread = centre_and_spread(target)
    return centre + (value - ref_centre) / ref_spread * spread


def matcher_for(run, machine_type: str, detector, *, cache) -> Callable | None:
    """The :func:`length_matcher` of one machine type of a run, or None where it cannot be had.

    None for a detector that trains in epochs (a network refitted per clip length would take
    minutes) and for a run whose training clips are no longer where it found them, or changed
    (their content keys differ from ``train_scores.csv``'s). The training clips are read on the
    first short clip only.
    """
    from .features import extract_features

    if getattr(detector, "trains_in_epochs", False):
        return None
    train = run.train_scores(machine_type)
    paths = [str(run.data_root / rel) for rel in train["path"]]
    if not paths or not all(Path(p).is_file() for p in paths):
        return None
    state: dict[str, Callable | None] = {}

    def score(features, machine_ids, n_frames):
        if "matcher" not in state:
            extracted = extract_features(
                paths, kind=detector.feature_kind, config=run.config, cache=cache, progress=False, on_error="skip"
            )
            same = [extracted.keys.get(p) for p in paths] == train["content_key"].tolist()
            state["matcher"] = (
                length_matcher(
                    type(detector),
                    run.config,
                    extracted.features,
                    train["machine_id"].tolist(),
                    pd.to_numeric(train["score"]).to_numpy(),
                )
                if same and len(extracted.features) == len(paths)
                else None
            )
        if state["matcher"] is None:
            raise TrainingClipsChanged(f"{run.folder}: the training clips of {machine_type} changed since training")
        return state["matcher"](features, machine_ids, n_frames)

    return score
