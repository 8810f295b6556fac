"""Build the study's report with one command: ``python -m asd.report --data DIR`` (``make report``).

Steps (each notebook is executed with papermill into ``<out>/executed/``)::

    data        DIR; the default data folder (data/synthetic) is (re)generated first by
                asd.synth (size "default") when missing, incomplete or from another generator
                version; any other missing folder is an error
    01-04       notebooks/01_data_exploration ... 04_reconstruction_figures: they read DIR and
                what earlier notebooks wrote, and write into the work folder (runs/report/):
                    runs/<model>/       asd.pipeline.train output per model
                    results/<model>/    asd.pipeline.evaluate output per model
                    tables/*.csv        tables for the report
                    figures/*.png       figures (copied to figures/ once the build succeeded)
                    build.json          what the report states: data, fingerprint, commit, config
    report      report/report.ipynb (the write-up) executed against the work folder, exported
                to HTML without code cells (nbconvert) and printed to PDF (headless Chromium)

Nothing visible changes until every step succeeded: a failing notebook stops the build with the
failing cell's error, and ``report.html``, ``report.pdf``, ``build_info.json`` and ``figures/``
keep their previous versions (everything is built into temporary files and renamed at the end).

The module also holds the small helpers the notebooks call (:func:`study_config`,
:func:`resolve_models`, :class:`WorkDir`) and the report's generated prose
(:func:`data_statement`, :func:`results_paragraph`, :func:`conclusion_paragraph`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from .atomic import atomic_path, write_text_atomic
from .config import DATA_DIR, FIGURES_DIR, PROJECT_ROOT, REPORT_DIR, RUNS_DIR, StudyConfig, load_config
from .errors import ASDError

logger = logging.getLogger(__name__)

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
#: The study's notebooks, in the order they run.
NOTEBOOKS = ("01_data_exploration", "02_training", "03_evaluation", "04_reconstruction_figures")
#: The write-up, executed after the notebooks and exported.
REPORT_NOTEBOOK = REPORT_DIR / "report.ipynb"
#: Where ``make report`` generates the embedded synthetic dataset.
DEFAULT_DATA = DATA_DIR / "synthetic"
DEFAULT_WORK = RUNS_DIR / "report"
#: Epochs of ``make report``: the study's 30 for its conv AE and ``StudyConfig()``'s 10 for the
#: baseline's dense AE (mean AUC on the default data: 3 epochs 0.53, 6 epochs 0.87, 10 epochs
#: 0.89); fewer than ``StudyConfig()`` for the conv VAE and the ID classifier, so that the whole
#: build on the default synthetic data stays within 10 minutes on 2 CPU cores (see
#: docs/report.md for the measured times).
REPORT_EPOCHS: dict[str, int] = {"conv_ae": 30, "conv_vae": 10, "dense_ae": 10, "id_classifier": 5}
#: Epochs of every trainable model with ``--quick``.
QUICK_EPOCHS = 1
#: The reconstruction figures of the study: (machine type, machine ID).
RECONSTRUCTION_CASES = (("pump", "00"), ("ToyCar", "03"))


class ReportError(ASDError):
    """The report cannot be built (missing data folder, failed notebook, failed export)."""


# -- helpers for the notebooks ---------------------------------------------------------------


def project_path(path: str | os.PathLike) -> Path:
    """``path`` as an absolute path; relative paths are taken from the project root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def resolve_models(models: str | Sequence[str] | None) -> list[str]:
    """Model names to run: ``"all"``, ``None`` or empty -> every registered detector."""
    from .detectors import DETECTORS, get_detector

    if models is None or models == "all" or (not isinstance(models, str) and len(models) == 0):
        return list(DETECTORS)
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    for name in models:
        get_detector(name)  # UnknownModelError names the known ones
    return list(dict.fromkeys(models))


def trains_in_epochs(model: str) -> bool:
    """Whether a detector is trained by gradient descent in epochs rather than fitted in one step
    (the detector class's ``trains_in_epochs`` attribute)."""
    from .detectors import get_detector

    return bool(get_detector(model).trains_in_epochs)


def study_config(
    *,
    epochs: Mapping[str, int] | None = None,
    quick: bool = False,
    seed: int = 0,
    config_file: str | os.PathLike | None = None,
) -> StudyConfig:
    """The config the report trains with.

    The study's defaults (or ``config_file``), with :data:`REPORT_EPOCHS` unless a config file
    is given, then ``epochs`` (per model), then ``quick`` (every model :data:`QUICK_EPOCHS`
    epochs); ``seed`` seeds training.
    """
    config = load_config(project_path(config_file)) if config_file else StudyConfig()
    if not config_file:
        config.training.epochs.update(REPORT_EPOCHS)
    config.training.epochs.update({k: int(v) for k, v in (epochs or {}).items()})
    if quick:
        config.training.epochs = {name: QUICK_EPOCHS for name in config.training.epochs}
        config.training.default_epochs = QUICK_EPOCHS
    config.seed = int(seed)
    config.training.seed = int(seed)
    return config


