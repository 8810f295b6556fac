import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from asd.cli import main
from asd.errors import ASDError, ConfigError
from asd.pipeline import train
from asd.scoring import COLUMNS, collect_wav_files, infer_machine, score_paths
from asd.thresholds import quantile_of


@pytest.fixture(scope="module")
def knn_run(tiny_root, tmp_path_factory) -> Path:
    """embedding_knn trained on the tiny fan and valve data (fast, no Keras)."""
    run_dir = tmp_path_factory.mktemp("score") / "run"
    train(
        tiny_root, model="embedding_knn", out=run_dir, machine_types=["fan", "valve"], cache_dir=False, progress=False
    )
    return run_dir


@pytest.fixture
def new_recordings(tiny_root, tmp_path) -> Path:
    """A folder of recordings as they might arrive: good ones, an empty file, a garbage file, a NaN file."""
    folder = tmp_path / "incoming" / "fan" / "test"
    folder.mkdir(parents=True)
    for name in ("normal_id_00_00000000.wav", "anomaly_id_02_00000001.wav"):
        shutil.copy(tiny_root / "fan" / "test" / name, folder / name)
    nested = tmp_path / "incoming" / "fan" / "test" / "later"
    nested.mkdir()
    shutil.copy(tiny_root / "fan" / "test" / "normal_id_04_00000001.wav", nested / "normal_id_04_00000001.wav")
    (folder / "empty_id_00_00000009.wav").write_bytes(b"")
    (folder / "garbage_id_00_00000010.wav").write_bytes(np.random.default_rng(0).bytes(4000))
    nan_samples = np.zeros(16000, dtype=np.float32)
    nan_samples[100] = np.nan
    sf.write(folder / "nan_id_00_00000011.wav", nan_samples, 16000, subtype="FLOAT")
    (folder / ".hidden.wav").write_bytes(b"")  # hidden: never read
    return tmp_path / "incoming"


@pytest.mark.parametrize(
    "path, expected",
    [
        ("data/fan/test/anomaly_id_02_00000007.wav", ("fan", "02")),
        ("data/fan/train/normal_id_00_00000000.wav", ("fan", "00")),
        ("eval/valve/test/id_04_00000003.wav", ("valve", "04")),
        ("mimii/fan/id_06/abnormal/00000001.wav", ("fan", "06")),
        ("somewhere/id_04/rec.wav", (None, "04")),
        ("recording.wav", (None, None)),
        ("fan/valid_ids.wav", ("fan", None)),
    ],
)
def test_infer_machine(path, expected):
    assert infer_machine(path, ["fan", "valve"]) == expected


def test_collect_wav_files(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "x.wav").write_bytes(b"")
    (tmp_path / "a" / "b" / "y.WAV").write_bytes(b"")
    (tmp_path / "a" / "notes.txt").write_text("hi")
    (tmp_path / "a" / ".h.wav").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    files, problems = collect_wav_files(
        [tmp_path / "a", tmp_path / "a" / "x.wav", tmp_path / "missing.wav", tmp_path / "empty"]
    )
    assert [p.name for p in files] == ["y.WAV", "x.wav"]  # sorted by path, no duplicate
    assert [(Path(p).name, why) for p, why in problems] == [
        ("missing.wav", "file not found"),
        ("empty", "folder holds no .wav file"),
    ]


def test_score_paths_reports_bad_files_and_scores_the_rest(knn_run, new_recordings):
    table = score_paths(knn_run, [new_recordings])
    assert list(table.columns) == COLUMNS
    by_name = {Path(p).name: row for p, row in zip(table.path, table.itertuples())}
    assert set(by_name) == {
        "normal_id_00_00000000.wav",
        "anomaly_id_02_00000001.wav",
        "normal_id_04_00000001.wav",
        "empty_id_00_00000009.wav",
        "garbage_id_00_00000010.wav",
        "nan_id_00_00000011.wav",
    }
    good = table[table.problem == ""]
    assert len(good) == 3 and (good.machine_type == "fan").all()
    assert sorted(good.machine_id) == ["00", "02", "04"]
    assert np.isfinite(good.score).all() and np.isfinite(good.threshold).all()
    assert (good.anomalous == np.where(good.score > good.threshold, "yes", "no")).all()
    assert "empty" in by_name["empty_id_00_00000009.wav"].problem
    assert "decode" in by_name["garbage_id_00_00000010.wav"].problem
    assert "NaN" in by_name["nan_id_00_00000011.wav"].problem


