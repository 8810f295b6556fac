"""Streamed frame vectors and patches (asd.detectors.streaming) and the detectors trained on them."""

import math
import tracemalloc

import numpy as np
import pytest

from asd.detectors.streaming import FrameVectorBatches, frame_vector_batches, vector_counts
from asd.features import frame_vectors


@pytest.fixture
def log_mels(rng):
    """Clips of different lengths, as a machine type with a few odd clips."""
    return [rng.normal(-40, 10, (16, n)).astype(np.float32) for n in (12, 9, 5, 20)]


def _all_vectors(log_mels, frames=5):
    return np.concatenate([frame_vectors(m, frames=frames) for m in log_mels])


def test_vectors_are_frame_vectors(log_mels):
    total = int(vector_counts(log_mels, frames=5).sum())
    assert total == 8 + 5 + 1 + 16
    batches = FrameVectorBatches(log_mels, positions=np.arange(total), frames=5, batch_size=7)
    assert len(batches) == math.ceil(total / 7)
    streamed = np.concatenate([batches[i][0] for i in range(len(batches))])
    np.testing.assert_array_equal(streamed, _all_vectors(log_mels))
    x, y = batches[0]
    assert x.dtype == np.float32 and x.shape == (7, 80) and y is x


def test_split_covers_every_vector_once(log_mels):
    train, validation = frame_vector_batches(log_mels, frames=5, batch_size=4, validation_split=0.1, seed=3)
    total = 30
    assert len(validation.positions) == total - math.ceil(total * 0.9) == 3
    assert sorted([*train.positions, *validation.positions]) == list(range(total))
    every = _all_vectors(log_mels)
    seen = np.concatenate([train[i][0] for i in range(len(train))])
    np.testing.assert_array_equal(seen, every[train.order])


def test_epoch_order_is_seeded_and_changes(log_mels):
    first, _ = frame_vector_batches(log_mels, frames=5, batch_size=4, validation_split=0.1, seed=3)
    again, _ = frame_vector_batches(log_mels, frames=5, batch_size=4, validation_split=0.1, seed=3)
    other, _ = frame_vector_batches(log_mels, frames=5, batch_size=4, validation_split=0.1, seed=4)
    np.testing.assert_array_equal(first.order, again.order)
    assert not np.array_equal(first.order, other.order)
    epoch0 = first.order.copy()
    np.testing.assert_array_equal(first[1][0], first[1][0])  # a pure function of (index, epoch)
    first.on_epoch_end()
    again.on_epoch_end()
    assert not np.array_equal(first.order, epoch0)
    assert sorted(first.order) == sorted(epoch0)
    np.testing.assert_array_equal(first.order, again.order)


def test_no_validation_when_split_is_zero_or_too_small(log_mels):
    assert frame_vector_batches(log_mels, frames=5, batch_size=4, validation_split=0.0, seed=0)[1] is None
    assert frame_vector_batches(log_mels[2:3], frames=5, batch_size=4, validation_split=0.1, seed=0)[1] is None


def test_bad_inputs(log_mels, rng):
    with pytest.raises(ValueError, match="at least 5 frames"):
        vector_counts([np.zeros((16, 4), np.float32)], frames=5)
    with pytest.raises(ValueError, match="bands"):
        FrameVectorBatches([*log_mels, np.zeros((8, 10), np.float32)], positions=np.arange(3), frames=5, batch_size=2)
    with pytest.raises(ValueError, match="positions"):
        FrameVectorBatches(log_mels, positions=np.array([30]), frames=5, batch_size=2)
    batches = FrameVectorBatches(log_mels, positions=np.arange(10), frames=5, batch_size=4)
    with pytest.raises(IndexError):
        batches[3]


