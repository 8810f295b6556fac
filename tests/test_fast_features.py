"""The fast feature path (asd.fastfeatures, threaded extract_features) against plain librosa/soundfile."""

import logging
import struct
import sys

import librosa
import numpy as np
import pytest
import soundfile as sf

from asd.audio import read_clip, write_clip
from asd.config import BaselineFeatureConfig, ImageConfig, StudyConfig
from asd.errors import AudioError
from asd.extraction import CHUNK_CLIPS, MIN_PARALLEL_CLIPS, compute_features, extract_features
from asd.fastfeatures import (
    baseline_log_mels,
    default_workers,
    log_mel_images,
    mel_plan,
    mel_power_batch,
    read_clip_fast,
    read_pcm16_wav,
)
from asd.features import baseline_log_mel, log_mel_image

DB_TOLERANCE = 1e-3  # dB; float32 round-off gives about 1e-5


def _signal(rng, seconds=10.0, *, tone=440.0, level=0.1):
    t = np.arange(int(seconds * 16000)) / 16000
    return (level * rng.standard_normal(t.size) + 2 * level * np.sin(2 * np.pi * tone * t)).astype(np.float32)


def _quantised(samples):
    """What a 16-bit WAV holds: the fast path and librosa then see the same samples."""
    return (np.round(np.clip(samples, -1, 1) * 32767) / 32768).astype(np.float32)


# -- decoding -----------------------------------------------------------------------------


def test_pcm16_decode_is_bit_exact(tmp_path, rng):
    samples = rng.uniform(-1, 1, 32000)
    samples[:2] = [-1.0, 1.0]
    path = write_clip(tmp_path / "a.wav", samples)
    fast = read_pcm16_wav(path)
    assert fast.dtype == np.float32
    np.testing.assert_array_equal(fast, sf.read(path, dtype="float32")[0])
    np.testing.assert_array_equal(read_clip_fast(path), read_clip(path))


def test_multichannel_wavex_channels(tmp_path, rng):
    pcm = rng.integers(-32768, 32767, (8000, 8), dtype=np.int16)
    path = tmp_path / "mimii.wav"
    sf.write(path, pcm, 16000, subtype="PCM_16", format="WAV")
    assert sf.info(path).channels == 8
    reference = sf.read(path, dtype="float32")[0]
    for channel in (0, 3, 7, -1):
        np.testing.assert_array_equal(read_pcm16_wav(path, channel=channel), reference[:, channel])
    assert read_pcm16_wav(path, channel=8) is None
    with pytest.raises(AudioError, match="has 8 channel"):
        read_clip_fast(path, channel=8)


def test_real_mimii_clip_decodes_like_soundfile(mimii_root):
    path = sorted(mimii_root.rglob("*.wav"))[0]
    np.testing.assert_array_equal(read_clip_fast(path, channel=0), read_clip(path, channel=0))


def _wav_with_extra_chunk(path, pcm: np.ndarray, rate=16000):
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    extra = b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\x00"  # odd size: one pad byte
    data = pcm.astype("<i2").tobytes()
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def test_chunks_before_data_are_skipped(tmp_path, rng):
    pcm = rng.integers(-32768, 32767, 4000, dtype=np.int16)
    path = _wav_with_extra_chunk(tmp_path / "list.wav", pcm)
    np.testing.assert_array_equal(read_pcm16_wav(path), sf.read(path, dtype="float32")[0])


@pytest.mark.parametrize("subtype", ["PCM_24", "FLOAT", "PCM_U8"])
def test_other_sample_formats_fall_back_to_soundfile(tmp_path, rng, subtype):
    samples = rng.uniform(-0.5, 0.5, 4000)
    path = tmp_path / "x.wav"
    sf.write(path, samples, 16000, subtype=subtype)
    assert read_pcm16_wav(path) is None
    np.testing.assert_array_equal(read_clip_fast(path), read_clip(path))


def test_other_rate_is_resampled_like_read_clip(tmp_path, rng):
    path = write_clip(tmp_path / "r.wav", rng.uniform(-0.5, 0.5, 8000), sample_rate=8000)
    assert read_pcm16_wav(path) is None
    np.testing.assert_array_equal(read_clip_fast(path), read_clip(path))


