"""asd.features.extract: many clips read, computed and stored, in order, whatever the workers."""

import errno
import logging
import os

import numpy as np
import pytest

from asd.audio import read_clip, write_clip
from asd.config import StudyConfig
from asd.errors import AudioError
from asd.features import (
    CHUNK_CLIPS,
    MIN_PARALLEL_CLIPS,
    FeatureCache,
    compute_features_batch,
    default_workers,
    extract_features,
    fingerprint,
    reference,
)
from asd.features import store as store_module

DB_TOLERANCE = 1e-3


def _signal(rng, seconds=10.0, *, tone=440.0, level=0.1):
    t = np.arange(int(seconds * 16000)) / 16000
    return (level * rng.standard_normal(t.size) + 2 * level * np.sin(2 * np.pi * tone * t)).astype(np.float32)


@pytest.fixture
def clips(tmp_path, rng):
    paths = []
    for index in range(3):
        paths.append(str(write_clip(tmp_path / f"normal_id_00_{index:08d}.wav", 0.1 * rng.standard_normal(160000))))
    bad = tmp_path / "normal_id_00_00000099.wav"
    bad.write_bytes(b"")
    return paths, str(bad)


@pytest.fixture
def many_clips(tmp_path, rng):
    """Enough clips for the thread pool, of two lengths, one unreadable in the middle."""
    paths = []
    for index in range(MIN_PARALLEL_CLIPS + CHUNK_CLIPS + 1):
        seconds = 11.0 if index % 3 == 0 else 10.0
        paths.append(
            str(write_clip(tmp_path / f"normal_id_00_{index:08d}.wav", _signal(rng, seconds, tone=200 + 50 * index)))
        )
    bad = tmp_path / "normal_id_00_00000999.wav"
    bad.write_bytes(b"RIFF....WAVEjunk")
    return paths, str(bad)


def test_image_features_stack(clips):
    paths, _ = clips
    extracted = extract_features(paths, kind="image", config=StudyConfig(), progress=False)
    assert extracted.stacked().shape == (3, 64, 64)
    assert extracted.paths == paths and extracted.failed == []


def test_baseline_features(clips):
    paths, _ = clips
    extracted = extract_features(paths[:1], kind="baseline", config=StudyConfig(), progress=False)
    assert extracted.features[0].shape == (128, 313)


def test_bad_clip_raises_or_is_skipped(clips):
    paths, bad = clips
    with pytest.raises(AudioError, match="00000099.wav: empty file"):
        extract_features([*paths, bad], kind="image", config=StudyConfig(), progress=False)
    extracted = extract_features(
        [paths[0], bad, paths[1]], kind="image", config=StudyConfig(), on_error="skip", progress=False
    )
    assert extracted.paths == [paths[0], paths[1]]
    assert extracted.failed == [(bad, "empty file (0 bytes)")]
    with pytest.raises(ValueError, match="on_error"):
        extract_features(paths, kind="image", config=StudyConfig(), on_error="ignore", progress=False)


def test_cache_hits_give_same_features(clips, tmp_path):
    paths, _ = clips
    cache = FeatureCache(tmp_path / "cache")
    config = StudyConfig()
    cold = extract_features(paths, kind="image", config=config, cache=cache, progress=False).stacked()
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 3
    warm = extract_features(paths, kind="image", config=config, cache=cache, progress=False).stacked()
    np.testing.assert_array_equal(cold, warm)


def test_namespace_follows_config():
    config = StudyConfig()
    before = fingerprint("image", config)
    assert before == fingerprint("image", StudyConfig())
    config.image.n_mels = 32
    assert fingerprint("image", config) != before
    assert fingerprint("baseline", config) == fingerprint("baseline", StudyConfig())
    with pytest.raises(ValueError, match="unknown feature kind"):
        fingerprint("mfcc", config)


