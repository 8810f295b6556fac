"""asd.runfolder.merge_runs: runs of one model on disjoint machine types merge into the run one training writes."""

import json

import pytest

from asd.config import StudyConfig
from asd.errors import LayoutError
from asd.pipeline import evaluate, load_run, train
from asd.runfolder import RUN_FILE, merge_runs


def test_parts_merge_into_the_run_of_one_training(tiny_root, tmp_path):
    config = StudyConfig()
    whole = train(tiny_root, model="multistat", out=tmp_path / "whole", config=config, machine_types=["valve", "fan"], progress=False)
    parts = [tmp_path / "parts" / t for t in ("valve", "fan")]
    for part in parts:
        train(tiny_root, model="multistat", out=part, config=config, machine_types=[part.name], progress=False)
    merged = merge_runs(parts, tmp_path / "merged", data_fingerprint=whole["data_fingerprint"])
    for key in ("model", "machine_types", "n_train_clips", "data_fingerprint", "config_fingerprint", "data_root"):
        assert merged[key] == whole[key], key
    run, _ = load_run(tmp_path / "merged")  # complete, every file as its manifest says
    assert run["files"].keys() == whole["files"].keys()
    for name in whole["files"]:
        if name.endswith((".csv", ".npz", ".json")) and name != RUN_FILE:
            assert (tmp_path / "merged" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    merged_results = evaluate(tiny_root, run_dir=tmp_path / "merged", progress=False)
    whole_results = evaluate(tiny_root, run_dir=tmp_path / "whole", progress=False)
    assert merged_results.auc.tolist() == whole_results.auc.tolist()


def test_parts_that_do_not_belong_together_are_refused(tiny_root, tmp_path):
    config = StudyConfig()
    a = tmp_path / "a"
    train(tiny_root, model="multistat", out=a, config=config, machine_types=["valve"], progress=False)
    b = tmp_path / "b"
    train(tiny_root, model="embedding_knn", out=b, config=config, machine_types=["fan"], progress=False)
    with pytest.raises(LayoutError, match="differ in model, config or data folder"):
        merge_runs([a, b], tmp_path / "m", data_fingerprint="x")
    with pytest.raises(LayoutError, match="same machine type"):
        merge_runs([a, a], tmp_path / "m", data_fingerprint="x")
    run = json.loads((a / RUN_FILE).read_text())
    run["complete"] = False
    (a / RUN_FILE).write_text(json.dumps(run))
    with pytest.raises(LayoutError, match="not a finished run"):
        merge_runs([a], tmp_path / "m", data_fingerprint="x")
    assert not (tmp_path / "m").exists()