def test_broken_files_raise_what_read_clip_raises(tmp_path, rng):
    good = write_clip(tmp_path / "good.wav", rng.uniform(-0.5, 0.5, 16000))
    cases = {
        "empty.wav": b"",
        "text.wav": b"this is not audio at all" * 10,
        "header.wav": good.read_bytes()[:44],
        "truncated.wav": good.read_bytes()[:1000],
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        assert read_pcm16_wav(path) is None, name
        try:
            expected = read_clip(path)
        except AudioError as exc:
            with pytest.raises(AudioError) as caught:
                read_clip_fast(path)
            assert str(caught.value) == str(exc)
        else:  # libsndfile reads what is there: so do we
            np.testing.assert_array_equal(read_clip_fast(path), expected)
    assert read_pcm16_wav(tmp_path / "missing.wav") is None
    with pytest.raises(AudioError, match="file not found"):
        read_clip_fast(tmp_path / "missing.wav")


# -- mel spectrograms ---------------------------------------------------------------------


@pytest.mark.parametrize("power", [2.0, 1.0])
def test_mel_power_batch_matches_librosa_melspectrogram(rng, power):
    signals = np.stack([_signal(rng, 2.0, tone=300), _signal(rng, 2.0, tone=3000, level=0.01)])
    fast = mel_power_batch(signals, sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128, power=power)
    for row, samples in enumerate(signals):
        reference = librosa.feature.melspectrogram(y=samples, sr=16000, n_fft=1024, hop_length=512, n_mels=128, power=power)
        assert fast[row].shape == reference.shape == (128, 63)
        np.testing.assert_allclose(fast[row], reference, rtol=2e-4, atol=1e-6 * reference.max())


def test_mel_plan_is_built_once():
    assert mel_plan(sample_rate=16000, n_fft=1024, n_mels=128) is mel_plan(sample_rate=16000, n_fft=1024, n_mels=128)
    plan = mel_plan(sample_rate=16000, n_fft=1024, n_mels=128)
    rebuilt = np.zeros_like(plan.basis)
    for first, end, low, high, weights in plan.blocks:
        rebuilt[first:end, low:high] = weights.T
    np.testing.assert_array_equal(rebuilt, plan.basis)  # the blocks hold every non-zero weight


@pytest.mark.parametrize("seconds", [10.0, 11.0, 9.9])
def test_images_match_log_mel_image(rng, seconds):
    signals = [_signal(rng, seconds), _signal(rng, seconds, tone=5000, level=1e-3), np.zeros(int(seconds * 16000), np.float32)]
    fast = log_mel_images(signals)
    assert fast.shape == (3, 64, 64) and fast.dtype == np.float32
    for row, samples in enumerate(signals):
        np.testing.assert_allclose(fast[row], log_mel_image(samples), atol=DB_TOLERANCE, rtol=0)
    np.testing.assert_allclose(fast[2], -100.0, atol=1e-4)  # silence: the dB floor, power_to_db(amin=1e-10)


def test_short_clip_is_tiled_like_log_mel_image(rng, caplog):
    samples = _signal(rng, 3.0)
    with caplog.at_level(logging.WARNING, logger="asd.fastfeatures"):
        fast = log_mel_images([samples])[0]
    assert "repeating it" in caplog.text
    np.testing.assert_allclose(fast, log_mel_image(samples), atol=DB_TOLERANCE, rtol=0)


def test_image_with_other_config(rng):
    config = ImageConfig(n_mels=32, n_fft=1024, hop_length=512, power=1.0, n_frames=20)
    samples = _signal(rng, 2.0)
    fast = log_mel_images([samples], config=config)[0]
    assert fast.shape == (32, 20)
    np.testing.assert_allclose(fast, log_mel_image(samples, config=config), atol=DB_TOLERANCE, rtol=0)


def test_baseline_log_mels_match_and_keep_order(rng):
    signals = [_signal(rng, 10.0), _signal(rng, 11.0), _signal(rng, 10.0, tone=80), _signal(rng, 0.5), np.zeros(16000, np.float32)]
    fast = baseline_log_mels(signals)
    assert [f.shape for f in fast] == [(128, 313), (128, 344), (128, 313), (128, 16), (128, 32)]
    for samples, features in zip(signals, fast):
        assert features.dtype == np.float32
        np.testing.assert_allclose(features, baseline_log_mel(samples), atol=DB_TOLERANCE, rtol=0)
    # the straightforward formula, on librosa's own mel spectrogram
    mel = librosa.feature.melspectrogram(y=signals[0], sr=16000, n_fft=1024, hop_length=512, n_mels=128, power=2.0)
    np.testing.assert_allclose(fast[0], 10.0 * np.log10(mel + sys.float_info.epsilon), atol=DB_TOLERANCE, rtol=0)


def test_baseline_with_other_config(rng):
    config = BaselineFeatureConfig(n_mels=64, n_fft=2048, hop_length=256, power=1.0)
    samples = _signal(rng, 1.0)
    np.testing.assert_allclose(
        baseline_log_mels([samples], config=config)[0], baseline_log_mel(samples, config=config), atol=DB_TOLERANCE, rtol=0
    )


def test_results_do_not_depend_on_the_batch(rng):
    signals = [_signal(rng, 10.0, tone=100 + 200 * i) for i in range(7)]
    alone_images = [log_mel_images([s])[0] for s in signals]
    alone_logmels = [baseline_log_mels([s])[0] for s in signals]
    for size in (2, 3, 7):
        for a, b in zip(log_mel_images(signals[:size]), alone_images):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(baseline_log_mels(signals[:size]), alone_logmels):
            np.testing.assert_array_equal(a, b)


def test_bad_input_shapes(rng):
    with pytest.raises(ValueError, match="mono"):
        log_mel_images([np.zeros((2, 16000), np.float32)])
    with pytest.raises(ValueError, match="empty"):
        baseline_log_mels([np.zeros(0, np.float32)])
    with pytest.raises(ValueError, match="n_clips, n_samples"):
        mel_power_batch(np.zeros(10), sample_rate=16000, n_fft=64, hop_length=32, n_mels=8)


# -- extract_features ---------------------------------------------------------------------


@pytest.fixture
def many_clips(tmp_path, rng):
    """Enough clips for the thread pool, of two lengths, one unreadable in the middle."""
    paths = []
    for index in range(MIN_PARALLEL_CLIPS + CHUNK_CLIPS + 1):
        seconds = 11.0 if index % 3 == 0 else 10.0
        paths.append(str(write_clip(tmp_path / f"normal_id_00_{index:08d}.wav", _signal(rng, seconds, tone=200 + 50 * index))))
    bad = tmp_path / "normal_id_00_00000999.wav"
    bad.write_bytes(b"RIFF....WAVEjunk")
    return paths, str(bad)


@pytest.mark.parametrize("kind", ["image", "baseline"])
def test_workers_do_not_change_features_or_order(many_clips, kind):
    paths, _ = many_clips
    config = StudyConfig()
    serial = extract_features(paths, kind=kind, config=config, progress=False, workers=1)
    threaded = extract_features(paths, kind=kind, config=config, progress=False, workers=3)
    assert threaded.paths == serial.paths == paths
    for a, b in zip(serial.features, threaded.features):
        np.testing.assert_array_equal(a, b)
    # and they are the plain librosa features within float32 round-off
    reference = log_mel_image if kind == "image" else baseline_log_mel
    for path, features in zip(paths[:3], serial.features):
        np.testing.assert_allclose(features, reference(read_clip(path)), atol=DB_TOLERANCE, rtol=0)
        np.testing.assert_array_equal(features, compute_features(read_clip(path), kind=kind, config=config))


def test_threaded_errors_follow_input_order(many_clips, tmp_path):
    paths, bad = many_clips
    missing = str(tmp_path / "normal_id_00_00000998.wav")
    mixed = [*paths[:5], bad, *paths[5:], missing]
    with pytest.raises(AudioError, match="00000999.wav"):  # the first bad one in input order
        extract_features(mixed, kind="image", config=StudyConfig(), progress=False, workers=2)
    skipped = extract_features(mixed, kind="image", config=StudyConfig(), progress=False, workers=2, on_error="skip")
    assert skipped.paths == paths
    assert [path for path, _ in skipped.failed] == [bad, missing]


def test_threaded_cache_round_trip(many_clips, tmp_path):
    from asd.cache import FeatureCache

    paths, _ = many_clips
    cache = FeatureCache(tmp_path / "cache")
    cold = extract_features(paths, kind="baseline", config=StudyConfig(), cache=cache, progress=False, workers=2)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == len(paths)
    warm = extract_features(paths, kind="baseline", config=StudyConfig(), cache=cache, progress=False, workers=2)
    for a, b in zip(cold.features, warm.features):
        np.testing.assert_array_equal(a, b)


def test_workers_argument_checked(many_clips):
    assert default_workers() >= 1
    with pytest.raises(ValueError, match="workers"):
        extract_features(many_clips[0], kind="image", config=StudyConfig(), progress=False, workers=0)
