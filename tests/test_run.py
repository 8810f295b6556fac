"""asd.run: a trained run loaded once and passed along; a worker's runs kept between its units."""

from __future__ import annotations

import pytest

from asd.errors import LayoutError
from asd.pipeline import train
from asd.run import Run, worker_run


def test_a_worker_loads_a_run_once_until_it_is_retrained(tiny_root, tmp_path):
    out = tmp_path / "run"
    train(tiny_root, model="multistat", out=out, machine_types=["valve"], cache_dir=False, progress=False)
    first = worker_run(out)
    assert isinstance(first, Run) and worker_run(str(out)) is first  # the same object: checked and loaded once
    detector = first.detector("valve")
    assert worker_run(out).detector("valve") is detector
    train(tiny_root, model="multistat", out=out, machine_types=["fan"], cache_dir=False, progress=False)
    again = worker_run(out)  # a new run.json: loaded anew
    assert again is not first and again.machine_types == ["fan"]


def test_a_worker_run_that_cannot_be_read_raises_as_load_does(tmp_path):
    with pytest.raises(LayoutError, match="not a finished run"):
        worker_run(tmp_path / "nothing here")
