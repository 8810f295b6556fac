import subprocess
import sys

import pandas as pd
import pytest

from asd.cli import main


def test_help_of_every_command(capsys):
    for command in ("generate", "train", "evaluate", "models", "download"):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        assert "usage: asd " + command in capsys.readouterr().out


def test_entry_point_is_installed():
    result = subprocess.run([sys.executable, "-m", "asd.cli", "--help"], capture_output=True, text=True, check=True)
    assert "generate" in result.stdout and "evaluate" in result.stdout


def test_models_lists_names_and_parameter_counts(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    counts = {line.split("\t")[0]: int(line.split("\t")[1]) for line in lines}
    assert counts["conv_ae"] == 259_971
    assert {"dense_ae", "conv_vae"} <= set(counts)


def test_unknown_model_is_a_clear_error(tmp_path, tiny_root, capsys):
    assert main(["train", "--data", str(tiny_root), "--model", "nope", "--out", str(tmp_path / "r")]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_missing_data_folder(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "none"), "--model", "conv_ae", "--out", str(tmp_path / "r")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err


@pytest.mark.slow
def test_generate_train_evaluate_through_the_cli(tmp_path, capsys):
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["-q", "generate", "--out", str(data), "--size", "tiny", "--machine-types", "valve"]) == 0
    assert "clips in" in capsys.readouterr().out
    for model in ("conv_ae", "dense_ae"):
        args = [
            "--data",
            str(data),
            "--model",
            model,
            "--out",
            str(run / model),
            "--epochs",
            "1",
            "--cache",
            str(tmp_path / "cache"),
        ]
        assert main(["-q", "train", *args]) == 0
        assert main(["-q", "evaluate", "--data", str(data), "--run", str(run / model)]) == 0
        printed = capsys.readouterr().out
        assert "mean over machine types: AUC" in printed
        results = pd.read_csv(run / model / "results" / "results.csv", dtype={"machine_id": str})
        assert results.machine_type.unique().tolist() == ["valve"]
        assert results.model.unique().tolist() == [model]
        assert len(results) == 4  # the four development IDs


def test_default_model_resolves_to_a_registered_detector():
    from asd.cli import resolve_model
    from asd.config import DEFAULT_MODEL
    from asd.detectors import DETECTORS

    assert resolve_model("conv_ae") == "conv_ae"
    assert resolve_model(None) == DEFAULT_MODEL == "multistat" and DEFAULT_MODEL in DETECTORS


def test_debug_after_the_command_shows_the_traceback(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r"), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.strip().splitlines()[-1].startswith("asd train: error: ")


def test_multi_line_messages_become_one_line(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text(":\n  - :")
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path),
                "--model",
                "conv_ae",
                "--out",
                str(tmp_path / "r"),
                "--config",
                str(tmp_path / "bad.yaml"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "bad.yaml: not valid YAML" in err


def test_own_recordings_flat_folder_to_explained_flags(tiny_root, tmp_path, capsys):
    """README "Your own machine": a flat folder of normal WAVs with any names, the machine named by
    flags, the recommended detector (no --model), then `asd score` sorted, explained, as JSON."""
    import json
    import shutil

    recordings, incoming = tmp_path / "recordings", tmp_path / "incoming"
    recordings.mkdir()
    incoming.mkdir()
    for index, clip in enumerate(sorted((tiny_root / "fan" / "train").glob("normal_id_00_*.wav"))):
        shutil.copy(clip, recordings / f"rec_{index:03d}.wav")
    for index, clip in enumerate(sorted((tiny_root / "fan" / "test").glob("*_id_00_*.wav"))):
        shutil.copy(clip, incoming / f"{clip.name.split('_')[0]}_{index:02d}.wav")
    run = tmp_path / "run"
    argv = ["-q", "train", "--data", str(recordings), "--machine-type", "compressor", "--machine-id", "3"]
    assert main([*argv, "--out", str(run), "--no-cache"]) == 0
    info = json.loads((run / "run.json").read_text())
    assert info["model"] == "multistat" and info["machine_types"] == ["compressor"]
    assert info["data_machine_type"] == "compressor" and info["data_machine_id"] == "3"
    capsys.readouterr()
    assert main(["-q", "score", "--run", str(run), str(incoming), "--machine-type", "compressor", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["clips"]
    assert len(rows) == len(list(incoming.glob("*.wav")))
    scores = [row["score"] for row in rows]
    assert scores == sorted(scores, reverse=True)
    flagged = [row for row in rows if row["anomalous"]]
    assert flagged and all(row["departure"]["top_bands_hz"] and row["departure"]["top_seconds"] for row in flagged)


def test_score_table_shows_the_direction_of_each_departure_and_a_dash_without_machine_id():
    from asd.cli_score import _display_table

    shown = pd.DataFrame(
        {
            "path": ["a.wav", "b.wav"],
            "machine_type": "fan",
            "machine_id": ["", "00"],
            "score": [2.0, 1.0],
            "top_bands_hz": ["912, 4875", ""],
            "top_seconds": ["3-4", ""],
            "problem": "",
        }
    )
    departures = {"a.wav": {"top_bands_hz": [912.4, 4875.0], "top_bands_db": [17.46, -11.0], "top_seconds": [3]}}
    table = _display_table(shown, departures)
    assert table["departure"].tolist() == ["+17.5 dB at 912 Hz, \u221211.0 dB at 4.9 kHz", ""]
    assert table["machine_id"].tolist() == ["\u2013", "00"] and "problem" not in table.columns


def test_thresholds_fitted_on_few_clips_say_what_they_cannot_resolve(tmp_path):
    from asd.cli_score import _header, _threshold_resolution

    ids = {"00": {"threshold": 1.0, "n_train": 30}, "02": {"threshold": 1.0, "n_train": 40}}
    summary = {
        "data_kind": "real",
        "data_fingerprint": "f",
        "data_root": "d",
        "model": "multistat",
        "machine_types": ["fan"],
    }
    few = _threshold_resolution({"fan": {"false_alarm_rate": 0.01, "ids": ids}}, {"fan": 0.01})
    assert few == {"n_train": 30, "machine": "fan id 00", "resolvable_rate": 1 / 30, "resolved": False}
    header = _header(tmp_path, summary, {"fan": 0.01}, few)
    assert "rates below 1/30 = 3.3% cannot be resolved on 30 clips" in header
    assert "expected false-alarm rate" not in header
    enough = _threshold_resolution({"fan": {"false_alarm_rate": 0.1, "ids": ids}}, {"fan": 0.1})
    assert enough["resolved"] and "expected false-alarm rate 10%" in _header(tmp_path, summary, {"fan": 0.1}, enough)