@dataclass(frozen=True)
class WorkDir:
    """The report's work folder and what the notebooks write into it."""

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", project_path(root))

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def build_json(self) -> Path:
        return self.root / "build.json"

    def run(self, model: str) -> Path:
        return self.runs / model

    def result(self, model: str) -> Path:
        return self.results / model

    def table(self, name: str) -> Path:
        return self.tables / f"{name}.csv"

    def write_table(self, name: str, frame: pd.DataFrame, **kwargs) -> Path:
        from .atomic import write_csv_atomic

        kwargs.setdefault("index", False)
        return write_csv_atomic(self.table(name), frame, **kwargs)

    def read_table(self, name: str, **kwargs) -> pd.DataFrame:
        kwargs.setdefault("dtype", {"machine_id": str})
        return pd.read_csv(self.table(name), **kwargs)

    def trained_models(self) -> list[str]:
        """Models with a finished run (``run.json``), in the order the training wrote them."""
        order = self.root / "models.json"
        names = json.loads(order.read_text()) if order.is_file() else sorted(p.name for p in self.runs.glob("*") if p.is_dir())
        return [n for n in names if (self.run(n) / "run.json").is_file()]


class Captions:
    """Numbered figures and tables for the report notebook (displayed as embedded HTML)."""

    def __init__(self):
        self.n_figures = 0
        self.n_tables = 0

    def figure(self, path: str | os.PathLike, caption: str) -> None:
        """Embed a PNG (base64) with a numbered caption below it, or say that it is missing."""
        import base64
        import html

        from IPython.display import HTML, display

        path = Path(path)
        if not path.is_file():
            display(HTML(f'<p class="caption"><em>(Figure not available for this data: {html.escape(path.name)}.)</em></p>'))
            return
        self.n_figures += 1
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        display(HTML(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}">'
            f'<figcaption class="caption"><b>Figure {self.n_figures}.</b> {_inline_markdown(caption)}</figcaption></figure>'
        ))

    def table(
        self, frame: pd.DataFrame, caption: str, *, digits: int | None = 3, index: bool = True, highlight_max: bool = False
    ) -> None:
        """A numbered caption above an HTML table (see :func:`table_html`); short tables are
        kept on one page with their caption."""
        from IPython.display import HTML, display

        self.n_tables += 1
        keep = " keep" if len(frame) <= 30 else ""
        display(HTML(
            f'<div class="table{keep}"><p class="caption"><b>Table {self.n_tables}.</b> {_inline_markdown(caption)}</p>'
            + table_html(frame, digits=digits, index=index, highlight_max=highlight_max) + "</div>"
        ))

    def audio(self, path: str | os.PathLike, label: str, config: StudyConfig | None = None, *, seconds: float = 4.0) -> None:
        """An embedded audio player with a label; both are hidden when printed (PDF)."""
        from IPython.display import HTML, display

        from .plots import audio_player

        player = audio_player(path, config, seconds=seconds)._repr_html_()
        display(HTML(f'<div class="audio-item"><b>{_inline_markdown(label)}</b><br>{player}</div>'))


def table_html(frame: pd.DataFrame, *, digits: int | None = 3, index: bool = True, highlight_max: bool = False) -> str:
    """``frame`` as a plain HTML table: text left-aligned, numbers right-aligned.

    Floats get ``digits`` decimals (``None``: integral values without decimals, others two);
    integers get thousands separators; NaN shows as an en dash. ``highlight_max`` sets the
    largest value of every numeric column in bold. Column and index names are escaped.
    """
    import html
    import numbers

    import numpy as np

    def fmt(value) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "&ndash;"
        if isinstance(value, (bool, np.bool_)):
            return str(value)
        if isinstance(value, numbers.Integral):
            return f"{int(value):,}"
        if isinstance(value, numbers.Real):
            if digits is None:
                return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
            return f"{value:,.{digits}f}"
        return html.escape(str(value))

    def is_number(value) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))

    frame = frame.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        frame.columns = [" ".join(str(p) for p in c if str(p)) for c in frame.columns]
    best = {}
    if highlight_max:
        for column in frame.columns:
            values = pd.to_numeric(frame[column], errors="coerce")
            if values.notna().any() and pd.api.types.is_numeric_dtype(frame[column]):
                best[column] = values.max()
    head = []
    if index:
        names = [n for n in (frame.index.names or []) if n is not None]
        head.append(f'<th class="text">{html.escape(" / ".join(map(str, names)))}</th>')
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        head.append(f'<th class="{"num" if numeric else "text"}">{html.escape(str(column))}</th>')
    rows = []
    values = {column: frame[column].tolist() for column in frame.columns}  # keeps ints ints
    for i, key in enumerate(frame.index):
        cells = []
        if index:
            label = " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)
            cells.append(f'<th class="text">{html.escape(label)}</th>')
        for column in frame.columns:
            value = values[column][i]
            text = fmt(value)
            if column in best and is_number(value) and value == best[column]:
                text = f"<b>{text}</b>"
            cells.append(f'<td class="{"num" if is_number(value) else "text"}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<table class="report-table"><thead><tr>' + "".join(head) + "</tr></thead><tbody>\n"
        + "\n".join(rows) + "\n</tbody></table>"
    )


