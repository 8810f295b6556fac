"""Figures of the study, shared by the notebooks (``notebooks/``) and the report: matplotlib only.

Every function takes data (a clip table, a results table, feature arrays) and returns a
matplotlib Figure, so it can be tested without a notebook; the tables behind them are in
:mod:`asd.tables`. Figures are made with
``matplotlib.pyplot.subplots`` (they show inline in a notebook) and written with
:func:`save_figure` (PNG, modest dpi, no timestamp in the metadata, written atomically).

Sections: data exploration (counts, waveforms, log-mel spectrograms, the 64x64 image against a
finer spectrogram, this build's data beside real reference clips), training (learning curves),
evaluation (ROC curves, score distributions) and reconstructions (original / reconstruction /
error map, error per mel band; the numbers behind them come from :mod:`asd.reconstruction`).
This build's data beside real reference clips is :mod:`asd.plots.comparison`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..config import StudyConfig
from ..explain import machine_label
from ..tables import clip_counts_by_type

#: Resolution of saved PNGs: enough to read, small enough to commit.
DPI = 100
#: Colours of the two labels in every figure.
LABEL_COLORS = {"normal": "#1f77b4", "anomaly": "#d62728"}


def _plt():
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, *, dpi: int = DPI) -> Path:
    """Write ``fig`` as PNG to ``path`` (atomically, no creation time in the metadata)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    buffer.seek(0)
    # A 256-colour palette keeps plots and spectrograms readable at a third of the size.
    image = (
        Image.open(buffer)
        .convert("RGB")
        .quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", optimize=True)
    path.chmod(0o644)
    return path


# -- data exploration ----------------------------------------------------------------------


def plot_clip_counts(table: pd.DataFrame):
    """Horizontal stacked bars: train normal, test normal and test anomaly clips per machine type."""
    plt = _plt()
    counts = clip_counts_by_type(table).set_index("machine_type")
    parts = [c for c in ("train normal", "test normal", "test anomaly", "test unknown") if c in counts.columns]
    colors = {
        "train normal": "#9ecae1",
        "test normal": LABEL_COLORS["normal"],
        "test anomaly": LABEL_COLORS["anomaly"],
        "test unknown": "#999999",
    }
    fig, ax = plt.subplots(figsize=(6.5, 0.4 * len(counts) + 1.1))
    left = np.zeros(len(counts))
    for part in parts:
        ax.barh(counts.index, counts[part], left=left, color=colors[part], label=part)
        left += counts[part].to_numpy()
    ax.invert_yaxis()
    ax.set_xlabel("clips")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_title("Clips per machine type and split")
    fig.tight_layout()
    return fig


def read_samples(path, config: StudyConfig) -> np.ndarray:
    """A clip's samples as the config reads them (rate, channel), shape ``(n_samples,)``."""
    from ..audio import read_clip

    return read_clip(path, sample_rate=config.audio.sample_rate, channel=config.audio.channel)


def plot_waveforms(examples: pd.DataFrame, config: StudyConfig | None = None):
    """Waveforms of :func:`asd.tables.pick_examples`: one row per machine type, normal left, anomaly right."""
    plt = _plt()
    config = config or StudyConfig()
    types = list(dict.fromkeys(examples["machine_type"]))
    fig, axes = plt.subplots(len(types), 2, figsize=(7.2, 1.25 * len(types) + 0.5), sharex=True, squeeze=False)
    rate = config.audio.sample_rate
    for r, machine_type in enumerate(types):
        rows = examples[examples["machine_type"] == machine_type].set_index("label")
        labels = [label for label in ("normal", "anomaly") if label in rows.index]
        waves = {label: read_samples(rows.loc[label, "path"], config) for label in labels}
        limit = max(float(np.abs(w).max()) for w in waves.values()) or 1.0
        for c, label in enumerate(("normal", "anomaly")):
            ax = axes[r, c]
            if label in waves:
                wave = waves[label]
                ax.plot(np.arange(len(wave)) / rate, wave, color=LABEL_COLORS[label], linewidth=0.3)
                ax.set_ylim(-1.05 * limit, 1.05 * limit)
                ax.set_title(f"{machine_type} {machine_label(rows.loc[label, 'machine_id'])}: {label}", fontsize=9)
            ax.tick_params(labelsize=7)
        axes[r, 0].set_ylabel("amplitude", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)", fontsize=8)
    fig.tight_layout()
    return fig


def fine_log_mel(samples: np.ndarray, config: StudyConfig | None = None) -> np.ndarray:
    """A finer log-mel spectrogram for display: the DCASE baseline's 128 bands, 1024-point FFT,
    32 ms hop, in dB (:func:`asd.features.baseline_log_mel`), shape ``(n_mels, n_frames)``."""
    from ..features import baseline_log_mel

    config = config or StudyConfig()
    return baseline_log_mel(samples, sample_rate=config.audio.sample_rate, config=config.baseline)


def plot_log_mels(examples: pd.DataFrame, config: StudyConfig | None = None):
    """Fine log-mel spectrograms (:func:`fine_log_mel`) of :func:`asd.tables.pick_examples`, same grid as
    :func:`plot_waveforms`; both clips of a row share one colour scale."""
    plt = _plt()
    config = config or StudyConfig()
    types = list(dict.fromkeys(examples["machine_type"]))
    fig, axes = plt.subplots(len(types), 2, figsize=(7.2, 1.5 * len(types) + 0.5), squeeze=False, layout="constrained")
    hop_s = config.baseline.hop_length / config.audio.sample_rate
    for r, machine_type in enumerate(types):
        rows = examples[examples["machine_type"] == machine_type].set_index("label")
        mels = {
            label: fine_log_mel(read_samples(rows.loc[label, "path"], config), config)
            for label in ("normal", "anomaly")
            if label in rows.index
        }
        low = min(float(np.percentile(m, 1)) for m in mels.values())
        high = max(float(m.max()) for m in mels.values())
        for c, label in enumerate(("normal", "anomaly")):
            ax = axes[r, c]
            if label in mels:
                mel = mels[label]
                image = ax.imshow(
                    mel,
                    origin="lower",
                    aspect="auto",
                    cmap="magma",
                    vmin=low,
                    vmax=high,
                    extent=(0, mel.shape[1] * hop_s, 0, mel.shape[0]),
                )
                ax.set_title(f"{machine_type} {machine_label(rows.loc[label, 'machine_id'])}: {label}", fontsize=9)
            ax.tick_params(labelsize=7)
        axes[r, 0].set_ylabel("mel band", fontsize=8)
        fig.colorbar(image, ax=axes[r, :].tolist(), pad=0.01, fraction=0.03, label="dB").ax.tick_params(labelsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)", fontsize=8)
    return fig


def plot_image_vs_fine(path, config: StudyConfig | None = None, *, title: str = ""):
    """One clip three ways: the fine log-mel, the study's 64x64 image, and the fine log-mel
    averaged down to the image's grid (what the coarse image cannot show is the difference)."""
    from ..features import log_mel_image

    plt = _plt()
    config = config or StudyConfig()
    samples = read_samples(path, config)
    fine = fine_log_mel(samples, config)
    image = log_mel_image(samples, sample_rate=config.audio.sample_rate, config=config.image)
    rate = config.audio.sample_rate
    fine_s = fine.shape[1] * config.baseline.hop_length / rate
    image_s = image.shape[1] * config.image.hop_length / rate
    fig, axes = plt.subplots(
        1, 2, figsize=(7.2, 2.7), gridspec_kw={"width_ratios": [fine_s, image_s]}, layout="constrained"
    )
    low, high = float(np.percentile(fine, 1)), float(max(fine.max(), image.max()))
    for ax, values, seconds, name in (
        (axes[0], fine, fine_s, f"fine log-mel {fine.shape[0]}x{fine.shape[1]}"),
        (axes[1], image, image_s, f"study's image {image.shape[0]}x{image.shape[1]}"),
    ):
        shown = ax.imshow(
            values,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=low,
            vmax=high,
            extent=(0, seconds, 0, values.shape[0]),
        )
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("mel band", fontsize=8)
    fig.colorbar(shown, ax=axes.tolist(), pad=0.01, fraction=0.03, label="dB")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# -- training ----------------------------------------------------------------------------


def plot_learning_curves(histories: pd.DataFrame, *, metrics: Sequence[str] = ("loss", "val_loss")):
    """One panel per model: training loss (solid) and validation loss (dashed) per machine type.

    Models without a ``loss`` history (fitted in one step, e.g. the embedding detectors) get no panel.
    """
    plt = _plt()
    histories = histories[histories["metric"].isin(metrics)]
    models = list(dict.fromkeys(histories["model"])) or ["(no training curves)"]
    types = sorted(histories["machine_type"].unique())
    colors = {t: plt.cm.tab10(i % 10) for i, t in enumerate(types)}
    ncols = min(3, len(models))
    nrows = int(np.ceil(len(models) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.1 * nrows + 0.5), squeeze=False)
    for ax, model in zip(axes.flat, models):
        part = histories[histories["model"] == model]
        for (machine_type, metric), curve in part.groupby(["machine_type", "metric"], sort=True):
            ax.plot(
                curve["epoch"],
                curve["value"],
                color=colors[machine_type],
                marker="." if len(curve) < 3 else None,
                linestyle="-" if metric == metrics[0] else "--",
                linewidth=1,
                label=machine_type if metric == metrics[0] else None,
            )
        if len(part) and (part["value"] > 0).all():
            ax.set_yscale("log")
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(models) :]:
        ax.axis("off")
    axes[0, 0].set_ylabel("loss (solid: train, dashed: validation)", fontsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.07 if handles else 0, 1, 1))
    return fig


