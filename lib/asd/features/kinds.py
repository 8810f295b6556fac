"""One public function per feature kind, all on the fast backend (:mod:`asd.features.mel`).

The study's image (kind ``"image"``)
    A mel spectrogram with ``n_mels=64, n_fft=4096, hop_length=2500, power=2`` (centred frames),
    in dB as ``librosa.power_to_db(ref=1.0, amin=1e-10, top_db=None)``. A centred STFT of a 10 s
    clip at 16 kHz has ``1 + 160000 // 2500 = 65`` frames and an 11 s ToyCar clip 71; the image
    keeps the **first 64 frames** (the first 10 s), so every clip gives exactly ``(64, 64)``. A
    clip too short for 64 frames is tiled (repeated) up to ``63 * hop_length + 1`` samples first
    (:func:`asd.features.clips.tile_to_length`, with a warning). Images are standardised with one
    mean and standard deviation of the *training* images of a machine type
    (:class:`asd.features.Standardizer`), stored with the model.

The DCASE 2020 baseline's log-mel and vectors (kind ``"baseline"``)
    ``n_mels=128, n_fft=1024, hop_length=512, power=2``; log-mel ``20 / power * log10(mel + eps)``;
    ``frames=5`` consecutive frames concatenated into ``640``-dimensional vectors, one per frame
    position: a 10 s clip (313 frames) gives ``(309, 640)``. The store keeps the log-mel; the
    vectors are cut from it on the fly (:func:`frame_vectors`), five times smaller on disk.

The fine log-mel (figures only)
    The baseline's grid in dB as the image is (``power_to_db``): what the figures show beside the
    coarse image.

Every function equals the librosa computation of :mod:`asd.features.reference` within float32
round-off; :data:`KINDS` maps a kind's name to the batched function and to the configuration
sections its values depend on (what the store's fingerprint hashes).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..config import BaselineFeatureConfig, ImageConfig, StudyConfig
from .clips import check_mono, tile_to_length
from .mel import mel_power_batch

#: dB floor of the image and the fine log-mel (``power_to_db`` amin): silence gives -100 dB.
IMAGE_AMIN = 1e-10


def log_mel_images(
    signals: Sequence[np.ndarray],
    *,
    sample_rate: int = 16000,
    config: ImageConfig | None = None,
    sources: Sequence[str] | None = None,
) -> np.ndarray:
    """The study's images of many clips, shape ``(n_clips, n_mels, n_frames)``, dB, float32.

    Parameters
    ----------
    signals : sequence of np.ndarray, each shape ``(n_samples,)``
        Mono audio in [-1, 1]; clips may differ in length.
    sample_rate : int
        Hz.
    config : ImageConfig, optional
        ``n_mels``, ``n_fft``, ``hop_length``, ``power``, ``n_frames``; the study's by default.
    sources : sequence of str, optional
        The clips' files, named in the short-clip warning.
    """
    config = config or ImageConfig()
    if len(signals) == 0:
        return np.empty((0, config.n_mels, config.n_frames), dtype=np.float32)
    needed = (config.n_frames - 1) * config.hop_length + 1
    keep = needed + config.n_fft // 2  # samples the first n_frames centred frames read
    batch = []
    for index, samples in enumerate(signals):
        samples = tile_to_length(
            check_mono(samples), needed, sample_rate=sample_rate, source=sources[index] if sources else None
        )
        if samples.shape[0] < keep:  # the centred STFT's zero padding, made explicit
            samples = np.pad(samples, (0, keep - samples.shape[0]))
        batch.append(samples[:keep])
    power = mel_power_batch(
        batch,
        sample_rate=sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        power=config.power,
        n_frames=config.n_frames,
    )
    return _power_to_db(power)


def log_mel_image(
    samples: np.ndarray, *, sample_rate: int = 16000, config: ImageConfig | None = None, source: str | None = None
) -> np.ndarray:
    """The study's image of one clip, shape ``(n_mels, n_frames)``, dB, float32 (see :func:`log_mel_images`)."""
    return log_mel_images([samples], sample_rate=sample_rate, config=config, sources=[source] if source else None)[0]


def baseline_log_mels(
    signals: Sequence[np.ndarray],
    *,
    sample_rate: int = 16000,
    config: BaselineFeatureConfig | None = None,
    sources: Sequence[str] | None = None,
) -> list[np.ndarray]:
    """The baseline's log-mel of many clips, each ``(n_mels, 1 + n_samples // hop_length)``, dB, float32.

    Clips of equal length are transformed together; the result keeps the input order.
    ``sources`` is accepted for symmetry with :func:`log_mel_images` (nothing is tiled here).
    """
    config = config or BaselineFeatureConfig()
    signals = [check_mono(samples) for samples in signals]
    eps = np.float32(sys.float_info.epsilon)
    scale = np.float32(20.0 / config.power)

    def to_db(mel: np.ndarray) -> np.ndarray:
        mel += eps
        np.log10(mel, out=mel)
        mel *= scale
        return mel

    return _by_length(signals, sample_rate=sample_rate, config=config, to_db=to_db)


def baseline_log_mel(
    samples: np.ndarray, *, sample_rate: int = 16000, config: BaselineFeatureConfig | None = None
) -> np.ndarray:
    """The baseline's log-mel of one clip, shape ``(n_mels, n_frames)``, dB, float32."""
    return baseline_log_mels([samples], sample_rate=sample_rate, config=config)[0]


