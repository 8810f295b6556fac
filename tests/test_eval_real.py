"""Tests of benchmarks/eval_real.py (make eval-real): cross-fitting folds, the worst-case table, a small run."""

import importlib.util
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from asd.metrics import chance_auc_sd

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def eval_real():
    spec = importlib.util.spec_from_file_location("eval_real", PROJECT_ROOT / "benchmarks" / "eval_real.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_real"] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("eval_real", None)


@pytest.fixture
def test_only_set(tiny_root, tmp_path):
    """The tiny set's valve and fan test clips alone (no train/): a set like the dev-lite one."""
    root = tmp_path / "testonly"
    for machine_type in ("valve", "fan"):
        for clip in sorted((tiny_root / machine_type / "test").glob("*.wav")):
            target = root / machine_type / "test" / clip.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(clip)
    return root


def test_cross_fit_folds_leave_one_normal_out(eval_real, test_only_set, tmp_path):
    assert not eval_real.has_training_clips(test_only_set)
    folds = eval_real.cross_fit_folds(test_only_set, tmp_path / "folds")
    normals = sorted(p.name for p in (test_only_set / "valve" / "test").glob("normal_id_00_*.wav"))
    anomalies = sorted(p.name for p in (test_only_set / "valve" / "test").glob("anomaly_id_00_*.wav"))
    assert len(folds) == len(normals) >= 2
    held_out = []
    for fold in folds:
        train = sorted(p.name for p in (fold / "valve" / "train").glob("*_id_00_*.wav"))
        test = sorted(p.name for p in (fold / "valve" / "test").glob("*_id_00_*.wav"))
        assert len(train) == len(normals) - 1 and not set(train) & set(test)
        assert [n for n in test if n.startswith("anomaly")] == anomalies
        held_out += [n for n in test if n.startswith("normal")]
    assert sorted(held_out) == normals  # every normal clip is held out exactly once


def test_summary_worst_cases(eval_real):
    DataSet = eval_real.DataSet
    sets = [
        DataSet("a", Path("a"), real=True),
        DataSet("b", Path("b"), real=True),
        DataSet("syn", Path("s"), real=False),
    ]
    per_type = pd.DataFrame(
        [
            ("a", "m1", "fan", 0.9),
            ("a", "m1", "pump", 0.7),
            ("b", "m1", "fan", 0.95),
            ("syn", "m1", "fan", 0.6),
            ("a", "m2", "fan", 0.6),
            ("syn", "m2", "fan", 0.99),
        ],
        columns=["set", "model", "machine_type", "auc"],
    )
    table = eval_real.summarise(per_type, sets, ["m1", "m2"]).set_index("detector")
    assert table.loc["m1", "a"] == pytest.approx(0.8)  # mean over machine types
    assert table.loc["m1", "worst_real"] == pytest.approx(0.8) and table.loc["m1", "worst_all"] == pytest.approx(0.6)
    assert math.isnan(table.loc["m2", "b"]) and table.loc["m2", "worst_real"] == 0.0  # a failed set is the worst case
    assert "| m1 | 0.800 |" in eval_real.markdown(table.reset_index())