def _inline_markdown(text: str) -> str:
    """``code`` and **bold** of a caption as HTML (captions are HTML paragraphs)."""
    import html

    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)


# -- generated prose ---------------------------------------------------------------------------


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def data_statement(info: Mapping[str, Any]) -> str:
    """Markdown: which data the numbers come from, its fingerprint, the commit and the settings."""
    kind = info.get("data_kind", "real")
    what = {
        "synthetic": "the **embedded synthetic dataset** (`asd.synth`, deterministic; not real recordings)",
        "real": "**real recordings** (DCASE 2020 Task 2 / MIMII / ToyADMOS layout)",
    }.get(kind, kind)
    epochs = ", ".join(f"{m} {e}" for m, e in info.get("epochs", {}).items())
    lines = [
        f"All numbers, tables and figures below were generated from {what} at `{info.get('data_root')}` "
        f"({info.get('n_clips', '?')} clips, {info.get('layout', '?')} layout), data fingerprint "
        f"`{info.get('data_fingerprint')}`.",
        "",
        f"- Code: commit `{info.get('commit')}`{' with uncommitted changes' if info.get('dirty') else ''}, "
        f"asd {info.get('asd_version')}; built {info.get('built')}.",
        f"- Models: {', '.join(f'`{m}`' for m in info.get('models', []))}; epochs: {epochs or 'defaults'}"
        f"{' (**quick build**: one epoch each, numbers not meaningful)' if info.get('quick') else ''}.",
        f"- Config fingerprint `{info.get('config_fingerprint')}` (the full configuration is in the appendix); seed {info.get('seed')}.",
    ]
    if kind == "synthetic":
        lines.append(
            "- Synthetic data stand in for the real dataset so that anyone can rebuild this report; "
            "conclusions about real machines need a build on the real data (`make report DATA=/path/to/dev_data`)."
        )
    return "\n".join(lines)


def results_paragraph(comparison: pd.DataFrame, *, reconstruction_models: Sequence[str] = ("conv_ae", "dense_ae", "conv_vae")) -> str:
    """Markdown summary of the detector x machine type comparison (every number from the table)."""
    if comparison.empty:
        return "No labelled test clips were scored, so there are no AUC values to compare."
    auc = comparison["AUC"]
    pauc = comparison["pAUC"]
    types = [c for c in auc.columns if c != "mean"]
    ranking = auc["mean"].sort_values(ascending=False)
    best = ranking.index[0]
    parts = [
        f"Averaged over the {len(types)} machine types, `{best}` has the highest AUC "
        f"({_fmt(ranking.iloc[0])}, pAUC {_fmt(pauc.loc[best, 'mean'])}), "
        + (
            "followed by " + ", ".join(f"`{m}` ({_fmt(v)})" for m, v in ranking.iloc[1:].items()) + "."
            if len(ranking) > 1
            else "the only model evaluated."
        )
    ]
    winners = auc[types].idxmax()
    by_model: dict[str, list[str]] = {}
    for machine_type, model in winners.items():
        by_model.setdefault(model, []).append(f"{machine_type} ({_fmt(auc.loc[model, machine_type])})")
    parts.append(
        "Per machine type the best AUC is reached by "
        + "; ".join(f"`{m}` on {', '.join(ts)}" for m, ts in by_model.items())
        + "."
    )
    recon = [m for m in reconstruction_models if m in auc.index]
    others = [m for m in auc.index if m not in recon]
    if "conv_ae" in auc.index:
        below = [t for t in types if auc.loc["conv_ae", t] < 0.5]
        parts.append(
            f"The study's convolutional autoencoder (`conv_ae`) reaches a mean AUC of {_fmt(auc.loc['conv_ae', 'mean'])}"
            + (f"; it is below chance (AUC < 0.5) on {', '.join(below)}" if below else "")
            + "."
        )
    if recon and others:
        best_recon = auc.loc[recon, "mean"].idxmax()
        best_other = auc.loc[others, "mean"].idxmax()
        gap = auc.loc[best_other, "mean"] - auc.loc[best_recon, "mean"]
        parts.append(
            f"The best reconstruction model (`{best_recon}`, {_fmt(auc.loc[best_recon, 'mean'])}) is "
            f"{'behind' if gap > 0 else 'ahead of'} the best of the other detectors (`{best_other}`, "
            f"{_fmt(auc.loc[best_other, 'mean'])}) by {_fmt(abs(gap))} AUC."
        )
    if "F1" in comparison.columns.get_level_values(0) and comparison["F1"]["mean"].notna().any():
        f1 = comparison["F1"]["mean"]
        parts.append(
            "At the per-ID decision thresholds fitted on the training scores, the mean F1 ranges from "
            f"{_fmt(f1.min())} (`{f1.idxmin()}`) to {_fmt(f1.max())} (`{f1.idxmax()}`)."
        )
    return " ".join(parts)


