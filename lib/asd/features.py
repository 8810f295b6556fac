"""Log-mel features: the study's 64x64 image and the DCASE 2020 baseline's frame vectors.

The study's image
    ``librosa.feature.melspectrogram`` with ``n_mels=64, n_fft=4096, hop_length=2500,
    power=2`` (centred frames), converted to dB with ``librosa.power_to_db(ref=1.0)``.
    A centred STFT of a 10 s clip at 16 kHz has ``1 + 160000 // 2500 = 65`` frames and an 11 s
    ToyCar clip 71; the image keeps the **first 64 frames** (the first 10 s), so every clip
    gives exactly ``(64, 64)``. A clip too short for 64 frames is tiled (repeated) up to
    ``63 * hop_length + 1`` samples first, and a warning is logged. Images are standardised
    with one mean and standard deviation computed on the *training* images of a machine type
    (:class:`Standardizer`), stored with the model.

The DCASE 2020 baseline's vectors
    ``n_mels=128, n_fft=1024, hop_length=512, power=2``; log-mel ``20 / power * log10(mel + eps)``;
    ``frames=5`` consecutive frames concatenated into ``640``-dimensional vectors, one per
    frame position: a 10 s clip (313 frames) gives ``(309, 640)``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np

from .atomic import write_text_atomic
from .config import BaselineFeatureConfig, ImageConfig

logger = logging.getLogger(__name__)

#: dB floor of the image (``power_to_db`` amin): a silent clip gives a constant -100 dB image.
IMAGE_AMIN = 1e-10


def log_mel_image(
    samples: np.ndarray, *, sample_rate: int = 16000, config: ImageConfig | None = None
) -> np.ndarray:
    """The study's log-mel image of one clip, shape ``(n_mels, n_frames)``, dB, float32.

    Parameters
    ----------
    samples : np.ndarray, shape ``(n_samples,)``
        Mono audio in [-1, 1].
    sample_rate : int
        Hz.
    config : ImageConfig, optional
        ``n_mels``, ``n_fft``, ``hop_length``, ``power``, ``n_frames``; the study's by default.
    """
    config = config or ImageConfig()
    samples = _check_mono(samples)
    needed = (config.n_frames - 1) * config.hop_length + 1
    if samples.shape[0] < needed:
        logger.warning(
            "clip of %.2f s is shorter than the %.2f s an image needs: repeating it",
            samples.shape[0] / sample_rate,
            needed / sample_rate,
        )
        samples = np.resize(samples, needed)  # tiles the clip
    # Only the first n_frames centred frames are kept: skip computing the rest.
    samples = samples[: needed + config.n_fft // 2]
    power = librosa.feature.melspectrogram(
        y=samples,
        sr=sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        power=config.power,
    )[:, : config.n_frames]
    return librosa.power_to_db(power, ref=1.0, amin=IMAGE_AMIN, top_db=None).astype(np.float32)


def baseline_log_mel(
    samples: np.ndarray, *, sample_rate: int = 16000, config: BaselineFeatureConfig | None = None
) -> np.ndarray:
    """The DCASE 2020 baseline's log-mel spectrogram, shape ``(n_mels, n_frames)``, dB, float32."""
    config = config or BaselineFeatureConfig()
    samples = _check_mono(samples)
    mel = librosa.feature.melspectrogram(
        y=samples,
        sr=sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        power=config.power,
    )
    return (20.0 / config.power * np.log10(mel + sys.float_info.epsilon)).astype(np.float32)


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
    windows = np.lib.stride_tricks.sliding_window_view(log_mel, frames, axis=1)  # (n_mels, n_vectors, frames)
    return np.ascontiguousarray(windows.transpose(1, 2, 0).reshape(n_vectors, frames * n_mels))


def baseline_vectors(
    samples: np.ndarray, *, sample_rate: int = 16000, config: BaselineFeatureConfig | None = None
) -> np.ndarray:
    """The baseline's 640-d vectors of one clip, shape ``(n_vectors, n_mels * frames)``."""
    config = config or BaselineFeatureConfig()
    return frame_vectors(baseline_log_mel(samples, sample_rate=sample_rate, config=config), frames=config.frames)


def _check_mono(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples of shape (n_samples,), got shape {samples.shape}")
    if samples.size == 0:
        raise ValueError("empty clip")
    return samples


@dataclass
class Standardizer:
    """Zero mean, unit variance with statistics from training data only.

    One scalar mean and standard deviation over every training value (all clips, bands and
    frames), as the study standardises its images. A constant input (silence) has std 0: the
    std is floored at ``min_std`` so nothing divides by zero.
    """

    mean: float = 0.0
    std: float = 1.0
    min_std: float = 1e-6

    @classmethod
    def fit(cls, values: np.ndarray, *, min_std: float = 1e-6) -> "Standardizer":
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0:
            raise ValueError("cannot fit a Standardizer on no data")
        return cls(mean=float(values.mean()), std=float(max(values.std(), min_std)), min_std=min_std)

    def transform(self, values: np.ndarray) -> np.ndarray:
        return ((np.asarray(values, dtype=np.float32) - self.mean) / self.std).astype(np.float32)

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float32) * self.std + self.mean).astype(np.float32)

    def save(self, path: str | os.PathLike) -> Path:
        return write_text_atomic(path, json.dumps({"mean": self.mean, "std": self.std, "min_std": self.min_std}))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Standardizer":
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