@pytest.mark.parametrize("mmap", [False, True])
def test_rewritten_clip_with_same_size_and_mtime_is_recomputed(clips, tmp_path, rng, mmap):
    """Issue: a clip rewritten in place, same size, mtime restored, was served from the old entry."""
    paths, _ = clips
    cache = FeatureCache(tmp_path / "cache")
    config = StudyConfig()
    before = extract_features(paths, kind="baseline", config=config, cache=cache, progress=False, mmap=mmap)
    before = [np.array(f) for f in before.features]
    target = paths[1]
    stat = os.stat(target)
    size = stat.st_size
    write_clip(target, 0.3 * rng.standard_normal(160000))  # other samples, same length and format
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(target).st_size == size and os.stat(target).st_mtime_ns == stat.st_mtime_ns
    after = extract_features(paths, kind="baseline", config=config, cache=cache, progress=False, mmap=mmap)
    expected = compute_features_batch([read_clip(target)], kind="baseline", config=config)[0]
    np.testing.assert_array_equal(after.features[1], expected)
    assert not np.array_equal(after.features[1], before[1])
    np.testing.assert_array_equal(after.features[0], before[0])


def test_cache_write_failure_warns_once_and_carries_on(many_clips, tmp_path, monkeypatch, caplog):
    paths, _ = many_clips
    config = StudyConfig()
    expected = extract_features(paths, kind="image", config=config, progress=False, workers=1)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module, "_npy_header", full_disk)
    cache = FeatureCache(tmp_path / "cache")
    with caplog.at_level(logging.WARNING, logger="asd.features"):
        got = extract_features(paths, kind="image", config=config, cache=cache, progress=False, workers=2)
    for a, b in zip(expected.features, got.features):
        np.testing.assert_array_equal(a, b)
    warnings = [r for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(warnings) == 1 and "No space left on device" in warnings[0].getMessage()
    assert str(tmp_path / "cache") in warnings[0].getMessage()
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]  # no partial entries


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("mmap", [False, True])
def test_read_only_cache_folder_does_not_abort(clips, tmp_path, caplog, mmap):
    paths, _ = clips
    root = tmp_path / "cache"
    root.mkdir()
    root.chmod(0o500)
    try:
        with caplog.at_level(logging.WARNING, logger="asd.features"):
            got = extract_features(
                paths, kind="baseline", config=StudyConfig(), cache=FeatureCache(root), progress=False, mmap=mmap
            )
    finally:
        root.chmod(0o700)
    assert got.paths == paths and len(got.features) == 3
    assert sum("cannot write" in r.getMessage() for r in caplog.records) == 1


def test_pack_write_failure_falls_back_to_memory(clips, tmp_path, monkeypatch, caplog):
    from asd.features import packs

    paths, _ = clips

    def full_disk(self, position, features):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(packs.PackWriter, "add", full_disk)
    with caplog.at_level(logging.WARNING, logger="asd.features"):
        got = extract_features(
            paths, kind="image", config=StudyConfig(), cache=FeatureCache(tmp_path / "cache"), progress=False, mmap=True
        )
    assert got.paths == paths and not isinstance(got.features[0], np.memmap)
    assert list((tmp_path / "cache" / "packs").iterdir()) == []  # the temporary pack file is gone
    assert sum("cannot write" in r.getMessage() for r in caplog.records) == 1


def test_interrupted_pack_write_is_cleaned_up_by_the_next_run(clips, tmp_path):
    paths, _ = clips
    packs_folder = tmp_path / "cache" / "packs"
    packs_folder.mkdir(parents=True)
    leftover = packs_folder / ".0123abcd.tmp-otherformat.f32"  # e.g. a run killed while writing
    leftover.write_bytes(b"\0" * 64)
    extract_features(
        paths, kind="image", config=StudyConfig(), cache=FeatureCache(tmp_path / "cache"), progress=False, mmap=True
    )
    assert not leftover.exists()
    assert not list(packs_folder.glob(".*tmp*"))


@pytest.mark.parametrize("kind", ["image", "baseline"])
def test_workers_do_not_change_features_or_order(many_clips, kind):
    paths, _ = many_clips
    config = StudyConfig()
    serial = extract_features(paths, kind=kind, config=config, progress=False, workers=1)
    threaded = extract_features(paths, kind=kind, config=config, progress=False, workers=3)
    assert threaded.paths == serial.paths == paths
    for a, b in zip(serial.features, threaded.features):
        np.testing.assert_array_equal(a, b)
    # and they are the librosa reference within float32 round-off
    oracle = reference.log_mel_image if kind == "image" else reference.baseline_log_mel
    for path, features in zip(paths[:3], serial.features):
        np.testing.assert_allclose(features, oracle(read_clip(path)), atol=DB_TOLERANCE, rtol=0)
        np.testing.assert_array_equal(features, compute_features_batch([read_clip(path)], kind=kind, config=config)[0])


