import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asd.audio import write_clip
from asd.data import (
    COLUMNS,
    GroundTruthError,
    apply_ground_truth,
    detect_layout,
    discover_clips,
    find_ground_truth,
    is_machine_folder,
    load_ground_truth,
    mimii_split,
    one_class_tests,
    summarize_clips,
)
from asd.errors import ConfigError, LayoutError


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


# -- your own recordings: any layout ----------------------------------------------------------


def _clips(table: pd.DataFrame, root: Path) -> list[tuple]:
    """(relative path, machine type, ID, split, label) per row, for compact assertions."""
    return [
        (Path(p).relative_to(root).as_posix(), t, i, s, lab)
        for p, t, i, s, lab in table[["path", "machine_type", "machine_id", "split", "label"]].itertuples(index=False)
    ]


def test_flat_folder_of_any_names_is_one_machine(tmp_path):
    root = tmp_path / "compressor"
    for name in ("rec_001.wav", "2024-05-01 morning.WAV", "b.wav"):
        _touch_wav(root / name)
    (root / "notes.txt").write_text("not a clip")
    assert is_machine_folder(root) and detect_layout(root) == "folders"
    table = discover_clips(root)
    assert list(table.columns) == COLUMNS
    assert _clips(table, root) == [
        ("2024-05-01 morning.WAV", "compressor", "00", "train", "normal"),
        ("b.wav", "compressor", "00", "train", "normal"),
        ("rec_001.wav", "compressor", "00", "train", "normal"),
    ]
    assert table.attrs["layout"] == "folders" and table.attrs["skipped"] == []
    named = discover_clips(root, machine_type="press_7", machine_id=3)
    assert set(named.machine_type) == {"press_7"} and set(named.machine_id) == {"03"}
    assert set(discover_clips(root, machine_id="id_12").machine_id) == {"12"}


def test_one_folder_per_machine_in_every_form(tmp_path):
    root = tmp_path / "plant"
    _touch_wav(root / "compressor" / "rec_001.wav")
    _touch_wav(root / "compressor" / "rec_002.wav")
    _touch_wav(root / "pump" / "train" / "a.wav")
    _touch_wav(root / "pump" / "test" / "b.wav")
    _touch_wav(root / "pump" / "test" / "normal" / "c.wav")
    _touch_wav(root / "pump" / "test" / "abnormal" / "d.wav")
    _touch_wav(root / "press" / "id_03" / "x.wav")
    _touch_wav(root / "press" / "ID_4" / "monday" / "y.wav")  # other folder names do not matter
    (root / "docs").mkdir()  # no WAV: not a machine folder
    assert not is_machine_folder(root) and detect_layout(root) == "folders"
    table = discover_clips(root)
    assert _clips(table, root) == [
        ("compressor/rec_001.wav", "compressor", "00", "train", "normal"),
        ("compressor/rec_002.wav", "compressor", "00", "train", "normal"),
        ("press/ID_4/monday/y.wav", "press", "04", "train", "normal"),
        ("press/id_03/x.wav", "press", "03", "train", "normal"),
        ("pump/test/abnormal/d.wav", "pump", "00", "test", "anomaly"),
        ("pump/test/b.wav", "pump", "00", "test", "unknown"),
        ("pump/test/normal/c.wav", "pump", "00", "test", "normal"),
        ("pump/train/a.wav", "pump", "00", "train", "normal"),
    ]
    assert table.attrs["layouts"] == {"compressor": "folders", "press": "folders", "pump": "folders"}
    # machine_type= in a folder of machine folders reads that folder only
    assert set(discover_clips(root, machine_type="pump").machine_type) == {"pump"}
    with pytest.raises(LayoutError, match="no folder for machine type.*gearbox"):
        discover_clips(root, machine_type="gearbox")


