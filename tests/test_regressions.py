"""Regression cases of issue 25 ("nothing silently wrong, round 2"), driven through ``asd.cli.main``.

Each case ends in a correct result or in one line naming the file or option, exit status 2; the
README's "Bad input" section lists them. One multistat run on tiny synthetic fan and pump clips
is shared by the module.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from test_bad_input import cli, one_error_line

from asd.cli import main

MODEL = "multistat"  # frame-sequence features: the clip-length path applies


@pytest.fixture(scope="module")
def data_root(tiny_root) -> Path:
    """The session's tiny synthetic data set (read-only use; copy before damaging)."""
    return tiny_root


@pytest.fixture(scope="module")
def run_dir(data_root, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run") / "run"
    argv = ["-q", "train", "--data", str(data_root), "--machine-types", "fan", "pump", "--model", MODEL]
    assert main([*argv, "--out", str(run), "--no-cache"]) == 0
    return run


def train(capsys, data: Path, out: Path, *options) -> None:
    code, _, err = cli(capsys, "train", "--data", data, "--model", MODEL, "--out", out, "--no-cache", *options)
    assert code == 0, err


def score_csv(capsys, run_dir, tmp_path, *paths, extra=()) -> pd.DataFrame:
    out = tmp_path / f"scores-{time.monotonic_ns()}.csv"
    code, _, err = cli(capsys, "score", "--run", run_dir, *paths, "--out", out, *extra)
    assert code in (0, 1), err
    return pd.read_csv(out, dtype=str, keep_default_na=False)


def write(path: Path, samples: np.ndarray, sample_rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, sample_rate, subtype="PCM_16")
    return path


# -- 1. clips of another length than the training clips ------------------------------------------


def test_clip_length_is_recorded_and_training_length_scores_are_unchanged(data_root, run_dir):
    from asd.features import FeatureCache, extract_features
    from asd.pipeline import load_detector, load_run
    from asd.scoring import score_paths

    run = load_run(run_dir)
    config = run.config
    assert run.info["train_frames"]["fan"] == {"min": 313, "median": 313, "max": 313}
    paths = sorted(str(p) for p in (data_root / "fan" / "test").glob("*.wav"))
    table = score_paths(run_dir, paths).set_index("path")
    features = extract_features(
        paths, kind="baseline", config=config, cache=FeatureCache(None), progress=False
    ).features
    direct = load_detector(run_dir, "fan").score(features, [Path(p).name.split("_")[2] for p in paths])
    np.testing.assert_array_equal(table.loc[paths, "score"].to_numpy(float), direct)  # bit-identical
    assert (table["note"] == "").all()


def test_halves_are_matched_to_cut_training_clips_and_a_repeat_scores_as_the_clip(data_root, run_dir, tmp_path, capsys):
    """Issue 25, item 1: a normal clip's halves scored far above the threshold, without a word."""
    scores = score_csv(capsys, run_dir, tmp_path, data_root / "fan" / "test")
    normal = scores[(scores["problem"] == "") & scores["path"].str.contains("/normal_") & (scores["anomalous"] == "no")]
    assert len(normal), "the tiny run scores none of its normal test clips below the threshold"
    clips = tmp_path / "clips" / "fan"
    for row in normal.itertuples():
        samples, rate = sf.read(row.path)
        stem = Path(row.path).stem
        write(clips / f"{stem}_first.wav", samples[: len(samples) // 2], rate)
        write(clips / f"{stem}_second.wav", samples[len(samples) // 2 :], rate)
        write(clips / f"{stem}_x3.wav", np.concatenate([samples] * 3), rate)
        write(clips / f"{stem}_tiny.wav", samples[: len(samples) // 8], rate)
    table = score_csv(capsys, run_dir, tmp_path, clips).set_index("path")
    for row in normal.itertuples():
        stem = Path(row.path).stem
        for half in ("first", "second"):
            matched = table.loc[str(clips / f"{stem}_{half}.wav")]
            assert matched["problem"] == "" and np.isfinite(float(matched["score"]))
            assert (
                "0.50x the training clips' length: scored against the training clips cut to its length"
                in matched["note"]
            )
        assert table.loc[str(clips / f"{stem}_tiny.wav"), "problem"].startswith("too short: 40 frames, 0.13x")
        long = table.loc[str(clips / f"{stem}_x3.wav")]
        assert long["problem"] == "" and long["anomalous"] == "no", long.to_dict()
        assert float(long["score"]) <= float(long["threshold"])
        assert "median score of 3 windows" in long["note"]


def test_real_fan_halves_score_as_normal_and_two_clips_in_a_row_not_flagged(mimii_root, tmp_path, capsys):
    """The real MIMII fan sample: 14 normal clips train; the 6 others, their halves and pairs of them, and
    halves of abnormal clips are scored. Halves land in the run's normal range; abnormal halves stay flagged."""
    files = sorted((mimii_root / "fan" / "id_00" / "normal").glob("*.wav"))
    normal = tmp_path / "train" / "fan" / "id_00" / "normal"
    normal.mkdir(parents=True)
    for path in files[:14]:
        (normal / path.name).symlink_to(path)
    run = tmp_path / "run"
    train(capsys, tmp_path / "train", run)
    clips = tmp_path / "clips" / "fan" / "id_00"
    held_out = files[14:]
    for i, path in enumerate(held_out):
        samples = sf.read(path, always_2d=True)[0][:, 0]
        following = sf.read(held_out[(i + 1) % len(held_out)], always_2d=True)[0][:, 0]
        write(clips / f"half_{i}.wav", samples[: len(samples) // 2])
        write(clips / f"latter_{i}.wav", samples[len(samples) // 2 :])
        write(clips / f"pair_{i}.wav", np.concatenate([samples, following]))
    for i, path in enumerate(sorted((mimii_root / "fan" / "id_00" / "abnormal").glob("*.wav"))[:6]):
        samples = sf.read(path, always_2d=True)[0][:, 0]
        write(clips / f"abnormal_half_{i}.wav", samples[: len(samples) // 2])
    table = score_csv(capsys, run, tmp_path, clips)
    halves = table[table["path"].str.contains("/half_|/latter_")]
    abnormal, pairs = table[table["path"].str.contains("abnormal_half_")], table[table["path"].str.contains("pair_")]
    train_scores = pd.read_csv(run / "fan" / "train_scores.csv")["score"]
    assert len(halves) == 12 and (halves["problem"] == "").all()
    assert halves["note"].str.contains("scored against the training clips cut to its length").all()
    flagged = int((halves["anomalous"] == "yes").sum())
    assert flagged <= 2, halves[["path", "score", "threshold"]]  # the run's rate is 10 %: about 1 in 10 normal clips
    assert train_scores.min() <= halves["score"].astype(float).median() <= train_scores.max()
    assert int((abnormal["anomalous"] == "yes").sum()) >= 4, abnormal[["path", "score", "threshold"]]
    assert (pairs["problem"] == "").all() and (pairs["anomalous"] == "no").all(), pairs[["path", "score", "threshold"]]
    from asd.features import FeatureCache, extract_features
    from asd.pipeline import load_detector, load_run

    config = load_run(run).config
    features = extract_features(
        pairs["path"].tolist(),
        kind="baseline",
        config=config,
        cache=FeatureCache(None),
        progress=False,
    )
    whole = load_detector(run, "fan").score(features.features, ["00"] * len(pairs))  # the pairs scored whole, as before
    assert (whole > pairs["threshold"].astype(float).to_numpy()).any()


# -- 2. no output replaces an input; outputs checked before scoring -----------------------------


def test_out_over_an_input_is_refused_and_the_recording_kept(data_root, run_dir, tmp_path, capsys):
    victim = tmp_path / "fan" / "victim.wav"
    victim.parent.mkdir()
    shutil.copy(data_root / "fan" / "test" / "normal_id_00_00000000.wav", victim)
    before = victim.read_bytes()
    for target in (victim, tmp_path / "fan" / "." / "victim.wav"):
        code, out, err = cli(capsys, "score", "--run", run_dir, "--out", target, victim)
        assert code == 2 and out == ""
        one_error_line(err, "--out", "is one of the files to score")
    code, _, err = cli(capsys, "score", "--run", run_dir, "--out", victim, tmp_path / "fan")
    assert code == 2
    assert victim.read_bytes() == before


@pytest.mark.parametrize("option", ["--out", "--figures"])
def test_an_output_of_the_wrong_kind_is_refused_before_scoring(data_root, run_dir, tmp_path, capsys, option):
    existing = tmp_path / ("folder" if option == "--out" else "file.txt")
    existing.mkdir() if option == "--out" else existing.write_text("x")
    code, out, err = cli(capsys, "score", "--run", run_dir, option, existing, data_root / "fan" / "test")
    assert code == 2 and out == ""
    one_error_line(err, option, str(existing), "existing")


def test_a_255_character_clip_name_gets_a_figure(data_root, run_dir, tmp_path, capsys):
    name = "anomaly_id_00_" + "x" * (255 - len("anomaly_id_00_.wav")) + ".wav"
    clip = tmp_path / "fan" / name
    clip.parent.mkdir()
    shutil.copy(data_root / "fan" / "test" / "anomaly_id_00_00000000.wav", clip)
    code, _, err = cli(capsys, "score", "--run", run_dir, clip, "--figures", tmp_path / "figures")
    assert code == 0, err
    figures = list((tmp_path / "figures").glob("*.png"))
    assert len(figures) == 1 and len(figures[0].name) <= 255


def test_a_file_name_that_is_not_utf8_is_written_to_the_csv(data_root, run_dir, tmp_path, capsys):
    folder = tmp_path / "fan"
    folder.mkdir()
    odd = os.fsdecode(b"normal_id_00_caf\xe9.wav")
    shutil.copy(data_root / "fan" / "test" / "normal_id_00_00000000.wav", folder / odd)
    code, out, err = cli(capsys, "score", "--run", run_dir, folder, "--out", tmp_path / "odd.csv")
    assert code == 0, err
    assert "caf\\xe9.wav" in out  # printed as its bytes
    assert b"caf\xe9.wav" in (tmp_path / "odd.csv").read_bytes()


# -- 5. machine IDs the run has no threshold for ------------------------------------------------


def test_a_test_id_without_training_clips_is_reported_as_unseen(data_root, run_dir, tmp_path, capsys, caplog):
    data = tmp_path / "data"
    shutil.copytree(data_root / "fan", data / "fan")
    for path in (data / "fan" / "test").glob("*_id_06_*.wav"):
        path.rename(path.with_name(path.name.replace("_id_06_", "_id_08_")))
    code, out, err = cli(
        capsys,
        "evaluate",
        "--data",
        data,
        "--run",
        run_dir,
        "--out",
        tmp_path / "results",
        "--machine-types",
        "fan",
    )
    assert code == 0, err
    assert "unseen ID: no training clips, pooled threshold" in out
    results = pd.read_csv(
        tmp_path / "results" / "results.csv",
        dtype={"machine_id": str},
        keep_default_na=False,
    )
    notes = dict(zip(results["machine_id"], results["note"]))
    assert notes["08"] == "unseen ID: no training clips, pooled threshold"
    assert notes["00"] == ""
    assert "fan id 08: no training clips: decided with the pooled fan threshold" in caplog.text


@pytest.mark.parametrize("machine_id", ["99", "7"])
def test_score_with_a_machine_id_not_in_the_run_says_so(data_root, run_dir, tmp_path, capsys, machine_id):
    table = score_csv(
        capsys,
        run_dir,
        tmp_path,
        data_root / "fan" / "test" / "normal_id_00_00000000.wav",
        extra=("--machine-id", machine_id),
    )
    assert table.loc[0, "note"].startswith(
        f"machine ID {machine_id.zfill(2)} has no training clips in the run (IDs 00, 02, 04, 06)"
    )


def test_score_with_a_machine_id_that_is_not_a_number_is_refused(data_root, run_dir, capsys):
    code, _, err = cli(
        capsys,
        "score",
        "--run",
        run_dir,
        "--machine-id",
        "abc",
        data_root / "fan" / "test",
    )
    assert code == 2
    one_error_line(err, "--machine-id 'abc'", "expected a number")


def test_a_clip_outside_a_machine_folder_says_its_type_was_assumed(data_root, tmp_path, capsys):
    run = tmp_path / "run"
    train(capsys, data_root, run, "--machine-types", "fan")
    clip = tmp_path / "elsewhere" / "normal_id_00_00000000.wav"
    clip.parent.mkdir()
    shutil.copy(data_root / "pump" / "test" / "normal_id_00_00000000.wav", clip)
    table = score_csv(capsys, run, tmp_path, clip)
    assert "machine type assumed: the run's only one (fan)" in table.loc[0, "note"]


def test_a_renamed_copy_of_a_training_clip_is_marked(data_root, run_dir, tmp_path, capsys):
    copy = tmp_path / "fan" / "renamed.wav"
    copy.parent.mkdir()
    shutil.copy(data_root / "fan" / "train" / "normal_id_02_00000003.wav", copy)
    table = score_csv(capsys, run_dir, tmp_path, copy, extra=("--machine-id", "02"))
    assert table.loc[0, "training_clip"] == "yes"


# -- what a scored folder holds -----------------------------------------------------------------


def test_fifo_links_and_loops_are_listed_not_opened(data_root, run_dir, tmp_path, capsys):
    folder = tmp_path / "fan"
    folder.mkdir()
    shutil.copy(data_root / "fan" / "test" / "normal_id_00_00000000.wav", folder / "good.wav")
    os.mkfifo(folder / "pipe.wav")
    (folder / "dangling.wav").symlink_to(tmp_path / "nowhere.wav")
    (folder / "loop.wav").symlink_to(folder / "loop.wav")
    started = time.monotonic()
    table = score_csv(capsys, run_dir, tmp_path, folder).set_index("path")
    code, _, _ = cli(capsys, "score", "--run", run_dir, folder / "pipe.wav")  # a FIFO given by name
    assert time.monotonic() - started < 60 and code == 2  # nothing scored: bad input
    assert table.loc[str(folder / "good.wav"), "problem"] == ""
    assert table.loc[str(folder / "pipe.wav"), "problem"].startswith("not a regular file")
    assert table.loc[str(folder / "dangling.wav"), "problem"].startswith("broken symbolic link")
    assert table.loc[str(folder / "loop.wav"), "problem"].startswith("symbolic link loop")


# -- config and option values -------------------------------------------------------------------


@pytest.mark.parametrize(
    "config_text, options, needle",
    [
        ("detectors:\n  multistat:\n    groups: []\n", [], "config.detectors.multistat.groups: must not be empty"),
        ("audio:\n  channel: -1\n", [], "config.audio.channel: must be >= 0, got -1"),
        (None, ["--epochs", "5"], "the multistat detector does not train in epochs"),
        (None, ["--machine-types", "fan", "--machine-type", "pump"], "--machine-types fan leaves it out"),
    ],
    ids=["groups: []", "channel: -1", "--epochs", "--machine-types/--machine-type"],
)
def test_train_values_that_would_be_misread_or_ignored_are_refused(
    data_root, tmp_path, capsys, config_text, options, needle
):
    if config_text is not None:
        (tmp_path / "bad.yaml").write_text(config_text)
        options = [*options, "--config", tmp_path / "bad.yaml"]
    code, _, err = cli(capsys, "train", "--data", data_root, "--model", MODEL, "--out", tmp_path / "run", *options)
    assert code == 2
    one_error_line(err, needle, *(["bad.yaml"] if config_text is not None else []))
    assert not (tmp_path / "run").exists()


def test_a_garbage_thresholds_file_is_named(data_root, run_dir, tmp_path, capsys):
    from asd.runfolder import file_manifest

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / "fan" / "thresholds.json").write_text("{garbage")
    meta = json.loads((run / "run.json").read_text())
    meta["files"] = file_manifest(run)  # the checksum updated: the file itself must be judged
    (run / "run.json").write_text(json.dumps(meta))
    code, _, err = cli(capsys, "score", "--run", run, data_root / "fan" / "test")
    assert code == 2
    one_error_line(err, str(run / "fan" / "thresholds.json"), "not a thresholds file")


def test_a_second_training_into_the_same_folder_is_refused(data_root, tmp_path, capsys, monkeypatch):
    import asd.pipeline

    out = tmp_path / "run"
    inside, release = threading.Event(), threading.Event()
    real_train = asd.pipeline.train

    def slow_train(*args, **kwargs):
        inside.set()
        release.wait(30)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(asd.pipeline, "train", slow_train)
    codes = []
    argv = ["-q", "train", "--data", str(data_root), "--model", MODEL, "--out", str(out), "--no-cache"]
    first = threading.Thread(target=lambda: codes.append(main(argv)))
    first.start()
    assert inside.wait(30)
    monkeypatch.setattr(asd.pipeline, "train", real_train)
    second = main(argv)
    release.set()
    first.join(60)
    assert second == 2 and codes == [0]
    assert "another `asd train` is writing a run there now" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # the lock file is gone with the lock


# -- download -----------------------------------------------------------------------------------


def test_download_from_a_refused_port_fails_at_once(tmp_path, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    code, _, err = cli(
        capsys,
        "download",
        "--to",
        tmp_path / "dl",
        "--machine-types",
        "fan",
        "--base-url",
        f"http://127.0.0.1:{port}",
    )
    assert time.monotonic() - started < 10
    assert code == 2
    one_error_line(err, "dev_data_fan.zip", "Connection refused")
