"""Figures and tables of the study, shared by the notebooks (``notebooks/``) and the report.

Every function takes data (a clip table, a results table, feature arrays) and returns a pandas
DataFrame or a matplotlib Figure, so it can be tested without a notebook. Figures are made with
``matplotlib.pyplot.subplots`` (they show inline in a notebook) and written with
:func:`save_figure` (PNG, modest dpi, no timestamp in the metadata, written atomically).

Sections: data exploration (counts, audio facts, example clips, waveforms, log-mel spectrograms,
the 64x64 image against a finer spectrogram), training (model table, learning curves),
evaluation (DCASE tables, the detector x machine type comparison, ROC curves, score
distributions) and reconstructions (original / reconstruction / error map, error per mel band;
the numbers behind them come from :mod:`asd.reconstruction`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .atomic import atomic_path
from .config import StudyConfig

#: Resolution of saved PNGs: enough to read, small enough to commit.
DPI = 100
#: Colours of the two labels in every figure.
LABEL_COLORS = {"normal": "#1f77b4", "anomaly": "#d62728"}
#: Metrics shown in the comparison table, in this order, when the results have them.
COMPARISON_METRICS = ("auc", "pauc", "precision", "recall", "f1")
METRIC_NAMES = {"auc": "AUC", "pauc": "pAUC", "precision": "precision", "recall": "recall", "f1": "F1"}


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
    image = Image.open(buffer).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    path = Path(path)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", optimize=True)
    path.chmod(0o644)
    return path


# -- data exploration ----------------------------------------------------------------------


def clip_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Clips per machine type and ID: columns ``train normal``, ``test normal``, ``test anomaly``
    (and ``test unknown`` for unlabeled evaluation clips), ``total``; a ``total`` row per type
    is not added (see :func:`clip_counts_by_type`)."""
    if table.empty:
        return pd.DataFrame(columns=["machine_type", "machine_id", "total"])
    keys = table["split"] + " " + table["label"]
    counts = table.assign(column=keys).groupby(["machine_type", "machine_id", "column"]).size().unstack(fill_value=0)
    order = [c for c in ("train normal", "test normal", "test anomaly", "test unknown") if c in counts.columns]
    counts = counts.reindex(columns=order, fill_value=0)
    counts["total"] = counts.sum(axis=1)
    counts.columns.name = None
    return counts.reset_index()


