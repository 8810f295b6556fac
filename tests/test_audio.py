import numpy as np
import pytest
import soundfile as sf

from asd.audio import clip_info, clip_problem, read_clip, truncation, write_clip
from asd.errors import AudioError


def test_round_trip_is_16_bit_mono(tmp_path, rng):
    samples = 0.5 * rng.standard_normal(16000).clip(-1, 1)
    path = write_clip(tmp_path / "a.wav", samples)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    back = read_clip(path)
    assert back.dtype == np.float32 and back.shape == (16000,)
    np.testing.assert_allclose(back, samples, atol=1 / 32767)


def test_write_is_deterministic(tmp_path, rng):
    samples = rng.uniform(-1, 1, 8000)
    a = write_clip(tmp_path / "a.wav", samples).read_bytes()
    b = write_clip(tmp_path / "b.wav", samples).read_bytes()
    assert a == b


def test_write_rejects_stereo(tmp_path):
    with pytest.raises(ValueError, match="mono"):
        write_clip(tmp_path / "x.wav", np.zeros((10, 2)))


def test_multichannel_picks_channel(tmp_path):
    data = np.stack([np.full(1600, 0.1 * (c + 1)) for c in range(8)], axis=1)
    sf.write(tmp_path / "eight.wav", data, 16000, subtype="PCM_16")
    assert read_clip(tmp_path / "eight.wav", channel=3)[0] == pytest.approx(0.4, abs=1e-4)
    with pytest.raises(AudioError, match="8 channel"):
        read_clip(tmp_path / "eight.wav", channel=8)


def test_other_rates_are_resampled(tmp_path, caplog):
    rate, seconds, freq = 44100, 0.5, 1000.0
    t = np.arange(int(rate * seconds)) / rate
    sf.write(tmp_path / "r.wav", 0.5 * np.sin(2 * np.pi * freq * t), rate, subtype="PCM_16")
    with caplog.at_level("INFO"):
        out = read_clip(tmp_path / "r.wav")
    assert "resampling 44100 Hz -> 16000 Hz" in caplog.text
    assert out.dtype == np.float32 and out.shape == (8000,)  # 0.5 s at 16 kHz
    spectrum = np.abs(np.fft.rfft(out * np.hanning(out.size)))
    assert np.fft.rfftfreq(out.size, 1 / 16000)[spectrum.argmax()] == pytest.approx(freq, abs=2)  # 1 kHz still
    middle = out[1000:-1000]  # away from the filter's edges
    expected = 0.5 * np.sin(2 * np.pi * freq * np.arange(out.size) / 16000)[1000:-1000]
    assert np.max(np.abs(middle - expected)) < 0.01  # the same waveform, in phase


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.wav: empty file"):
        read_clip(tmp_path / "empty.wav")


def test_not_a_wav(tmp_path):
    (tmp_path / "text.wav").write_text("hello, I am not audio" * 10)
    with pytest.raises(AudioError, match=r"text\.wav: cannot decode"):
        read_clip(tmp_path / "text.wav")


def test_truncated_header(tmp_path, rng):
    path = write_clip(tmp_path / "full.wav", rng.uniform(-1, 1, 16000))
    (tmp_path / "cut.wav").write_bytes(path.read_bytes()[:30])
    with pytest.raises(AudioError, match=r"cut\.wav"):
        read_clip(tmp_path / "cut.wav")


def test_header_only(tmp_path):
    sf.write(tmp_path / "zero.wav", np.zeros(0), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="no audio frames"):
        read_clip(tmp_path / "zero.wav")


def test_nan_samples(tmp_path):
    data = np.zeros(1000, dtype=np.float32)
    data[10] = np.nan
    sf.write(tmp_path / "nan.wav", data, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: contains NaN"):
        read_clip(tmp_path / "nan.wav")


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        read_clip(tmp_path / "nope.wav")


def test_clip_info(tmp_path):
    write_clip(tmp_path / "a.wav", np.zeros(32000))
    assert clip_info(tmp_path / "a.wav") == {"sample_rate": 16000, "channels": 1, "frames": 32000, "duration": 2.0}


def test_shared_mimii_clip_is_eight_channel(mimii_root):
    path = mimii_root / "fan" / "id_00" / "normal" / "00000000.wav"
    info = clip_info(path)
    assert (info["channels"], info["sample_rate"], info["frames"]) == (8, 16000, 160000)
    channel0 = read_clip(path)
    channel1 = read_clip(path, channel=1)
    assert channel0.shape == (160000,) and not np.array_equal(channel0, channel1)


def _cut(path, n_bytes):
    path.write_bytes(path.read_bytes()[:n_bytes])
    return path


def test_truncated_data_chunk_is_named(tmp_path, rng, caplog):
    path = _cut(write_clip(tmp_path / "cut.wav", rng.uniform(-1, 1, 32000)), 44 + 2 * 8000)
    assert truncation(path) == "truncated: the header promises 32000 frames (2 s), the file holds 8000 (0.5 s)"
    with caplog.at_level("WARNING"):
        samples = read_clip(path)
    assert samples.shape == (8000,)
    assert "cut.wav: truncated: the header promises 32000 frames" in caplog.text


def test_complete_and_non_wav_files_are_not_truncated(tmp_path, rng):
    assert truncation(write_clip(tmp_path / "full.wav", rng.uniform(-1, 1, 1000))) is None
    (tmp_path / "text.wav").write_text("hello")
    assert truncation(tmp_path / "text.wav") is None
    sf.write(tmp_path / "a.flac", np.zeros(1000), 16000)
    assert truncation(tmp_path / "a.flac") is None


def test_header_plus_a_few_bytes_is_too_short(tmp_path, rng):
    path = _cut(write_clip(tmp_path / "few.wav", rng.uniform(-1, 1, 16000)), 44 + 10)
    with pytest.raises(
        AudioError, match=r"few\.wav: 0\.000313 s long, shorter than the 1 s minimum \(audio\.min_seconds\); truncated"
    ):
        read_clip(path, min_seconds=1.0)
    assert read_clip(path).shape == (5,)  # min_seconds=0 accepts any length


def test_clip_problem_reads_the_header_only(tmp_path, rng, caplog):
    short = write_clip(tmp_path / "short.wav", np.zeros(8000))
    assert clip_problem(short, min_seconds=1.0) == "0.5 s long, shorter than the 1 s minimum (audio.min_seconds)"
    assert clip_problem(short, min_seconds=0.5) is None
    cut = _cut(write_clip(tmp_path / "cut.wav", rng.uniform(-1, 1, 48000)), 44 + 2 * 32000)
    with caplog.at_level("WARNING"):
        assert clip_problem(cut, min_seconds=1.0) is None  # 2 s left: used, with a warning
    assert "cut.wav: truncated" in caplog.text
    (tmp_path / "junk.wav").write_bytes(b"junk")
    assert clip_problem(tmp_path / "junk.wav", min_seconds=1.0) is None  # read_clip reports it
