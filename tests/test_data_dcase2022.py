"""DCASE 2022-2025 layout: every year's dev and eval names read, the year detected or given, supplemental kept out."""

from __future__ import annotations

import shutil

import pytest
from dcase_folders import TYPES, build, expected, table_rows, write_evaluator_truth

from asd.data import (
    COLUMNS,
    apply_ground_truth,
    detect_layout,
    discover_clips,
    find_ground_truth,
)
from asd.data.dcase2022 import detect_year
from asd.errors import ConfigError, LayoutError

YEARS = ["dcase2022", "dcase2023", "dcase2024", "dcase2025"]


@pytest.mark.parametrize("year", YEARS)
def test_every_year_dev_set_is_read_with_sections_domains_and_attributes(tmp_path, year):
    rows = build(tmp_path, year, "dev")
    table = discover_clips(tmp_path)
    assert list(table.columns) == COLUMNS
    assert table_rows(table, tmp_path) == expected(rows)
    assert table.attrs["layout"] == "dcase2022" and detect_layout(tmp_path) == "dcase2022"
    assert table.attrs["dataset"] == year and set(table["dataset"]) == {year}
    # the machine ID is the section: source and target never merged, every test clip labelled
    assert set(table.label[table.split == "test"]) == {"normal", "anomaly"}
    assert sorted(set(table.machine_id)) == TYPES[year]["dev"][1]
    assert table.attrs["skipped"] == []


@pytest.mark.parametrize("year", YEARS)
def test_every_year_eval_set_is_unlabelled_then_labelled_by_the_evaluator_files(tmp_path, year):
    data, truth_dir = tmp_path / "eval", tmp_path / f"{year}_evaluator"
    rows = build(data, year, "eval")
    table = discover_clips(data, require_train=True)
    assert table_rows(table, data) == expected(rows)
    test = table[table.split == "test"]
    assert set(test.label) == {"unknown"} and set(test.domain) == {"unknown"}
    assert table.attrs["dataset"] == year
    with_attributes = year != "dcase2022"  # EV22's attribute truth is in another format
    write_evaluator_truth(truth_dir, year, rows, attributes=with_attributes)
    labelled = apply_ground_truth(table, truth_dir)
    assert table_rows(labelled, data) == expected(rows, labelled=True, attributes=with_attributes)
    # the folders in the dataset root are found like eval_data_list.csv
    shutil.copytree(truth_dir, data / "ground_truth")  # where asd generate writes it
    assert find_ground_truth(data) == data / "ground_truth"
    assert discover_clips(data).path.tolist() == table.path.tolist(), "the ground truth is not a machine folder"
    shutil.copytree(truth_dir / "ground_truth_data", data / "ground_truth_data")
    assert find_ground_truth(data) == data


def test_indices_from_one_unbalanced_tests_and_long_clips(tmp_path):
    import numpy as np

    from asd.audio import write_clip

    build(tmp_path, "dcase2024", "dev")  # indices 0001.. (spec §1)
    long_clip = tmp_path / "fan" / "test" / "section_00_source_test_anomaly_0002_spd_28V_mic_1.wav"
    write_clip(long_clip, np.zeros(16000 * 12))  # 12 s; 2 anomalies against 1 normal in the source domain
    table = discover_clips(tmp_path)
    fan_src = table[(table.machine_type == "fan") & (table.split == "test") & (table.domain == "source")]
    assert sorted(fan_src.label) == ["anomaly", "anomaly", "normal"]
    assert str(long_clip) in set(table.path)


def test_no_attribute_names_and_attribute_csv(tmp_path):
    build(tmp_path, "dcase2022", "eval")
    csv = tmp_path / "bearing" / "attributes_03.csv"
    csv.write_text("file_name,d1p,d1v,d2p,d2v\nbearing/test/section_03_0000.wav,vel,6,loc,A\n")
    table = discover_clips(tmp_path)
    by_name = dict(zip(table.file_name, table.attributes))
    assert by_name["section_03_0000.wav"] == "vel_6_loc_A"
    assert by_name["section_03_0001.wav"] == ""
    build(tmp_path / "y24", "dcase2024")
    hidden = discover_clips(tmp_path / "y24")
    assert set(hidden.attributes[hidden.machine_type == "gearbox"]) == {"noAttribute"}


def test_supplemental_clips_are_kept_out_unless_asked_for(tmp_path):
    import numpy as np

    from asd.audio import write_clip

    build(tmp_path, "dcase2025", "dev")
    names = [
        "section_00_machine_0001_.wav",
        "section_00_machine_source_0000_noAttribute.wav",
        "section_00_noise_supplemental_normal_0000.wav",
        "anything.WAV",
    ]  # spec §2: names not parsed
    for name in names:
        write_clip(tmp_path / "valve" / "supplemental" / name, np.zeros(160))
    table = discover_clips(tmp_path)
    assert "supplemental" not in set(table.split) and len(table.attrs["supplemental"]) == 4
    assert table.attrs["skipped"] == []
    extra = discover_clips(tmp_path, include_supplemental=True)
    supplemental = extra[extra.split == "supplemental"]
    assert sorted(supplemental.file_name) == sorted(names) and set(supplemental.label) == {"unknown"}
    assert set(supplemental.section) == {"00"}
    assert len(extra[extra.split != "supplemental"]) == len(table)
    assert (
        dict(zip(supplemental.file_name, supplemental.domain))["section_00_machine_source_0000_noAttribute.wav"]
        == "source"
    )