def clip_counts_by_type(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`clip_counts` summed over machine IDs, with the number of IDs per type."""
    counts = clip_counts(table)
    numeric = [c for c in counts.columns if c not in ("machine_type", "machine_id")]
    by_type = counts.groupby("machine_type")[numeric].sum()
    by_type.insert(0, "ids", counts.groupby("machine_type")["machine_id"].nunique())
    return by_type.reset_index()


def audio_facts(table: pd.DataFrame, *, max_per_type: int | None = None) -> pd.DataFrame:
    """Per machine type: sample rates, channel counts and clip durations read from the headers.

    Columns ``machine_type``, ``clips``, ``headers_read``, ``sample_rate_hz`` (distinct values),
    ``channels``, ``min_s``, ``median_s``, ``max_s``, ``unreadable``. With ``max_per_type``
    only that many headers per type are read (evenly spaced over the sorted paths).
    """
    from .audio import clip_info
    from .errors import AudioError

    rows = []
    for machine_type, group in table.groupby("machine_type", sort=True):
        paths = sorted(group["path"])
        if max_per_type is not None and len(paths) > max_per_type:
            paths = [paths[i] for i in np.linspace(0, len(paths) - 1, max_per_type).astype(int)]
        infos, bad = [], 0
        for path in paths:
            try:
                infos.append(clip_info(path))
            except AudioError:
                bad += 1
        durations = np.array([i["duration"] for i in infos]) if infos else np.array([np.nan])
        rows.append(
            {
                "machine_type": machine_type,
                "clips": len(group),
                "headers_read": len(paths),
                "sample_rate_hz": ", ".join(str(r) for r in sorted({i["sample_rate"] for i in infos})),
                "channels": ", ".join(str(c) for c in sorted({i["channels"] for i in infos})),
                "min_s": float(np.nanmin(durations)),
                "median_s": float(np.nanmedian(durations)),
                "max_s": float(np.nanmax(durations)),
                "unreadable": bad,
            }
        )
    return pd.DataFrame(rows)


def plot_clip_counts(table: pd.DataFrame):
    """Horizontal stacked bars: train normal, test normal and test anomaly clips per machine type."""
    plt = _plt()
    counts = clip_counts_by_type(table).set_index("machine_type")
    parts = [c for c in ("train normal", "test normal", "test anomaly", "test unknown") if c in counts.columns]
    colors = {"train normal": "#9ecae1", "test normal": LABEL_COLORS["normal"], "test anomaly": LABEL_COLORS["anomaly"], "test unknown": "#999999"}
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


def pick_examples(table: pd.DataFrame, *, machine_types: Sequence[str] | None = None, seed: int = 0) -> pd.DataFrame:
    """One normal and one anomalous test clip per machine type, from the same machine ID.

    The ID is the first (sorted) one that has both labels; within it the clips are drawn with
    ``seed``. Machine types without labelled anomalies are left out. Columns ``machine_type``,
    ``machine_id``, ``label``, ``file_name``, ``path``.
    """
    rng = np.random.default_rng(seed)
    test = table[(table["split"] == "test") & table["label"].isin(["normal", "anomaly"])]
    rows = []
    for machine_type in machine_types or sorted(test["machine_type"].unique()):
        clips = test[test["machine_type"] == machine_type]
        for machine_id in sorted(clips["machine_id"].unique()):
            group = clips[clips["machine_id"] == machine_id]
            if set(group["label"]) >= {"normal", "anomaly"}:
                for label in ("normal", "anomaly"):
                    candidates = group[group["label"] == label].sort_values("path")
                    row = candidates.iloc[int(rng.integers(len(candidates)))]
                    rows.append({k: row[k] for k in ("machine_type", "machine_id", "label", "file_name", "path")})
                break
    return pd.DataFrame(rows, columns=["machine_type", "machine_id", "label", "file_name", "path"])


def _read(path, config: StudyConfig) -> np.ndarray:
    from .audio import read_clip

    return read_clip(path, sample_rate=config.audio.sample_rate, channel=config.audio.channel)


def plot_waveforms(examples: pd.DataFrame, config: StudyConfig | None = None):
    """Waveforms of :func:`pick_examples`: one row per machine type, normal left, anomaly right."""
    plt = _plt()
    config = config or StudyConfig()
    types = list(dict.fromkeys(examples["machine_type"]))
    fig, axes = plt.subplots(len(types), 2, figsize=(7.2, 1.25 * len(types) + 0.5), sharex=True, squeeze=False)
    rate = config.audio.sample_rate
    for r, machine_type in enumerate(types):
        rows = examples[examples["machine_type"] == machine_type].set_index("label")
        waves = {label: _read(rows.loc[label, "path"], config) for label in ("normal", "anomaly") if label in rows.index}
        limit = max(float(np.abs(w).max()) for w in waves.values()) or 1.0
        for c, label in enumerate(("normal", "anomaly")):
            ax = axes[r, c]
            if label in waves:
                wave = waves[label]
                ax.plot(np.arange(len(wave)) / rate, wave, color=LABEL_COLORS[label], linewidth=0.3)
                ax.set_ylim(-1.05 * limit, 1.05 * limit)
                ax.set_title(f"{machine_type} id {rows.loc[label, 'machine_id']}: {label}", fontsize=9)
            ax.tick_params(labelsize=7)
        axes[r, 0].set_ylabel("amplitude", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)", fontsize=8)
    fig.tight_layout()
    return fig


def fine_log_mel(samples: np.ndarray, config: StudyConfig | None = None) -> np.ndarray:
    """A finer log-mel spectrogram for display: the DCASE baseline's 128 bands, 1024-point FFT,
    32 ms hop, in dB (``power_to_db``, same reference as the study's image)."""
    import librosa

    config = config or StudyConfig()
    b = config.baseline
    power = librosa.feature.melspectrogram(
        y=samples, sr=config.audio.sample_rate, n_fft=b.n_fft, hop_length=b.hop_length, n_mels=b.n_mels, power=b.power
    )
    return librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=None).astype(np.float32)


def plot_log_mels(examples: pd.DataFrame, config: StudyConfig | None = None):
    """Fine log-mel spectrograms (:func:`fine_log_mel`) of :func:`pick_examples`, same grid as
    :func:`plot_waveforms`; both clips of a row share one colour scale."""
    plt = _plt()
    config = config or StudyConfig()
    types = list(dict.fromkeys(examples["machine_type"]))
    fig, axes = plt.subplots(len(types), 2, figsize=(7.2, 1.5 * len(types) + 0.5), squeeze=False, layout="constrained")
    hop_s = config.baseline.hop_length / config.audio.sample_rate
    for r, machine_type in enumerate(types):
        rows = examples[examples["machine_type"] == machine_type].set_index("label")
        mels = {label: fine_log_mel(_read(rows.loc[label, "path"], config), config) for label in ("normal", "anomaly") if label in rows.index}
        low = min(float(np.percentile(m, 1)) for m in mels.values())
        high = max(float(m.max()) for m in mels.values())
        for c, label in enumerate(("normal", "anomaly")):
            ax = axes[r, c]
            if label in mels:
                mel = mels[label]
                image = ax.imshow(
                    mel, origin="lower", aspect="auto", cmap="magma", vmin=low, vmax=high,
                    extent=(0, mel.shape[1] * hop_s, 0, mel.shape[0]),
                )
                ax.set_title(f"{machine_type} id {rows.loc[label, 'machine_id']}: {label}", fontsize=9)
            ax.tick_params(labelsize=7)
        axes[r, 0].set_ylabel("mel band", fontsize=8)
        fig.colorbar(image, ax=axes[r, :].tolist(), pad=0.01, fraction=0.03, label="dB").ax.tick_params(labelsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)", fontsize=8)
    return fig


def image_resolution(config: StudyConfig | None = None) -> pd.DataFrame:
    """What the study's 64x64 image keeps against the finer (baseline) log-mel: one row per
    property, columns ``64x64 image`` and ``fine log-mel``."""
    config = config or StudyConfig()
    rate = config.audio.sample_rate
    image, fine = config.image, config.baseline

    def describe(n_mels, n_fft, hop, frames):
        return {
            "mel bands (0 to Nyquist)": n_mels,
            "FFT window (ms)": round(1000 * n_fft / rate, 1),
            "hop between frames (ms)": round(1000 * hop / rate, 1),
            "frequency resolution of the FFT (Hz)": round(rate / n_fft, 2),
            "frames in a 10 s clip": frames if frames else 1 + 10 * rate // hop,
            "seconds covered": round(((frames or 1 + 10 * rate // hop) - 1) * hop / rate, 2),
            "values per clip": n_mels * (frames or 1 + 10 * rate // hop),
        }

    rows = {
        "64x64 image": describe(image.n_mels, image.n_fft, image.hop_length, image.n_frames),
        "fine log-mel": describe(fine.n_mels, fine.n_fft, fine.hop_length, None),
    }
    frame = pd.DataFrame(rows)
    frame.index.name = "property"
    return frame.reset_index()


def plot_image_vs_fine(path, config: StudyConfig | None = None, *, title: str = ""):
    """One clip three ways: the fine log-mel, the study's 64x64 image, and the fine log-mel
    averaged down to the image's grid (what the coarse image cannot show is the difference)."""
    from .features import log_mel_image

    plt = _plt()
    config = config or StudyConfig()
    samples = _read(path, config)
    fine = fine_log_mel(samples, config)
    image = log_mel_image(samples, sample_rate=config.audio.sample_rate, config=config.image)
    rate = config.audio.sample_rate
    fine_s = fine.shape[1] * config.baseline.hop_length / rate
    image_s = image.shape[1] * config.image.hop_length / rate
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 2.7), gridspec_kw={"width_ratios": [fine_s, image_s]}, layout="constrained")
    low, high = float(np.percentile(fine, 1)), float(max(fine.max(), image.max()))
    for ax, values, seconds, name in (
        (axes[0], fine, fine_s, f"fine log-mel {fine.shape[0]}x{fine.shape[1]}"),
        (axes[1], image, image_s, f"study's image {image.shape[0]}x{image.shape[1]}"),
    ):
        shown = ax.imshow(values, origin="lower", aspect="auto", cmap="magma", vmin=low, vmax=high, extent=(0, seconds, 0, values.shape[0]))
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("mel band", fontsize=8)
    fig.colorbar(shown, ax=axes.tolist(), pad=0.01, fraction=0.03, label="dB")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def audio_player(path, config: StudyConfig | None = None, *, seconds: float | None = 4.0):
    """An embedded audio player (``IPython.display.Audio``; its WAV data is base64 in the HTML).

    Only the first ``seconds`` (``None``: the whole clip) of the study's channel, to keep the
    exported report small.
    """
    from IPython.display import Audio

    config = config or StudyConfig()
    samples = _read(path, config)
    if seconds is not None:
        samples = samples[: int(seconds * config.audio.sample_rate)]
    return Audio(samples, rate=config.audio.sample_rate, normalize=True, embed=True)


# -- training ----------------------------------------------------------------------------


def model_table(models: Sequence[str], config: StudyConfig | None = None) -> pd.DataFrame:
    """One row per model: features it reads, trainable parameters, epochs, description."""
    from .detectors import get_detector

    config = config or StudyConfig()
    rows = []
    for name in models:
        detector = get_detector(name)
        rows.append(
            {
                "model": name,
                "features": detector.feature_kind,
                "trainable parameters": int(detector.n_trainable_parameters(config)),
                "epochs": config.training.epochs_for(name) if detector.n_trainable_parameters(config) else "-",
                "description": detector.summary,
            }
        )
    return pd.DataFrame(rows)


def architecture_table(model) -> pd.DataFrame:
    """Layers of a Keras model: name, type, output shape, trainable parameters."""
    rows = []
    for layer in model.layers:
        try:
            shape = tuple(layer.output.shape)[1:]
        except (AttributeError, ValueError):
            shape = ()
        params = int(sum(int(np.prod(w.shape)) for w in layer.trainable_weights))
        rows.append({"layer": layer.name, "type": type(layer).__name__, "output shape": "x".join(str(s) for s in shape), "trainable parameters": params})
    return pd.DataFrame(rows)


def load_histories(run_dirs: Mapping[str, str | os.PathLike]) -> pd.DataFrame:
    """Every ``<run>/<machine_type>/history.csv`` in long form: ``model``, ``machine_type``,
    ``epoch``, ``metric``, ``value`` (runs whose detector has no history contribute nothing)."""
    frames = []
    for model, run_dir in run_dirs.items():
        for history in sorted(Path(run_dir).glob("*/history.csv")):
            try:
                frame = pd.read_csv(history)
            except pd.errors.EmptyDataError:
                continue
            if frame.empty or "epoch" not in frame.columns:
                continue
            long = frame.melt(id_vars="epoch", var_name="metric", value_name="value")
            long.insert(0, "machine_type", history.parent.name)
            long.insert(0, "model", model)
            frames.append(long)
    columns = ["model", "machine_type", "epoch", "metric", "value"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


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
                curve["epoch"], curve["value"], color=colors[machine_type], marker="." if len(curve) < 3 else None,
                linestyle="-" if metric == metrics[0] else "--", linewidth=1,
                label=machine_type if metric == metrics[0] else None,
            )
        if len(part) and (part["value"] > 0).all():
            ax.set_yscale("log")
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(models):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("loss (solid: train, dashed: validation)", fontsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.07 if handles else 0, 1, 1))
    return fig


# -- evaluation ----------------------------------------------------------------------------


def load_results(results_dirs: Mapping[str, str | os.PathLike]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``results.csv`` and ``scores.csv`` of several results folders, concatenated.

    ``results_dirs`` maps a model name to the folder ``asd.pipeline.evaluate`` wrote; the
    ``model`` column of each file is set from the key. Machine IDs are read as strings.
    """
    results, scores = [], []
    for model, folder in results_dirs.items():
        folder = Path(folder)
        frame = pd.read_csv(folder / "results.csv", dtype={"machine_id": str})
        results.append(frame.assign(model=model))
        frame = pd.read_csv(folder / "scores.csv", dtype={"machine_id": str})
        scores.append(frame.assign(model=model))
    return pd.concat(results, ignore_index=True), pd.concat(scores, ignore_index=True)


def dcase_table(results: pd.DataFrame, model: str | None = None) -> pd.DataFrame:
    """The DCASE 2020 layout for one model: per machine type its IDs (``id_XX``) and an
    ``Average`` row, AUC and pAUC (and F1 when the results have it); a final
    ``All machine types / Average`` row (mean of the type averages)."""
    if model is not None:
        results = results[results["model"] == model]
    metrics = [m for m in ("auc", "pauc", "f1") if m in results.columns]
    rows = []
    for machine_type, group in results.groupby("machine_type", sort=True):
        for _, row in group.sort_values("machine_id").iterrows():
            rows.append({"machine type": machine_type, "id": f"id_{row['machine_id']}", **{METRIC_NAMES[m]: row[m] for m in metrics}})
        rows.append({"machine type": machine_type, "id": "Average", **{METRIC_NAMES[m]: group[m].mean() for m in metrics}})
    means = results.groupby("machine_type")[metrics].mean()
    rows.append({"machine type": "All machine types", "id": "Average", **{METRIC_NAMES[m]: means[m].mean() for m in metrics}})
    return pd.DataFrame(rows).set_index(["machine type", "id"])


def comparison_table(results: pd.DataFrame, *, metrics: Iterable[str] = COMPARISON_METRICS, models: Sequence[str] | None = None) -> pd.DataFrame:
    """Every detector x machine type: the mean over machine IDs of each metric the results have.

    Index: model (in ``models`` order, else first-seen order); columns: a MultiIndex
    ``(metric name, machine type)`` plus ``(metric name, "mean")``, the mean over machine types.
    """
    metrics = [m for m in metrics if m in results.columns]
    order = list(models) if models is not None else list(dict.fromkeys(results["model"]))
    means = results.groupby(["model", "machine_type"], sort=True)[metrics].mean()
    blocks = {}
    for metric in metrics:
        block = means[metric].unstack("machine_type")
        block["mean"] = block.mean(axis=1)
        blocks[METRIC_NAMES[metric]] = block
    table = pd.concat(blocks, axis=1).reindex([m for m in order if m in means.index.get_level_values(0)])
    table.columns.names = ["metric", "machine type"]
    table.index.name = "model"
    return table


def per_id_table(results: pd.DataFrame, metric: str = "auc", *, models: Sequence[str] | None = None) -> pd.DataFrame:
    """One metric per machine type and ID (rows, with an ``Average`` row per type) and model
    (columns): the DCASE 2020 layout with the models side by side."""
    order = list(models) if models is not None else list(dict.fromkeys(results["model"]))
    values = results.pivot_table(index=["machine_type", "machine_id"], columns="model", values=metric, aggfunc="mean")
    values = values.reindex(columns=[m for m in order if m in values.columns])
    rows = []
    for machine_type, block in values.groupby(level=0, sort=True):
        for (_, machine_id), row in block.iterrows():
            rows.append({"machine type": machine_type, "id": f"id_{machine_id}", **row.to_dict()})
        rows.append({"machine type": machine_type, "id": "Average", **block.mean().to_dict()})
    type_means = values.groupby(level=0).mean()
    rows.append({"machine type": "All machine types", "id": "Average", **type_means.mean().to_dict()})
    return pd.DataFrame(rows).set_index(["machine type", "id"])


def best_models(comparison: pd.DataFrame, metric: str = "AUC") -> pd.Series:
    """For each machine type (and ``mean``), the model with the highest ``metric``."""
    return comparison[metric].idxmax()


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
    for ax in axes.flat[len(types):]:
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
    fig, axes = plt.subplots(len(models), len(types), figsize=(min(7.2, 1.1 * len(types) + 0.6), 0.95 * len(models) + 0.6), squeeze=False)
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
                    ax.hist(part.loc[part["label"] == label, "score"], bins=edges, color=LABEL_COLORS[label], alpha=0.55, density=not spread, label=label)
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
        raise ValueError(f"expected inputs and outputs of the same (n_clips, n_mels, n_frames) shape, got {inputs.shape} and {outputs.shape}")
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
            (errors[r], "squared error" + (f" (mean {scores[r]:.3f})" if scores is not None else ""), "viridis", 0.0, err_max),
        ]
        if recalibrated is not None:
            fixed = np.asarray(recalibrated[r])
            panels += [
                (fixed, "re-estimated BN", "magma", low, high),
                ((inputs[r] - fixed) ** 2, f"its error (mean {np.mean((inputs[r] - fixed) ** 2):.3f})", "viridis", 0.0, err_max),
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
        ax.fill_between(bands, np.percentile(values, 10, axis=0), np.percentile(values, 90, axis=0), color=color, alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("mel band", fontsize=8)
    ax.set_ylabel("squared error (time mean)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
