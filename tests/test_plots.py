"""Unit tests of asd.plots: tables and figures from small hand-made inputs (matplotlib Agg)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from asd import plots  # noqa: E402
from asd.audio import write_clip  # noqa: E402
from asd.config import StudyConfig  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def wav_examples(tmp_path, rng):
    """One normal and one anomalous 10 s clip for two machine types, as pick_examples returns them."""
    rows = []
    t = np.arange(160000) / 16000
    for machine_type in ("fan", "valve"):
        for label in ("normal", "anomaly"):
            samples = 0.1 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(t.size)
            if label == "anomaly":
                samples += 0.05 * np.sin(2 * np.pi * 3000 * t)
            path = write_clip(tmp_path / machine_type / f"{label}_id_00_00000000.wav", samples)
            rows.append({"machine_type": machine_type, "machine_id": "00", "label": label, "file_name": path.name, "path": str(path)})
    return pd.DataFrame(rows)


def _results():
    rows = []
    for model, base in (("conv_ae", 0.6), ("embedding_knn", 0.8)):
        for machine_type in ("fan", "pump"):
            for k, machine_id in enumerate(("00", "02")):
                rows.append({"model": model, "machine_type": machine_type, "machine_id": machine_id, "auc": base + 0.1 * k,
                             "pauc": base - 0.1, "n_normal": 10, "n_anomaly": 10, "precision": 0.5, "recall": 0.5, "f1": 0.5 + 0.1 * k})
    return pd.DataFrame(rows)


def _scores(rng):
    rows = []
    for model in ("conv_ae", "embedding_knn"):
        for machine_type in ("fan", "pump"):
            for machine_id in ("00", "02"):
                for label, shift in (("normal", 0.0), ("anomaly", 1.0)):
                    for value in rng.normal(shift, 1.0, 10):
                        rows.append({"model": model, "machine_type": machine_type, "machine_id": machine_id, "label": label, "score": value})
    return pd.DataFrame(rows)


# -- data exploration ------------------------------------------------------------------------


def test_clip_counts_per_id_and_type(clip_table):
    counts = plots.clip_counts(clip_table)
    assert list(counts.columns) == ["machine_type", "machine_id", "train normal", "test normal", "test anomaly", "total"]
    assert len(counts) == 3
    assert counts["total"].tolist() == [7, 7, 7]
    by_type = plots.clip_counts_by_type(clip_table).set_index("machine_type")
    assert by_type.loc["fan", "ids"] == 2 and by_type.loc["fan", "train normal"] == 6
    assert by_type.loc["pump", "total"] == 7


def test_clip_counts_of_empty_table(clip_table):
    assert plots.clip_counts(clip_table.iloc[:0]).empty


def test_pick_examples_one_normal_one_anomaly_per_type_same_id(clip_table):
    examples = plots.pick_examples(clip_table, seed=0)
    assert sorted(examples["machine_type"]) == ["fan", "fan", "pump", "pump"]
    for _, group in examples.groupby("machine_type"):
        assert sorted(group["label"]) == ["anomaly", "normal"]
        assert group["machine_id"].nunique() == 1
    assert examples.equals(plots.pick_examples(clip_table, seed=0))  # deterministic


def test_pick_examples_skips_type_without_anomalies(clip_table):
    table = clip_table[~((clip_table.machine_type == "pump") & (clip_table.label == "anomaly"))]
    assert set(plots.pick_examples(table)["machine_type"]) == {"fan"}


def test_audio_facts_reads_headers(wav_examples):
    table = wav_examples.assign(split="test")
    facts = plots.audio_facts(table).set_index("machine_type")
    assert facts.loc["fan", "sample_rate_hz"] == "16000"
    assert facts.loc["fan", "median_s"] == pytest.approx(10.0)
    assert facts.loc["valve", "unreadable"] == 0
    assert plots.audio_facts(table, max_per_type=1).loc[0, "headers_read"] == 1


def test_image_resolution_table():
    table = plots.image_resolution(StudyConfig()).set_index("property")
    image, fine = table["64x64 image"], table["fine log-mel"]
    assert image["mel bands (0 to Nyquist)"] == 64 and fine["mel bands (0 to Nyquist)"] == 128
    assert image["hop between frames (ms)"] == pytest.approx(156.2, abs=0.1)
    assert image["values per clip"] == 64 * 64
    assert fine["frames in a 10 s clip"] == 313


def test_exploration_figures(wav_examples, tmp_path):
    config = StudyConfig()
    for name, fig in (
        ("waveforms", plots.plot_waveforms(wav_examples, config)),
        ("log_mel", plots.plot_log_mels(wav_examples, config)),
        ("image_vs_fine", plots.plot_image_vs_fine(wav_examples.path[1], config, title="x")),
    ):
        path = plots.save_figure(fig, tmp_path / f"{name}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(plots.plot_waveforms(wav_examples, config).axes) == 4


def test_plot_clip_counts(clip_table, tmp_path):
    fig = plots.plot_clip_counts(clip_table)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["fan", "pump"]
    assert plots.save_figure(fig, tmp_path / "c.png").stat().st_size > 0


def test_save_figure_is_deterministic(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    first = plots.save_figure(fig, tmp_path / "a.png").read_bytes()
    second = plots.save_figure(fig, tmp_path / "b.png").read_bytes()
    assert first == second
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_audio_player_embeds_the_first_seconds(wav_examples):
    player = plots.audio_player(wav_examples.path[0], seconds=1.0)
    html = player._repr_html_()
    assert "data:audio/wav;base64," in html
    assert len(player.data) < 16000 * 2 + 100  # about one second of 16-bit audio


# -- training ------------------------------------------------------------------------------


def test_load_histories_and_learning_curves(tmp_path):
    for model, frame in (
        ("conv_ae", pd.DataFrame({"epoch": [1, 2, 3], "loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.6, 0.5]})),
        ("embedding_knn", pd.DataFrame({"epoch": [1], "n_clips": [40]})),
    ):
        for machine_type in ("fan", "pump"):
            (tmp_path / model / machine_type).mkdir(parents=True)
            frame.to_csv(tmp_path / model / machine_type / "history.csv", index=False)
    (tmp_path / "empty" / "fan").mkdir(parents=True)
    (tmp_path / "empty" / "fan" / "history.csv").write_text("")
    histories = plots.load_histories({m: tmp_path / m for m in ("conv_ae", "embedding_knn", "empty")})
    assert list(histories.columns) == ["model", "machine_type", "epoch", "metric", "value"]
    assert set(histories["model"]) == {"conv_ae", "embedding_knn"}
    fig = plots.plot_learning_curves(histories)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == ["conv_ae"]  # no panel for a detector without a loss curve
    assert len(fig.axes[0].get_lines()) == 4  # 2 machine types x (loss, val_loss)


def test_learning_curves_without_any_history():
    fig = plots.plot_learning_curves(pd.DataFrame(columns=["model", "machine_type", "epoch", "metric", "value"]))
    assert fig.axes[0].get_title() == "(no training curves)"


def test_architecture_table_counts_trainable_parameters():
    keras = pytest.importorskip("keras")
    inputs = keras.Input(shape=(4,))
    outputs = keras.layers.Dense(3, name="dense")(inputs)
    table = plots.architecture_table(keras.Model(inputs, outputs))
    assert table["layer"].tolist()[-1] == "dense"
    assert table["trainable parameters"].sum() == 4 * 3 + 3
    assert table["output shape"].tolist()[-1] == "3"


# -- evaluation ----------------------------------------------------------------------------


def test_load_results_sets_the_model_column(tmp_path, rng):
    results, scores = _results(), _scores(rng)
    for model in ("conv_ae", "embedding_knn"):
        (tmp_path / model).mkdir()
        results[results.model == model].assign(model="renamed").to_csv(tmp_path / model / "results.csv", index=False)
        scores[scores.model == model].to_csv(tmp_path / model / "scores.csv", index=False)
    loaded, loaded_scores = plots.load_results({m: tmp_path / m for m in ("conv_ae", "embedding_knn")})
    assert set(loaded["model"]) == {"conv_ae", "embedding_knn"}
    assert loaded["machine_id"].tolist()[:2] == ["00", "02"]  # IDs stay strings
    assert len(loaded_scores) == len(scores)


def test_dcase_table_layout():
    table = plots.dcase_table(_results(), "conv_ae")
    assert list(table.columns) == ["AUC", "pAUC", "F1"]
    assert table.index.tolist() == [
        ("fan", "id_00"), ("fan", "id_02"), ("fan", "Average"),
        ("pump", "id_00"), ("pump", "id_02"), ("pump", "Average"),
        ("All machine types", "Average"),
    ]
    assert table.loc[("fan", "Average"), "AUC"] == pytest.approx(0.65)
    assert table.loc[("All machine types", "Average"), "AUC"] == pytest.approx(0.65)


def test_comparison_table_every_model_and_type():
    table = plots.comparison_table(_results(), models=["embedding_knn", "conv_ae"])
    assert table.index.tolist() == ["embedding_knn", "conv_ae"]
    assert table.columns.get_level_values(0).unique().tolist() == ["AUC", "pAUC", "precision", "recall", "F1"]
    assert table["AUC"].columns.tolist() == ["fan", "pump", "mean"]
    assert table.loc["conv_ae", ("AUC", "mean")] == pytest.approx(0.65)
    assert plots.best_models(table).to_dict() == {"fan": "embedding_knn", "pump": "embedding_knn", "mean": "embedding_knn"}


def test_comparison_table_without_f1_columns():
    table = plots.comparison_table(_results().drop(columns=["precision", "recall", "f1"]))
    assert table.columns.get_level_values(0).unique().tolist() == ["AUC", "pAUC"]


def test_per_id_table_models_side_by_side():
    table = plots.per_id_table(_results(), "auc", models=["embedding_knn", "conv_ae"])
    assert table.columns.tolist() == ["embedding_knn", "conv_ae"]
    assert table.loc[("pump", "Average"), "conv_ae"] == pytest.approx(0.65)
    assert table.index[-1] == ("All machine types", "Average")


def test_roc_and_score_distribution_figures(rng, tmp_path):
    scores = _scores(rng)
    fig = plots.plot_roc_curves(scores)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["fan", "pump"]
    assert len(fig.axes[0].get_lines()) == 3  # two models + the chance diagonal
    fig = plots.plot_score_distributions(scores, models=["conv_ae", "embedding_knn"])
    assert len(fig.axes) == 4
    assert plots.save_figure(fig, tmp_path / "s.png").is_file()


def test_roc_curves_skip_single_class_groups(rng):
    scores = _scores(rng)
    scores = scores[~((scores.machine_type == "pump") & (scores.label == "anomaly"))]
    fig = plots.plot_roc_curves(scores)
    assert len(fig.axes[1].get_lines()) == 1  # only the diagonal


# -- reconstructions ---------------------------------------------------------------------------


def test_reconstruction_figures(rng):
    inputs = rng.normal(size=(3, 8, 8)).astype(np.float32)
    outputs = inputs * 0.5
    fig = plots.plot_reconstructions(inputs, outputs, ["a", "b", "c"], scores=[0.1, 0.2, 0.3], suptitle="x")
    assert len([ax for ax in fig.axes if ax.get_title()]) == 9
    with pytest.raises(ValueError, match="same"):
        plots.plot_reconstructions(inputs, outputs[:2], ["a", "b"])
    bands = np.mean((inputs - outputs) ** 2, axis=2)
    assert plots.plot_error_by_band({"normal": bands[:1], "anomaly": bands[1:]}, title="t").axes[0].get_yscale() == "log"


def test_reconstruction_figure_with_recalibrated_columns(rng):
    inputs = rng.normal(size=(2, 8, 8)).astype(np.float32)
    fig = plots.plot_reconstructions(inputs, inputs * 0.5, ["a", "b"], recalibrated=inputs * 0.9)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 10 and titles[3] == "re-estimated BN" and titles[4].startswith("its error (mean 0.0")
    with pytest.raises(ValueError, match="recalibrated"):
        plots.plot_reconstructions(inputs, inputs, ["a", "b"], recalibrated=inputs[:1])
