"""Unit tests of asd.tables: pandas tables from small hand-made inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asd import tables
from asd.config import StudyConfig


def _results():
    rows = []
    for model, base in (("conv_ae", 0.6), ("embedding_knn", 0.8)):
        for machine_type in ("fan", "pump"):
            for k, machine_id in enumerate(("00", "02")):
                rows.append(
                    {
                        "model": model,
                        "machine_type": machine_type,
                        "machine_id": machine_id,
                        "auc": base + 0.1 * k,
                        "pauc": base - 0.1,
                        "n_normal": 10,
                        "n_anomaly": 10,
                        "precision": 0.5,
                        "recall": 0.5,
                        "f1": 0.5 + 0.1 * k,
                    }
                )
    return pd.DataFrame(rows)


def test_clip_counts_per_id_and_type(clip_table):
    counts = tables.clip_counts(clip_table)
    assert list(counts.columns) == [
        "machine_type",
        "machine_id",
        "train normal",
        "test normal",
        "test anomaly",
        "total",
    ]
    assert len(counts) == 3
    assert counts["total"].tolist() == [7, 7, 7]
    by_type = tables.clip_counts_by_type(clip_table).set_index("machine_type")
    assert by_type.loc["fan", "ids"] == 2 and by_type.loc["fan", "train normal"] == 6
    assert by_type.loc["pump", "total"] == 7


def test_clip_counts_of_empty_table(clip_table):
    assert tables.clip_counts(clip_table.iloc[:0]).empty


def test_pick_examples_one_normal_one_anomaly_per_type_same_id(clip_table):
    examples = tables.pick_examples(clip_table, seed=0)
    assert sorted(examples["machine_type"]) == ["fan", "fan", "pump", "pump"]
    for _, group in examples.groupby("machine_type"):
        assert sorted(group["label"]) == ["anomaly", "normal"]
        assert group["machine_id"].nunique() == 1
    assert examples.equals(tables.pick_examples(clip_table, seed=0))  # deterministic


def test_pick_examples_skips_type_without_anomalies(clip_table):
    table = clip_table[~((clip_table.machine_type == "pump") & (clip_table.label == "anomaly"))]
    assert set(tables.pick_examples(table)["machine_type"]) == {"fan"}


def test_audio_facts_reads_headers(wav_examples):
    table = wav_examples.assign(split="test")
    facts = tables.audio_facts(table).set_index("machine_type")
    assert facts.loc["fan", "sample_rate_hz"] == "16000"
    assert facts.loc["fan", "median_s"] == pytest.approx(10.0)
    assert facts.loc["valve", "unreadable"] == 0
    assert tables.audio_facts(table, max_per_type=1).loc[0, "headers_read"] == 1


def test_image_resolution_table():
    table = tables.image_resolution(StudyConfig()).set_index("property")
    image, fine = table["64x64 image"], table["fine log-mel"]
    assert image["mel bands (0 to Nyquist)"] == 64 and fine["mel bands (0 to Nyquist)"] == 128
    assert image["hop between frames (ms)"] == pytest.approx(156.2, abs=0.1)
    assert image["values per clip"] == 64 * 64
    assert fine["frames in a 10 s clip"] == 313


def test_architecture_table_counts_trainable_parameters():
    keras = pytest.importorskip("keras")
    inputs = keras.Input(shape=(4,))
    outputs = keras.layers.Dense(3, name="dense")(inputs)
    table = tables.architecture_table(keras.Model(inputs, outputs))
    assert table["layer"].tolist()[-1] == "dense"
    assert table["trainable parameters"].sum() == 4 * 3 + 3
    assert table["output shape"].tolist()[-1] == "3"


def test_load_results_sets_the_model_column(tmp_path, score_table):
    results, scores = _results(), score_table
    for model in ("conv_ae", "embedding_knn"):
        (tmp_path / model).mkdir()
        results[results.model == model].assign(model="renamed").to_csv(tmp_path / model / "results.csv", index=False)
        scores[scores.model == model].to_csv(tmp_path / model / "scores.csv", index=False)
    loaded, loaded_scores = tables.load_results({m: tmp_path / m for m in ("conv_ae", "embedding_knn")})
    assert set(loaded["model"]) == {"conv_ae", "embedding_knn"}
    assert loaded["machine_id"].tolist()[:2] == ["00", "02"]  # IDs stay strings
    assert len(loaded_scores) == len(scores)


def test_dcase_table_layout():
    table = tables.dcase_table(_results(), "conv_ae")
    assert list(table.columns) == ["AUC", "pAUC", "F1"]
    assert table.index.tolist() == [
        ("fan", "id_00"),
        ("fan", "id_02"),
        ("fan", "Average"),
        ("pump", "id_00"),
        ("pump", "id_02"),
        ("pump", "Average"),
        ("All machine types", "Average"),
    ]
    assert table.loc[("fan", "Average"), "AUC"] == pytest.approx(0.65)
    assert table.loc[("All machine types", "Average"), "AUC"] == pytest.approx(0.65)


def test_comparison_table_every_model_and_type():
    table = tables.comparison_table(_results(), models=["embedding_knn", "conv_ae"])
    assert table.index.tolist() == ["embedding_knn", "conv_ae"]
    assert table.columns.get_level_values(0).unique().tolist() == ["AUC", "pAUC", "precision", "recall", "F1"]
    assert table["AUC"].columns.tolist() == ["fan", "pump", "mean"]
    assert table.loc["conv_ae", ("AUC", "mean")] == pytest.approx(0.65)


def test_comparison_table_without_f1_columns():
    table = tables.comparison_table(_results().drop(columns=["precision", "recall", "f1"]))
    assert table.columns.get_level_values(0).unique().tolist() == ["AUC", "pAUC"]


def test_per_id_table_models_side_by_side():
    table = tables.per_id_table(_results(), "auc", models=["embedding_knn", "conv_ae"])
    assert table.columns.tolist() == ["embedding_knn", "conv_ae"]
    assert table.loc[("pump", "Average"), "conv_ae"] == pytest.approx(0.65)
    assert table.index[-1] == ("All machine types", "Average")


# -- this build's data beside real reference clips ----------------------------------------------


def test_comparison_clips_only_shared_machine_types(clip_table):
    real = clip_table[clip_table["machine_type"] == "pump"]
    clips = tables.comparison_clips(clip_table, real, per_label=1, seed=0)
    assert list(clips.columns) == tables.COMPARISON_CLIP_COLUMNS
    assert set(clips["machine_type"]) == {"pump"}
    assert clips.groupby(["source", "label"]).size().to_dict() == {
        ("data", "anomaly"): 1,
        ("data", "normal"): 1,
        ("real", "anomaly"): 1,
        ("real", "normal"): 1,
    }
    assert (clips["path"].str.contains("/test/")).all()
    assert clips.equals(tables.comparison_clips(clip_table, real, per_label=1, seed=0))
    assert tables.comparison_clips(clip_table, clip_table.iloc[0:0]).empty


def test_levels_and_spectra(wav_examples):
    clips = wav_examples.assign(source="data")
    levels, spectra = tables.levels_and_spectra(clips)
    # 0.1 sine (RMS 0.0707, -23 dBFS) plus 0.01 noise; the anomaly adds a 0.05 sine
    normal = levels[(levels["label"] == "normal")]["rms_dbfs"]
    assert np.allclose(normal, 20 * np.log10(np.sqrt(0.1**2 / 2 + 0.01**2)), atol=0.1)
    assert (levels.loc[levels["label"] == "anomaly", "rms_dbfs"].to_numpy() > normal.to_numpy()).all()
    assert set(spectra["band"]) == set(range(StudyConfig().baseline.n_mels))
    assert len(spectra) == 2 * 2 * StudyConfig().baseline.n_mels  # machine type x label x band
    summary = tables.level_summary(pd.concat([levels, levels.assign(source="real", rms_dbfs=levels["rms_dbfs"] - 10)]))
    assert list(summary.columns) == ["machine_type", "data normal", "data anomaly", "real normal", "real anomaly"]
    assert np.allclose(summary["data normal"] - summary["real normal"], 10)


# -- listening --------------------------------------------------------------------------------


def test_top_scored_clips(score_table):
    scores = score_table
    top = tables.top_scored_clips(scores, model="conv_ae", machines=[("fan", "02")], n=3)
    assert len(top) == 3 and set(top["machine_id"]) == {"02"} and set(top["model"]) == {"conv_ae"}
    assert top["rank"].tolist() == [1, 2, 3] and top["score"].is_monotonic_decreasing
    wanted = scores[(scores.model == "conv_ae") & (scores.machine_type == "fan") & (scores.machine_id == "02")]["score"]
    assert top["score"].iloc[0] == wanted.max()
    assert len(tables.top_scored_clips(scores, model="conv_ae", n=1)) == 4  # one per machine


def test_calibration_table_compares_the_baseline_with_its_published_aucs():
    from asd.synth.published import BASELINE_AUC, BASELINE_AUC_PER_ID

    results = pd.DataFrame(
        {
            "model": ["dense_ae"] * 4 + ["conv_ae"],
            "machine_type": ["fan"] * 4 + ["fan"],
            "machine_id": ["00", "02", "04", "06", "00"],
            "auc": [0.54, 0.72, 0.62, 0.30, 0.99],
        }
    )
    table = tables.calibration_table(results)
    mean = table[table.machine_id == "mean"].iloc[0]
    assert mean.machine_type == "fan" and mean.auc == pytest.approx(np.mean([0.54, 0.72, 0.62, 0.30]))
    assert mean.published == BASELINE_AUC["fan"] and mean.difference == pytest.approx(mean.auc - BASELINE_AUC["fan"])
    per_id = table[table.machine_id != "mean"].set_index("machine_id")
    assert per_id.loc["06", "published"] == BASELINE_AUC_PER_ID["fan"]["06"]
    assert per_id.loc["00", "within"] and not per_id.loc["06", "within"]  # 0.30 is far from the published 0.72
    assert table.attrs["model"] == "dense_ae" and tables.calibration_table(results, model="multistat").empty


def test_worst_case_table(tmp_path):
    assert tables.worst_case_table(tmp_path / "missing.csv") is None
    (tmp_path / "eval.csv").write_text("detector,a,worst_real\nx,0.9,0.5\ny,0.8,0.7\n")
    table = tables.worst_case_table(tmp_path / "eval.csv")
    assert list(table.index) == ["y", "x"]


def test_hindsight_ceiling_takes_the_best_detector_per_machine_type():
    per_type = pd.DataFrame(
        [
            ("real", "m1", "fan", 0.9),
            ("real", "m2", "fan", 0.6),
            ("real", "m1", "pump", 0.4),
            ("real", "m2", "pump", 0.7),
            ("syn", "m1", "fan", 0.5),
            ("syn", "m2", "fan", 0.8),
        ],
        columns=["set", "model", "machine_type", "auc"],
    )
    table = tables.hindsight_ceiling(per_type, default="m1")
    assert list(table.index) == ["real", "syn"]
    assert table.loc["real", "ceiling"] == pytest.approx(0.8)  # (0.9 + 0.7) / 2: above either detector's mean
    assert table.loc["real", "m1"] == pytest.approx(0.65) and table.loc["syn", "ceiling"] == pytest.approx(0.8)
    assert table.loc["real", "best per machine type"] == "fan 0.900 (m1), pump 0.700 (m2)"
    assert table.loc["real", "models"] == 2
    assert "m1" not in tables.hindsight_ceiling(per_type).columns
    twice = pd.concat([per_type, per_type.assign(model=per_type.model + "b", auc=per_type.auc - 0.1)])  # index repeats
    assert tables.hindsight_ceiling(twice).equals(tables.hindsight_ceiling(per_type).assign(models=4))
    with_chance = tables.hindsight_ceiling(per_type.assign(chance_sd=[0.2, 0.2, 0.1, 0.1, 0.3, 0.3]))
    assert with_chance.loc["real", "chance_upper"] == pytest.approx(0.5 + 1.96 * (0.2**2 + 0.1**2) ** 0.5 / 2)
    assert with_chance.loc["syn", "chance_upper"] == pytest.approx(0.5 + 1.96 * 0.3)