#: Why reconstruction autoencoders and the other detectors differ (03_evaluation and the report).
WHY_DETECTORS_DIFFER = """\
**Why the detectors differ.** The three autoencoders score a clip by how badly they reproduce it.
That works only if the decoder fails on anomalies and not on normal clips, but a decoder that has
learned to reproduce the varied normal sounds of a machine type (several machines, background
noise, transient events) tends to reproduce most of an anomalous clip too, and the error it leaves
is dominated by what is unpredictable in *every* clip: noise texture and background events. The
mean over all pixels (or frame vectors) then mixes a small, localised fault with that large,
shared error. The other detectors ask a
different question. The machine-ID classifier (`id_classifier`) learns what tells the machines of a
type apart (rotation speed, harmonics, resonances, click timing) and flags clips that no longer
sound like their own machine; nothing rewards it for reproducing the input. The embedding detectors
(`embedding_knn`, `embedding_mahalanobis`) keep per-band statistics of the clip (mean, spread and
maximum level over time) and measure the distance to the normal clips of the same machine, so a new
tone, a shifted resonance or intermittent knocks move a clip away from its neighbours even when an
autoencoder would still reproduce it."""


def image_paragraph(resolution: pd.DataFrame) -> str:
    """Markdown: what the study's image keeps and loses, from :func:`asd.plots.image_resolution`."""
    table = resolution.set_index("property")
    image, fine = table["64x64 image"], table["fine log-mel"]
    ratio = float(fine["values per clip"]) / float(image["values per clip"])
    return (
        f"The image's frames are {float(image['hop between frames (ms)']):.0f} ms apart and each analyses a "
        f"{float(image['FFT window (ms)']):.0f} ms window, against {float(fine['hop between frames (ms)']):.0f} ms and "
        f"{float(fine['FFT window (ms)']):.0f} ms for the finer spectrogram: a click or an impact lasting a few "
        f"milliseconds is averaged with everything else in its window, and a rhythm faster than about "
        f"{1000 / (2 * float(image['hop between frames (ms)'])):.1f} Hz (half the frame rate) cannot be seen. "
        f"The image has {int(image['mel bands (0 to Nyquist)'])} mel bands against {int(fine['mel bands (0 to Nyquist)'])}, "
        f"so harmonics closer than a band's width merge into one value; the long FFT window gives it a fine "
        f"frequency resolution ({float(image['frequency resolution of the FFT (Hz)']):.1f} Hz) before the mel "
        f"bands average it away again. It covers the first {float(image['seconds covered']):.1f} s of a clip: the "
        f"rest of a longer clip (ToyCar clips last 11 s) is never seen. In all it keeps "
        f"{int(image['values per clip']):,} values per clip, {ratio:.0f} times fewer than the finer spectrogram: "
        f"what survives is the long-term spectral envelope and slow changes of level."
    )


def training_paragraph(config: StudyConfig) -> str:
    """Markdown: how the models were trained and evaluated (values from ``config``)."""
    t = config.training
    return (
        f"Every Keras model is trained with Adam (learning rate {t.learning_rate:g}) on the normal training clips "
        f"of one machine type, batch size {t.batch_size} clips ({t.dense_batch_size} frame vectors for `dense_ae`), "
        f"with {100 * t.validation_split:.0f}% of the clips held out for the validation loss and seed {t.seed}; "
        f"the epochs per model are in the model table. Each test clip gets an anomaly score; AUC and partial AUC "
        f"(false-positive rate up to {config.max_fpr:g}, McClish-standardised as the DCASE 2020 evaluator reports it) "
        f"are computed per machine ID and averaged per machine type. A decision threshold per machine ID is fitted "
        f"on the scores of the training clips only (90% quantile of a gamma distribution), which gives precision, "
        f"recall and F1 for the anomalous class."
    )


def detection_rates(scores: pd.DataFrame, *, fpr: float = 0.1) -> pd.DataFrame:
    """Per model and machine type: the share of anomalous test clips scored above the
    ``1 - fpr`` quantile of the normal test clips' scores of the same machine ID (the true
    positive rate at that false-alarm rate), averaged over IDs. Columns: machine types + ``mean``."""
    labelled = scores[scores["label"].isin(["normal", "anomaly"])]
    rows = []
    for (model, machine_type, machine_id), group in labelled.groupby(["model", "machine_type", "machine_id"], sort=False):
        normal = group.loc[group["label"] == "normal", "score"]
        anomaly = group.loc[group["label"] == "anomaly", "score"]
        if len(normal) and len(anomaly):
            rows.append({"model": model, "machine_type": machine_type, "tpr": float((anomaly > normal.quantile(1 - fpr)).mean())})
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows).groupby(["model", "machine_type"], sort=False)["tpr"].mean().unstack("machine_type")
    frame = frame.reindex(columns=sorted(frame.columns))
    frame["mean"] = frame.mean(axis=1)
    return frame.reindex(list(dict.fromkeys(labelled["model"])))


def optimizer_steps(n_clips: int, config: StudyConfig, model: str) -> int:
    """Gradient steps of an image autoencoder on one machine type: epochs times the batches of
    the clips left after Keras' validation split."""
    import math

    t = config.training
    n_fit = math.ceil(n_clips * (1.0 - t.validation_split)) if n_clips * t.validation_split >= 1 else n_clips
    return t.epochs_for(model) * math.ceil(n_fit / t.batch_size)