def test_the_year_is_given_or_detected_from_its_clues(tmp_path):
    build(tmp_path, "dcase2023", "dev")
    assert discover_clips(tmp_path).attrs["dataset"] == "dcase2023"  # section 00, no 2024+ clue
    assert discover_clips(tmp_path, dataset="dcase2025").attrs["dataset"] == "dcase2025"
    with pytest.raises(ConfigError, match="unknown dataset 'dcase2019'"):
        discover_clips(tmp_path, dataset="dcase2019")
    with pytest.raises(ConfigError, match="does not read dataset"):
        discover_clips(tmp_path, dataset="dcase2023", layout="mimii")

    def rows(types, sections=("00",), attributes=""):
        return [{"machine_type": t, "section": s, "attributes": attributes} for t in types for s in sections]

    assert detect_year(rows(["fan"], ("00", "01")), supplemental=False)[0] == "dcase2022"
    assert detect_year(rows(["grinder"]), supplemental=False)[0] == "dcase2023"
    assert detect_year(rows(["slider"], attributes="noAttribute"), supplemental=False)[0] == "dcase2024"
    assert detect_year(rows(["bearing"], attributes="noAttribute"), supplemental=False)[0] == "dcase2025"
    assert detect_year(rows(["fan"]), supplemental=True)[0] == "dcase2025"
    with pytest.raises(LayoutError, match="contradict.*machine type grinder: 2023.*supplemental"):
        detect_year(rows(["grinder"]), supplemental=True)


def test_a_name_that_does_not_parse_is_refused_naming_the_file(tmp_path):
    build(tmp_path, "dcase2023", "dev")
    bad = tmp_path / "fan" / "train" / "section_00_sorce_train_normal_0009.wav"
    shutil.copy(next((tmp_path / "fan" / "train").iterdir()), bad)
    with pytest.raises(LayoutError) as err:
        discover_clips(tmp_path)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    bad.unlink()
    eval_name = tmp_path / "fan" / "train" / "section_00_0001.wav"  # an evaluation test name in train/
    shutil.copy(next((tmp_path / "fan" / "train").iterdir()), eval_name)
    with pytest.raises(LayoutError, match="evaluation test name in train/"):
        discover_clips(tmp_path)
    eval_name.unlink()
    wrong_split = tmp_path / "fan" / "train" / "section_00_source_test_normal_0009.wav"
    shutil.copy(next((tmp_path / "fan" / "train").iterdir()), wrong_split)
    with pytest.raises(LayoutError, match="name says split 'test' but the clip is in train/"):
        discover_clips(tmp_path)


def test_other_names_and_anomalies_in_train_are_skipped_with_the_reason(tmp_path):
    build(tmp_path, "dcase2023", "dev")
    shutil.copy(next((tmp_path / "fan" / "train").iterdir()), tmp_path / "fan" / "train" / "notes.wav")
    shutil.copy(
        next((tmp_path / "fan" / "train").iterdir()),
        tmp_path / "fan" / "train" / "section_00_source_train_anomaly_0000_x_1.wav",
    )
    table = discover_clips(tmp_path)
    problems = {item["path"].rsplit("/", 1)[-1]: item["problem"] for item in table.attrs["skipped"]}
    assert problems["notes.wav"].startswith("file name does not follow the DCASE 2021-2025 layout")
    assert problems["section_00_source_train_anomaly_0000_x_1.wav"].startswith("an anomalous clip in train/")


def test_a_dcase2023_folder_is_never_merged_with_another_layout(tmp_path):
    build(tmp_path, "dcase2023", "dev")
    shutil.copy(next((tmp_path / "fan" / "train").iterdir()), tmp_path / "fan" / "x.wav")
    (tmp_path / "pump" / "train").mkdir(parents=True)
    shutil.copy(next((tmp_path / "fan" / "train").iterdir()), tmp_path / "pump" / "train" / "normal_id_00_00000000.wav")
    with pytest.raises(LayoutError, match=r"different layouts \(fan: dcase2022, pump: dcase, valve: dcase2022\)"):
        discover_clips(tmp_path)
    assert set(discover_clips(tmp_path, machine_types=["fan", "valve"]).machine_type) == {"fan", "valve"}


def test_cli_dataset_option_is_checked_against_the_folder(tmp_path, capsys):
    from asd import cli

    build(tmp_path / "data", "dcase2023", "dev")
    base = ["-q", "train", "--data", str(tmp_path / "data"), "--model", "embedding_mahalanobis", "--no-cache"]
    for dataset, problem in (("dcase2019", "--dataset: unknown dataset 'dcase2019'"), ("mimii", "no clips found")):
        assert cli.main([*base, "--out", str(tmp_path / dataset), "--dataset", dataset]) == 2
        err = capsys.readouterr().err.strip()
        assert problem in err and len(err.splitlines()) == 1
        assert not (tmp_path / dataset).exists()