def test_one_machine_folder_with_splits_and_ids(tmp_path):
    root = tmp_path / "compressor"
    _touch_wav(root / "train" / "rec_001.wav")
    _touch_wav(root / "train" / "anomaly" / "bad.wav")  # anomalies never train: skipped
    _touch_wav(root / "test" / "rec_900.wav")
    table = discover_clips(root)
    assert _clips(table, root) == [
        ("test/rec_900.wav", "compressor", "00", "test", "unknown"),
        ("train/rec_001.wav", "compressor", "00", "train", "normal"),
    ]
    assert [(Path(i["path"]).name, i["problem"]) for i in table.attrs["skipped"]] == [
        ("bad.wav", "an anomalous clip in train/ (training uses normal clips only)")
    ]
    with pytest.raises(LayoutError, match="no folder for machine type.*fan"):
        discover_clips(root, machine_types=["fan"])


def test_normal_and_anomaly_folders_without_split_are_split_like_mimii(tmp_path):
    root = tmp_path / "valve"
    for i in range(6):
        _touch_wav(root / "normal" / f"n{i}.wav")
    for i in range(2):
        _touch_wav(root / "anomaly" / f"a{i}.wav")
    table = discover_clips(root)
    counts = table.groupby(["split", "label"]).size().to_dict()
    assert counts == {("test", "anomaly"): 2, ("test", "normal"): 2, ("train", "normal"): 4}
    assert sorted(table[(table.split == "test") & (table.label == "normal")].file_name) == ["n4.wav", "n5.wav"]


def test_mimii_style_folders_with_other_file_names(tmp_path):
    root = tmp_path / "mine"
    for i in range(4):
        _touch_wav(root / "blower" / "id_02" / "normal" / f"take_{i}.wav")
    _touch_wav(root / "blower" / "id_02" / "abnormal" / "rattle.wav")
    assert detect_layout(root) == "mimii"
    table = discover_clips(root)
    assert table.attrs["layout"] == "mimii" and set(table.machine_id) == {"02"}
    assert table.groupby(["split", "label"]).size().to_dict() == {
        ("test", "anomaly"): 1,
        ("test", "normal"): 1,
        ("train", "normal"): 3,
    }


def test_one_dcase_machine_folder_and_mixed_layouts(dcase_root, tmp_path):
    fan = discover_clips(dcase_root / "fan")  # the machine's own folder, DCASE names
    assert set(fan.machine_type) == {"fan"} and fan.attrs["layout"] == "dcase" and len(fan) == 10
    _touch_wav(dcase_root / "compressor" / "rec.wav")
    mixed = discover_clips(dcase_root)
    assert mixed.attrs["layout"] == "dcase+folders"
    assert mixed[mixed.machine_type == "compressor"].split.tolist() == ["train"]


def test_machine_type_and_id_values_are_checked(tmp_path):
    _touch_wav(tmp_path / "m" / "a.wav")
    with pytest.raises(ConfigError, match="machine_id"):
        discover_clips(tmp_path / "m", machine_id="pump-a")
    with pytest.raises(ConfigError, match="machine_type"):
        discover_clips(tmp_path / "m", machine_type="../x")


def test_nothing_matching_lists_the_layouts_in_one_line(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"")
    with pytest.raises(LayoutError) as err:
        discover_clips(tmp_path)
    message = str(err.value)
    assert "\n" not in message
    for layout in ("DCASE 2020", "MIMII", "one folder per machine", "one machine's folder"):
        assert layout in message


# -- weak messages: a file for a folder, things that look like clips -----------------------------


def test_data_that_is_a_file_says_so(tmp_path):
    clip = tmp_path / "rec.wav"
    _touch_wav(clip)
    with pytest.raises(LayoutError, match=r"rec.wav: a file, not a folder"):
        discover_clips(clip)
    with pytest.raises(LayoutError, match="a file, not a folder"):
        detect_layout(clip)