def test_scores_match_evaluate(knn_run, tiny_root):
    """Scoring a clip with `asd score` gives the score `asd evaluate` gives it."""
    from asd.pipeline import evaluate

    evaluate(tiny_root, run_dir=knn_run, out=knn_run / "results", cache_dir=False, progress=False)
    expected = pd.read_csv(knn_run / "results" / "scores.csv", dtype={"machine_id": str})
    table = score_paths(knn_run, [tiny_root / "valve" / "test"])
    merged = table.assign(path=table.path.astype(str)).merge(expected, on="path", suffixes=("", "_evaluate"))
    assert len(merged) == len(expected[expected.machine_type == "valve"])
    np.testing.assert_allclose(merged.score, merged.score_evaluate, rtol=1e-9)
    np.testing.assert_allclose(merged.threshold, merged.threshold_evaluate, rtol=1e-12)
    assert (merged.anomalous.map({"yes": "anomaly", "no": "normal"}) == merged.decision).all()


def test_explicit_machine_type_and_id(knn_run, tiny_root, tmp_path):
    plain = tmp_path / "rec.wav"
    shutil.copy(tiny_root / "valve" / "test" / "normal_id_02_00000000.wav", plain)
    unknown = score_paths(knn_run, [plain])
    assert unknown.problem[0].startswith("machine type unknown")
    given = score_paths(knn_run, [plain], machine_type="valve", machine_id="2")
    assert (given.machine_type[0], given.machine_id[0], given.problem[0]) == ("valve", "02", "")
    no_id = score_paths(knn_run, [plain], machine_type="valve")
    assert no_id.machine_id[0] == "" and np.isfinite(no_id.score[0])  # scored against every valve ID
    with pytest.raises(ASDError, match="no model for machine type 'pump'"):
        score_paths(knn_run, [plain], machine_type="pump")