def fine_log_mel(
    samples: np.ndarray, *, sample_rate: int = 16000, config: BaselineFeatureConfig | None = None
) -> np.ndarray:
    """A fine log-mel for figures: the baseline's grid, in dB as the image is (``power_to_db``).

    Parameters
    ----------
    samples : np.ndarray, shape ``(n_samples,)``
        Mono audio in [-1, 1].
    sample_rate : int
        Hz.
    config : BaselineFeatureConfig, optional
        ``n_mels``, ``n_fft``, ``hop_length``, ``power`` (128 bands, 1024-point FFT, 32 ms hop
        at 16 kHz by default).

    Returns
    -------
    np.ndarray of float32, shape ``(n_mels, 1 + n_samples // hop_length)``
        ``10 log10(max(mel, 1e-10))`` dB.
    """
    config = config or BaselineFeatureConfig()
    return _by_length([check_mono(samples)], sample_rate=sample_rate, config=config, to_db=_power_to_db)[0]


def frame_vectors(log_mel: np.ndarray, *, frames: int = 5) -> np.ndarray:
    """Stack ``frames`` consecutive columns of a log-mel spectrogram into vectors.

    Parameters
    ----------
    log_mel : np.ndarray, shape ``(n_mels, n_frames)``
    frames : int
        Context width.

    Returns
    -------
    np.ndarray, shape ``(n_frames - frames + 1, n_mels * frames)``
        Row ``t`` is ``log_mel[:, t], log_mel[:, t + 1], ...`` concatenated (the baseline's order).
    """
    n_mels, n_frames = log_mel.shape
    n_vectors = n_frames - frames + 1
    if n_vectors < 1:
        raise ValueError(f"need at least {frames} frames, got {n_frames}")
    # Frames as rows: vector t is then rows t..t+frames-1 read straight through, a strided view
    # of the transposed log-mel, and the copy below moves contiguous runs.
    by_frame = np.ascontiguousarray(log_mel.T)  # (n_frames, n_mels)
    step = by_frame.strides[0]
    windows = np.lib.stride_tricks.as_strided(
        by_frame, shape=(n_vectors, frames * n_mels), strides=(step, by_frame.itemsize), writeable=False
    )
    return windows.copy()


def baseline_vectors(
    samples: np.ndarray, *, sample_rate: int = 16000, config: BaselineFeatureConfig | None = None
) -> np.ndarray:
    """The baseline's 640-d vectors of one clip, shape ``(n_vectors, n_mels * frames)``."""
    config = config or BaselineFeatureConfig()
    return frame_vectors(baseline_log_mel(samples, sample_rate=sample_rate, config=config), frames=config.frames)


# -- the kinds the store and extraction know ---------------------------------------------------


@dataclass(frozen=True)
class FeatureKind:
    """A feature kind: what it computes for a batch of clips and what its values depend on.

    Attributes
    ----------
    name : str
    sections : tuple of str
        :class:`asd.config.StudyConfig` sections whose values change the features (hashed
        into the store's fingerprint, :func:`asd.features.store.fingerprint`).
    compute : callable
        ``compute(signals, config, sources) -> list of float32 arrays``, one per clip, in order.
    """

    name: str
    sections: tuple[str, ...]
    compute: Callable[[Sequence[np.ndarray], StudyConfig, Sequence[str] | None], list[np.ndarray]]


KINDS: dict[str, FeatureKind] = {
    "image": FeatureKind(
        "image",
        ("audio", "image"),
        lambda signals, config, sources: list(
            log_mel_images(signals, sample_rate=config.audio.sample_rate, config=config.image, sources=sources)
        ),
    ),
    "baseline": FeatureKind(
        "baseline",
        ("audio", "baseline"),
        lambda signals, config, sources: baseline_log_mels(
            signals, sample_rate=config.audio.sample_rate, config=config.baseline, sources=sources
        ),
    ),
}


def feature_kind(kind: str) -> FeatureKind:
    """The :class:`FeatureKind` named ``kind``; ``ValueError`` naming the known ones otherwise."""
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown feature kind {kind!r} (expected one of {tuple(KINDS)})") from None


# -- helpers ---------------------------------------------------------------------------------


def _power_to_db(power: np.ndarray) -> np.ndarray:
    """``librosa.power_to_db(power, ref=1.0, amin=IMAGE_AMIN, top_db=None)`` in place, float32."""
    np.maximum(power, np.float32(IMAGE_AMIN), out=power)
    np.log10(power, out=power)
    power *= np.float32(10.0)
    return power


def _by_length(
    signals: list[np.ndarray], *, sample_rate: int, config: BaselineFeatureConfig, to_db
) -> list[np.ndarray]:
    """Full-length mel spectrograms, equal-length clips batched together, converted by ``to_db``."""
    out: list[np.ndarray | None] = [None] * len(signals)
    by_length: dict[int, list[int]] = {}
    for index, samples in enumerate(signals):
        by_length.setdefault(samples.shape[0], []).append(index)
    for indices in by_length.values():
        mel = to_db(
            mel_power_batch(
                [signals[i] for i in indices],
                sample_rate=sample_rate,
                n_fft=config.n_fft,
                hop_length=config.hop_length,
                n_mels=config.n_mels,
                power=config.power,
            )
        )
        for row, index in enumerate(indices):
            out[index] = mel[row]
    return out  # type: ignore[return-value]
