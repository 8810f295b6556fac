import librosa
import numpy as np
import pytest

from asd.audio import read_clip
from asd.config import BaselineFeatureConfig, ImageConfig
from asd.features import Standardizer, baseline_log_mel, baseline_vectors, frame_vectors, log_mel_image


@pytest.fixture
def ten_seconds(rng):
    return (0.1 * rng.standard_normal(160000)).astype(np.float32)


@pytest.mark.parametrize("seconds", [10, 11, 60])
def test_image_is_64_by_64(rng, seconds):
    samples = (0.1 * rng.standard_normal(16000 * seconds)).astype(np.float32)
    image = log_mel_image(samples)
    assert image.shape == (64, 64) and image.dtype == np.float32
    assert np.isfinite(image).all()


def test_image_matches_plain_librosa_first_64_frames(ten_seconds):
    full = librosa.power_to_db(
        librosa.feature.melspectrogram(y=ten_seconds, sr=16000, n_fft=4096, hop_length=2500, n_mels=64), ref=1.0, amin=1e-10, top_db=None
    )
    assert full.shape == (64, 65)
    np.testing.assert_allclose(log_mel_image(ten_seconds), full[:, :64], rtol=1e-4, atol=1e-3)


def test_eleven_second_clip_keeps_first_ten_seconds(ten_seconds, rng):
    longer = np.concatenate([ten_seconds, rng.standard_normal(16000).astype(np.float32)])
    np.testing.assert_allclose(log_mel_image(longer)[:, :60], log_mel_image(ten_seconds)[:, :60], atol=1e-3)


def test_short_clip_is_tiled_with_warning(rng, caplog):
    one_second = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    with caplog.at_level("WARNING"):
        image = log_mel_image(one_second)
    assert image.shape == (64, 64)
    assert "shorter" in caplog.text


def test_silence_gives_floor_not_nan():
    image = log_mel_image(np.zeros(160000, dtype=np.float32))
    np.testing.assert_allclose(image, -100.0, atol=1e-3)
    standardizer = Standardizer.fit(image[np.newaxis])
    assert standardizer.std == standardizer.min_std
    assert np.all(standardizer.transform(image) == 0)


def test_image_of_eight_channel_mimii_clip(mimii_root):
    samples = read_clip(mimii_root / "fan" / "id_00" / "abnormal" / "00000000.wav")
    assert log_mel_image(samples).shape == (64, 64)


def test_image_config_changes_shape(ten_seconds):
    assert log_mel_image(ten_seconds, config=ImageConfig(n_mels=32, n_frames=16)).shape == (32, 16)


def test_baseline_vectors_shape_and_order(ten_seconds):
    log_mel = baseline_log_mel(ten_seconds)
    assert log_mel.shape == (128, 313)
    vectors = baseline_vectors(ten_seconds)
    assert vectors.shape == (309, 640) and vectors.dtype == np.float32
    # vector t = frames t..t+4 concatenated, 128 values each
    np.testing.assert_array_equal(vectors[10, 128 * 2 : 128 * 3], log_mel[:, 12])


def test_baseline_log_mel_formula(ten_seconds):
    mel = librosa.feature.melspectrogram(y=ten_seconds, sr=16000, n_fft=1024, hop_length=512, n_mels=128, power=2.0)
    expected = 10.0 * np.log10(mel + np.finfo(float).eps)
    np.testing.assert_allclose(baseline_log_mel(ten_seconds), expected, rtol=1e-4, atol=1e-3)


def test_frame_vectors_too_short():
    with pytest.raises(ValueError, match="at least 5 frames"):
        frame_vectors(np.zeros((128, 3)), frames=5)


def test_stereo_input_rejected():
    with pytest.raises(ValueError, match="mono"):
        log_mel_image(np.zeros((2, 16000)))


def test_standardizer_uses_training_statistics(tmp_path, rng):
    train = rng.normal(5.0, 2.0, size=(20, 8, 8))
    standardizer = Standardizer.fit(train)
    out = standardizer.transform(train)
    assert abs(out.mean()) < 1e-5 and abs(out.std() - 1) < 1e-5
    standardizer.save(tmp_path / "n.json")
    assert Standardizer.load(tmp_path / "n.json") == standardizer
    np.testing.assert_allclose(standardizer.inverse_transform(out), train, rtol=1e-5)
