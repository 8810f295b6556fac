"""The layout registry: a layout defined only here is registered and read through discover_clips (the recipe)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asd.audio import write_clip
from asd.data import (
    LAYOUTS,
    Layout,
    ReadContext,
    dataset_names,
    discover_clips,
    register_layout,
)
from asd.data.mimii import split_rows
from asd.data.scan import child_dir, scan
from asd.errors import ConfigError, LayoutError


class ToyAdmosLayout(Layout):
    """The original ToyADMOS release: ``TYPE/caseN/NormalSound_IND|AnomalousSound_IND/*.wav``, case = machine ID."""

    name = "toyadmos"
    datasets = ("toyadmos",)
    help = "ToyADMOS (TYPE/caseN/NormalSound_IND|AnomalousSound_IND/*.wav)"
    priority = 25

    @classmethod
    def matches(cls, folder: Path) -> bool:
        return any(child_dir(case, "normalsound_ind") for case in scan(folder, [])[1])

    @classmethod
    def read(cls, folder: Path, machine_type: str, context: ReadContext) -> list[dict]:
        rows = []
        for case in scan(folder, context.skipped)[1]:
            machine_id = case.name.lower().removeprefix("case").zfill(2)
            pool = {}
            for sub, label in (("normalsound_ind", "normal"), ("anomaloussound_ind", "anomaly")):
                found = child_dir(case, sub)
                pool[label] = scan(found, context.skipped)[0] if found else []
            rows += split_rows(pool, machine_type, machine_id)  # MIMII's split rule, rows by make_row
        return rows


@pytest.fixture
def toyadmos():
    register_layout(ToyAdmosLayout)
    yield ToyAdmosLayout
    del LAYOUTS[ToyAdmosLayout.name]


def _toyadmos_folder(root: Path) -> Path:
    for i in range(4):
        write_clip(root / "ToyCar" / "case1" / "NormalSound_IND" / f"ch1_{i}.wav", np.zeros(160))
    write_clip(root / "ToyCar" / "case1" / "AnomalousSound_IND" / "ch1_a.wav", np.zeros(160))
    return root


def test_a_layout_defined_in_a_test_is_read_through_discover_clips(toyadmos, tmp_path):
    root = _toyadmos_folder(tmp_path / "data")
    table = discover_clips(root)
    assert table.attrs["layout"] == "toyadmos" and table.attrs["dataset"] == "toyadmos"
    assert set(table.machine_id) == {"01"} and set(table.dataset) == {"toyadmos"}
    assert table.groupby(["split", "label"]).size().to_dict() == {
        ("test", "anomaly"): 1,
        ("test", "normal"): 1,
        ("train", "normal"): 3,
    }
    assert set(table.section) == {""} and set(table.domain) == {""}
    assert discover_clips(root, dataset="toyadmos").path.tolist() == table.path.tolist()
    assert "toyadmos" in dataset_names()
    (tmp_path / "other" / "photos").mkdir(parents=True)
    with pytest.raises(LayoutError, match=r"no clips found in a layout asd reads: .*ToyADMOS \(TYPE/caseN"):
        discover_clips(tmp_path / "other")  # the line lists the new layout


def test_without_registration_the_folder_reads_as_plain_folders(tmp_path):
    table = discover_clips(_toyadmos_folder(tmp_path / "data"))
    assert table.attrs["layout"] == "folders" and "toyadmos" not in LAYOUTS


def test_register_refuses_a_nameless_layout_or_a_taken_name():
    class Nameless(Layout):
        datasets = ("x",)

    class Impostor(Layout):
        name = "dcase"
        datasets = ("other",)

    class YearThief(Layout):
        name = "thief"
        datasets = ("dcase2023",)

    for layout, problem in ((Nameless, "needs a name"), (Impostor, "'dcase' is taken"), (YearThief, "dcase2023 taken")):
        with pytest.raises(ConfigError, match=problem):
            register_layout(layout)
    assert "thief" not in LAYOUTS
