"""Reading and writing clips with soundfile, with checks that name the file.

Clips are returned as float32 mono arrays in [-1, 1] at the requested sample rate.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from .atomic import atomic_path
from .errors import AudioError

logger = logging.getLogger(__name__)


def read_clip(
    path: str | os.PathLike,
    *,
    sample_rate: int = 16000,
    channel: int = 0,
) -> np.ndarray:
    """Read one clip as float32 mono samples, shape ``(n_samples,)``.

    Parameters
    ----------
    path : path-like
        A WAV (or any libsndfile format) file; WAVE_FORMAT_EXTENSIBLE multichannel files
        (MIMII's 8-microphone array) are fine.
    sample_rate : int
        Target rate in Hz. A file at another rate is resampled (``librosa.resample``) and a
        message is logged.
    channel : int
        Which channel of a multichannel file to keep (DCASE 2020 used channel 0).

    Raises
    ------
    AudioError
        Missing, empty, truncated or non-audio file; a channel the file does not have;
        NaN or infinite samples. The message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        samples, file_rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(path, f"cannot decode audio ({exc})") from None
    if samples.shape[0] == 0:
        raise AudioError(path, "no audio frames (header only or truncated)")
    n_channels = samples.shape[1]
    if not -n_channels <= channel < n_channels:
        raise AudioError(path, f"has {n_channels} channel(s); channel {channel} requested")
    mono = np.ascontiguousarray(samples[:, channel])
    if not np.isfinite(mono).all():
        raise AudioError(path, "contains NaN or infinite samples")
    if file_rate != sample_rate:
        import librosa

        logger.info("%s: resampling %d Hz -> %d Hz", path, file_rate, sample_rate)
        mono = librosa.resample(mono, orig_sr=file_rate, target_sr=sample_rate).astype(np.float32)
    return mono


def clip_info(path: str | os.PathLike) -> dict:
    """Header facts without decoding: sample rate (Hz), channels, frames, duration (s)."""
    path = Path(path)
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(path, f"cannot read header ({exc})") from None
    return {
        "sample_rate": info.samplerate,
        "channels": info.channels,
        "frames": info.frames,
        "duration": info.frames / info.samplerate if info.samplerate else 0.0,
    }


def write_clip(path: str | os.PathLike, samples: np.ndarray, *, sample_rate: int = 16000) -> Path:
    """Write mono float samples in [-1, 1] as 16-bit PCM WAV, atomically.

    Samples outside [-1, 1] are clipped. The write is deterministic: same samples, same bytes.
    """
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples of shape (n_samples,), got {samples.shape}")
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with atomic_path(path) as tmp:
        sf.write(tmp, pcm, sample_rate, subtype="PCM_16", format="WAV")
    return Path(path)