def conclusion_paragraph(summary: pd.DataFrame, batchnorm: pd.DataFrame | None = None, *, momentum: float = 0.99) -> str:
    """Markdown: what the reconstructions of this build show.

    Every number comes from ``summary`` (:func:`asd.reconstruction.reconstruction_summary` over every test
    clip of the shown machines) and ``batchnorm`` (rows of :func:`asd.reconstruction.batchnorm_check` per
    machine and group of clips, ``train normal`` / ``test normal`` / ``test anomaly``, with
    ``optimizer_steps``); an interpretation sentence appears only when the numbers support it
    (a factor of 2 between errors, or anomalous within 25% of normal).
    """
    if summary.empty:
        return "The reconstruction cases are not in this data, so no reconstruction statistics are available."
    items = []
    for (machine_type, machine_id), group in summary.groupby(["machine_type", "machine_id"], sort=False):
        by_label = group.set_index("label")
        if not {"normal", "anomaly"} <= set(by_label.index):
            continue
        sentences: list[str] = []
        items.append((f"{machine_type} id {machine_id}", sentences))
        n, a = by_label.loc["normal"], by_label.loc["anomaly"]
        ratio = a["mean_mse"] / n["mean_mse"] if n["mean_mse"] else float("nan")
        sentences.append(
            f"The mean reconstruction error of the anomalous test clips is "
            f"{_fmt(a['mean_mse'])} against {_fmt(n['mean_mse'])} for the normal ones (ratio {_fmt(ratio, 2)}); "
            f"the largest normal error, {_fmt(n['max_mse'])}, is "
            f"{'above' if n['max_mse'] > a['median_mse'] else 'below'} the median anomalous error ({_fmt(a['median_mse'])}), "
            f"and the 5% worst pixels hold {_fmt(100 * a['top5_share'], 0)}% of an anomalous clip's error and "
            f"{_fmt(100 * n['top5_share'], 0)}% of a normal clip's."
        )
        if batchnorm is None or batchnorm.empty:
            continue
        rows = batchnorm[(batchnorm["machine_type"] == machine_type) & (batchnorm["machine_id"] == machine_id)].set_index("clips")
        if not {"train normal", "test normal", "test anomaly"} <= set(rows.index):
            continue
        train, new, bad = rows.loc["train normal"], rows.loc["test normal"], rows.loc["test anomaly"]
        sentences.append(
            f"As scored, the autoencoder's error is {_fmt(train['mse_running'])} on its own training clips of this machine, "
            f"{_fmt(new['mse_running'])} on new normal clips and {_fmt(bad['mse_running'])} on anomalous ones; with the "
            f"batch-normalisation statistics re-estimated on the training clips it is {_fmt(train['mse_recalibrated'])}, "
            f"{_fmt(new['mse_recalibrated'])} and {_fmt(bad['mse_recalibrated'])} (the images have variance "
            f"{_fmt(new['input_variance'])})."
        )
        if train["mse_running"] > 2 * train["mse_recalibrated"]:
            steps = int(train["optimizer_steps"])
            sentences.append(
                f"The running statistics used for scoring have not converged: after {steps} optimisation steps, running averages "
                f"with momentum {momentum:g} still carry {100 * momentum ** steps:.0f}% of their initial values, so every "
                f"batch-normalisation layer rescales its inputs wrongly"
                + (
                    " and the autoencoder reproduces its own training clips hardly better than new ones"
                    if train["mse_running"] >= 0.8 * new["mse_running"]
                    else ""
                )
                + "."
            )
        if new["mse_recalibrated"] > 2 * train["mse_recalibrated"]:
            sentences.append(
                f"With the statistics repaired, new normal clips are still reconstructed "
                f"{new['mse_recalibrated'] / train['mse_recalibrated']:.1f} times worse than the training clips: the "
                f"autoencoder has learned its training images rather than what makes a sound normal, so any unseen clip, "
                f"normal or not, gets a high error."
            )
        if bad["mse_recalibrated"] > 1.5 * new["mse_recalibrated"] and train["mse_running"] > 2 * train["mse_recalibrated"]:
            sentences.append(
                f"With re-estimated statistics the anomalous clips' error is {bad['mse_recalibrated'] / new['mse_recalibrated']:.1f} "
                f"times that of new normal clips: the autoencoder did learn to reproduce normal clips better than anomalous ones, "
                f"and the scoring with unconverged statistics hides it."
            )
        if abs(bad["mse_recalibrated"] / new["mse_recalibrated"] - 1) < 0.25:
            sentences.append(
                f"Anomalous clips are not reconstructed markedly worse than new normal ones "
                f"({_fmt(bad['mse_recalibrated'])} against {_fmt(new['mse_recalibrated'])} with re-estimated statistics)."
            )
    return "\n".join(f"- **{name}.** " + " ".join(sentences) for name, sentences in items)


