"""asd.features.kinds: one function per feature kind, held to the librosa oracle (asd.features.reference)."""

import logging

import numpy as np
import pytest

from asd.audio import read_clip
from asd.config import BaselineFeatureConfig, ImageConfig, StudyConfig
from asd.features import (
    KINDS,
    Standardizer,
    baseline_log_mel,
    baseline_log_mels,
    baseline_vectors,
    feature_kind,
    fine_log_mel,
    frame_vectors,
    log_mel_image,
    log_mel_images,
    reference,
)

DB_TOLERANCE = 1e-3  # dB; float32 round-off gives about 1e-5


def _signal(rng, seconds=10.0, *, tone=440.0, level=0.1):
    t = np.arange(int(seconds * 16000)) / 16000
    return (level * rng.standard_normal(t.size) + 2 * level * np.sin(2 * np.pi * tone * t)).astype(np.float32)


@pytest.fixture
def ten_seconds(rng):
    return (0.1 * rng.standard_normal(160000)).astype(np.float32)


@pytest.mark.parametrize("seconds", [10, 11, 60])
def test_image_is_64_by_64(rng, seconds):
    samples = (0.1 * rng.standard_normal(16000 * seconds)).astype(np.float32)
    image = log_mel_image(samples)
    assert image.shape == (64, 64) and image.dtype == np.float32
    assert np.isfinite(image).all()


@pytest.mark.parametrize("seconds", [10.0, 11.0, 9.9])
def test_images_match_the_reference(rng, seconds):
    signals = [
        _signal(rng, seconds),
        _signal(rng, seconds, tone=5000, level=1e-3),
        np.zeros(int(seconds * 16000), np.float32),
    ]
    fast = log_mel_images(signals)
    assert fast.shape == (3, 64, 64) and fast.dtype == np.float32
    for row, samples in enumerate(signals):
        np.testing.assert_allclose(fast[row], reference.log_mel_image(samples), atol=DB_TOLERANCE, rtol=0)
        np.testing.assert_array_equal(fast[row], log_mel_image(samples))
    np.testing.assert_allclose(fast[2], -100.0, atol=1e-4)  # silence: the dB floor, power_to_db(amin=1e-10)


def test_eleven_second_clip_keeps_first_ten_seconds(ten_seconds, rng):
    longer = np.concatenate([ten_seconds, rng.standard_normal(16000).astype(np.float32)])
    np.testing.assert_allclose(log_mel_image(longer)[:, :60], log_mel_image(ten_seconds)[:, :60], atol=1e-3)


def test_short_clip_is_tiled_with_a_warning_naming_the_file(rng, caplog):
    samples = _signal(rng, 3.0)
    with caplog.at_level(logging.WARNING, logger="asd.features"):
        image = log_mel_image(samples, source="fan/normal_01.wav")
    assert image.shape == (64, 64)
    assert "fan/normal_01.wav: clip of 3.00 s is shorter" in caplog.text and "repeating it" in caplog.text
    np.testing.assert_allclose(image, reference.log_mel_image(samples), atol=DB_TOLERANCE, rtol=0)


def test_silence_gives_floor_not_nan():
    image = log_mel_image(np.zeros(160000, dtype=np.float32))
    np.testing.assert_allclose(image, -100.0, atol=1e-3)
    standardizer = Standardizer.fit(image[np.newaxis])
    assert standardizer.std == standardizer.min_std
    assert np.all(standardizer.transform(image) == 0)


def test_image_of_eight_channel_mimii_clip(mimii_root):
    samples = read_clip(mimii_root / "fan" / "id_00" / "abnormal" / "00000000.wav")
    np.testing.assert_allclose(log_mel_image(samples), reference.log_mel_image(samples), atol=DB_TOLERANCE, rtol=0)


def test_image_with_other_config(rng):
    config = ImageConfig(n_mels=32, n_fft=1024, hop_length=512, power=1.0, n_frames=20)
    samples = _signal(rng, 2.0)
    fast = log_mel_image(samples, config=config)
    assert fast.shape == (32, 20)
    np.testing.assert_allclose(fast, reference.log_mel_image(samples, config=config), atol=DB_TOLERANCE, rtol=0)


def test_baseline_log_mels_match_and_keep_order(rng):
    signals = [
        _signal(rng, 10.0),
        _signal(rng, 11.0),
        _signal(rng, 10.0, tone=80),
        _signal(rng, 0.5),
        np.zeros(16000, np.float32),
    ]
    fast = baseline_log_mels(signals)
    assert [f.shape for f in fast] == [(128, 313), (128, 344), (128, 313), (128, 16), (128, 32)]
    for samples, features in zip(signals, fast):
        assert features.dtype == np.float32
        np.testing.assert_allclose(features, reference.baseline_log_mel(samples), atol=DB_TOLERANCE, rtol=0)
        np.testing.assert_array_equal(features, baseline_log_mel(samples))


