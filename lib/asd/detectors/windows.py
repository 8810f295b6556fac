"""Windows of consecutive frames of a spectrogram: how many, where they start, short-clip tiling.

NumPy only (no Keras): the ID classifier's patches and the dense autoencoder's frame vectors are
both windows of ``width`` consecutive frames, a start every ``hop`` frames, the last one aligned
to the clip's end. :mod:`asd.detectors.streaming` cuts them batch by batch for training.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def window_counts(n_frames: np.ndarray, *, width: int, hop: int) -> np.ndarray:
    """Windows per clip: a start every ``hop`` frames, the last aligned to the end, shape ``(n_clips,)``."""
    n_frames = np.asarray(n_frames, dtype=np.int64)
    return -(-(n_frames - width) // hop) + 1


def vector_counts(log_mels: Sequence[np.ndarray], *, frames: int) -> np.ndarray:
    """Frame vectors per clip, ``n_frames - frames + 1``, shape ``(n_clips,)`` (int64).

    Raises
    ------
    ValueError
        A clip with fewer than ``frames`` frames (as :func:`asd.features.frame_vectors`).
    """
    counts = np.array([np.shape(log_mel)[1] - frames + 1 for log_mel in log_mels], dtype=np.int64)
    short = np.flatnonzero(counts < 1)
    if short.size:
        raise ValueError(
            f"clip {int(short[0])}: need at least {frames} frames, got {int(counts[short[0]]) + frames - 1}"
        )
    return counts


def tile_to(log_mel: np.ndarray, frames: int) -> np.ndarray:
    """A spectrogram shorter than ``frames`` repeated in time to exactly ``frames`` frames; others unchanged."""
    n_frames = log_mel.shape[1]
    if n_frames >= frames:
        return log_mel
    return np.tile(log_mel, (1, -(-frames // n_frames)))[:, :frames]


def cut_patches(log_mel: np.ndarray, *, frames: int, hop: int) -> np.ndarray:
    """Windows of ``frames`` frames every ``hop`` frames, shape ``(n_patches, n_mels, frames)``.

    A spectrogram shorter than ``frames`` is tiled (repeated in time) to one full window; the
    last window is aligned to the end so the clip's tail is always covered.
    """
    log_mel = tile_to(log_mel, frames)
    n_frames = log_mel.shape[1]
    count = int(window_counts(np.array([n_frames]), width=frames, hop=hop)[0])
    starts = np.minimum(np.arange(count) * hop, n_frames - frames)
    return log_mel[:, starts[:, np.newaxis] + np.arange(frames)].transpose(1, 0, 2)