def closing_paragraph(comparison: pd.DataFrame, *, reconstruction_models: Sequence[str] = ("conv_ae", "dense_ae", "conv_vae")) -> str:
    """Markdown: the mean AUC range of the reconstruction models against the other detectors."""
    if comparison.empty:
        return ""
    auc = comparison["AUC"]["mean"]
    recon = [m for m in reconstruction_models if m in auc.index]
    others = [m for m in auc.index if m not in recon]

    def span(models):
        values = auc[models]
        return _fmt(values.min()) if len(values) == 1 else f"{_fmt(values.min())} to {_fmt(values.max())}"

    text = f"In this build the reconstruction models reach mean AUCs of {span(recon)}" if recon else ""
    if recon and others:
        text += f", the detectors that do not reconstruct their input {span(others)}"
    return text + "." if text else ""


# -- building ----------------------------------------------------------------------------


def git_commit(root: Path = PROJECT_ROOT) -> tuple[str, bool]:
    """The checked-out commit and whether tracked files differ from it (``("unknown", False)``
    outside a git checkout)."""
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, bool(status.strip())


def count_pdf_pages(path: str | os.PathLike) -> int:
    """Pages of a PDF: pypdf when installed, else the ``/Type /Page`` objects in the file."""
    try:
        from pypdf import PdfReader
    except ImportError:
        data = Path(path).read_bytes()
        return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))
    return len(PdfReader(str(path)).pages)