def test_cli_train_with_data_that_is_a_file(tmp_path, capsys):
    from asd import cli

    clip = tmp_path / "rec.wav"
    _touch_wav(clip)
    assert (
        cli.main(
            [
                "-q",
                "train",
                "--data",
                str(clip),
                "--model",
                "embedding_mahalanobis",
                "--out",
                str(tmp_path / "run"),
                "--no-cache",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "a file, not a folder" in err and str(clip) in err and len(err.splitlines()) == 1


@pytest.mark.skipif(os.name == "nt", reason="symbolic links")
def test_things_that_look_like_clips_are_skipped_with_the_reason(dcase_root, tmp_path, caplog):
    train = dcase_root / "fan" / "train"
    (train / "normal_id_00_00000007.wav").mkdir()  # a folder named like a clip
    (train / "normal_id_00_00000008.wav").symlink_to(tmp_path / "gone.wav")  # dangling
    (train / "normal_id_00_00000009.wav").symlink_to(train / "normal_id_00_00000009.wav")  # loops
    with caplog.at_level("WARNING"):
        table = discover_clips(dcase_root)
    assert len(table) == 15
    problems = {Path(i["path"]).name: i["problem"] for i in table.attrs["skipped"]}
    assert problems["normal_id_00_00000007.wav"] == "a folder named like a WAV file, not a clip"
    assert problems["normal_id_00_00000008.wav"].startswith("broken symbolic link")
    assert problems["normal_id_00_00000009.wav"].startswith("symbolic link loop")
    assert sorted(Path(p).name for p in table.attrs["ignored"]) == sorted(problems)
    assert "broken symbolic link" in caplog.text and "symbolic link loop" in caplog.text


@pytest.mark.skipif(os.name == "nt", reason="symbolic links")
def test_folder_link_loops_are_skipped_not_followed_forever(tmp_path):
    machine = tmp_path / "plant" / "compressor"
    _touch_wav(machine / "day1" / "a.wav")
    (machine / "day1" / "again").symlink_to(machine)  # leads back up
    (machine / "alias").symlink_to(machine / "day1")  # a second path to the same recordings
    table = discover_clips(tmp_path / "plant")
    assert table.file_name.tolist() == ["a.wav"] and set(table.machine_type) == {"compressor"}
    problems = {Path(i["path"]).name: i["problem"] for i in table.attrs["skipped"]}
    assert problems["again"].startswith("symbolic link loop")
    assert problems["alias"].startswith("a second path to a folder already read")


# -- ground truth -------------------------------------------------------------------------

GROUND_TRUTH = """ToyCar
id_05_00000000.wav,anomaly_id_05_00000012.wav,1
id_05_00000001.wav,normal_id_05_00000040.wav,0
id_07_00000000.wav,normal_id_07_00000003.wav,0
fan
id_01_00000000.wav,anomaly_id_01_00000000.wav,1
id_01_00000001.wav,normal_id_01_00000007.wav,0
"""


def test_load_ground_truth_reads_the_dcase2020_format(tmp_path):
    path = tmp_path / "eval_data_list.csv"
    path.write_text(GROUND_TRUTH)
    gt = load_ground_truth(path)
    assert list(gt.columns) == ["machine_type", "machine_id", "file_name", "label"]
    assert gt.values.tolist() == [
        ["ToyCar", "05", "id_05_00000000.wav", "anomaly"],
        ["ToyCar", "05", "id_05_00000001.wav", "normal"],
        ["ToyCar", "07", "id_07_00000000.wav", "normal"],
        ["fan", "01", "id_01_00000000.wav", "anomaly"],
        ["fan", "01", "id_01_00000001.wav", "normal"],
    ]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("id_05_00000000.wav,normal_id_05_00000000.wav,0\n", ":1: clip listed before any machine-type line"),
        ("ToyCar\nid_05_00000000.wav,normal_id_05_00000000.wav,2\n", ":2: label must be 0"),
        ("ToyCar\nid_05_00000000.wav,anomaly_id_05_00000000.wav,0\n", ":2: label 0 contradicts"),
        ("ToyCar\nclip.wav,normal_id_05_00000000.wav,0\n", ":2: 'clip.wav' is not a clip name"),
        ("ToyCar\n", "no clips listed"),
    ],
)
def test_load_ground_truth_names_the_bad_line(tmp_path, text, problem):
    path = tmp_path / "eval_data_list.csv"
    path.write_text(text)
    with pytest.raises(GroundTruthError) as err:
        load_ground_truth(path)
    assert problem in str(err.value) and str(path) in str(err.value)


def test_apply_ground_truth_labels_the_evaluation_clips(tmp_path):
    path = tmp_path / "eval_data_list.csv"
    path.write_text(GROUND_TRUTH)
    clips = pd.DataFrame(
        {
            "machine_type": ["fan", "fan", "fan", "ToyCar"],
            "file_name": [
                "normal_id_01_00000000.wav",
                "id_01_00000000.wav",
                "id_01_00000001.wav",
                "id_06_00000000.wav",
            ],
            "split": ["train", "test", "test", "test"],
            "label": ["normal", "unknown", "unknown", "unknown"],
        }
    )
    labelled = apply_ground_truth(clips, path)
    assert list(labelled["label"]) == ["normal", "anomaly", "normal", "unknown"]
    assert list(clips["label"]) == ["normal", "unknown", "unknown", "unknown"], "input left untouched"


def test_find_ground_truth_and_a_folder_in_its_place(tmp_path):
    assert find_ground_truth(tmp_path) is None
    (tmp_path / "eval_data_list.csv").mkdir()
    assert find_ground_truth(tmp_path) is None
    with pytest.raises(GroundTruthError, match="a folder, not a ground-truth file"):
        load_ground_truth(tmp_path / "eval_data_list.csv")


def test_one_class_test_split_names_machine_type_and_id(dcase_root):
    table = discover_clips(dcase_root)
    assert one_class_tests(table) == []
    (dcase_root / "fan" / "test" / "anomaly_id_02_00000000.wav").unlink()
    lines = one_class_tests(discover_clips(dcase_root))
    assert lines == [
        "fan id 02: the test split holds only normal clips (1); "
        "AUC and pAUC need both normal and anomalous clips and are undefined for it"
    ]
    unlabelled = discover_clips(dcase_root).assign(label="unknown")
    assert one_class_tests(unlabelled) == [], "unlabelled clips are not a class"


def test_asd_train_on_a_flat_folder_of_own_recordings(tiny_root, tmp_path, capsys):
    """The user path of issue "your own machine": a flat folder of WAVs with any names trains."""
    import json
    import shutil

    from asd import cli

    machine = tmp_path / "compressor"
    machine.mkdir()
    for index, clip in enumerate(sorted((tiny_root / "fan" / "train").glob("normal_id_00_*.wav"))):
        shutil.copy(clip, machine / f"rec_{index:03d}.wav")
    (machine / "broken.wav").symlink_to(tmp_path / "nowhere.wav")
    run = tmp_path / "run"
    assert (
        cli.main(
            ["-q", "train", "--data", str(machine), "--model", "embedding_mahalanobis", "--out", str(run), "--no-cache"]
        )
        == 0
    )
    info = json.loads((run / "run.json").read_text())
    assert info["machine_types"] == ["compressor"] and info["data_layout"] == "folders"
    assert info["n_train_clips"] == {"compressor": len(list(machine.glob("rec_*.wav")))}
    assert str(machine / "broken.wav") in info["ignored"]


# -- issue 25: upper-case names, a stray WAV at the root, anomalous-only train/, DCASE 2021+ names --------------


def test_upper_case_dcase2020_names_are_read_as_the_lower_case_ones(dcase_root, tmp_path):
    upper = tmp_path / "UPPER"
    for path in dcase_root.rglob("*.wav"):
        rel = path.relative_to(dcase_root)
        _touch_wav(upper / rel.parent / rel.name.upper())
    _touch_wav(upper / "fan" / "test" / "ID_02_00000001.WAV")  # an unlabelled evaluation name
    lower, table = discover_clips(dcase_root), discover_clips(upper)
    assert table.attrs["layout"] == "dcase" and table.attrs["skipped"] == []
    columns = ["machine_type", "machine_id", "split", "label"]
    labelled = table[table.label != "unknown"]
    assert sorted(map(tuple, labelled[columns].values.tolist())) == sorted(map(tuple, lower[columns].values.tolist()))
    assert table[table.file_name == "ID_02_00000001.WAV"][["machine_id", "label"]].values.tolist() == [
        ["02", "unknown"]
    ]


def test_upper_case_mimii_folders_and_names(tmp_path):
    for i in range(4):
        _touch_wav(tmp_path / "fan" / "ID_02" / "NORMAL" / f"{i:08d}.WAV")
    _touch_wav(tmp_path / "fan" / "ID_02" / "ABNORMAL" / "00000000.WAV")
    table = discover_clips(tmp_path)
    assert table.attrs["layout"] == "mimii" and set(table.machine_id) == {"02"}
    assert table.groupby(["split", "label"]).size().to_dict() == {
        ("test", "anomaly"): 1,
        ("test", "normal"): 1,
        ("train", "normal"): 3,
    }


def test_a_stray_wav_at_the_root_is_reported_and_the_machines_stay_separate(dcase_root):
    _touch_wav(dcase_root / "STRAY.wav")
    table = discover_clips(dcase_root)
    assert set(table.machine_type) == {"fan", "ToyCar"} and len(table) == 15
    assert [(Path(i["path"]).name, i["problem"].split(":")[0]) for i in table.attrs["skipped"]] == [
        ("STRAY.wav", "a WAV file at the dataset root beside the machine folders (ToyCar, fan)")
    ]
    assert not is_machine_folder(dcase_root)


def test_a_flat_folder_with_a_date_subfolder_stays_one_machine(tmp_path):
    _touch_wav(tmp_path / "press" / "rec_1.wav")
    _touch_wav(tmp_path / "press" / "monday" / "rec_2.wav")  # no split/ID structure: not a machine folder
    table = discover_clips(tmp_path / "press")
    assert set(table.machine_type) == {"press"} and len(table) == 2 and table.attrs["skipped"] == []


def test_train_holding_only_anomalous_clips_says_they_were_skipped(tmp_path):
    for i in range(2):
        _touch_wav(tmp_path / "fan" / "train" / f"anomaly_id_00_{i:08d}.wav")
    with pytest.raises(LayoutError) as err:
        discover_clips(tmp_path)
    message = str(err.value)
    assert "no clips found" not in message and "\n" not in message
    assert "holds no training clips" in message
    assert "2 skipped: an anomalous clip in train/ (training uses normal clips only) (2)" in message


def test_dcase2021_names_are_never_merged_into_one_id_nor_left_unlabelled(tmp_path):
    """Issue 25 item 7 (issue 22's report): a DCASE 2023 folder read as before merged both domains and labelled
    every test clip unknown."""
    for domain in ("source", "target"):
        _touch_wav(tmp_path / "valve" / "train" / f"section_00_{domain}_train_normal_0001_pat_00.wav")
        for label in ("normal", "anomaly"):
            _touch_wav(tmp_path / "valve" / "test" / f"section_00_{domain}_test_{label}_0003_pat_01.wav")
    _touch_wav(tmp_path / "valve" / "train" / "section_01_source_train_normal_0001_pat_00.wav")
    table = discover_clips(tmp_path)
    assert set(table.machine_id) == {"00", "01"} and set(table.section) == {"00", "01"}
    test = table[table.split == "test"]
    assert "unknown" not in set(test.label) and sorted(test.label) == ["anomaly", "anomaly", "normal", "normal"]
    assert sorted(test.domain) == ["source", "source", "target", "target"]
