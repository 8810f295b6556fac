"""DCASE 2021 layout: source_test/ and target_test/ folders, dev names without attributes, eval names with the
domain."""

from __future__ import annotations

import shutil

import pytest
from dcase_folders import (
    build,
    expected,
    table_rows,
    write_baseline_list,
    write_evaluator_truth,
)

from asd.data import (
    apply_ground_truth,
    detect_layout,
    discover_clips,
    load_ground_truth,
)
from asd.errors import LayoutError


def test_dev_set_domains_from_the_test_folders(tmp_path):
    rows = build(tmp_path, "dcase2021", "dev")
    table = discover_clips(tmp_path)
    assert table_rows(table, tmp_path) == expected(rows)
    assert detect_layout(tmp_path) == "dcase2021" and table.attrs["dataset"] == "dcase2021"
    test = table[table.split == "test"]
    assert set(test.attributes) == {""}, "2021 dev test names carry no attributes"
    # per machine type and section: both domains, both labels (nothing merged, nothing unlabelled)
    counts = test.groupby(["machine_type", "machine_id", "domain", "label"]).size()
    assert len(counts) == 2 * 2 * 2 * 2 and set(counts) == {1}


def test_eval_set_keeps_the_domain_and_is_labelled_by_the_evaluator(tmp_path):
    data = tmp_path / "eval"
    rows = build(data, "dcase2021", "eval")
    table = discover_clips(data)
    test = table[table.split == "test"]
    assert set(test.label) == {"unknown"} and set(test.domain) == {"source", "target"}
    truth = write_evaluator_truth(tmp_path / "dcase2021_task2_evaluator", "dcase2021", rows)
    assert min(p.name for p in (truth / "ground_truth_data").iterdir()) == "ground_truth_fan_section_03_source_test.csv"
    labelled = apply_ground_truth(table, truth)
    assert table_rows(labelled, data) == expected(rows, labelled=True, attributes=False)
    # the baseline's list gives the same labels
    listed = apply_ground_truth(table, write_baseline_list(tmp_path / "eval_data_list_2021.csv", rows))
    assert listed.label.tolist() == labelled.label.tolist()
    assert set(load_ground_truth(tmp_path / "eval_data_list_2021.csv").section) == {"03", "04"}


def test_a_merged_test_folder_and_a_domain_that_contradicts_its_folder(tmp_path):
    build(tmp_path, "dcase2021", "dev")
    fan = tmp_path / "fan"
    (fan / "test").mkdir()
    shutil.move(fan / "target_test" / "section_00_target_test_normal_0000.wav", fan / "test")
    table = discover_clips(tmp_path)
    moved = table[(table.file_name == "section_00_target_test_normal_0000.wav") & (table.machine_type == "fan")]
    assert moved.domain.tolist() == ["target"] and moved.split.tolist() == ["test"]
    shutil.copy(fan / "test" / "section_00_target_test_normal_0000.wav", fan / "source_test")
    with pytest.raises(LayoutError, match=r"source_test.*name says domain 'target' but the clip is in source_test/"):
        discover_clips(tmp_path)


def test_attribute_csv_is_read_in_2021_too(tmp_path):
    """Spec §2 says 2021 has no attributes_SS.csv [I]: reading one where it exists does not depend on it."""
    build(tmp_path, "dcase2021", "dev")
    (tmp_path / "fan" / "attributes_00.csv").write_text(
        "file_name,d1p,d1v\nfan/source_test/section_00_source_test_normal_0000.wav,m-n,W\n"
    )
    table = discover_clips(tmp_path)
    assert (
        dict(zip(table.path, table.attributes))[
            str(tmp_path / "fan/source_test/section_00_source_test_normal_0000.wav")
        ]
        == "m-n_W"
    )
    assert len(discover_clips(tmp_path)) == len(table)
