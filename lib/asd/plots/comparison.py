"""Figures of this build's data beside real reference clips (committed statistics of the real
clips, :mod:`asd.report.real_stats`): log-mel spectrograms side by side, long-term spectra, levels.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..config import StudyConfig
from ..explain import machine_label
from .study import LABEL_COLORS, _plt, fine_log_mel, read_samples

SOURCE_NAMES = {"data": "this build's data", "real": "real (DCASE 2020 dev)"}


def plot_comparison_log_mels(
    clips: pd.DataFrame, config: StudyConfig | None = None, *, real_mels: Mapping | None = None
):
    """Log-mel spectrograms (:func:`fine_log_mel`) of one normal and one anomalous test clip per
    source and machine type of :func:`asd.tables.comparison_clips`: one row per machine type,
    columns data normal, data anomaly, real normal, real anomaly, one colour scale per row.

    ``real_mels`` (:attr:`asd.report.real_stats.RealStats.log_mels`): the real clips' stored
    spectrograms by ``(machine_type, label)``, used instead of reading the real clips' audio.
    """
    plt = _plt()
    config = config or StudyConfig()
    types = list(dict.fromkeys(clips["machine_type"]))
    columns = [(s, lab) for s in ("data", "real") for lab in ("normal", "anomaly")]
    fig, axes = plt.subplots(
        max(len(types), 1), 4, figsize=(9.5, 1.45 * max(len(types), 1) + 0.6), squeeze=False, layout="constrained"
    )
    for r, machine_type in enumerate(types):
        mels = _comparison_mels(clips, machine_type, columns, config, real_mels or {})
        if not mels:
            continue
        low = min(float(np.percentile(m["values"], 1)) for m in mels.values())
        high = max(float(m["values"].max()) for m in mels.values())
        for c, key in enumerate(columns):
            ax = axes[r, c]
            ax.tick_params(labelsize=6)
            if key not in mels:
                ax.set_axis_off()
                continue
            mel = mels[key]
            ax.imshow(
                mel["values"],
                origin="lower",
                aspect="auto",
                cmap="magma",
                vmin=low,
                vmax=high,
                extent=(0, mel["values"].shape[1] * mel["hop_s"], 0, mel["n_bands"]),
            )
            title = f"{machine_type} {machine_label(mel['machine_id'])}, {key[1]}\n{SOURCE_NAMES[key[0]]}"
            ax.set_title(title, fontsize=7)
        axes[r, 0].set_ylabel("mel band", fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)", fontsize=7)
    return fig


def _comparison_mels(clips: pd.DataFrame, machine_type: str, columns, config: StudyConfig, real_mels: Mapping) -> dict:
    """The spectrogram of each (source, label) of one machine type: computed from the first
    clip's audio, or for the real source taken from ``real_mels`` when it has the type."""
    hop_s = config.baseline.hop_length / config.audio.sample_rate
    mels = {}
    for source, label in columns:
        if source == "real" and (machine_type, label) in real_mels:
            mels[(source, label)] = real_mels[(machine_type, label)]
            continue
        pick = clips[(clips["machine_type"] == machine_type) & (clips["source"] == source) & (clips["label"] == label)]
        if len(pick):
            values = fine_log_mel(read_samples(pick.iloc[0]["path"], config), config)
            mels[(source, label)] = {
                "machine_id": pick.iloc[0]["machine_id"],
                "values": values,
                "hop_s": hop_s,
                "n_bands": values.shape[0],
            }
    return mels


def plot_long_term_spectra(spectra: pd.DataFrame):
    """Long-term spectra of :func:`asd.tables.levels_and_spectra`: one panel per machine type,
    mean level per mel band, this build's data (solid) against the real clips (dashed),
    normal in blue and anomalous in red."""
    plt = _plt()
    types = list(dict.fromkeys(spectra["machine_type"]))
    n_cols = min(3, max(len(types), 1))
    n_rows = -(-max(len(types), 1) // n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.2 * n_cols, 2.3 * n_rows + 0.4), squeeze=False, layout="constrained"
    )
    for ax, machine_type in zip(axes.flat, types):
        part = spectra[spectra["machine_type"] == machine_type]
        for (source, label), group in part.groupby(["source", "label"], sort=False):
            ax.plot(
                group["band"],
                group["level_db"],
                color=LABEL_COLORS.get(label, "gray"),
                linestyle="-" if source == "data" else "--",
                linewidth=1,
                label=f"{SOURCE_NAMES.get(source, source)}, {label}",
            )
        ax.set_title(machine_type, fontsize=9)
        ax.set_xlabel("mel band", fontsize=8)
        ax.set_ylabel("mean level (dB)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(types) :]:
        ax.set_axis_off()
    if types:
        axes.flat[0].legend(fontsize=6)
    return fig


def plot_levels(levels: pd.DataFrame):
    """RMS level (dBFS) of every clip of :func:`asd.tables.levels_and_spectra`, per machine type:
    this build's data (circles) against the real clips (triangles), coloured by label."""
    plt = _plt()
    types = list(dict.fromkeys(levels["machine_type"]))
    fig, ax = plt.subplots(figsize=(7.0, 2.6), layout="constrained")
    for x, machine_type in enumerate(types):
        part = levels[levels["machine_type"] == machine_type]
        for offset, source, marker in ((-0.15, "data", "o"), (0.15, "real", "^")):
            for label in ("normal", "anomaly"):
                values = part[(part["source"] == source) & (part["label"] == label)]["rms_dbfs"]
                ax.scatter(
                    np.full(len(values), x + offset),
                    values,
                    marker=marker,
                    s=18,
                    color=LABEL_COLORS[label],
                    alpha=0.8,
                    label=f"{SOURCE_NAMES[source]}, {label}" if x == 0 else None,
                )
    ax.set_xticks(range(len(types)), types, fontsize=8)
    ax.set_ylabel("RMS level (dBFS)", fontsize=8)
    ax.tick_params(labelsize=7)
    if types:
        ax.legend(fontsize=6, ncol=2)
    return fig