# -- evaluation ----------------------------------------------------------------------------


def plot_roc_curves(scores: pd.DataFrame, *, models: Sequence[str] | None = None):
    """ROC curves per machine type (test clips of all its IDs pooled), one line per model."""
    from sklearn.metrics import roc_curve

    plt = _plt()
    labelled = scores[scores["label"].isin(["normal", "anomaly"])]
    types = sorted(labelled["machine_type"].unique())
    models = list(models) if models is not None else list(dict.fromkeys(labelled["model"]))
    colors = {m: plt.cm.tab10(i % 10) for i, m in enumerate(models)}
    ncols = min(3, max(1, len(types)))
    nrows = int(np.ceil(len(types) / ncols)) or 1
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.3 * nrows + 0.4), squeeze=False)
    for ax, machine_type in zip(axes.flat, types):
        for model in models:
            part = labelled[(labelled["machine_type"] == machine_type) & (labelled["model"] == model)]
            y = (part["label"] == "anomaly").to_numpy(int)
            if len(np.unique(y)) < 2:
                continue
            fpr, tpr, _ = roc_curve(y, part["score"].to_numpy())
            ax.plot(fpr, tpr, color=colors[model], linewidth=1.2, label=model)
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.6, linestyle=":")
        ax.axvspan(0, 0.1, color="grey", alpha=0.08)
        ax.set_title(machine_type, fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("false positive rate", fontsize=7)
        ax.set_ylabel("true positive rate", fontsize=7)
    for ax in axes.flat[len(types) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels) or 1), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_score_distributions(scores: pd.DataFrame, *, models: Sequence[str] | None = None, bins: int = 30):
    """Histograms of the anomaly scores of normal and anomalous test clips: rows models,
    columns machine types. Each panel has its own score range (scores are not comparable
    across models or types), so the axes carry no ticks: what matters is the overlap. Positive
    scores spanning more than a factor of 5 get logarithmic bins and axis (counts, not densities)."""
    plt = _plt()
    labelled = scores[scores["label"].isin(["normal", "anomaly"])]
    types = sorted(labelled["machine_type"].unique())
    models = list(models) if models is not None else list(dict.fromkeys(labelled["model"]))
    fig, axes = plt.subplots(
        len(models), len(types), figsize=(min(7.2, 1.1 * len(types) + 0.6), 0.95 * len(models) + 0.6), squeeze=False
    )
    for r, model in enumerate(models):
        for c, machine_type in enumerate(types):
            ax = axes[r, c]
            part = labelled[(labelled["model"] == model) & (labelled["machine_type"] == machine_type)]
            values = part["score"].to_numpy(float)
            values = values[np.isfinite(values)]
            if len(values):
                low, high = float(values.min()), float(values.max())
                spread = low > 0 and high / low > 5  # distances: anomalies far out, show both on a log axis
                edges = np.geomspace(low, high, bins + 1) if spread else np.histogram_bin_edges(values, bins=bins)
                for label in ("normal", "anomaly"):
                    ax.hist(
                        part.loc[part["label"] == label, "score"],
                        bins=edges,
                        color=LABEL_COLORS[label],
                        alpha=0.55,
                        density=not spread,
                        label=label,
                    )
                if spread:
                    ax.set_xscale("log")
                    ax.minorticks_off()
            ax.set_yticks([])
            ax.set_xticks([])
            if r == 0:
                ax.set_title(machine_type, fontsize=8)
            if c == 0:
                ax.set_ylabel(model.replace("_", "_\n", 1) if len(model) > 12 else model, fontsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


# -- reconstructions -------------------------------------------------------------------------


def plot_reconstructions(
    inputs: np.ndarray,
    outputs: np.ndarray,
    titles: Sequence[str],
    *,
    scores: Sequence[float] | None = None,
    recalibrated: np.ndarray | None = None,
    suptitle: str = "",
):
    """Rows of clips: model input, the autoencoder's reconstruction (same colour scale) and the
    squared error map, all ``(n_mels, n_frames)`` in the model's (standardised) units.

    With ``recalibrated`` (reconstructions by the same model with re-estimated batch-normalisation
    statistics, :func:`asd.reconstruction.recalibrate_batchnorm`), two more columns show it and its error map.
    """
    plt = _plt()
    inputs, outputs = np.asarray(inputs), np.asarray(outputs)
    if inputs.shape != outputs.shape or inputs.ndim != 3:
        raise ValueError(
            f"expected inputs and outputs of the same (n_clips, n_mels, n_frames) shape, got {inputs.shape} and "
            f"{outputs.shape}"
        )
    if recalibrated is not None and np.shape(recalibrated) != inputs.shape:
        raise ValueError(f"recalibrated has shape {np.shape(recalibrated)}, expected {inputs.shape}")
    errors = (inputs - outputs) ** 2
    n = len(inputs)
    ncols = 3 if recalibrated is None else 5
    fig, axes = plt.subplots(n, ncols, figsize=(7.4, (1.9 if ncols == 3 else 1.55) * n + 0.5), squeeze=False)
    err_max = float(np.percentile(errors, 99.5)) or 1.0
    for r in range(n):
        low = float(min(inputs[r].min(), outputs[r].min()))
        high = float(max(inputs[r].max(), outputs[r].max()))
        panels = [
            (inputs[r], "original", "magma", low, high),
            (outputs[r], "reconstruction", "magma", low, high),
            (
                errors[r],
                "squared error" + (f" (mean {scores[r]:.3f})" if scores is not None else ""),
                "viridis",
                0.0,
                err_max,
            ),
        ]
        if recalibrated is not None:
            fixed = np.asarray(recalibrated[r])
            panels += [
                (fixed, "re-estimated BN", "magma", low, high),
                (
                    (inputs[r] - fixed) ** 2,
                    f"its error (mean {np.mean((inputs[r] - fixed) ** 2):.3f})",
                    "viridis",
                    0.0,
                    err_max,
                ),
            ]
        for c, (values, name, cmap, vmin, vmax) in enumerate(panels):
            ax = axes[r, c]
            shown = ax.imshow(values, origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_title(name, fontsize=7 if ncols == 5 else 8)
            ax.tick_params(labelsize=5 if ncols == 5 else 6)
            if c == 0:
                ax.set_ylabel(titles[r], fontsize=7)
            if c in (0, 2, 4) if ncols == 5 else c >= 1:
                fig.colorbar(shown, ax=ax, pad=0.02, fraction=0.06).ax.tick_params(labelsize=5)
    for ax in axes[-1]:
        ax.set_xlabel("frame", fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def plot_error_by_band(band_errors: Mapping[str, np.ndarray], *, title: str = ""):
    """Mean squared error per mel band (median line, 10-90% band) for each label's clips."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 2.6))
    for label, values in band_errors.items():
        values = np.asarray(values)
        if values.size == 0:
            continue
        bands = np.arange(values.shape[1])
        color = LABEL_COLORS.get(label, "grey")
        ax.plot(bands, np.median(values, axis=0), color=color, label=f"{label} ({len(values)} clips)")
        ax.fill_between(
            bands, np.percentile(values, 10, axis=0), np.percentile(values, 90, axis=0), color=color, alpha=0.2
        )
    ax.set_yscale("log")
    ax.set_xlabel("mel band", fontsize=8)
    ax.set_ylabel("squared error (time mean)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
