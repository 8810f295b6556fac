"""The librosa reference of every feature kind: the oracle the fast backend is tested against.

Plain ``librosa.feature.melspectrogram`` (float64 inside) one clip at a time, as the study and the
DCASE 2020 baseline wrote it. Nothing in the pipeline calls these; the tests hold the fast
functions of :mod:`asd.features.kinds` to them within ``1e-3`` dB, and the benchmark times them.
"""

from __future__ import annotations

import sys

import numpy as np

from ..config import BaselineFeatureConfig, ImageConfig
from .clips import check_mono, tile_to_length
from .kinds import IMAGE_AMIN


def log_mel_image(samples: np.ndarray, *, sample_rate: int = 16000, config: ImageConfig | None = None) -> np.ndarray:
    """The study's image of one clip with librosa, shape ``(n_mels, n_frames)``, dB, float32."""
    import librosa

    config = config or ImageConfig()
    needed = (config.n_frames - 1) * config.hop_length + 1
    samples = tile_to_length(check_mono(samples), needed, sample_rate=sample_rate)
    samples = samples[: needed + config.n_fft // 2]  # only the first n_frames centred frames
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
    """The DCASE 2020 baseline's log-mel with librosa, shape ``(n_mels, n_frames)``, dB, float32."""
    import librosa

    config = config or BaselineFeatureConfig()
    mel = librosa.feature.melspectrogram(
        y=check_mono(samples),
        sr=sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        power=config.power,
    )
    return (20.0 / config.power * np.log10(mel + sys.float_info.epsilon)).astype(np.float32)


def fine_log_mel(
    samples: np.ndarray, *, sample_rate: int = 16000, config: BaselineFeatureConfig | None = None
) -> np.ndarray:
    """The figures' fine log-mel with librosa (``power_to_db`` of the baseline's grid), float32."""
    import librosa

    config = config or BaselineFeatureConfig()
    power = librosa.feature.melspectrogram(
        y=check_mono(samples),
        sr=sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        power=config.power,
    )
    return librosa.power_to_db(power, ref=1.0, amin=IMAGE_AMIN, top_db=None).astype(np.float32)
