"""The synthetic dataset writer (asd.synth.dataset): layout, file format, determinism, manifest, versioning."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from asd import synth
from asd.config import DEV_MACHINE_IDS
from asd.errors import ConfigError, LayoutError
from asd.synth import dataset as synth_dataset

FILE_NAME = re.compile(r"^(?P<label>normal|anomaly)_id_(?P<id>\d{2})_(?P<index>\d{8})\.wav$")
#: Two types keep the dataset tests fast and still cover the 11 s ToyCar clips.
TYPES = ["ToyCar", "ToyConveyor"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny dataset of two machine types, written once by a single worker."""
    root = tmp_path_factory.mktemp("synth") / "data"
    table = synth.generate_dataset(root, size="tiny", seed=0, machine_types=TYPES, progress=False, workers=1)
    return root, table


def test_layout_names_and_counts(tiny):
    root, table = tiny
    assert list(table.columns) == synth.TABLE_COLUMNS
    spec = synth.SIZES["tiny"]
    assert len(table) == sum(len(DEV_MACHINE_IDS[t]) for t in TYPES) * spec.per_id
    assert table.path.is_monotonic_increasing
    for row in table.itertuples():
        path = Path(row.path)
        assert path.parent == root / row.machine_type / row.split and path.is_file()
        match = FILE_NAME.match(path.name)
        assert match is not None, path.name
        assert match["label"] == row.label and match["id"] == row.machine_id
        assert (row.fault == "") == (row.label == "normal")
        if row.label == "anomaly":
            assert row.fault in synth.FAULTS[row.machine_type] and 0.0 <= row.severity <= 1.0
        else:
            assert row.severity == 0.0
    assert not ((table.split == "train") & (table.label == "anomaly")).any()
    counts = table.groupby(["machine_type", "machine_id", "split", "label"]).size()
    for machine_type in TYPES:
        for machine_id in DEV_MACHINE_IDS[machine_type]:
            assert counts[(machine_type, machine_id, "train", "normal")] == spec.train_normal
            assert counts[(machine_type, machine_id, "test", "normal")] == spec.test_normal
            assert counts[(machine_type, machine_id, "test", "anomaly")] == spec.test_anomaly
    # running 8-digit index per (type, id, split, label), starting at 0
    index = table.path.map(lambda p: int(FILE_NAME.match(Path(p).name)["index"]))
    for _, group in index.groupby([table.machine_type, table.machine_id, table.split, table.label]):
        assert sorted(group) == list(range(len(group)))
    # nothing else in the type folders (no temporary files left behind)
    on_disk = sorted(str(p) for t in TYPES for p in (root / t).rglob("*") if p.is_file())
    assert on_disk == sorted(table.path)


def test_wav_format(tiny):
    root, table = tiny
    for row in table.itertuples():
        info = sf.info(row.path)
        assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
        assert info.frames == int(synth.CLIP_SECONDS[row.machine_type] * 16000)
        pcm, _ = sf.read(row.path, dtype="int16")
        assert pcm.ndim == 1
        peak = int(np.abs(pcm.astype(np.int32)).max())
        assert 0 < peak < 32000  # not silent, never clipped


def test_manifest(tiny):
    root, table = tiny
    manifest = synth.read_manifest(root)
    assert manifest is not None
    assert manifest["generator"] == "asd.synth" and manifest["version"] == synth.GENERATOR_VERSION
    assert manifest["size"] == "tiny" and manifest["seed"] == 0 and manifest["machine_types"] == TYPES
    assert manifest["n_clips"] == len(table) == len(manifest["clips"])
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["fingerprint"])
    assert table.attrs["fingerprint"] == manifest["fingerprint"]
    assert not (root / synth_dataset._INCOMPLETE_NAME).exists()


def test_clip_rng_reproduces_a_file(tiny):
    root, table = tiny
    row = table[(table.label == "anomaly") & (table.machine_type == "ToyConveyor")].iloc[0]
    index = int(FILE_NAME.match(Path(row.path).name)["index"])
    rng = synth.clip_rng(0, "ToyConveyor", row.machine_id, "test", "anomaly", index)
    x = synth.generate_clip("ToyConveyor", row.machine_id, anomaly=row.fault, rng=rng)
    on_disk, _ = sf.read(row.path, dtype="float64")
    assert np.abs(on_disk - x * 32767 / 32768).max() < 2.0 / 32768


def test_same_seed_same_bytes_any_worker_count(tiny, tmp_path):
    root, table = tiny
    again = synth.generate_dataset(
        tmp_path / "b", size="tiny", seed=0, machine_types=["ToyConveyor"], progress=False, workers=2
    )
    mine = table[table.machine_type == "ToyConveyor"]
    assert len(again) == len(mine)
    for a, b in zip(mine.path, again.path):
        assert open(a, "rb").read() == open(b, "rb").read()
    pd.testing.assert_frame_equal(
        mine.drop(columns="path").reset_index(drop=True), again.drop(columns="path").reset_index(drop=True)
    )


