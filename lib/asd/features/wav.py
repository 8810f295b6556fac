"""Fast WAV decoding: a plain 16-bit PCM WAV (DCASE 2020, MIMII) straight from its bytes.

The file is read with one ``read`` and its samples are a view of those bytes
(``numpy.frombuffer``) scaled to float32: exactly ``soundfile.read(dtype="float32")``
(``int16 / 32768``). Anything else (another sample format or rate, a broken or truncated file)
goes through :func:`asd.audio.read_clip`, which resamples or raises the
:class:`asd.errors.AudioError` naming the file. The same bytes also give the clip's content key
in the feature store (:func:`asd.features.store.content_key`), so a clip is read once.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from ..audio import read_clip

#: ``WAVE_FORMAT_PCM`` and ``WAVE_FORMAT_EXTENSIBLE`` format tags.
_PCM, _EXTENSIBLE = 0x0001, 0xFFFE
_PCM16_SCALE = np.float32(1.0 / 32768.0)  # libsndfile's int16 -> float normalisation


def read_bytes(path: str | os.PathLike) -> bytes:
    """The whole file (one ``read``); ``OSError`` as ``open`` raises it."""
    with open(path, "rb") as handle:
        return handle.read()


def decode_pcm16(data: bytes, *, sample_rate: int = 16000, channel: int = 0) -> np.ndarray | None:
    """Samples of a plain 16-bit PCM WAV file's bytes, or ``None`` when the fast path does not apply.

    Parameters
    ----------
    data : bytes
        The whole RIFF/WAVE file.
    sample_rate : int
        Hz; a file at another rate gives ``None`` (it needs resampling).
    channel : int
        Channel to keep; Python-style negative indices count from the last channel.

    Returns
    -------
    np.ndarray of float32, shape ``(n_samples,)``, or None
        ``int16 / 32768``, bit for bit what ``soundfile.read(path, dtype="float32")`` returns.
        ``None`` for anything unusual (not RIFF/WAVE, not 16-bit integer PCM, another rate, a
        channel the file does not have, a missing, empty or truncated data chunk).
    """
    try:
        layout = _pcm16_layout(data)
    except struct.error:
        return None
    if layout is None:
        return None
    offset, n_frames, n_channels, rate = layout
    if rate != sample_rate or not -n_channels <= channel < n_channels:
        return None
    pcm = np.frombuffer(data, dtype="<i2", count=n_frames * n_channels, offset=offset)
    if n_channels > 1:
        pcm = pcm.reshape(n_frames, n_channels)[:, channel]
    return np.multiply(pcm, _PCM16_SCALE, dtype=np.float32)


def pcm16_duration(data: bytes) -> float | None:
    """Seconds of audio of a plain 16-bit PCM WAV file's bytes (header only), or ``None``.

    ``None`` where :func:`decode_pcm16` would not apply for the file's layout (another format, a
    broken or truncated file).
    """
    try:
        layout = _pcm16_layout(data)
    except struct.error:
        return None
    if layout is None or not layout[3]:
        return None
    return layout[1] / layout[3]


def read_pcm16_wav(path: str | os.PathLike, *, sample_rate: int = 16000, channel: int = 0) -> np.ndarray | None:
    """:func:`decode_pcm16` of a file; ``None`` also when the file cannot be read."""
    try:
        data = read_bytes(path)
    except (OSError, ValueError):
        return None
    return decode_pcm16(data, sample_rate=sample_rate, channel=channel)


def read_clip_fast(
    path: str | os.PathLike, *, sample_rate: int = 16000, channel: int = 0, data: bytes | None = None
) -> np.ndarray:
    """:func:`asd.audio.read_clip` with the :func:`decode_pcm16` shortcut; same samples, same errors.

    ``data``, if given, is the file's bytes already read.
    """
    samples = None
    if data is not None:
        samples = decode_pcm16(data, sample_rate=sample_rate, channel=channel)
    else:
        samples = read_pcm16_wav(path, sample_rate=sample_rate, channel=channel)
    if samples is None:
        samples = read_clip(path, sample_rate=sample_rate, channel=channel)
    return samples


def _pcm16_layout(data: bytes) -> tuple[int, int, int, int] | None:
    """``(data offset in bytes, frames, channels, sample rate)`` of a 16-bit PCM WAV, else None."""
    size = len(data)
    if size < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    fmt = None
    position = 12
    while position + 8 <= size:
        chunk_id, chunk_size = struct.unpack_from("<4sI", data, position)
        body = position + 8
        if chunk_id == b"fmt ":
            raw = data[body : body + min(chunk_size, 40)]
            if len(raw) < 16:
                return None
            tag, n_channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", raw[:16])
            if tag == _EXTENSIBLE and len(raw) >= 26:
                tag = struct.unpack("<H", raw[24:26])[0]  # first two bytes of the sub-format GUID
            if tag != _PCM or bits != 16 or n_channels < 1 or block_align != 2 * n_channels:
                return None
            fmt = (n_channels, rate)
        elif chunk_id == b"data":
            if fmt is None or chunk_size == 0 or body + chunk_size > size or chunk_size % (2 * fmt[0]):
                return None
            return body, chunk_size // (2 * fmt[0]), fmt[0], fmt[1]
        position = body + chunk_size + (chunk_size & 1)
    return None