def test_bad_arguments(eval_real, tmp_path, capsys):
    with pytest.raises(SystemExit):
        eval_real.parse_args(["--epochs", "0"])
    capsys.readouterr()
    assert eval_real.main(["--models", "no_such_detector", "--no-shared", "--no-years", "--no-synthetic"]) == 2
    known = ", ".join(eval_real.registered_detectors())
    assert capsys.readouterr().err.splitlines() == [
        f"eval_real: error: unknown model(s) no_such_detector; known models: {known}"
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text("detectors:\n  multistat:\n    groups: [peek]\n")
    assert (
        eval_real.main(["--config", str(bad), "--models", "multistat", "--no-shared", "--no-years", "--no-synthetic"])
        == 2
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eval_real: error:") and "peek" in lines[0]


def test_small_run(eval_real, tiny_root, test_only_set, tmp_path, capsys):
    out = tmp_path / "table.csv"
    status = eval_real.main(
        [
            "--no-shared",
            "--no-years",
            "--synthetic",
            str(tiny_root),
            "--data",
            str(test_only_set),
            "--models",
            "multistat",
            "--no-cache",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["detector", "testonly", "synthetic", "worst_real", "worst_all"]
    assert table.loc[0, "detector"] == "multistat"
    assert 0.0 <= table.loc[0, "worst_all"] <= table.loc[0, "synthetic"] <= 1.0
    per_type = pd.read_csv(tmp_path / "table_per_type.csv")
    assert set(per_type.machine_type[per_type.set == "testonly"]) == {"valve", "fan"}
    assert list(per_type.columns) == eval_real.PER_TYPE_COLUMNS
    valve = per_type[(per_type.set == "testonly") & (per_type.machine_type == "valve")].iloc[0]
    clips = sorted((test_only_set / "valve" / "test").glob("*.wav"))
    n_ids = len({clip.name.split("_")[2] for clip in clips})
    normal = sum(clip.name.startswith("normal") for clip in clips)
    # cross-fitted: each normal clip is held out once, every anomalous clip is scored in every fold
    assert valve.n_normal == normal and valve.n_anomaly == (len(clips) - normal) * normal // n_ids
    chance = chance_auc_sd(valve.n_normal / n_ids, valve.n_anomaly / n_ids) / n_ids**0.5  # equal IDs
    assert valve.chance_sd == pytest.approx(chance, abs=1e-4)
    printed = capsys.readouterr().out
    assert "leave-one-normal-out" in printed and "| multistat |" in printed


def test_a_config_file_and_the_ceiling_with_hindsight(eval_real, test_only_set, tmp_path, capsys):
    """--config changes what a detector computes; with two detectors the ceiling is printed."""
    peak_only = tmp_path / "peak.yaml"
    peak_only.write_text("detectors:\n  multistat:\n    groups: [peak]\n")
    common = ["--no-shared", "--no-years", "--no-synthetic", "--data", str(test_only_set), "--no-cache"]
    assert eval_real.main([*common, "--models", "multistat", "embedding_knn", "--out", str(tmp_path / "d.csv")]) == 0
    printed = capsys.readouterr().out
    assert (
        "Ceiling with hindsight" in printed
        and "| set | ceiling | multistat | chance_upper | models | best per machine type |" in printed
    )
    assert (
        eval_real.main([*common, "--models", "multistat", "--config", str(peak_only), "--out", str(tmp_path / "p.csv")])
        == 0
    )
    assert "Ceiling with hindsight" not in capsys.readouterr().out  # one detector: nothing to choose among
    default = pd.read_csv(tmp_path / "d_per_type.csv").query("model == 'multistat'").set_index("machine_type").auc
    peak = pd.read_csv(tmp_path / "p_per_type.csv").set_index("machine_type").auc
    assert not peak.equals(default)  # the config reached the detector


def test_generated_synthetic_data_lies_outside_the_run_folders(eval_real, tiny_root, tmp_path, monkeypatch):
    import asd.synth

    def fake_generate(root, **kwargs):  # the tiny set, linked instead of generated again
        root = Path(root)
        root.mkdir(parents=True)
        for machine_type in ("valve",):
            (root / machine_type).symlink_to(tiny_root / machine_type)

    monkeypatch.setattr(asd.synth, "generate_dataset", fake_generate)
    monkeypatch.setattr(eval_real, "DEFAULT_SYNTHETIC", tmp_path / "absent")
    out = tmp_path / "t.csv"
    assert (
        eval_real.main(
            [
                "--no-shared",
                "--no-years",
                "--models",
                "multistat",
                "--no-cache",
                "--work",
                str(tmp_path / "w"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pd.read_csv(out)
    assert 0.0 <= table.loc[0, "synthetic-tiny"] <= 1.0  # the runs did not land inside the data set
    assert (tmp_path / "w" / "runs" / "synthetic-tiny" / "multistat" / "run" / "run.json").is_file()


def test_injected_faults_on_the_real_fan_are_a_semi_synthetic_set(eval_real, tiny_root, tmp_path, monkeypatch, capsys):
    """The MIMII sample's normal clips with injected faults: one column, one row per character in
    the second table, and never part of worst_real."""
    mimii = tmp_path / "mimii" / "fan" / "id_00"
    normals = sorted((tiny_root / "fan" / "train").glob("normal_id_00_*.wav"))[:10]
    anomalies = sorted((tiny_root / "fan" / "test").glob("anomaly_id_00_*.wav"))[:4]
    for folder, clips in (("normal", normals), ("abnormal", anomalies)):
        (mimii / folder).mkdir(parents=True)
        for clip in clips:
            (mimii / folder / clip.name).symlink_to(clip)
    monkeypatch.setattr(
        eval_real, "SHARED_SETS", {"mimii-fan-id00": tmp_path / "mimii", "dcase2020-dev-lite": tmp_path / "absent"}
    )
    out = tmp_path / "t.csv"
    assert (
        eval_real.main(["--models", "multistat", "--no-synthetic", "--no-years", "--no-cache", "--out", str(out)]) == 0
    )
    table = pd.read_csv(out)
    assert list(table.columns) == ["detector", "mimii-fan-id00", eval_real.INJECTED_SET, "worst_real", "worst_all"]
    assert table.loc[0, "worst_real"] == table.loc[0, "mimii-fan-id00"]
    per_type = pd.read_csv(tmp_path / "t_per_type.csv")
    assert set(per_type.machine_type[per_type.set == eval_real.INJECTED_SET]) == {
        "fan.clicks",
        "fan.level",
        "fan.modulation",
        "fan.tone",
    }
    printed = capsys.readouterr().out
    assert "AUC per injected fault character" in printed and "| model | clicks | level | modulation | tone |" in printed


def test_year_sets_show_source_and_target(eval_real, tmp_path, capsys, monkeypatch):
    """A synthetic year set is scored per domain: its column is the worse domain, both domains printed side by side."""
    import asd.synth

    generate = asd.synth.generate_dataset
    monkeypatch.setattr(eval_real, "YEARS", ("dcase2023",))
    monkeypatch.setattr(
        asd.synth, "generate_dataset", lambda root, **kw: generate(root, machine_types=["fan", "valve"], **kw)
    )
    out = tmp_path / "y.csv"
    assert (
        eval_real.main(
            [
                "--no-shared",
                "--no-synthetic",
                "--models",
                "multistat",
                "--no-cache",
                "--out",
                str(out),
                "--work",
                str(tmp_path / "w"),
            ]
        )
        == 0
    )
    table = pd.read_csv(out).set_index("detector")
    per_type = pd.read_csv(tmp_path / "y_per_type.csv")
    assert set(per_type.machine_type) == {"fan", "valve"}
    worst = min(per_type.auc_source.mean(), per_type.auc_target.mean())
    assert table.loc["multistat", "synthetic-dcase2023"] == pytest.approx(worst, abs=1e-3)
    printed = capsys.readouterr().out
    assert "AUC(source) | AUC(target)" in printed
    assert f"{per_type.auc_source.mean():.3f} / {per_type.auc_target.mean():.3f}" in printed


def test_real_year_folds_link_real_clips_into_dcase2023_names(eval_real, tmp_path):
    mimii, lite = eval_real.SHARED_SETS["mimii-fan-id00"], eval_real.SHARED_SETS["dcase2020-dev-lite"]
    if not (mimii.is_dir() and lite.is_dir()):
        pytest.skip("the shared real clips are absent on this machine")
    from asd.data import discover_clips

    folds = eval_real.real_year_folds(mimii, lite, tmp_path / "real")
    assert len(folds) == 3  # one per dev-lite fan normal clip
    held_out = set()
    for fold in folds:
        table = discover_clips(fold, dataset="dcase2023")
        assert table.attrs["dataset"] == "dcase2023" and set(table.machine_type) == {"fan"}
        counts = table.groupby(["split", "domain", "label"]).size().to_dict()
        assert counts == {
            ("train", "source", "normal"): 12,
            ("train", "target", "normal"): 2,
            ("test", "source", "normal"): 8,
            ("test", "source", "anomaly"): 20,
            ("test", "target", "normal"): 1,
            ("test", "target", "anomaly"): 3,
        }
        target_test = table[(table.split == "test") & (table.domain == "target") & (table.label == "normal")]
        held_out.add(Path(target_test.path.iloc[0]).resolve().name)
        assert all(
            Path(p).resolve().is_relative_to((lite if d == "target" else mimii).resolve())
            for p, d in zip(table.path, table.domain)
        )
    assert len(held_out) == 3  # each target normal clip held out once