def find_chromium() -> str | None:
    """A Chromium/Chrome executable: ``$CHROMIUM`` or the first on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(html: Path, pdf: Path, *, timeout: float = 300) -> Path:
    """Print ``html`` to ``pdf`` with headless Chromium (A4, no header/footer, offline)."""
    chromium = find_chromium()
    if chromium is None:
        raise ReportError("Chromium not found (needed for the PDF): run `make setup` or `bash scripts/install_system_deps.sh`")
    with tempfile.TemporaryDirectory(prefix="asd-chromium-") as profile:
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            Path(html).resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ReportError(f"Chromium did not finish printing {html} within {timeout:.0f} s") from None
    if done.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        raise ReportError(f"Chromium failed to print {html} (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return pdf


#: Print-friendly style of the exported report (no JavaScript, no external resources).
REPORT_CSS = """
@page { size: A4; margin: 16mm 15mm 16mm 15mm;
        @bottom-center { content: counter(page) " / " counter(pages); font-size: 8pt; color: #666; } }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 10.5pt; line-height: 1.45;
       color: #1a1a1a; max-width: 185mm; margin: 0 auto; padding: 0 4mm; }
h1 { font-size: 19pt; margin: 0.2em 0 0.4em; }
h2 { font-size: 14.5pt; margin: 1.2em 0 0.4em; border-bottom: 1px solid #bbb; padding-bottom: 2px; break-after: avoid; }
h3 { font-size: 12pt; margin: 1em 0 0.3em; break-after: avoid; }
p { text-align: justify; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 0.9em; background: #f3f3f3; padding: 0 2px; }
pre { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; background: #f6f6f6; padding: 6px; white-space: pre-wrap; }
img { max-width: 100%; height: auto; display: block; margin: 0.3em auto; }
figure { margin: 0.6em 0; break-inside: avoid; }
div.table.keep { break-inside: avoid; }
div.table .caption { break-after: avoid; }
table { border-collapse: collapse; margin: 0.4em 0 0.8em; font-size: 8.5pt; break-inside: auto; }
th, td { border-bottom: 1px solid #ddd; padding: 2px 6px; vertical-align: top; }
thead th { background: #f0f0f0; border-bottom: 1px solid #999; white-space: normal; overflow-wrap: anywhere; }
tbody th { font-weight: normal; background: #fafafa; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.text { text-align: left; }
tr { break-inside: avoid; }
.audio-item { display: inline-block; width: 48%; margin: 0 1% 0.5em 0; font-size: 9pt; }
audio { width: 100%; height: 32px; }
.anchor-link { display: none; }
.caption { font-size: 9pt; color: #444; margin: 0.2em 0 0.8em; }
.pagebreak { break-before: page; }
@media print { .audio-item { display: none; } }
"""

_HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""


def export_html(notebook: str | os.PathLike, html: str | os.PathLike, *, title: str) -> Path:
    """The executed report notebook as one self-contained HTML page: code cells, prompts and
    stderr output left out, images and audio embedded, no scripts."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import Preprocessor

    class DropStderr(Preprocessor):
        def preprocess_cell(self, cell, resources, index):
            if cell.get("cell_type") == "code":
                cell.outputs = [o for o in cell.get("outputs", []) if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
            return cell, resources

    nb = nbformat.read(str(notebook), as_version=4)
    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.register_preprocessor(DropStderr(), enabled=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    page = _HTML_PAGE.format(title=title, css=REPORT_CSS, body=body)
    return write_text_atomic(html, page)


def run_notebook(source: Path, target: Path, parameters: Mapping[str, Any], *, log=print) -> float:
    """Execute ``source`` with papermill into ``target`` (only the parameters it declares).

    Returns the wall time in seconds; raises :class:`ReportError` with the failing cell's error.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    declared = pm.inspect_notebook(str(source))
    params = {k: v for k, v in parameters.items() if k in declared}
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(source),
            str(target),
            parameters=params,
            kernel_name="python3",
            progress_bar=False,
            cwd=str(source.parent),
            start_timeout=120,
        )
    except PapermillExecutionError as exc:
        trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(exc.traceback or []))
        raise ReportError(
            f"{source.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}\n{trace}\n"
            f"(executed copy with the error: {target})"
        ) from None
    return time.perf_counter() - start


def ensure_data(data: str | os.PathLike, *, log=print) -> tuple[Path, str]:
    """The dataset root and its kind (``"synthetic"`` when it holds the generator's manifest,
    else ``"real"``).

    The default folder (:data:`DEFAULT_DATA`) is handed to :func:`asd.synth.generate_dataset`,
    which writes it when it is missing, incomplete or from another generator version and
    returns at once otherwise. Any other folder must exist.
    """
    root = project_path(data)
    is_default = root.resolve() == DEFAULT_DATA.resolve()
    from .synth import MANIFEST_NAME

    if is_default:
        from .synth import generate_dataset

        start = time.perf_counter()
        generate_dataset(root, size="default", progress=False)
        if time.perf_counter() - start > 5:
            log(f"  generated the default synthetic dataset into {root} in {time.perf_counter() - start:.0f} s")
    if not root.is_dir():
        raise ReportError(f"{root}: dataset folder not found (only the default {DEFAULT_DATA} is generated automatically)")
    return root, ("synthetic" if (root / MANIFEST_NAME).is_file() else "real")


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (kernels, workers)."""
    import resource

    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def _copy_figures(source: Path, target: Path) -> list[str]:
    """Copy the staged PNGs to ``target`` (atomically each); remove report figures there that
    this build did not produce (names ``NN_*.png``)."""
    target.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in source.glob("*.png"))
    for name in names:
        with atomic_path(target / name) as tmp:
            shutil.copyfile(source / name, tmp)
            tmp.chmod(0o644)
    for stale in target.glob("[0-9][0-9]_*.png"):
        if stale.name not in names:
            stale.unlink()
    return names


def build(
    data: str | os.PathLike = DEFAULT_DATA,
    *,
    out: str | os.PathLike = REPORT_DIR,
    figures: str | os.PathLike = FIGURES_DIR,
    work: str | os.PathLike = DEFAULT_WORK,
    quick: bool = False,
    models: str | Sequence[str] | None = None,
    epochs: Mapping[str, int] | None = None,
    config_file: str | os.PathLike | None = None,
    machine_types: Sequence[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    pdf: bool = True,
    notebooks_dir: str | os.PathLike = NOTEBOOKS_DIR,
    report_notebook: str | os.PathLike = REPORT_NOTEBOOK,
    log=print,
) -> dict:
    """Run notebooks 01-04 and the report notebook; export ``report.html`` and ``report.pdf``.

    Returns the content of ``<out>/build_info.json``.
    """
    wall_start, cpu_start, load_start = time.perf_counter(), _cpu_seconds(), os.getloadavg()[0]
    out, figures, notebooks_dir = project_path(out), project_path(figures), project_path(notebooks_dir)
    report_notebook = project_path(report_notebook)
    # The kernels inherit these. One OpenBLAS thread: its spinning worker threads made small
    # linear algebra (covariances, 384x384) 20x slower on a busy 2-core machine.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    log("[data] checking the dataset ...")
    data_root, data_kind = ensure_data(data, log=log)
    data_seconds = time.perf_counter() - wall_start
    model_names = resolve_models(models)
    config = study_config(epochs=epochs, quick=quick, seed=seed, config_file=config_file)
    config.models = list(model_names)
    if machine_types:
        config.machine_types = list(machine_types)
    workdir = WorkDir(work)
    for folder in (workdir.runs, workdir.results, workdir.tables, workdir.figures):
        shutil.rmtree(folder, ignore_errors=True)
    workdir.root.mkdir(parents=True, exist_ok=True)
    write_text_atomic(workdir.root / "models.json", json.dumps(model_names))
    commit, dirty = git_commit()
    parameters = {
        "data_root": str(data_root),
        "work_dir": str(workdir.root),
        "figures_dir": str(workdir.figures),
        "models": model_names,
        "epochs": {name: config.training.epochs_for(name) for name in model_names if trains_in_epochs(name)},
        "config_file": str(project_path(config_file)) if config_file else "",
        "machine_types": list(machine_types or []),
        "quick": bool(quick),
        "seed": int(seed),
        "cache_dir": str(project_path(cache_dir)) if cache_dir else "",
        "cases": [list(case) for case in RECONSTRUCTION_CASES],
    }
    executed = out / "executed"
    timings: dict[str, float] = {"data": data_seconds}
    for index, name in enumerate(NOTEBOOKS, start=1):
        log(f"[{index}/{len(NOTEBOOKS) + 1}] {name} ...")
        timings[name] = run_notebook(notebooks_dir / f"{name}.ipynb", executed / f"{name}.ipynb", parameters, log=log)
        log(f"  done in {timings[name]:.0f} s")

    first_run = json.loads((workdir.run(model_names[0]) / "run.json").read_text())
    n_clips = sum(len(list((data_root / t).rglob("*.wav"))) for t in first_run["machine_types"])
    info: dict[str, Any] = {
        "data_root": str(data_root),
        "work_dir": str(workdir.root),
        "data_kind": data_kind,
        "data_fingerprint": first_run["data_fingerprint"],
        "layout": first_run.get("data_layout"),
        "n_clips": n_clips,
        "machine_types": first_run["machine_types"],
        "models": model_names,
        "epochs": parameters["epochs"],
        "quick": bool(quick),
        "seed": int(seed),
        "commit": commit,
        "dirty": dirty,
        "asd_version": first_run.get("asd_version"),
        "config": config.to_dict(),
        "config_fingerprint": config.fingerprint(),
        "built": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "step_seconds": {k: round(v, 1) for k, v in timings.items()},
    }
    write_text_atomic(workdir.build_json, json.dumps(info, indent=2))

    log(f"[{len(NOTEBOOKS) + 1}/{len(NOTEBOOKS) + 1}] report ...")
    start = time.perf_counter()
    report_params = {**parameters, "build_json": str(workdir.build_json)}
    timings["report"] = run_notebook(report_notebook, executed / "report.ipynb", report_params, log=log)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=out) as staging:
        staging = Path(staging)
        html = export_html(executed / "report.ipynb", staging / "report.html", title="Anomalous sound detection with autoencoders (DCASE 2020 Task 2)")
        pages = None
        if pdf:
            html_to_pdf(html, staging / "report.pdf")
            pages = count_pdf_pages(staging / "report.pdf")
        timings["export"] = time.perf_counter() - start - timings["report"]
        log(f"  done in {time.perf_counter() - start:.0f} s" + (f" ({pages} PDF pages)" if pages else ""))
        # Everything succeeded: publish.
        info["figures"] = _copy_figures(workdir.figures, figures)
        for name in ("report.html", "report.pdf") if pdf else ("report.html",):
            (staging / name).chmod(0o644)
            os.replace(staging / name, out / name)
    info["pdf_pages"] = pages
    info["html_bytes"] = (out / "report.html").stat().st_size
    info["pdf_bytes"] = (out / "report.pdf").stat().st_size if pdf else None
    info["wall_seconds"] = round(time.perf_counter() - wall_start, 1)
    info["cpu_seconds"] = round(_cpu_seconds() - cpu_start, 1)
    info["load_average"] = {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)}
    info["step_seconds"] = {k: round(v, 1) for k, v in timings.items()}
    info["host_cpus"] = os.cpu_count()
    write_text_atomic(out / "build_info.json", json.dumps(info, indent=2)).chmod(0o644)
    return info


def _parse_epochs(text: str | None) -> dict[str, int]:
    if not text:
        return {}
    result = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if not value.strip().isdigit() or int(value) < 1:
            raise ReportError(f"--epochs expects NAME=N[,NAME=N...] with N >= 1, got {part!r}")
        result[name.strip()] = int(value)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m asd.report",
        description="Run the study's notebooks (01-04) on a dataset with papermill and export the report "
        "(report/report.html, report/report.pdf, report/build_info.json).",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, metavar="DIR",
                        help=f"dataset root (DCASE 2020 or MIMII layout); the default {DEFAULT_DATA.relative_to(PROJECT_ROOT)} is generated if missing")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EPOCHS} epoch per model (a smoke test; numbers not meaningful)")
    parser.add_argument("--out", type=Path, default=REPORT_DIR, metavar="DIR", help="report folder (default report/)")
    parser.add_argument("--figures", type=Path, default=FIGURES_DIR, metavar="DIR", help="where the figures go (default figures/)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, metavar="DIR", help="runs, results and tables (default runs/report/)")
    parser.add_argument("--models", metavar="A,B", help="comma-separated model names (default: every registered detector)")
    parser.add_argument("--epochs", metavar="NAME=N,...", help="epochs per model, e.g. conv_ae=50,dense_ae=20")
    parser.add_argument("--config", type=Path, metavar="FILE", help="YAML config (then the study's epochs apply, not the report's)")
    parser.add_argument("--machine-types", nargs="+", metavar="TYPE", help="only these machine types")
    parser.add_argument("--cache", type=Path, metavar="DIR", help="feature cache folder (default ./cache)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-pdf", action="store_true", help="HTML only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        info = build(
            args.data,
            out=args.out,
            figures=args.figures,
            work=args.work,
            quick=args.quick,
            models=args.models,
            epochs=_parse_epochs(args.epochs),
            config_file=args.config,
            machine_types=args.machine_types,
            cache_dir=args.cache,
            seed=args.seed,
            pdf=not args.no_pdf,
        )
    except ASDError as exc:
        print(f"asd.report: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    out = project_path(args.out)
    print(
        f"report built in {info['wall_seconds']:.0f} s: {out / 'report.html'}"
        + (f", {out / 'report.pdf'} ({info['pdf_pages']} pages)" if info.get("pdf_pages") else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
