import json
import shutil

import numpy as np
import pandas as pd
import pytest

from asd.config import StudyConfig
from asd.data import discover_clips
from asd.errors import ASDError, LayoutError, UnknownModelError
from asd.metrics import RESULT_COLUMNS
from asd.pipeline import data_fingerprint, evaluate, load_detector, load_run, train


@pytest.fixture
def small_root(tiny_root, tmp_path):
    """A writable copy of two machine types of the tiny dataset."""
    root = tmp_path / "data"
    for machine_type in ("fan", "ToyConveyor"):
        shutil.copytree(tiny_root / machine_type, root / machine_type)
    return root


def test_train_and_evaluate_conv_ae(small_root, tmp_path, quick_config):
    run_dir = tmp_path / "run"
    run = train(
        small_root, model="conv_ae", out=run_dir, config=quick_config, cache_dir=tmp_path / "cache", progress=False
    )
    assert run["machine_types"] == ["ToyConveyor", "fan"]
    for machine_type in ("fan", "ToyConveyor"):
        type_dir = run_dir / machine_type
        assert {"model.keras", "normalization.json", "history.csv", "train_scores.csv"} <= {
            p.name for p in type_dir.iterdir()
        }
        assert len(pd.read_csv(type_dir / "history.csv")) == 2
    loaded = load_run(run_dir)
    assert loaded.model == "conv_ae" and loaded.info["model"] == "conv_ae" and loaded.config == quick_config

    results = evaluate(small_root, run_dir=run_dir, cache_dir=tmp_path / "cache", progress=False)
    assert list(results.columns)[: len(RESULT_COLUMNS)] == RESULT_COLUMNS
    assert sorted(results.machine_type.unique()) == ["ToyConveyor", "fan"]
    assert results.auc.between(0, 1).all() and results.pauc.between(0, 1).all()
    out = run_dir / "results"
    assert (out / "anomaly_score_fan_id_00.csv").is_file() and (out / "result.csv").is_file()
    scores = pd.read_csv(out / "anomaly_score_fan_id_00.csv", header=None, names=["file_name", "score"])
    assert scores.file_name.str.match(r"(normal|anomaly)_id_00_\d{8}\.wav").all()
    assert "fan" in (out / "result.csv").read_text().splitlines()
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "results.csv", dtype={"machine_id": str}), results, check_dtype=False
    )


def test_same_command_twice_gives_same_scores(small_root, tmp_path, quick_config):
    tables = []
    for name in ("a", "b"):
        train(
            small_root,
            model="conv_ae",
            out=tmp_path / name,
            config=quick_config,
            machine_types=["fan"],
            cache_dir=False,
            progress=False,
        )
        evaluate(small_root, run_dir=tmp_path / name, cache_dir=False, progress=False)
        tables.append(pd.read_csv(tmp_path / name / "results" / "scores.csv"))
    np.testing.assert_allclose(tables[0].score, tables[1].score, rtol=1e-5)


def test_bad_clips_are_skipped_and_reported(small_root, tmp_path, quick_config):
    (small_root / "fan" / "train" / "normal_id_00_00000098.wav").write_bytes(b"")
    (small_root / "fan" / "test" / "anomaly_id_00_00000099.wav").write_bytes(b"RIFF....WAVEjunk")
    run = train(
        small_root,
        model="conv_ae",
        out=tmp_path / "run",
        config=quick_config,
        machine_types=["fan"],
        cache_dir=False,
        progress=False,
    )
    assert [item["path"].endswith("normal_id_00_00000098.wav") for item in run["skipped"]] == [True]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["skipped"][0]["problem"] == "empty file (0 bytes)"
    evaluate(small_root, run_dir=tmp_path / "run", cache_dir=False, progress=False)
    skipped = pd.read_csv(tmp_path / "run" / "results" / "skipped.csv")
    assert skipped.path.str.endswith("anomaly_id_00_00000099.wav").tolist() == [True]


def test_all_training_clips_bad(tmp_path, quick_config):
    (tmp_path / "d" / "fan" / "train").mkdir(parents=True)
    (tmp_path / "d" / "fan" / "train" / "normal_id_00_00000000.wav").write_bytes(b"")
    with pytest.raises(ASDError, match="none of the 1 training clips"):
        train(
            tmp_path / "d", model="conv_ae", out=tmp_path / "run", config=quick_config, cache_dir=False, progress=False
        )


