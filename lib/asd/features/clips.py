"""The two rules every feature kind applies to a clip before its spectrogram.

- :func:`check_mono`: one channel of samples, float32, not empty.
- :func:`tile_to_length`: a clip shorter than a feature needs is repeated (tiled) up to the
  length needed, with a warning naming the clip; what is long enough is returned as it is.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)


def check_mono(samples: np.ndarray) -> np.ndarray:
    """``samples`` as a float32 array of shape ``(n_samples,)``; ``ValueError`` otherwise.

    Raises
    ------
    ValueError
        If ``samples`` is not one-dimensional or is empty.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples of shape (n_samples,), got shape {samples.shape}")
    if samples.size == 0:
        raise ValueError("empty clip")
    return samples


def tile_to_length(samples: np.ndarray, needed: int, *, sample_rate: int, source: str | None = None) -> np.ndarray:
    """Repeat a clip shorter than ``needed`` samples up to exactly ``needed``; longer clips pass.

    Parameters
    ----------
    samples : np.ndarray, shape ``(n_samples,)``
        Mono audio.
    needed : int
        Samples the feature needs.
    sample_rate : int
        Hz (for the warning's durations).
    source : str, optional
        The clip's file, named in the warning.

    Returns
    -------
    np.ndarray, shape ``(max(n_samples, needed),)``
    """
    if samples.shape[0] >= needed:
        return samples
    logger.warning(
        "%sclip of %.2f s is shorter than the %.2f s the features need: repeating it",
        f"{source}: " if source else "",
        samples.shape[0] / sample_rate,
        needed / sample_rate,
    )
    return np.resize(samples, needed)  # tiles the clip
