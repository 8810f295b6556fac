"""asd.features.wav: 16-bit PCM decoding, bit for bit what soundfile reads, else read_clip."""

import struct

import numpy as np
import pytest
import soundfile as sf

from asd.audio import read_clip, write_clip
from asd.errors import AudioError
from asd.features import decode_pcm16, read_clip_fast, read_pcm16_wav


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


def test_decode_from_bytes_is_the_file_read(tmp_path, rng):
    path = write_clip(tmp_path / "a.wav", rng.uniform(-1, 1, 16000))
    data = path.read_bytes()
    np.testing.assert_array_equal(decode_pcm16(data), read_pcm16_wav(path))
    np.testing.assert_array_equal(read_clip_fast(path, data=data), read_clip(path))
    assert decode_pcm16(data[:40]) is None and decode_pcm16(b"") is None
