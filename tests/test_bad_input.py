"""Regression corpus of bad input and faults, driven through ``asd.cli.main``.

Every case ends either in a correct result or in one line on stderr naming the file or option
and what is wrong, with exit status 2 (1 for an unexpected error, 130 for Ctrl-C), never a
traceback. One test per case; the README's "Bad input" section lists them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from asd.cli import main

MODEL = "embedding_mahalanobis"  # fits in a second: the corpus is about the plumbing, not the model


# -- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """Tiny synthetic fan and pump clips (read-only use; copy before damaging)."""
    from asd.synth import generate_dataset

    root = tmp_path_factory.mktemp("bad_input") / "data"
    generate_dataset(root, size="tiny", seed=0, machine_types=["fan", "pump"], progress=False)
    return root


@pytest.fixture(scope="module")
def finished_run(data_root, tmp_path_factory) -> Path:
    """A finished run of :data:`MODEL` on ``data_root`` (copy before damaging)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main(["-q", "train", "--data", str(data_root), "--model", MODEL, "--out", str(run), "--no-cache"]) == 0
    return run


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    return run


@pytest.fixture
def data_copy(data_root, tmp_path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(data_root / "fan", root / "fan")
    return root


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["-q", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err: str, *needles: str) -> str:
    """The single non-empty stderr line; it contains every needle and there is no traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def evaluate_args(data: Path, run: Path) -> list[str]:
    return ["evaluate", "--data", str(data), "--run", str(run), "--no-cache"]


# -- 1. run folders: complete or refused --------------------------------------------------------


def test_retraining_into_a_finished_run_is_refused_without_overwrite(data_root, run_copy, capsys):
    before = folder_digest(run_copy)
    code, _, err = cli(capsys, "train", "--data", data_root, "--model", MODEL, "--out", run_copy, "--no-cache")
    assert code == 2
    one_error_line(err, str(run_copy), "already holds a finished run", "--overwrite")
    assert folder_digest(run_copy) == before


def test_interrupted_retraining_leaves_the_old_run_intact(data_root, run_copy, capsys, monkeypatch):
    from asd.detectors import get_detector

    before = folder_digest(run_copy)
    detector_class = get_detector(MODEL)
    original_fit, calls = detector_class.fit, []

    def fit_then_die(self, *args, **kwargs):  # "kill -9" after the first machine type
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return original_fit(self, *args, **kwargs)

    monkeypatch.setattr(detector_class, "fit", fit_then_die)
    code, _, err = cli(
        capsys, "train", "--data", data_root, "--model", MODEL, "--out", run_copy, "--no-cache", "--overwrite"
    )
    assert code == 1
    one_error_line(err, "RuntimeError: killed", "rerun with --debug")
    assert folder_digest(run_copy) == before
    assert sorted(p.name for p in run_copy.parent.iterdir()) == ["run"]  # the partial new run is gone
    monkeypatch.undo()
    assert cli(capsys, *evaluate_args(data_root, run_copy))[0] == 0


def test_a_build_left_by_a_killed_training_is_removed_and_never_read(data_root, run_copy, capsys):
    stale = run_copy.with_name(f"{run_copy.name}.tmp-4194303")  # no such process
    shutil.copytree(run_copy / "fan", stale / "fan")
    code, _, _ = cli(
        capsys, "train", "--data", data_root, "--model", "embedding_knn", "--out", run_copy, "--no-cache", "--overwrite"
    )
    assert code == 0
    assert not stale.exists()
    assert json.loads((run_copy / "run.json").read_text())["model"] == "embedding_knn"


def test_overwrite_swaps_in_the_complete_new_run(data_root, run_copy, capsys):
    code, out, _ = cli(
        capsys, "train", "--data", data_root, "--model", "embedding_knn", "--out", run_copy, "--no-cache", "--overwrite"
    )
    assert code == 0 and "trained embedding_knn" in out
    run = json.loads((run_copy / "run.json").read_text())
    assert run["model"] == "embedding_knn" and run["complete"] is True
    assert sorted(p.name for p in run_copy.parent.iterdir()) == ["run"]  # no .tmp-/.old- folder left
    assert cli(capsys, *evaluate_args(data_root, run_copy))[0] == 0


def test_a_folder_that_is_not_a_run_is_not_overwritten(data_root, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    code, _, err = cli(
        capsys, "train", "--data", data_root, "--model", MODEL, "--out", tmp_path / "mine", "--overwrite", "--no-cache"
    )
    assert code == 2
    one_error_line(err, "mine", "not a run folder")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_run_without_completion_marker(data_root, run_copy, capsys):
    run = json.loads((run_copy / "run.json").read_text())
    del run["complete"]
    (run_copy / "run.json").write_text(json.dumps(run))
    code, _, err = cli(capsys, *evaluate_args(data_root, run_copy))
    assert code == 2
    one_error_line(err, "run.json", "completion marker")


def test_truncated_run_json(data_root, run_copy, capsys):
    text = (run_copy / "run.json").read_text()
    (run_copy / "run.json").write_text(text[: len(text) // 2])
    code, _, err = cli(capsys, *evaluate_args(data_root, run_copy))
    assert code == 2
    one_error_line(err, "run.json", "truncated")


def test_missing_run_json(data_root, run_copy, capsys):
    (run_copy / "run.json").unlink()
    code, _, err = cli(capsys, *evaluate_args(data_root, run_copy))
    assert code == 2
    one_error_line(err, "not a finished run", "no run.json")


def test_missing_model_file(data_root, run_copy, capsys):
    (run_copy / "pump" / "embedding.npz").unlink()
    code, _, err = cli(capsys, *evaluate_args(data_root, run_copy))
    assert code == 2
    one_error_line(err, str(run_copy / "pump" / "embedding.npz"), "missing")


def test_truncated_model_file(data_root, run_copy, capsys):
    model_file = run_copy / "fan" / "embedding.npz"
    model_file.write_bytes(model_file.read_bytes()[:1000])
    code, _, err = cli(capsys, *evaluate_args(data_root, run_copy))
    assert code == 2
    one_error_line(err, str(model_file), "truncated")


def test_score_on_a_damaged_run(data_root, run_copy, capsys):
    (run_copy / "fan" / "detector.json").write_text("{")
    clip = next((data_root / "fan" / "test").glob("*.wav"))
    code, _, err = cli(capsys, "score", "--run", run_copy, clip)
    assert code == 2
    one_error_line(err, "detector.json")


def test_config_that_does_not_match_the_models(data_root, run_copy, capsys):
    config = (run_copy / "config.yaml").read_text()
    (run_copy / "config.yaml").write_text(config.replace("n_mels: 128", "n_mels: 64"))
    code, _, err = cli(capsys, *evaluate_args(data_root, run_copy))
    assert code == 2
    one_error_line(err, "config.yaml", "not the config the models were trained with")


# -- 2. truncated and short WAVs ---------------------------------------------------------------


def _truncate(path: Path, *, keep_bytes: int) -> None:
    path.write_bytes(path.read_bytes()[:keep_bytes])


def test_truncated_wavs_are_warned_about_and_short_ones_skipped(data_copy, tmp_path, capsys, caplog):
    train_dir = data_copy / "fan" / "train"
    clips = sorted(train_dir.glob("*.wav"))
    _truncate(clips[0], keep_bytes=44 + 2 * 16000 * 3)  # 3 s left of 10: usable, with a warning
    _truncate(clips[1], keep_bytes=44 + 10)  # a header plus a few bytes: skipped
    with caplog.at_level("WARNING"):
        code, _, _ = cli(
            capsys, "train", "--data", data_copy, "--model", MODEL, "--out", tmp_path / "run", "--no-cache"
        )
    assert code == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(clips[0].name in w and "truncated" in w and "header promises 160000 frames" in w for w in warnings), (
        warnings
    )
    assert any(clips[1].name in w and "shorter than the 1 s minimum" in w for w in warnings), warnings
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [Path(item["path"]).name for item in run["skipped"]] == [clips[1].name]
    assert "truncated" in run["skipped"][0]["problem"]
    assert run["n_train_clips"]["fan"] == len(clips) - 1
    skipped = pd.read_csv(tmp_path / "run" / "skipped.csv")
    assert skipped.path.map(lambda p: Path(p).name).tolist() == [clips[1].name]


def test_minimum_clip_length_is_configurable(data_copy, tmp_path, capsys):
    clip = sorted((data_copy / "fan" / "train").glob("*.wav"))[0]
    _truncate(clip, keep_bytes=44 + 2 * 16000 * 3)  # 3 s
    (tmp_path / "c.yaml").write_text("audio:\n  min_seconds: 5\n")
    code, _, _ = cli(
        capsys,
        "train",
        "--data",
        data_copy,
        "--model",
        MODEL,
        "--out",
        tmp_path / "run",
        "--no-cache",
        "--config",
        tmp_path / "c.yaml",
    )
    assert code == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [Path(item["path"]).name for item in run["skipped"]] == [clip.name]
    assert "shorter than the 5 s minimum (audio.min_seconds)" in run["skipped"][0]["problem"]


def test_short_test_clips_are_listed_in_skipped_csv(data_root, data_copy, run_copy, capsys):
    clip = sorted((data_copy / "fan" / "test").glob("*.wav"))[0]
    sf.write(clip, np.zeros(800), 16000, subtype="PCM_16")  # a complete but 0.05 s clip
    code, _, _ = cli(capsys, *evaluate_args(data_copy, run_copy), "--machine-types", "fan")
    assert code == 0
    skipped = pd.read_csv(run_copy / "results" / "skipped.csv")
    assert skipped.path.map(lambda p: Path(p).name).tolist() == [clip.name]
    assert skipped.problem[0].startswith("0.05 s long, shorter than")


# -- 3. config and option values -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, key, expected",
    [
        ("training: {epochs: 5}\n", "config.training.epochs", "expected a mapping of strings to integers, got int 5"),
        ("image:\n  n_mels: sixty-four\n", "config.image.n_mels", "expected an integer, got str 'sixty-four'"),
        ("image:\n  n_mels: 0\n", "config.image.n_mels", "must be >= 1, got 0"),
        ("max_fpr: 2\n", "config.max_fpr", "must be > 0 and <= 1, got 2"),
    ],
)
def test_config_values_of_wrong_type_or_range(data_root, tmp_path, capsys, text, key, expected):
    (tmp_path / "bad.yaml").write_text(text)
    code, _, err = cli(
        capsys,
        "train",
        "--data",
        data_root,
        "--model",
        MODEL,
        "--out",
        tmp_path / "run",
        "--config",
        tmp_path / "bad.yaml",
    )
    assert code == 2
    one_error_line(err, "bad.yaml", key, expected)
    assert not (tmp_path / "run").exists()


def test_config_that_is_a_folder(data_root, tmp_path, capsys):
    code, _, err = cli(
        capsys, "train", "--data", data_root, "--model", MODEL, "--out", tmp_path / "run", "--config", tmp_path
    )
    assert code == 2
    one_error_line(err, str(tmp_path), "is a folder")


def test_config_that_is_not_utf8(data_root, tmp_path, capsys):
    (tmp_path / "latin1.yaml").write_bytes("max_fpr: 0.1 # r\xe9glage\n".encode("latin-1"))
    code, _, err = cli(
        capsys,
        "train",
        "--data",
        data_root,
        "--model",
        MODEL,
        "--out",
        tmp_path / "run",
        "--config",
        tmp_path / "latin1.yaml",
    )
    assert code == 2
    one_error_line(err, "latin1.yaml", "not UTF-8")


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--data", "{data}", "--model", MODEL, "--out", "{file}"],
        ["train", "--data", "{data}", "--model", MODEL, "--out", "{run}", "--cache", "{file}"],
        ["evaluate", "--data", "{data}", "--run", "{finished}", "--out", "{file}"],
        ["evaluate", "--data", "{data}", "--run", "{finished}", "--cache", "{file}"],
        ["generate", "--size", "tiny", "--out", "{file}"],
    ],
    ids=["train --out", "train --cache", "evaluate --out", "evaluate --cache", "generate --out"],
)
def test_folder_option_that_is_an_existing_file(data_root, finished_run, tmp_path, capsys, command):
    existing = tmp_path / "existing.txt"
    existing.write_text("not a folder")
    values = {"data": data_root, "file": existing, "run": tmp_path / "run", "finished": finished_run}
    code, _, err = cli(capsys, *[part.format(**values) for part in command])
    assert code == 2
    one_error_line(err, str(existing), "is an existing file")
    assert existing.read_text() == "not a folder"


# -- 4. disk full ------------------------------------------------------------------------------


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_writing_results(data_root, run_copy, capsys, monkeypatch):
    monkeypatch.setattr(pd.DataFrame, "to_csv", _disk_full)
    code, _, err = cli(capsys, *evaluate_args(data_root, run_copy))
    assert code == 2
    one_error_line(err, str(run_copy / "results"), "No space left on device", "nothing was changed")
    assert not [p for p in (run_copy / "results").glob(".*tmp-*")]  # no temporary file left


def test_disk_full_while_writing_a_run(data_root, run_copy, capsys, monkeypatch):
    before = folder_digest(run_copy)
    monkeypatch.setattr(pd.DataFrame, "to_csv", _disk_full)
    code, _, err = cli(
        capsys, "train", "--data", data_root, "--model", MODEL, "--out", run_copy, "--no-cache", "--overwrite"
    )
    assert code == 2
    one_error_line(err, str(run_copy), "No space left on device", "the previous run, if any, is intact")
    assert folder_digest(run_copy) == before
    assert sorted(p.name for p in run_copy.parent.iterdir()) == ["run"]


def test_cache_write_failure_does_not_abort_training(data_root, tmp_path, capsys, monkeypatch, caplog):
    import builtins

    from asd.features import packs, store

    def open_on_a_full_disk(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path / "cache")):
            _disk_full()
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(packs.PackWriter, "add", _disk_full)
    monkeypatch.setattr(store, "open", open_on_a_full_disk, raising=False)
    with caplog.at_level("WARNING"):
        code, out, _ = cli(
            capsys,
            "train",
            "--data",
            data_root,
            "--model",
            MODEL,
            "--out",
            tmp_path / "run",
            "--cache",
            tmp_path / "cache",
        )
    assert code == 0 and "trained" in out
    assert "No space left on device" in caplog.text and str(tmp_path / "cache") in caplog.text
    assert cli(capsys, *evaluate_args(data_root, tmp_path / "run")[:-1], "--cache", tmp_path / "cache")[0] == 0


# -- 5. the top-level handler --------------------------------------------------------------------


def test_unexpected_error_is_one_line_and_debug_shows_the_traceback(data_root, tmp_path, capsys, monkeypatch):
    import asd.pipeline

    def broken(*args, **kwargs):
        raise ZeroDivisionError("something nobody expected")

    monkeypatch.setattr(asd.pipeline, "train", broken)
    args = ["train", "--data", data_root, "--model", MODEL, "--out", tmp_path / "run"]
    code, _, err = cli(capsys, *args)
    assert code == 1
    one_error_line(
        err, "asd train: error: ZeroDivisionError: something nobody expected", "rerun with --debug for the traceback"
    )
    code, _, err = cli(capsys, "--debug", *args)
    assert code == 1 and "Traceback (most recent call last)" in err and "ZeroDivisionError" in err


def test_ctrl_c_is_a_clean_line(data_root, tmp_path, capsys, monkeypatch):
    import asd.pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(asd.pipeline, "train", interrupted)
    code, _, err = cli(capsys, "train", "--data", data_root, "--model", MODEL, "--out", tmp_path / "run")
    assert code == 130
    one_error_line(err, "asd train: interrupted")


# -- 6. permissions ------------------------------------------------------------------------------


def test_written_files_honour_the_umask(data_root, tmp_path, capsys):
    previous = os.umask(0o022)
    try:
        assert (
            cli(capsys, "train", "--data", data_root, "--model", MODEL, "--out", tmp_path / "run", "--no-cache")[0] == 0
        )
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert set(modes.values()) == {0o644}, modes


# -- 7. the default model ------------------------------------------------------------------------


def test_train_without_model_fits_the_default_detector(data_root, tmp_path, capsys):
    from asd.config import DEFAULT_MODEL
    from asd.detectors import DETECTORS

    code, _, _ = cli(
        capsys, "train", "--data", data_root, "--out", tmp_path / "run", "--no-cache", "--machine-types", "fan"
    )
    assert code == 0
    expected = DEFAULT_MODEL if DEFAULT_MODEL in DETECTORS else "embedding_mahalanobis"
    assert json.loads((tmp_path / "run" / "run.json").read_text())["model"] == expected
