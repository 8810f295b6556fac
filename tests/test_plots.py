"""Unit tests of asd.plots: figures from small hand-made inputs (matplotlib Agg)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from asd import plots, tables  # noqa: E402
from asd.config import StudyConfig  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


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
    histories = tables.load_histories({m: tmp_path / m for m in ("conv_ae", "embedding_knn", "empty")})
    assert list(histories.columns) == ["model", "machine_type", "epoch", "metric", "value"]
    assert set(histories["model"]) == {"conv_ae", "embedding_knn"}
    fig = plots.plot_learning_curves(histories)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == ["conv_ae"]  # no panel for a detector without a loss curve
    assert len(fig.axes[0].get_lines()) == 4  # 2 machine types x (loss, val_loss)


def test_learning_curves_without_any_history():
    fig = plots.plot_learning_curves(pd.DataFrame(columns=["model", "machine_type", "epoch", "metric", "value"]))
    assert fig.axes[0].get_title() == "(no training curves)"


def test_roc_and_score_distribution_figures(score_table, tmp_path):
    scores = score_table
    fig = plots.plot_roc_curves(scores)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["fan", "pump"]
    assert len(fig.axes[0].get_lines()) == 3  # two models + the chance diagonal
    fig = plots.plot_score_distributions(scores, models=["conv_ae", "embedding_knn"])
    assert len(fig.axes) == 4
    assert plots.save_figure(fig, tmp_path / "s.png").is_file()


def test_roc_curves_skip_single_class_groups(score_table):
    scores = score_table
    scores = scores[~((scores.machine_type == "pump") & (scores.label == "anomaly"))]
    fig = plots.plot_roc_curves(scores)
    assert len(fig.axes[1].get_lines()) == 1  # only the diagonal


def test_reconstruction_figures(rng):
    inputs = rng.normal(size=(3, 8, 8)).astype(np.float32)
    outputs = inputs * 0.5
    fig = plots.plot_reconstructions(inputs, outputs, ["a", "b", "c"], scores=[0.1, 0.2, 0.3], suptitle="x")
    assert len([ax for ax in fig.axes if ax.get_title()]) == 9
    with pytest.raises(ValueError, match="same"):
        plots.plot_reconstructions(inputs, outputs[:2], ["a", "b"])
    bands = np.mean((inputs - outputs) ** 2, axis=2)
    assert (
        plots.plot_error_by_band({"normal": bands[:1], "anomaly": bands[1:]}, title="t").axes[0].get_yscale() == "log"
    )


def test_reconstruction_figure_with_recalibrated_columns(rng):
    inputs = rng.normal(size=(2, 8, 8)).astype(np.float32)
    fig = plots.plot_reconstructions(inputs, inputs * 0.5, ["a", "b"], recalibrated=inputs * 0.9)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 10 and titles[3] == "re-estimated BN" and titles[4].startswith("its error (mean 0.0")
    with pytest.raises(ValueError, match="recalibrated"):
        plots.plot_reconstructions(inputs, inputs, ["a", "b"], recalibrated=inputs[:1])


# -- this build's data beside real reference clips ----------------------------------------------


def _comparison(wav_examples):
    return pd.concat([wav_examples.assign(source="data"), wav_examples.assign(source="real")], ignore_index=True)


def test_data_vs_real_figures(wav_examples, tmp_path):
    clips = _comparison(wav_examples)
    fig = plots.plot_comparison_log_mels(clips)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 2 * 4  # two machine types x (data, real) x (normal, anomaly)
    assert "real" in images[2].get_title() and "anomaly" in images[1].get_title()
    levels, spectra = tables.levels_and_spectra(clips)
    fig = plots.plot_levels(levels)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["fan", "valve"]
    fig = plots.plot_long_term_spectra(spectra)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["fan", "valve"] and len(panels[0].get_lines()) == 4
    assert plots.save_figure(fig, tmp_path / "s.png").stat().st_size > 1000


def test_fine_log_mel_is_the_features_baseline_log_mel(rng):
    from asd.features import baseline_log_mel

    samples = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    np.testing.assert_array_equal(plots.fine_log_mel(samples), baseline_log_mel(samples))
