from pathlib import Path

import numpy as np
import pytest

from asd.audio import write_clip
from asd.data import COLUMNS, detect_layout, discover_clips, mimii_split, summarize_clips
from asd.errors import LayoutError


def _touch_wav(path: Path):
    write_clip(path, np.zeros(160))


@pytest.fixture
def dcase_root(tmp_path):
    root = tmp_path / "dev"
    for machine_type, ids in {"fan": ["00", "02"], "ToyCar": ["01"]}.items():
        for machine_id in ids:
            for index in range(3):
                _touch_wav(root / machine_type / "train" / f"normal_id_{machine_id}_{index:08d}.wav")
            _touch_wav(root / machine_type / "test" / f"normal_id_{machine_id}_00000000.wav")
            _touch_wav(root / machine_type / "test" / f"anomaly_id_{machine_id}_00000000.wav")
    return root


def test_dcase_layout(dcase_root):
    assert detect_layout(dcase_root) == "dcase"
    table = discover_clips(dcase_root)
    assert list(table.columns) == COLUMNS
    assert len(table) == 3 * (3 + 2)
    assert set(table.machine_type) == {"fan", "ToyCar"}
    fan_test = table[(table.machine_type == "fan") & (table.split == "test")]
    assert sorted(fan_test.label) == ["anomaly", "anomaly", "normal", "normal"]
    assert sorted(set(table.machine_id)) == ["00", "01", "02"]
    assert table.attrs["ignored"] == []


def test_only_requested_types(dcase_root):
    assert set(discover_clips(dcase_root, machine_types=["fan"]).machine_type) == {"fan"}


def test_unknown_machine_type_is_named(dcase_root):
    with pytest.raises(LayoutError, match="pump"):
        discover_clips(dcase_root, machine_types=["pump"])


def test_wrong_file_names_are_ignored_and_listed(dcase_root, caplog):
    _touch_wav(dcase_root / "fan" / "train" / "my_recording.wav")
    _touch_wav(dcase_root / "fan" / "train" / "anomaly_id_00_00000009.wav")  # anomalies never train
    (dcase_root / "fan" / "train" / ".normal_id_00_00000005.tmp-x.wav").write_bytes(b"")  # temp files are hidden
    with caplog.at_level("WARNING"):
        table = discover_clips(dcase_root)
    assert len(table) == 15
    assert sorted(Path(p).name for p in table.attrs["ignored"]) == ["anomaly_id_00_00000009.wav", "my_recording.wav"]
    assert "my_recording.wav" in caplog.text


def test_missing_train_folder(dcase_root):
    import shutil

    shutil.rmtree(dcase_root / "fan" / "train")
    with pytest.raises(LayoutError, match=r"fan[/\\]train: missing"):
        discover_clips(dcase_root)
    assert len(discover_clips(dcase_root, require_train=False)) > 0


def test_empty_machine_folder(tmp_path):
    (tmp_path / "fan" / "train").mkdir(parents=True)
    with pytest.raises(LayoutError, match="no clips found"):
        discover_clips(tmp_path)


def test_not_a_dataset(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(LayoutError, match="no clips found in a layout asd reads: DCASE 2020"):
        discover_clips(tmp_path)
    with pytest.raises(LayoutError, match="not found"):
        discover_clips(tmp_path / "missing")


def test_evaluation_set_unlabeled_clips(tmp_path):
    _touch_wav(tmp_path / "fan" / "train" / "normal_id_01_00000000.wav")
    _touch_wav(tmp_path / "fan" / "test" / "id_01_00000000.wav")
    table = discover_clips(tmp_path)
    test = table[table.split == "test"]
    assert test.label.tolist() == ["unknown"] and test.machine_id.tolist() == ["01"]


def test_mimii_split_rule():
    normal = [Path(f"{i:08d}.wav") for i in range(10)]
    anomaly = [Path(f"{i:08d}.wav") for i in range(3)]
    train, test = mimii_split(normal, anomaly)
    assert train == normal[:7]
    assert [p for p, label in test if label == "normal"] == normal[7:]
    # at most half of the normal clips go to test
    train, test = mimii_split(normal, anomaly * 5)
    assert len(train) == 5 and sum(label == "normal" for _, label in test) == 5


def test_shared_mimii_layout(mimii_root):
    assert detect_layout(mimii_root) == "mimii"
    table = discover_clips(mimii_root)
    assert set(table.machine_type) == {"fan"} and set(table.machine_id) == {"00"}
    counts = table.groupby(["split", "label"]).size().to_dict()
    assert counts == {("test", "anomaly"): 20, ("test", "normal"): 10, ("train", "normal"): 10}
    # deterministic: the same table twice
    assert discover_clips(mimii_root).path.tolist() == table.path.tolist()


def test_tiny_synthetic_layout(tiny_root):
    table = discover_clips(tiny_root)
    assert set(table.machine_type) == {"ToyCar", "ToyConveyor", "fan", "pump", "slider", "valve"}
    summary = summarize_clips(table)
    assert ("train", "normal") in summary.columns and ("test", "anomaly") in summary.columns
    assert len(summary) == 4 + 3 + 4 * 4
