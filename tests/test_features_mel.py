"""asd.features.mel: the fast backend against librosa.feature.melspectrogram."""

import librosa
import numpy as np
import pytest

from asd.features import mel_plan, mel_power_batch


def _signal(rng, seconds=10.0, *, tone=440.0, level=0.1):
    t = np.arange(int(seconds * 16000)) / 16000
    return (level * rng.standard_normal(t.size) + 2 * level * np.sin(2 * np.pi * tone * t)).astype(np.float32)


@pytest.mark.parametrize("power", [2.0, 1.0])
def test_mel_power_batch_matches_librosa_melspectrogram(rng, power):
    signals = np.stack([_signal(rng, 2.0, tone=300), _signal(rng, 2.0, tone=3000, level=0.01)])
    fast = mel_power_batch(signals, sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128, power=power)
    for row, samples in enumerate(signals):
        reference = librosa.feature.melspectrogram(
            y=samples, sr=16000, n_fft=1024, hop_length=512, n_mels=128, power=power
        )
        assert fast[row].shape == reference.shape == (128, 63)
        np.testing.assert_allclose(fast[row], reference, rtol=2e-4, atol=1e-6 * reference.max())


def test_mel_plan_is_built_once():
    assert mel_plan(sample_rate=16000, n_fft=1024, n_mels=128) is mel_plan(sample_rate=16000, n_fft=1024, n_mels=128)
    plan = mel_plan(sample_rate=16000, n_fft=1024, n_mels=128)
    rebuilt = np.zeros_like(plan.basis)
    for first, end, low, high, weights in plan.blocks:
        rebuilt[first:end, low:high] = weights.T
    np.testing.assert_array_equal(rebuilt, plan.basis)  # the blocks hold every non-zero weight


def test_bad_input_shapes():
    with pytest.raises(ValueError, match="n_clips, n_samples"):
        mel_power_batch(np.zeros(10), sample_rate=16000, n_fft=64, hop_length=32, n_mels=8)
    with pytest.raises(ValueError, match="equal-length"):
        mel_power_batch([np.zeros(10), np.zeros(11)], sample_rate=16000, n_fft=64, hop_length=32, n_mels=8)


def test_n_frames_keeps_the_first_frames(rng):
    signals = np.stack([_signal(rng, 1.0)])
    full = mel_power_batch(signals, sample_rate=16000, n_fft=1024, hop_length=512, n_mels=64)
    first = mel_power_batch(signals, sample_rate=16000, n_fft=1024, hop_length=512, n_mels=64, n_frames=10)
    assert first.shape == (1, 64, 10)
    np.testing.assert_allclose(first, full[:, :, :10], rtol=1e-5)