def test_cli_score_writes_csv_and_reports_bad_files(knn_run, new_recordings, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    assert main(["-q", "score", "--run", str(knn_run), str(new_recordings), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "3 scored" in captured.out and "3 not scored" in captured.out
    assert "empty_id_00_00000009.wav: empty file" in captured.err
    assert "garbage_id_00_00000010.wav: cannot decode" in captured.err
    written = pd.read_csv(out, dtype={"machine_id": str}, keep_default_na=False)
    assert list(written.columns) == COLUMNS and len(written) == 6
    assert set(written.anomalous) <= {"yes", "no", ""} and (written.anomalous == "").sum() == 3
    assert (written.problem != "").sum() == 3


def test_cli_score_fails_only_when_nothing_is_scored(knn_run, new_recordings, capsys):
    bad = new_recordings / "fan" / "test" / "empty_id_00_00000009.wav"
    assert main(["-q", "score", "--run", str(knn_run), str(bad), str(new_recordings / "missing.wav")]) == 2
    err = capsys.readouterr().err
    assert "empty file" in err and "file not found" in err


def test_cli_score_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "x.wav").write_bytes(b"")
    assert main(["-q", "score", "--run", str(tmp_path), str(tmp_path / "x.wav")]) == 2
    assert "not a finished run" in capsys.readouterr().err


def test_asd_models_lists_the_new_detectors(capsys):
    assert main(["models"]) == 0
    lines = {line.split("\t")[0]: line.split("\t") for line in capsys.readouterr().out.splitlines()}
    for name in ("id_classifier", "embedding_knn", "embedding_mahalanobis"):
        assert name in lines
    assert int(lines["id_classifier"][1]) > 10_000
    assert int(lines["embedding_knn"][1]) == 0


def test_rows_are_sorted_by_score_and_flagged_clips_are_explained(knn_run, tiny_root):
    table = score_paths(knn_run, [tiny_root / "fan" / "test"])
    assert list(table.columns) == COLUMNS
    assert (np.diff(table.score.to_numpy()) <= 0).all()
    flagged = table[table.anomalous == "yes"]
    assert len(flagged) > 0
    for row in flagged.itertuples():
        bands = [float(b) for b in row.top_bands_hz.split(", ")]
        assert len(bands) == 3 and all(0 < b < 8000 for b in bands)
        seconds = row.top_seconds.split(", ")
        assert len(seconds) == 2 and all(0 <= int(s.split("-")[0]) < 10 for s in seconds)
        assert table.attrs["departures"][row.path]["top_seconds"] == [int(s.split("-")[0]) for s in seconds]
    unflagged = table[table.anomalous == "no"]
    assert (unflagged.top_bands_hz == "").all() and (unflagged.top_seconds == "").all()
    assert table.attrs["false_alarm_rate"] == {"fan": pytest.approx(0.1)}
    assert (table.training_clip == "no").all()


def test_problem_rows_come_after_the_scored_ones(knn_run, new_recordings):
    table = score_paths(knn_run, [new_recordings])
    assert (table.problem == "").tolist() == [True] * 3 + [False] * 3


def test_a_lower_false_alarm_rate_raises_the_thresholds(knn_run, tiny_root):
    default = score_paths(knn_run, [tiny_root / "fan" / "test"])
    strict = score_paths(knn_run, [tiny_root / "fan" / "test"], false_alarm_rate=0.01)
    merged = default.merge(strict, on="path", suffixes=("", "_strict"))
    assert (merged.threshold_strict > merged.threshold).all()
    assert (merged.score_strict == merged.score).all()
    assert (strict.anomalous == "yes").sum() <= (default.anomalous == "yes").sum()
    assert strict.attrs["false_alarm_rate"] == {"fan": 0.01}
    with pytest.raises(ConfigError, match=r"^false_alarm_rate: must be > 0 and < 1, got 2.0$"):
        score_paths(knn_run, [tiny_root / "fan" / "test"], false_alarm_rate=2.0)
    with pytest.raises(ConfigError, match=r"^--false-alarm-rate: must be > 0 and < 1, got 0.0$"):
        quantile_of(0.0, key="--false-alarm-rate")  # what the CLI calls: the config's one check


def test_training_clips_are_marked_by_path_and_by_content(knn_run, tiny_root, tmp_path, caplog):
    copy = tmp_path / "fan" / "normal_id_00_00000003.wav"
    copy.parent.mkdir()
    shutil.copy(tiny_root / "fan" / "train" / "normal_id_00_00000003.wav", copy)
    same_name_other_clip = tmp_path / "fan" / "normal_id_00_00000000.wav"  # the test clip of that name
    shutil.copy(tiny_root / "fan" / "test" / "normal_id_00_00000000.wav", same_name_other_clip)
    with caplog.at_level("WARNING", logger="asd.scoring"):
        table = score_paths(
            knn_run, [tiny_root / "fan" / "train" / "normal_id_00_00000001.wav", copy, same_name_other_clip]
        )
    marks = {Path(p).name: m for p, m in zip(table.path, table.training_clip)}
    assert marks == {
        "normal_id_00_00000001.wav": "yes",
        "normal_id_00_00000003.wav": "yes",
        "normal_id_00_00000000.wav": "no",
    }
    assert "2 scored file(s) are training clips" in caplog.text


def test_a_path_naming_a_machine_type_the_run_lacks_is_refused(knn_run, tiny_root, tmp_path, capsys):
    pump = tmp_path / "pump" / "test"
    pump.mkdir(parents=True)
    shutil.copy(tiny_root / "pump" / "test" / "normal_id_00_00000000.wav", pump / "normal_id_00_00000000.wav")
    with pytest.raises(ASDError, match="names machine type 'pump'.*fan, valve only; give --machine-type"):
        score_paths(knn_run, [pump])
    assert main(["-q", "score", "--run", str(knn_run), str(pump)]) == 2
    assert "give --machine-type" in capsys.readouterr().err
    forced = score_paths(knn_run, [pump], machine_type="fan")
    assert forced.machine_type.tolist() == ["fan"] and forced.problem.tolist() == [""]


def test_cli_header_top_only_anomalous_and_figures(knn_run, tiny_root, tmp_path, capsys):
    figures = tmp_path / "figs"
    assert (
        main(
            [
                "-q",
                "score",
                "--run",
                str(knn_run),
                str(tiny_root / "fan" / "test"),
                "--top",
                "3",
                "--figures",
                str(figures),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"run {knn_run}: embedding_knn for fan, valve, trained on synthetic data (fingerprint ")
    # 6 training clips per machine ID: a 10% rate cannot be resolved, and the header says so
    assert "fitted for a false-alarm rate of 10% on as few as 6 training clips" in out[1] and "1/6 = 16.7%" in out[1]
    assert out[2].split() == ["departure" if c == "top_bands_hz" else c for c in COLUMNS[:-1]]
    assert len(out) == 3 + 3 + 1 and out[-1].endswith("; 3 shown")
    full = score_paths(knn_run, [tiny_root / "fan" / "test"])
    expected = [
        f"{rank:03d}_{Path(row.path).stem}.png"
        for rank, row in enumerate(full.itertuples(), start=1)
        if row.anomalous == "yes"
    ]
    assert sorted(p.name for p in figures.iterdir()) == expected  # every flagged clip, named by its rank

    assert (
        main(
            [
                "-q",
                "score",
                "--run",
                str(knn_run),
                str(tiny_root / "fan" / "test"),
                "--only-anomalous",
                "--false-alarm-rate",
                "0.02",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert "fitted for a false-alarm rate of 2% on as few as 6 training clips" in out[1]
    assert all(line.split()[5] == "yes" for line in out[3:-1])


def test_cli_json(knn_run, tiny_root, new_recordings, capsys):
    import json

    assert (
        main(
            [
                "-q",
                "score",
                "--run",
                str(knn_run),
                str(tiny_root / "fan" / "test"),
                str(new_recordings),
                "--json",
                "--only-anomalous",
            ]
        )
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert document["run"]["model"] == "embedding_knn" and document["run"]["data_kind"] == "synthetic"
    assert document["false_alarm_rate"] == {"fan": pytest.approx(0.1)}
    clips = document["clips"]
    assert clips and all(c["anomalous"] for c in clips)
    assert [c["score"] for c in clips] == sorted((c["score"] for c in clips), reverse=True)
    assert all(len(c["departure"]["top_bands_hz"]) == 3 for c in clips)
    assert len(document["not_scored"]) == 3


def test_run_summary_says_what_the_run_was_trained_on(knn_run):
    from asd.run import Run
    from asd.scoring import run_summary

    summary = run_summary(knn_run)
    assert summary["data_kind"] == "synthetic" and len(summary["data_fingerprint"]) == 12
    assert run_summary(Run.load(knn_run)) == summary


def test_the_readme_python_api_snippet_runs(tiny_root, tmp_path, monkeypatch, capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    code = readme.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    shutil.copytree(tiny_root / "fan", tmp_path / "recordings" / "fan")
    (tmp_path / "incoming").mkdir()
    for name in ("normal_id_00_00000000.wav", "anomaly_id_02_00000001.wav"):
        shutil.copy(tiny_root / "fan" / "test" / name, tmp_path / "incoming" / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("asd.pipeline.CACHE_DIR", tmp_path / "cache")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert (tmp_path / "runs" / "compressor" / "run.json").is_file()
    assert set(namespace["results"].machine_type) == {"fan"}
    table = namespace["table"]
    assert len(table) == 2 and (table.problem == "").all()
    assert "anomaly_id_02_00000001.wav" in capsys.readouterr().out  # the anomalous clip is flagged and printed


def test_short_and_truncated_clips_are_reported_not_scored(knn_run, tiny_root, tmp_path, caplog):
    from asd.audio import write_clip

    source = next((tiny_root / "fan" / "test").glob("normal_id_00_*.wav"))
    folder = tmp_path / "fan" / "test"
    folder.mkdir(parents=True)
    short = folder / "normal_id_00_90000001.wav"
    write_clip(short, np.zeros(4000, dtype=np.float32), sample_rate=16000)  # 0.25 s < audio.min_seconds
    cut = folder / "normal_id_00_90000002.wav"
    cut.write_bytes(source.read_bytes()[: len(source.read_bytes()) * 3 // 4])  # the header promises more
    with caplog.at_level("WARNING"):
        table = score_paths(knn_run, [folder])
    rows = table.set_index("path")
    assert "shorter than" in rows.loc[str(short), "problem"] and np.isnan(rows.loc[str(short), "score"])
    assert rows.loc[str(cut), "problem"] == "" and np.isfinite(rows.loc[str(cut), "score"])  # long enough: used
    assert str(cut) in caplog.text  # ... with a warning naming the file
