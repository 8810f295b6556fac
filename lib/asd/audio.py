"""Reading and writing clips with soundfile, with checks that name the file.

Clips are returned as float32 mono arrays in [-1, 1] at the requested sample rate.
"""

from __future__ import annotations

import logging
import os
import struct
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
    min_seconds: float = 0.0,
) -> np.ndarray:
    """Read one clip as float32 mono samples, shape ``(n_samples,)``.

    A WAV file whose header promises more audio than the file holds (a copy or recording cut
    short) is read as far as it goes, with a warning naming the file (:func:`truncation`).

    Parameters
    ----------
    path : path-like
        A WAV (or any libsndfile format) file; WAVE_FORMAT_EXTENSIBLE multichannel files
        (MIMII's 8-microphone array) are fine.
    sample_rate : int
        Target rate in Hz. A file at another rate is resampled (:func:`resample`) and a
        message is logged.
    channel : int
        Which channel of a multichannel file to keep (DCASE 2020 used channel 0).
    min_seconds : float
        Shortest acceptable clip in seconds (``config.audio.min_seconds``); 0 accepts any.

    Raises
    ------
    AudioError
        Missing, empty, truncated or non-audio file; a channel the file does not have;
        NaN or infinite samples; shorter than ``min_seconds``. The message names the file.
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
    cut = truncation(path)
    duration = samples.shape[0] / file_rate
    if duration < min_seconds:
        raise AudioError(path, too_short(duration, min_seconds, cut))
    if cut is not None:
        logger.warning("%s: %s; using the %.3g s it holds", path, cut, duration)
    n_channels = samples.shape[1]
    if not -n_channels <= channel < n_channels:
        raise AudioError(path, f"has {n_channels} channel(s); channel {channel} requested")
    mono = np.ascontiguousarray(samples[:, channel])
    if not np.isfinite(mono).all():
        raise AudioError(path, "contains NaN or infinite samples")
    if file_rate != sample_rate:
        logger.info("%s: resampling %d Hz -> %d Hz", path, file_rate, sample_rate)
        mono = resample(mono, file_rate, sample_rate)
    return mono


def resample(samples: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling of mono samples, as ``librosa.resample``'s default does it.

    The same call librosa makes (``soxr.resample``, quality ``soxr_hq``, then the length fixed at
    ``ceil(n * target_rate / orig_rate)``), so the samples are identical to
    ``librosa.resample(samples, orig_sr=orig_rate, target_sr=target_rate)``; calling soxr
    directly spares importing librosa's core (scipy.signal, seconds) to read one clip.

    Parameters
    ----------
    samples : numpy.ndarray
        Mono samples, shape ``(n_samples,)``.
    orig_rate, target_rate : int
        Rates in Hz.

    Returns
    -------
    numpy.ndarray
        float32 samples at ``target_rate``, shape ``(ceil(n_samples * target_rate / orig_rate),)``.
    """
    import soxr

    out = soxr.resample(np.asarray(samples, dtype=np.float32), orig_rate, target_rate, quality="soxr_hq")
    size = int(np.ceil(samples.shape[0] * target_rate / orig_rate))
    if out.shape[0] < size:
        out = np.pad(out, (0, size - out.shape[0]))
    return np.ascontiguousarray(out[:size], dtype=np.float32)


def truncation(path: str | os.PathLike) -> str | None:
    """What is wrong with a WAV file cut short, or ``None``.

    Reads only the RIFF header: a ``data`` chunk whose declared size exceeds the bytes after it
    in the file means the file was truncated (libsndfile then silently reads what is there).
    ``None`` for complete files, non-WAV files and files whose header cannot be parsed (reading
    them reports those problems).
    """
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block_align, rate, position = 0, 0, 12
            while position + 8 <= size:
                handle.seek(position)
                chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
                if chunk_id == b"fmt ":
                    raw = handle.read(16)
                    if len(raw) == 16:
                        _, _, rate, _, block_align, _ = struct.unpack("<HHIIHH", raw)
                elif chunk_id == b"data":
                    held = size - (position + 8)
                    if chunk_size in (0, 0xFFFFFFFF) or held >= chunk_size or not block_align or not rate:
                        return None  # complete, or a streaming header without a size
                    promised_frames, held_frames = chunk_size // block_align, held // block_align
                    return (
                        f"truncated: the header promises {promised_frames} frames ({promised_frames / rate:.3g} s), "
                        f"the file holds {held_frames} ({held_frames / rate:.3g} s)"
                    )
                position += 8 + chunk_size + (chunk_size & 1)
    except (OSError, struct.error):
        return None
    return None


def too_short(duration: float, min_seconds: float, cut: str | None = None) -> str:
    """The problem of a clip of ``duration`` seconds, below ``min_seconds`` (``cut``: why it is truncated)."""
    problem = f"{duration:.3g} s long, shorter than the {min_seconds:g} s minimum (audio.min_seconds)"
    return f"{problem}; {cut}" if cut else problem


def clip_problem(path: str | os.PathLike, *, min_seconds: float = 0.0) -> str | None:
    """Why a clip must be skipped, from its header alone (no decoding), or ``None``.

    A clip shorter than ``min_seconds`` (seconds) must be skipped; a truncated WAV (see
    :func:`truncation`) long enough to use is logged as a warning naming the file. Files whose header cannot be read
    give ``None``: reading them reports why.
    """
    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - any header problem is reported by read_clip
        return None
    cut = truncation(path)
    duration = info.frames / info.samplerate if info.samplerate else 0.0
    if info.frames and duration < min_seconds:
        return too_short(duration, min_seconds, cut)
    if cut is not None:
        logger.warning("%s: %s; using the %.3g s it holds", path, cut, duration)
    return None


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
