"""Ground truth of DCASE 2021-2025 eval sets: the evaluators' folders and the baseline lists, errata refused."""

from __future__ import annotations

import pytest
from dcase_folders import build, write_baseline_list, write_evaluator_truth

from asd.data import (
    GroundTruthError,
    apply_ground_truth,
    discover_clips,
    load_ground_truth,
)
from asd.data.evaluator_truth import evaluator_files


def _truth_table(gt):
    return sorted(map(tuple, gt[["machine_type", "file_name", "label", "domain", "attributes"]].values.tolist()))


def test_evaluator_folders_and_the_baseline_list_agree(tmp_path):
    rows = build(tmp_path / "data", "dcase2023", "eval")
    ev = write_evaluator_truth(tmp_path / "dcase2023_task2_evaluator", "dcase2023", rows)
    from_ev = load_ground_truth(ev)
    from_list = load_ground_truth(write_baseline_list(tmp_path / "eval_data_list_2023.csv", rows))
    assert _truth_table(from_ev) == _truth_table(from_list)
    expected = sorted(
        (r["machine_type"], r["rel"].rsplit("/", 1)[1], t["label"], t["domain"], t["attributes"]) for r, t in rows if t
    )
    assert _truth_table(from_ev) == expected
    # one evaluator folder, or one of its files, is read as well as the repository root
    assert len(load_ground_truth(ev / "ground_truth_data")) == len(from_ev)
    one = min((ev / "ground_truth_domain").iterdir())
    with pytest.raises(GroundTruthError, match="has no label"):
        load_ground_truth(one)
    kinds = sorted(kind for _, kind in evaluator_files(ev))
    assert kinds == ["domain"] * 2 + ["label"] * 2 + ["named"] * 2  # two machine types, one section each


def test_files_that_disagree_or_do_not_fit_are_named(tmp_path):
    rows = build(tmp_path / "data", "dcase2022", "eval")
    ev = write_evaluator_truth(tmp_path / "ev", "dcase2022", rows, attributes=False)
    domain_file = min((ev / "ground_truth_domain").iterdir())
    domain_file.write_text(domain_file.read_text().replace(",0", ",2", 1))
    with pytest.raises(GroundTruthError, match=rf"{domain_file.name}:1: expected 0 or 1"):
        load_ground_truth(ev)
    domain_file.write_text("section_03_0000.wav,0\n")
    named = ev / "ground_truth_attributes" / domain_file.name
    named.parent.mkdir()
    named.write_text("section_03_0000.wav,section_03_target_test_normal_0000_vel_6\n")
    with pytest.raises(
        GroundTruthError,
        match=r"section_03_0000.wav: domain '(source|target)' contradicts '(target|source)' from another file",
    ):
        load_ground_truth(ev)
    with pytest.raises(GroundTruthError, match="holds no evaluator files"):
        load_ground_truth(tmp_path / "data")


def test_the_2022_baseline_list_is_refused(tmp_path):
    """Spec §1 errata: the baseline's 2022 list mislabels ToyCar and ToyTrain; the evaluator's files are asked for."""
    path = tmp_path / "eval_data_list_2022.csv"
    path.write_text("ToyCar\nsection_03_0000.wav,section_03_source_test_normal_0000_car_A1.wav\n")
    with pytest.raises(GroundTruthError, match="disagrees with the official evaluator.*ground_truth_data"):
        load_ground_truth(path)


def test_the_2024_list_without_test_token_and_a_contradicting_section(tmp_path):
    path = tmp_path / "eval_data_list_2024.csv"
    path.write_text("RoboticArm\nsection_00_0001.wav,section_00_source_normal_0035_weight15_BckgF.wav\n")
    gt = load_ground_truth(path)
    assert gt[["label", "domain", "attributes", "machine_id"]].values.tolist() == [
        ["normal", "source", "weight15_BckgF", "00"]
    ]
    path.write_text("RoboticArm\nsection_00_0001.wav,section_01_source_test_normal_0035.wav\n")
    with pytest.raises(GroundTruthError, match=":2: section 00 of 'section_00_0001.wav' contradicts"):
        load_ground_truth(path)


def test_a_ground_truth_domain_that_contradicts_the_folder_is_refused(tmp_path):
    rows = build(tmp_path / "data", "dcase2021", "eval")
    table = discover_clips(tmp_path / "data")
    gt = load_ground_truth(write_baseline_list(tmp_path / "list.csv", rows))
    gt.loc[gt.index[0], "domain"] = "target" if gt.domain.iloc[0] == "source" else "source"
    with pytest.raises(GroundTruthError, match="the ground truth says"):
        apply_ground_truth(table, gt)
