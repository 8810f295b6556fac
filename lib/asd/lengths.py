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
- a clip shorter than the shortest training clip (by more than :data:`TOLERANCE`) is scored as it
  is with a note stating its reduced confidence down to :data:`MIN_FRACTION` of that length, and
  refused below it with a problem naming its length. Its statistics are estimated from fewer
  frames, so they scatter more than those of the training clips and a normal clip scores
  higher the shorter it is; repeating its frames (plain or mirrored) does not remove that
  (measured in docs/detectors.md, "Clip length"). A refused clip is better than a false alarm.

:func:`score_by_length` is the scoring path: feature frames -> windows -> ``detector.score``
-> aggregate. Runs trained before ``"train_frames"`` was recorded are scored as before.
docs/detectors.md ("Clip length") has the measured scores of halves and concatenations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .detectors.windows import cut_patches

#: A clip this much shorter than the shortest training clip (a fraction of its frames) is scored as it is, no note.
TOLERANCE = 0.02
#: A clip shorter than this fraction of the shortest training clip is refused, not scored.
MIN_FRACTION = 0.75
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


def length_plan(n_frames: int, lengths: dict | None) -> tuple[str, str]:
    """How a clip of ``n_frames`` frames is scored: ``(action, note)``.

    ``action`` is ``"as is"``, ``"windows"`` or ``"refuse"``; ``note`` is empty for a clip of the
    training length, else one line for the output (the problem itself for ``"refuse"``).
    """
    if not lengths or (1.0 - TOLERANCE) * lengths["min"] <= n_frames <= lengths["max"]:
        return "as is", ""
    width, shortest = int(lengths["median"]), int(lengths["min"])
    if n_frames > lengths["max"]:
        count = -(-n_frames // width)
        note = f"{n_frames / width:.2f}x the training clips' length: median score of {count} windows of their length"
        return "windows", note
    ratio = n_frames / shortest
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

    Returns
    -------
    scores : np.ndarray, shape ``(n_clips,)``
        NaN for refused clips.
    notes : list of str
        Per clip: empty when scored as it is, else how it was scored.
    problems : list of str
        Per clip: empty, or why it was refused.
    """
    plans = [length_plan(np.shape(f)[-1], lengths) for f in features]
    scores = np.full(len(features), np.nan)
    direct = [i for i, (action, _) in enumerate(plans) if action == "as is"]  # bit-identical to detector.score
    if direct:
        scores[direct] = detector.score([features[i] for i in direct], [machine_ids[i] for i in direct])
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
    notes = ["" if action == "refuse" else note for action, note in plans]
    problems = [note if action == "refuse" else "" for action, note in plans]
    return scores, notes, problems
