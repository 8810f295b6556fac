"""asd.features.reference: the librosa oracle is the study's and the baseline's formulas."""

import librosa
import numpy as np

from asd.audio import resample
from asd.features import reference


def test_image_is_the_first_64_frames_of_plain_librosa(rng):
    samples = (0.1 * rng.standard_normal(160000)).astype(np.float32)
    full = librosa.power_to_db(
        librosa.feature.melspectrogram(y=samples, sr=16000, n_fft=4096, hop_length=2500, n_mels=64),
        ref=1.0,
        amin=1e-10,
        top_db=None,
    )
    assert full.shape == (64, 65)
    np.testing.assert_allclose(reference.log_mel_image(samples), full[:, :64], rtol=1e-4, atol=1e-3)


def test_baseline_log_mel_formula(rng):
    samples = (0.1 * rng.standard_normal(160000)).astype(np.float32)
    mel = librosa.feature.melspectrogram(y=samples, sr=16000, n_fft=1024, hop_length=512, n_mels=128, power=2.0)
    np.testing.assert_allclose(
        reference.baseline_log_mel(samples), 10.0 * np.log10(mel + np.finfo(float).eps), rtol=1e-4, atol=1e-3
    )


def test_fine_log_mel_is_power_to_db(rng):
    samples = (0.1 * rng.standard_normal(32000)).astype(np.float32)
    mel = librosa.feature.melspectrogram(y=samples, sr=16000, n_fft=1024, hop_length=512, n_mels=128, power=2.0)
    np.testing.assert_allclose(
        reference.fine_log_mel(samples), librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None), atol=1e-4
    )


def test_short_clip_tiled_as_the_fast_path(rng):
    samples = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    assert reference.log_mel_image(samples).shape == (64, 64)


def test_clip_resampling_is_librosas_default(rng):
    """asd.audio.resample calls soxr itself: the samples are librosa.resample's, to the bit."""
    for rate, n in ((44100, 4410), (48000, 4801), (8000, 800), (22050, 7)):
        samples = rng.uniform(-1, 1, n).astype(np.float32)
        np.testing.assert_array_equal(
            resample(samples, rate, 16000), librosa.resample(samples, orig_sr=rate, target_sr=16000)
        )
