"""asd.features.packs: one memory-mapped file per list of clips; temporaries of dead writers go."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from asd.features import PackWriter, load_pack
from asd.features.packs import STALE_AFTER_S, _tmp_tag, remove_stale_temporaries


def test_pack_round_trip_and_failures(tmp_path, rng):
    arrays = [rng.normal(size=(4, n)).astype(np.float32) for n in (3, 5)]
    writer = PackWriter(tmp_path, "k1")
    writer.add(0, arrays[0])
    writer.add_failure(1, "empty file (0 bytes)")
    writer.add(2, arrays[1])
    pack = writer.finish(["a", "b", "c"])
    assert pack.paths == ["a", "c"] and pack.failed == [("b", "empty file (0 bytes)")]
    for a, b in zip(arrays, pack.features):
        assert isinstance(b, np.memmap) and not b.flags.writeable
        np.testing.assert_array_equal(a, b)
    assert load_pack(tmp_path, "k1", ["a", "b"]) is None  # does not cover the clips asked for
    assert load_pack(tmp_path, "missing", ["a"]) is None


def test_abandoned_pack_leaves_nothing(tmp_path):
    writer = PackWriter(tmp_path, "k2")
    writer.add(0, np.zeros(3, np.float32))
    writer.abandon()
    assert list((tmp_path / "packs").iterdir()) == []


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    folder = tmp_path / "packs"
    folder.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    host_tag = _tmp_tag().rsplit("-", 2)[0]  # ".tmp-<host>"
    ours_dead = folder / f".k{host_tag}-{dead}-abc123.f32"
    ours_live = folder / f".k{_tmp_tag()}live12.f32"
    other_fresh = folder / ".k.tmp-otherhost-1-xyz.f32"
    other_old = folder / ".k.tmp-otherhost-2-xyz.f32"
    old_format = folder / ".k.tmp-q1w2e3r4.f32"
    for path in (ours_dead, ours_live, other_fresh, other_old, old_format):
        path.write_bytes(b"\0")
    past = time.time() - STALE_AFTER_S - 60
    os.utime(other_old, (past, past))
    removed = remove_stale_temporaries(folder)
    assert sorted(removed) == sorted([ours_dead, other_old, old_format])
    assert ours_live.exists() and other_fresh.exists()


def test_sink_reuses_a_matching_pack_and_rewrites_from_the_first_change(tmp_path):
    from asd.features.packs import PackSink

    a, b, c = (np.full((2, 3), v, dtype=np.float32) for v in (1.0, 2.0, 3.0))
    first = PackSink(None, lambda: PackWriter(tmp_path, "k"))
    for position, (entry, key) in enumerate([(a, "ka"), ("broken", "kb"), (c, "kc")]):
        first.add(position, entry, key, reused=False)
    found = first.finish(["a", "b", "c"])
    assert found.clip_keys == ["ka", "kb", "kc"] and found.failed == [("b", "broken")]

    same = PackSink(load_pack(tmp_path, "k", ["a", "b", "c"]), lambda: pytest.fail("nothing to write"))
    assert same.matches(0, "ka") and not same.matches(2, "other")
    for position, key in enumerate(["ka", "kb", "kc"]):
        same.add(position, same.found.entries[position], key, reused=True)
    assert same.finish(["a", "b", "c"]) is same.found

    changed = PackSink(load_pack(tmp_path, "k", ["a", "b", "c"]), lambda: PackWriter(tmp_path, "k"))
    changed.add(0, changed.found.entries[0], "ka", reused=True)
    changed.add(1, changed.found.entries[1], "kb", reused=True)
    changed.add(2, b, "new", reused=False)  # the third clip changed: a new pack, the first two copied in
    pack = changed.finish(["a", "b", "c"])
    assert pack.clip_keys == ["ka", "kb", "new"] and pack.failed == [("b", "broken")]
    np.testing.assert_array_equal(pack.features[0], a)
    np.testing.assert_array_equal(pack.features[1], b)
