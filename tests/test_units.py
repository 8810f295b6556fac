"""asd.units: the units of work of asd train and asd evaluate, as the executor sends them."""

from __future__ import annotations

import pandas as pd

from asd import units


def _table(sections: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "path": [f"fan/test/clip_{i:02d}.wav" for i in range(len(sections))],
            "machine_type": "fan",
            "section": sections,
        }
    )


def test_a_type_without_sections_is_one_unit():
    table = _table(["", "", ""])
    parts = units.by_section(table)
    assert len(parts) == 1 and parts[0][0] == "" and parts[0][1].equals(table)
    assert units.by_section(table.drop(columns="section"))[0][1].equals(table.drop(columns="section"))


def test_sections_are_units_and_join_back_in_the_tables_order():
    table = _table(["01", "00", "01", "00", "02"])
    parts = units.by_section(table)
    assert [section for section, _ in parts] == ["00", "01", "02"]
    assert sorted(sum((part["path"].tolist() for _, part in parts), [])) == sorted(table["path"])
    todo = [units.EvaluateUnit(None, "fan", part, None, False) for _, part in parts]
    outcomes = [  # each unit scores its clips, the last one of section 01 unreadable
        (part.assign(score=range(len(part))).iloc[: len(part) - (section == "01")], [])
        if section != "01"
        else (part.iloc[:1].assign(score=[0]), [{"path": part["path"].iat[1], "problem": "unreadable"}])
        for section, part in parts
    ]
    [(scored, failed)] = units.per_machine_type(todo, outcomes, table)
    assert scored["path"].tolist() == [p for p in table["path"] if p != "fan/test/clip_02.wav"]
    assert failed == [{"path": "fan/test/clip_02.wav", "problem": "unreadable"}]