def test_threaded_errors_follow_input_order(many_clips, tmp_path):
    paths, bad = many_clips
    missing = str(tmp_path / "normal_id_00_00000998.wav")
    folder = tmp_path / "normal_id_00_00000997.wav"
    folder.mkdir()
    mixed = [*paths[:5], bad, *paths[5:], str(folder), missing]
    with pytest.raises(AudioError, match="00000999.wav"):  # the first bad one in input order
        extract_features(mixed, kind="image", config=StudyConfig(), progress=False, workers=2)
    cache = FeatureCache(tmp_path / "cache")
    skipped = extract_features(
        mixed, kind="image", config=StudyConfig(), cache=cache, progress=False, workers=2, on_error="skip"
    )
    assert skipped.paths == paths
    assert [path for path, _ in skipped.failed] == [bad, str(folder), missing]


def test_threaded_cache_round_trip(many_clips, tmp_path):
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


@pytest.mark.parametrize("mmap", [False, True])
def test_unwritable_cache_root_does_not_abort(clips, tmp_path, caplog, mmap):
    paths, _ = clips
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache = FeatureCache(blocker / "cache")  # cannot be created, even by root
    with caplog.at_level(logging.WARNING, logger="asd.features"):
        got = extract_features(paths, kind="image", config=StudyConfig(), cache=cache, progress=False, mmap=mmap)
    assert got.paths == paths and len(got.features) == 3
    warnings = [r.getMessage() for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(warnings) == 1 and str(blocker / "cache") in warnings[0]


@pytest.mark.parametrize("mmap", [False, True])
def test_each_clip_is_opened_once_and_keyed_by_its_content(clips, tmp_path, monkeypatch, mmap):
    """Issue 24: one open per clip (key, duration and samples from the same bytes), cold and warm."""
    import builtins

    from asd.features import content_key

    paths, _ = clips
    opened = []
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    cache = FeatureCache(tmp_path / "cache")
    for _ in ("cold", "warm"):
        opened.clear()
        got = extract_features(
            paths, kind="image", config=StudyConfig(), cache=cache, progress=False, mmap=mmap, min_seconds=1.0
        )
        assert got.paths == paths
        assert [opened.count(p) for p in paths] == [1] * len(paths)
    monkeypatch.setattr(builtins, "open", real_open)
    assert got.keys == {p: content_key(p) for p in paths}


def test_short_clips_fail_with_the_minimum_named(clips, tmp_path):
    paths, _ = clips
    short = str(tmp_path / "short.wav")
    write_clip(short, np.zeros(8000, dtype=np.float32))  # 0.5 s
    got = extract_features(
        [*paths, short], kind="image", config=StudyConfig(), on_error="skip", progress=False, min_seconds=1.0
    )
    assert got.paths == paths
    assert got.failed == [(short, "0.5 s long, shorter than the 1 s minimum (audio.min_seconds)")]
    assert short in got.keys  # read, so keyed


@pytest.mark.parametrize("mmap", [False, True])
def test_other_kinds_come_from_the_same_read(clips, tmp_path, mmap):
    paths, _ = clips
    config = StudyConfig()
    cache = FeatureCache(tmp_path / "cache")
    both = extract_features(
        paths, kind="image", config=config, cache=cache, progress=False, mmap=mmap, also=["baseline"]
    )
    image = extract_features(paths, kind="image", config=config, progress=False)
    baseline = extract_features(paths, kind="baseline", config=config, progress=False)
    assert both.paths == paths and list(both.also) == ["baseline"]
    for a, b in zip(both.features, image.features):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(both.also["baseline"], baseline.features):
        np.testing.assert_array_equal(a, b)
    stored = extract_features(paths, kind="baseline", config=config, cache=cache, progress=False)  # stored above
    for a, b in zip(stored.features, baseline.features):
        np.testing.assert_array_equal(a, b)