def test_dense_ae_training_is_deterministic_and_streamed(rng, quick_config, monkeypatch):
    from asd.detectors import DenseAEDetector

    # more clips than a shuffle window: what is held at a time is a few windows, never every vector
    monkeypatch.setattr("asd.detectors.streaming.SHUFFLE_WINDOW_CLIPS", 16)

    quick_config.training.epochs["dense_ae"] = 1
    quick_config.training.dense_batch_size = 2048  # few steps: this test is about memory and order
    clips = [rng.normal(-40, 10, (128, 313)).astype(np.float32) for _ in range(150)]
    all_vectors_bytes = 150 * 309 * 640 * 4  # what stacking every vector would take (119 MB)
    tracemalloc.start()
    try:
        first = DenseAEDetector(quick_config)
        history = first.fit(clips, ["00"] * len(clips), progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert list(history.columns) == ["epoch", "loss", "val_loss"]
    # tracemalloc sees NumPy and Python allocations (about 15 MB of them are Keras tracing the model)
    # what is held: two assembled windows of 16 clips per dataset and a few prefetched batches
    assert peak < all_vectors_bytes / 3, f"fit allocated {peak / 1e6:.1f} MB of Python/NumPy memory"
    second = DenseAEDetector(quick_config)
    again = second.fit(clips, ["00"] * len(clips), progress=False)
    np.testing.assert_array_equal(history.to_numpy(), again.to_numpy())
    np.testing.assert_array_equal(first.score(clips[:3]), second.score(clips[:3]))


# -- window shuffle and memory-mapped log-mels ----------------------------------------------


def test_window_shuffle_mixes_few_clips_at_a_time(rng):
    log_mels = [rng.normal(size=(8, 14)).astype(np.float32) for _ in range(6)]  # 10 vectors each
    batches = FrameVectorBatches(
        log_mels, positions=np.arange(60), frames=5, batch_size=8, shuffle_seed=1, window_clips=2
    )
    assert sorted(batches.order) == list(range(60))
    clips = np.asarray(batches.order) // 10
    for window in range(3):  # each run of 20 positions comes from 2 clips
        assert len(set(clips[20 * window : 20 * (window + 1)])) == 2
    full = FrameVectorBatches(log_mels, positions=np.arange(60), frames=5, batch_size=8, shuffle_seed=1, window_clips=6)
    assert len(set((np.asarray(full.order) // 10)[:20])) > 2


def _pack(tmp_path, arrays):
    from asd.features import PackWriter

    writer = PackWriter(tmp_path, "test")
    for position, array in enumerate(arrays):
        writer.add(position, array)
    return writer.finish([f"clip{i}" for i in range(len(arrays))])


def test_mapped_log_mels_stream_the_same_vectors(tmp_path, rng):
    from asd.features import release_pages

    log_mels = [rng.normal(size=(16, int(n))).astype(np.float32) for n in rng.integers(6, 30, 12)]
    pack = _pack(tmp_path, log_mels)
    assert all(isinstance(f, np.memmap) and not f.flags.writeable for f in pack.features)
    in_memory, _ = frame_vector_batches(log_mels, frames=5, batch_size=16, validation_split=0.1, seed=2)
    mapped, _ = frame_vector_batches(pack.features, frames=5, batch_size=16, validation_split=0.1, seed=2)
    mapped.window_clips = 3
    in_memory.window_clips = 3
    for _epoch in range(2):
        for index in range(len(mapped)):
            np.testing.assert_array_equal(mapped[index][0], in_memory[index][0])
            assert len(mapped._windows) <= 2  # only the latest windows of clips are held
        mapped.on_epoch_end()
        in_memory.on_epoch_end()
    mapped.release()
    release_pages([np.zeros(3)])  # not mapped: nothing to do
    for original, view in zip(log_mels, pack.features):  # released pages read back unchanged
        np.testing.assert_array_equal(view, original)


@pytest.fixture
def wav_clips(tmp_path, rng):
    from asd.audio import write_clip

    paths = [
        str(write_clip(tmp_path / "wav" / f"normal_id_00_{i:08d}.wav", 0.1 * rng.standard_normal(16000 + 1000 * i)))
        for i in range(10)
    ]
    bad = tmp_path / "wav" / "normal_id_00_00000099.wav"
    bad.write_bytes(b"")
    return paths, str(bad)


def test_extract_features_mmap_pack_is_reused(wav_clips, tmp_path):
    from asd.config import StudyConfig
    from asd.errors import AudioError
    from asd.features import FeatureCache, extract_features

    paths, bad = wav_clips
    mixed = [*paths[:4], bad, *paths[4:]]
    config = StudyConfig()
    cache = FeatureCache(tmp_path / "cache")
    plain = extract_features(paths, kind="baseline", config=config, progress=False)
    mapped = extract_features(
        mixed, kind="baseline", config=config, cache=cache, progress=False, on_error="skip", mmap=True
    )
    assert mapped.paths == paths and mapped.failed == [(bad, "empty file (0 bytes)")]
    for a, b in zip(plain.features, mapped.features):
        assert isinstance(b, np.memmap)
        np.testing.assert_array_equal(a, b)
    packs = sorted((tmp_path / "cache" / "packs").iterdir())
    assert [p.suffix for p in packs] == [".f32", ".json"]
    for entry in (tmp_path / "cache").rglob("*.npy"):  # the pack alone serves a second call
        entry.unlink()
    again = extract_features(
        mixed, kind="baseline", config=config, cache=cache, progress=False, on_error="skip", mmap=True
    )
    assert again.paths == paths and again.failed == mapped.failed
    assert not list((tmp_path / "cache").rglob("*.npy"))
    with pytest.raises(AudioError, match="00000099.wav: empty file"):
        extract_features(mixed, kind="baseline", config=config, cache=cache, progress=False, mmap=True)
    # a changed clip makes a new pack
    from asd.audio import write_clip

    write_clip(paths[0], np.zeros(8000))
    changed = extract_features(paths, kind="baseline", config=config, cache=cache, progress=False, mmap=True)
    assert changed.features[0].shape == (128, 16)
    # without a cache, mmap has nothing to map: plain arrays
    uncached = extract_features(paths[:2], kind="baseline", config=config, progress=False, mmap=True)
    assert not isinstance(uncached.features[0], np.memmap)


def test_dense_ae_same_training_from_mapped_features(tmp_path, rng, quick_config):
    from asd.detectors import DenseAEDetector

    quick_config.training.epochs["dense_ae"] = 1
    log_mels = [rng.normal(-40, 10, (128, 40)).astype(np.float32) for _ in range(8)]
    pack = _pack(tmp_path, log_mels)
    in_memory = DenseAEDetector(quick_config)
    mapped = DenseAEDetector(quick_config)
    np.testing.assert_array_equal(
        in_memory.fit(log_mels, ["00"] * 8, progress=False).to_numpy(),
        mapped.fit(pack.features, ["00"] * 8, progress=False).to_numpy(),
    )
    np.testing.assert_array_equal(in_memory.score(log_mels), mapped.score(pack.features))