def test_different_seed_different_files(tiny, tmp_path):
    root, table = tiny
    other = synth.generate_dataset(
        tmp_path / "c", size="tiny", seed=1, machine_types=["ToyConveyor"], progress=False, workers=1
    )
    mine = table[table.machine_type == "ToyConveyor"]
    assert [Path(p).name for p in mine.path] == [Path(p).name for p in other.path]
    assert all(open(a, "rb").read() != open(b, "rb").read() for a, b in zip(mine.path, other.path))
    assert other.attrs["fingerprint"] != table.attrs["fingerprint"]


def test_complete_dataset_is_not_regenerated(tiny, monkeypatch):
    root, table = tiny
    mtimes = {p: (root / p).stat().st_mtime_ns for p in table.path}

    def fail(*args, **kwargs):
        raise AssertionError("regenerated a complete dataset")

    monkeypatch.setattr(synth_dataset, "_run_jobs", fail)
    again = synth.generate_dataset(root, size="tiny", seed=0, machine_types=TYPES, progress=False)
    pd.testing.assert_frame_equal(again, table)
    subset = synth.generate_dataset(root, size="tiny", seed=0, machine_types=["ToyConveyor"], progress=False)
    assert set(subset.machine_type) == {"ToyConveyor"} and len(subset) == (table.machine_type == "ToyConveyor").sum()
    assert {p: (root / p).stat().st_mtime_ns for p in table.path} == mtimes


def test_regenerates_after_an_interruption_or_a_change(tmp_path, monkeypatch):
    root = tmp_path / "d"
    reference = synth.generate_dataset(
        tmp_path / "ref", size="tiny", seed=0, machine_types=["ToyConveyor"], progress=False, workers=1
    )
    # an interrupted run leaves some clips, no manifest, and the unfinished-run marker
    make_clip, calls = synth_dataset._make_clip, []

    def crash_after_five(job, out_dir):
        calls.append(job)
        if len(calls) > 5:
            raise KeyboardInterrupt
        return make_clip(job, out_dir)

    monkeypatch.setattr(synth_dataset, "_make_clip", crash_after_five)
    with pytest.raises(KeyboardInterrupt):
        synth.generate_dataset(root, size="tiny", seed=0, machine_types=["ToyConveyor"], progress=False, workers=1)
    monkeypatch.undo()
    assert synth.read_manifest(root) is None and (root / synth_dataset._INCOMPLETE_NAME).exists()
    assert len(list(root.rglob("*.wav"))) == 5
    # the next call makes everything again, identical to an uninterrupted run
    second = synth.generate_dataset(root, size="tiny", seed=0, machine_types=["ToyConveyor"], progress=False, workers=1)
    assert second.attrs["fingerprint"] == reference.attrs["fingerprint"]
    assert not (root / synth_dataset._INCOMPLETE_NAME).exists()
    # another machine type in the same folder: the old files go, so the folder matches the manifest
    third = synth.generate_dataset(root, size="tiny", seed=0, machine_types=["valve"], progress=False, workers=1)
    assert not list((root / "ToyConveyor").rglob("*.wav"))
    assert sorted(str(p) for p in root.rglob("*.wav")) == sorted(third.path)
    assert json.loads((root / synth.MANIFEST_NAME).read_text())["machine_types"] == ["valve"]


def test_the_data_version_not_the_source_decides_regeneration(tmp_path, monkeypatch):
    """Only GENERATOR_VERSION in the manifest decides: the manifest holds no digest of the source
    (a comment or refactor keeps the data), and another version regenerates."""
    root = tmp_path / "v"
    first = synth.generate_dataset(root, size="tiny", seed=0, machine_types=["valve"], progress=False, workers=1)
    manifest = synth.read_manifest(root)
    assert manifest["version"] == synth.GENERATOR_VERSION and "code" not in manifest
    calls = []
    run_jobs = synth_dataset._run_jobs
    monkeypatch.setattr(synth_dataset, "_run_jobs", lambda *a, **k: calls.append(1) or run_jobs(*a, **k))
    synth.generate_dataset(root, size="tiny", seed=0, machine_types=["valve"], progress=False, workers=1)
    assert calls == []
    monkeypatch.setattr(synth_dataset, "GENERATOR_VERSION", "0.0.0-other")
    again = synth.generate_dataset(root, size="tiny", seed=0, machine_types=["valve"], progress=False, workers=1)
    assert calls == [1] and synth.read_manifest(root)["version"] == "0.0.0-other"
    assert again.attrs["fingerprint"] == first.attrs["fingerprint"]  # same samples, rewritten


def test_refuses_a_folder_with_foreign_clips(tmp_path):
    root = tmp_path / "real"
    (root / "fan" / "train").mkdir(parents=True)
    sf.write(root / "fan" / "train" / "normal_id_00_00000000.wav", np.zeros(160, dtype=np.int16), 16000)
    with pytest.raises(LayoutError, match="did not write"):
        synth.generate_dataset(root, size="tiny", seed=0, machine_types=["fan"], progress=False, workers=1)
    assert (root / "fan" / "train" / "normal_id_00_00000000.wav").is_file()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": "huge"}, "unknown dataset size"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"machine_types": ["drill"]}, "unknown machine type"),
        ({"machine_types": []}, "unknown machine type"),
    ],
)
def test_generate_dataset_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        synth.generate_dataset(tmp_path / "x", progress=False, **{"size": "tiny", **kwargs})
    assert not (tmp_path / "x").exists()
