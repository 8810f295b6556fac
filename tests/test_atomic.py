import pandas as pd
import pytest

from asd.atomic import atomic_path, write_csv_atomic, write_text_atomic


def test_failed_write_keeps_previous_file(tmp_path):
    target = write_text_atomic(tmp_path / "results.csv", "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]  # no temp file left


def test_csv_written_without_index(tmp_path):
    path = write_csv_atomic(tmp_path / "sub" / "t.csv", pd.DataFrame({"a": [1, 2]}))
    assert path.read_text().splitlines() == ["a", "1", "2"]


def test_temp_file_keeps_suffix_and_is_hidden(tmp_path):
    with atomic_path(tmp_path / "model.keras") as tmp:
        assert tmp.suffix == ".keras" and tmp.name.startswith(".")
        tmp.write_text("x")
