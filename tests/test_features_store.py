"""asd.features.store: one content key, one fingerprint, a store that never aborts a run."""

import errno
import logging
import os

import numpy as np
import pytest

from asd.config import StudyConfig
from asd.features import FeatureCache, content_key, fingerprint, read_keyed
from asd.features import store as store_module


def test_put_get_round_trip(tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    key = content_key(b"x")
    assert cache.get(key, "image-abc") is None
    assert cache.put(key, "image-abc", np.arange(6, dtype=np.float64).reshape(2, 3))
    got = cache.get(key, "image-abc")
    assert got.dtype == np.float32 and got.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert cache.get(key, "image-other") is None  # namespaced by feature config
    assert cache.entry(key, "image-abc") == tmp_path / "cache" / "image-abc" / key[:2] / f"{key}.npy"


def test_content_key_follows_the_bytes_only():
    assert content_key(b"abc") == content_key(b"abc")
    assert content_key(b"abc") != content_key(b"abd")  # same size, other content
    assert len(content_key(b"")) == 64


def test_content_key_of_a_file_equals_that_of_its_bytes(tmp_path):
    path = tmp_path / "clip.bin"
    path.write_bytes(b"some bytes")
    assert content_key(path) == content_key(str(path)) == content_key(b"some bytes")
    assert read_keyed(path) == (b"some bytes", content_key(b"some bytes"))


def test_fingerprint_hashes_the_sections_a_kind_depends_on():
    config = StudyConfig()
    image = fingerprint("image", config)
    assert image.startswith("image-") and image == fingerprint("image", StudyConfig())
    config.baseline.n_mels = 64
    assert fingerprint("image", config) == image
    config.audio.channel = 1
    assert fingerprint("image", config) != image
    with pytest.raises(ValueError, match="unknown feature kind"):
        fingerprint("mfcc", config)


def test_pack_key_follows_namespace_and_clip_list():
    paths = ["data/fan/a.wav", "data/fan/b.wav"]
    key = FeatureCache.pack_key("image-1", paths)
    assert key == FeatureCache.pack_key("image-1", list(paths))
    assert key != FeatureCache.pack_key("image-2", paths)
    assert key != FeatureCache.pack_key("image-1", paths[::-1])
    assert key != FeatureCache.pack_key("image-1", paths[:1])


def test_corrupt_entry_is_dropped(tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    cache.put("ab12", "ns", np.zeros(3))
    (entry,) = (tmp_path / "cache").rglob("*.npy")
    entry.write_bytes(b"garbage")
    assert cache.get("ab12", "ns") is None
    assert not entry.exists()


def test_disabled_cache_writes_nothing(tmp_path):
    cache = FeatureCache(None)
    assert not cache.put("ab12", "ns", np.zeros(3))
    assert cache.get("ab12", "ns") is None
    assert cache.pack_writer("k") is None
    assert list(tmp_path.iterdir()) == []


def test_write_failure_warns_once_naming_the_path(tmp_path, monkeypatch, caplog):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module, "_npy_header", full_disk)
    cache = FeatureCache(tmp_path / "cache")
    with caplog.at_level(logging.WARNING, logger="asd.features"):
        assert not cache.put("ab12", "ns", np.zeros(3))
        assert not cache.put("cd34", "ns", np.zeros(3))
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert str(tmp_path / "cache" / "ns" / "ab" / "ab12.npy") in message and "No space left" in message
    assert not cache.writable
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []  # no temporary left


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(tmp_path, caplog):
    root = tmp_path / "cache"
    root.mkdir()
    root.chmod(0o500)
    try:
        cache = FeatureCache(root)
        with caplog.at_level(logging.WARNING, logger="asd.features"):
            assert not cache.put("ab12", "ns", np.zeros(3))
            assert cache.pack_writer("k") is None
    finally:
        root.chmod(0o700)
    assert sum("cannot write" in r.getMessage() for r in caplog.records) == 1