def test_unknown_model_fails_before_any_work(small_root, tmp_path):
    with pytest.raises(UnknownModelError, match="unknown model"):
        train(small_root, model="nope", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_evaluate_needs_a_finished_run(small_root, tmp_path):
    with pytest.raises(LayoutError, match="not a finished run"):
        evaluate(small_root, run_dir=tmp_path / "empty")


def test_evaluation_labels_from_ground_truth(small_root, tmp_path, quick_config):
    # turn the test clips into unlabeled evaluation-set names, then give the labels back
    test_dir = small_root / "fan" / "test"
    truth = []
    for path in sorted(test_dir.glob("*.wav")):
        label, rest = path.name.split("_", 1)
        path.rename(test_dir / rest)
        truth.append({"machine_type": "fan", "file_name": rest, "label": label})
    run_dir = tmp_path / "run"
    train(
        small_root,
        model="conv_ae",
        out=run_dir,
        config=quick_config,
        machine_types=["fan"],
        cache_dir=False,
        progress=False,
    )
    unlabeled = evaluate(small_root, run_dir=run_dir, cache_dir=False, progress=False)
    assert unlabeled.empty and (run_dir / "results" / "anomaly_score_fan_id_00.csv").is_file()
    labelled = evaluate(small_root, run_dir=run_dir, labels=pd.DataFrame(truth), cache_dir=False, progress=False)
    assert set(labelled.machine_id) == {"00", "02", "04", "06"}


def test_mimii_end_to_end(mimii_root, tmp_path, quick_config):
    run_dir = tmp_path / "run"
    train(mimii_root, model="conv_ae", out=run_dir, config=quick_config, cache_dir=tmp_path / "cache", progress=False)
    results = evaluate(mimii_root, run_dir=run_dir, cache_dir=tmp_path / "cache", progress=False)
    assert results[["machine_type", "machine_id", "n_normal", "n_anomaly"]].values.tolist() == [["fan", "00", 10, 20]]
    assert 0 <= results.auc[0] <= 1
    detector = load_detector(run_dir, "fan")
    assert detector.name == "conv_ae"


def test_run_json_marks_a_complete_run_and_lists_its_files(small_root, tmp_path):
    run = train(
        small_root,
        model="embedding_mahalanobis",
        out=tmp_path / "run",
        machine_types=["fan"],
        cache_dir=False,
        progress=False,
    )
    assert run["complete"] is True and run["config_fingerprint"] == StudyConfig().fingerprint()
    assert {
        "config.yaml",
        "fan/detector.json",
        "fan/embedding.npz",
        "fan/train_scores.csv",
        "fan/thresholds.json",
    } <= set(run["files"])
    assert all(set(entry) == {"size", "sha256"} for entry in run["files"].values())
    assert json.loads((tmp_path / "run" / "run.json").read_text()) == run


def test_library_train_refuses_a_finished_run_only_when_asked(small_root, tmp_path):
    kwargs = dict(machine_types=["fan"], cache_dir=False, progress=False)
    train(small_root, model="embedding_mahalanobis", out=tmp_path / "run", **kwargs)
    with pytest.raises(LayoutError, match="already holds a finished run"):
        train(small_root, model="embedding_knn", out=tmp_path / "run", overwrite=False, **kwargs)
    assert train(small_root, model="embedding_knn", out=tmp_path / "run", **kwargs)["model"] == "embedding_knn"
    assert load_run(tmp_path / "run").model == "embedding_knn"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run"]  # no .tmp-/.old- folder left


def test_a_file_changed_after_training_is_refused(small_root, tmp_path):
    train(
        small_root,
        model="embedding_mahalanobis",
        out=tmp_path / "run",
        machine_types=["fan"],
        cache_dir=False,
        progress=False,
    )
    scores = tmp_path / "run" / "fan" / "train_scores.csv"
    text = scores.read_text()
    scores.write_text(text.replace("0", "1", 1))  # same size, other content
    with pytest.raises(LayoutError, match=r"train_scores\.csv: changed since training"):
        load_detector(tmp_path / "run", "fan")


def test_a_run_folder_that_is_a_file(tmp_path):
    (tmp_path / "run").write_text("x")
    with pytest.raises(LayoutError, match="is a file"):
        load_run(tmp_path / "run")


def test_data_fingerprint_identifies_content_not_location(small_root, tmp_path):
    first = data_fingerprint(discover_clips(small_root))
    assert len(first) == 12 and int(first, 16) >= 0
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(small_root, moved)
    assert data_fingerprint(discover_clips(moved)) == first  # same bytes, another folder

    clip = sorted(moved.rglob("*.wav"))[3]
    data = bytearray(clip.read_bytes())
    data[-2] ^= 0x01  # one sample changed, same size
    clip.write_bytes(bytes(data))
    assert data_fingerprint(discover_clips(moved)) != first


@pytest.mark.parametrize("model", ["embedding_knn", "conv_ae"])  # baseline and image features
def test_train_opens_each_training_clip_once(small_root, tmp_path, monkeypatch, quick_config, model):
    """Issue 24: fingerprint, store key, duration check, features and explanations from one read per clip."""
    import builtins

    import soundfile

    opened = []
    real_open, real_soundfile_init = builtins.open, soundfile.SoundFile.__init__

    def counting_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    def counting_soundfile(self, file, *args, **kwargs):
        opened.append(str(file))
        return real_soundfile_init(self, file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(soundfile.SoundFile, "__init__", counting_soundfile)
    run = train(
        small_root,
        model=model,
        out=tmp_path / "run",
        config=quick_config,
        machine_types=["fan"],
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    monkeypatch.setattr(builtins, "open", real_open)
    table = discover_clips(small_root, machine_types=["fan"])
    training = table[table.split == "train"]["path"].tolist()
    assert training and [opened.count(path) for path in training] == [1] * len(training)
    assert all(opened.count(path) == 1 for path in table["path"])  # test clips: read once, for the fingerprint
    assert run["data_fingerprint"] == data_fingerprint(table)  # the keys reused are the files' keys


def test_a_copy_of_generated_clips_is_synthetic_and_a_changed_one_is_real(tiny_root, tmp_path, monkeypatch):
    """Issue 25 item 6: the data kind follows the clips' content, not where the generator's manifest sits."""
    from asd import run as run_module

    monkeypatch.setattr(run_module, "GENERATED_ROOTS", [tiny_root.parent])  # where generated data live
    copy = tmp_path / "elsewhere" / "recordings"
    shutil.copytree(tiny_root / "fan", copy / "fan")
    kwargs = dict(model="embedding_knn", cache_dir=False, progress=False)
    assert train(copy, out=tmp_path / "run", **kwargs)["data_kind"] == "synthetic"
    assert load_run(tmp_path / "run").summary()["data_kind"] == "synthetic"

    clip = sorted((copy / "fan" / "train").glob("*.wav"))[0]
    data = bytearray(clip.read_bytes())
    data[-2] ^= 0x01  # one sample changed: no longer a clip the generator wrote
    clip.write_bytes(bytes(data))
    assert train(copy, out=tmp_path / "run2", **kwargs)["data_kind"] == "real"