def test_baseline_with_other_config(rng):
    config = BaselineFeatureConfig(n_mels=64, n_fft=2048, hop_length=256, power=1.0)
    samples = _signal(rng, 1.0)
    np.testing.assert_allclose(
        baseline_log_mel(samples, config=config),
        reference.baseline_log_mel(samples, config=config),
        atol=DB_TOLERANCE,
        rtol=0,
    )


def test_fine_log_mel_matches_the_reference(rng):
    samples = _signal(rng, 3.0, tone=1000)
    fine = fine_log_mel(samples)
    assert fine.shape == (128, 94) and fine.dtype == np.float32
    np.testing.assert_allclose(fine, reference.fine_log_mel(samples), atol=DB_TOLERANCE, rtol=0)
    np.testing.assert_allclose(fine_log_mel(np.zeros(16000, np.float32)), -100.0, atol=1e-4)  # the image's floor


def test_results_do_not_depend_on_the_batch(rng):
    signals = [_signal(rng, 10.0, tone=100 + 200 * i) for i in range(7)]
    alone_images = [log_mel_images([s])[0] for s in signals]
    alone_logmels = [baseline_log_mels([s])[0] for s in signals]
    for size in (2, 3, 7):
        for a, b in zip(log_mel_images(signals[:size]), alone_images):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(baseline_log_mels(signals[:size]), alone_logmels):
            np.testing.assert_array_equal(a, b)


def test_baseline_vectors_shape_and_order(ten_seconds):
    log_mel = baseline_log_mel(ten_seconds)
    assert log_mel.shape == (128, 313)
    vectors = baseline_vectors(ten_seconds)
    assert vectors.shape == (309, 640) and vectors.dtype == np.float32
    # vector t = frames t..t+4 concatenated, 128 values each
    np.testing.assert_array_equal(vectors[10, 128 * 2 : 128 * 3], log_mel[:, 12])


def test_frame_vectors_too_short():
    with pytest.raises(ValueError, match="at least 5 frames"):
        frame_vectors(np.zeros((128, 3)), frames=5)


def test_bad_input_rejected():
    with pytest.raises(ValueError, match="mono"):
        log_mel_image(np.zeros((2, 16000)))
    with pytest.raises(ValueError, match="empty"):
        baseline_log_mels([np.zeros(0, np.float32)])
    assert log_mel_images([]).shape == (0, 64, 64)


def test_kinds_table():
    assert {"image", "baseline"} <= set(KINDS)
    assert all(name == entry.name for name, entry in KINDS.items())
    assert feature_kind("image").sections == ("audio", "image")
    with pytest.raises(ValueError, match="unknown feature kind 'mfcc'"):
        feature_kind("mfcc")
    samples = [np.zeros(16000, np.float32)]
    assert feature_kind("baseline").compute(samples, StudyConfig(), None)[0].shape == (128, 32)


def test_a_feature_kind_is_one_table_entry(monkeypatch, tiny_root, tmp_path):
    """docs/architecture.md, "Add a feature kind": an entry added only here is computed, cached and
    fingerprinted by the store, and a detector may ask for it by name."""
    from asd.detectors import DETECTORS, Detector, register
    from asd.features import FeatureCache, FeatureKind, extract_features
    from asd.features.store import fingerprint

    def rms_db(signals, config, sources):  # per clip: the RMS level of each 0.1-s block, (1, n_blocks)
        block = config.audio.sample_rate // 10
        return [
            (10 * np.log10(np.mean(s[: len(s) // block * block].reshape(-1, block) ** 2, axis=1) + 1e-10))[
                None, :
            ].astype(np.float32)
            for s in signals
        ]

    monkeypatch.setitem(KINDS, "test_rms", FeatureKind("test_rms", ("audio",), rms_db))
    paths = sorted(str(p) for p in (tiny_root / "fan" / "train").glob("*.wav"))[:3]
    config, cache = StudyConfig(), FeatureCache(tmp_path / "cache")
    first = extract_features(paths, kind="test_rms", config=config, cache=cache, progress=False)
    assert [f.shape[0] for f in first.features] == [1, 1, 1] and first.features[0].shape[1] > 10
    expected = rms_db([read_clip(paths[0], sample_rate=16000)], config, None)[0]
    np.testing.assert_allclose(first.features[0], expected, rtol=1e-5)
    assert list((tmp_path / "cache").glob(f"{fingerprint('test_rms', config)}/*/*.npy"))  # cached under its fingerprint
    again = extract_features(paths, kind="test_rms", config=config, cache=cache, progress=False)
    for a, b in zip(first.features, again.features):
        np.testing.assert_array_equal(a, b)
    slower = StudyConfig()
    slower.audio.sample_rate = 8000
    assert fingerprint("test_rms", slower) != fingerprint("test_rms", config)  # its sections key the store
    assert fingerprint("test_rms", config) != fingerprint("baseline", config)

    uses_it = type("UsesRMS", (Detector,), {"name": "test_uses_rms", "feature_kind": "test_rms", "summary": "-"})
    try:
        assert register(uses_it) is uses_it
    finally:
        DETECTORS.pop("test_uses_rms", None)
