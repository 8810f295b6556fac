import os

import numpy as np

from asd.cache import FeatureCache


def test_put_get_round_trip(tmp_path):
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"x")
    cache = FeatureCache(tmp_path / "cache")
    assert cache.get(clip, "image-abc") is None
    cache.put(clip, "image-abc", np.arange(6, dtype=np.float64).reshape(2, 3))
    got = cache.get(clip, "image-abc")
    assert got.dtype == np.float32 and got.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert cache.get(clip, "image-other") is None  # namespaced by feature config


def test_changed_file_misses(tmp_path):
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"x")
    cache = FeatureCache(tmp_path / "cache")
    cache.put(clip, "ns", np.zeros(3))
    clip.write_bytes(b"longer content")
    os.utime(clip, ns=(1, 1))
    assert cache.get(clip, "ns") is None


def test_corrupt_entry_is_dropped(tmp_path):
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"x")
    cache = FeatureCache(tmp_path / "cache")
    cache.put(clip, "ns", np.zeros(3))
    (entry,) = (tmp_path / "cache").rglob("*.npy")
    entry.write_bytes(b"garbage")
    assert cache.get(clip, "ns") is None
    assert not entry.exists()


def test_disabled_cache_writes_nothing(tmp_path):
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"x")
    cache = FeatureCache(None)
    cache.put(clip, "ns", np.zeros(3))
    assert cache.get(clip, "ns") is None
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]
