import errno
import os
import stat

import pandas as pd
import pytest

from asd.atomic import atomic_path, current_umask, write_csv_atomic, write_text_atomic
from asd.errors import WriteError


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


def test_files_honour_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        assert current_umask() == 0o022
        path = write_text_atomic(tmp_path / "shared.txt", "x")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.umask(0o077)
        path = write_text_atomic(tmp_path / "private.txt", "x")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(previous)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_disk_full_names_the_file_and_keeps_the_old_one(tmp_path, code):
    target = write_text_atomic(tmp_path / "results.csv", "old")
    with pytest.raises(WriteError, match=r"results\.csv: cannot write .*nothing was changed") as info:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise OSError(code, os.strerror(code))
    assert isinstance(info.value, OSError)  # callers treating write failures as OSError still do
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]


def test_other_errors_pass_through_unchanged(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_path(tmp_path / "a.txt"):
            raise FileNotFoundError(errno.ENOENT, "gone")


def test_read_only_folder(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores folder permissions")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(WriteError, match="ro/x.txt"):
            write_text_atomic(folder / "x.txt", "x")
    finally:
        folder.chmod(0o700)
