"""Tables of the study, shared by the notebooks (``notebooks/``) and the report: pandas only.

Every function takes data (a clip table, a results table, run folders) and returns a pandas
DataFrame, so it can be tested without a notebook; the figures that show them are in
:mod:`asd.plots`. Sections: data exploration (counts, audio facts, example clips, the 64x64 image
against a finer spectrogram, this build's data beside real reference clips), training (model
table, architecture, learning-curve histories), evaluation (results and scores of several
models, the DCASE layout, the detector x machine type comparison, the top-scored clips).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .config import StudyConfig
from .metrics import chance_upper

#: Metrics shown in the comparison table, in this order, when the results have them.
COMPARISON_METRICS = ("auc", "pauc", "precision", "recall", "f1")
METRIC_NAMES = {"auc": "AUC", "pauc": "pAUC", "precision": "precision", "recall": "recall", "f1": "F1"}


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
        rows.append(
            {
                "layer": layer.name,
                "type": type(layer).__name__,
                "output shape": "x".join(str(s) for s in shape),
                "trainable parameters": params,
            }
        )
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
            rows.append(
                {
                    "machine type": machine_type,
                    "id": f"id_{row['machine_id']}",
                    **{METRIC_NAMES[m]: row[m] for m in metrics},
                }
            )
        rows.append(
            {"machine type": machine_type, "id": "Average", **{METRIC_NAMES[m]: group[m].mean() for m in metrics}}
        )
    means = results.groupby("machine_type")[metrics].mean()
    rows.append(
        {"machine type": "All machine types", "id": "Average", **{METRIC_NAMES[m]: means[m].mean() for m in metrics}}
    )
    return pd.DataFrame(rows).set_index(["machine type", "id"])


def comparison_table(
    results: pd.DataFrame, *, metrics: Iterable[str] = COMPARISON_METRICS, models: Sequence[str] | None = None
) -> pd.DataFrame:
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


# -- this build's data beside real reference clips -----------------------------------------------

#: Columns of :func:`comparison_clips`.
COMPARISON_CLIP_COLUMNS = ["source", "machine_type", "machine_id", "label", "file_name", "path"]


def comparison_clips(data: pd.DataFrame, real: pd.DataFrame, *, per_label: int = 3, seed: int = 0) -> pd.DataFrame:
    """Test clips of this build's data and of a real reference set, for the machine types both have.

    ``data`` and ``real`` are clip tables (:func:`asd.data.discover_clips`). Per machine type and
    label (normal, anomaly), up to ``per_label`` test clips of each source, drawn with ``seed``
    (the real set is used whole when it has fewer). Columns :data:`COMPARISON_CLIP_COLUMNS`,
    ``source`` is ``"data"`` or ``"real"``; machine types in the order of ``data``.
    """
    rng = np.random.default_rng(seed)
    rows = []
    real_types = set(real["machine_type"]) if len(real) else set()
    for machine_type in dict.fromkeys(data["machine_type"]):
        if machine_type not in real_types:
            continue
        for source, table in (("data", data), ("real", real)):
            tests = table[(table["machine_type"] == machine_type) & (table["split"] == "test")]
            for label in ("normal", "anomaly"):
                group = tests[tests["label"] == label].sort_values("path")
                if len(group) > per_label:
                    group = group.iloc[np.sort(rng.choice(len(group), per_label, replace=False))]
                rows += [
                    {"source": source, **{k: row[k] for k in COMPARISON_CLIP_COLUMNS[1:]}}
                    for _, row in group.iterrows()
                ]
    return pd.DataFrame(rows, columns=COMPARISON_CLIP_COLUMNS)


def levels_and_spectra(clips: pd.DataFrame, config: StudyConfig | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Level and long-term spectrum of every clip of ``clips`` (:func:`comparison_clips`).

    Returns ``levels``: the rows of ``clips`` with ``rms_dbfs`` (RMS level of the study's
    channel, dB relative to full scale) and ``peak_dbfs``; and ``spectra``: per source, machine
    type and label, ``band`` (mel band of the DCASE baseline's log-mel, 0 = lowest) and
    ``level_db`` (the band's mean over frames, averaged over the clips; dB).
    """
    from .audio import read_clip
    from .features import baseline_log_mel

    config = config or StudyConfig()
    levels, spectra = [], []
    for _, clip in clips.iterrows():
        samples = read_clip(clip["path"], sample_rate=config.audio.sample_rate, channel=config.audio.channel)
        rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
        peak = float(np.max(np.abs(samples))) if samples.size else 0.0
        levels.append(
            {**clip.to_dict(), "rms_dbfs": 20 * np.log10(max(rms, 1e-10)), "peak_dbfs": 20 * np.log10(max(peak, 1e-10))}
        )
        mel = baseline_log_mel(samples, sample_rate=config.audio.sample_rate, config=config.baseline)
        spectra.append((clip["source"], clip["machine_type"], clip["label"], mel.mean(axis=1)))
    rows = []
    keys = dict.fromkeys((s, t, lab) for s, t, lab, _ in spectra)
    for source, machine_type, label in keys:
        mean = np.mean([v for s, t, lab, v in spectra if (s, t, lab) == (source, machine_type, label)], axis=0)
        rows += [
            {"source": source, "machine_type": machine_type, "label": label, "band": b, "level_db": float(x)}
            for b, x in enumerate(mean)
        ]
    levels = pd.DataFrame(levels, columns=[*clips.columns, "rms_dbfs", "peak_dbfs"])
    return levels, pd.DataFrame(rows, columns=["source", "machine_type", "label", "band", "level_db"])


def level_summary(levels: pd.DataFrame) -> pd.DataFrame:
    """Median RMS level (dBFS) per machine type, source and label of :func:`levels_and_spectra`:
    one row per machine type, columns ``<source> <label>``."""
    if levels.empty:
        return pd.DataFrame(columns=["machine_type"])
    summary = levels.assign(column=levels["source"] + " " + levels["label"]).pivot_table(
        index="machine_type", columns="column", values="rms_dbfs", aggfunc="median", sort=False
    )
    order = [c for c in ("data normal", "data anomaly", "real normal", "real anomaly") if c in summary.columns]
    summary = summary.reindex(columns=order)
    summary.columns.name = None
    return summary.reset_index()


# -- listening --------------------------------------------------------------------------------


def top_scored_clips(
    scores: pd.DataFrame, *, model: str, machines: Sequence[tuple[str, str]] | None = None, n: int = 2
) -> pd.DataFrame:
    """The ``n`` highest-scored test clips of ``model`` per machine (type, ID) in ``machines``
    (default: every machine in ``scores``), highest first; the scores table's columns plus
    ``rank`` (1 = highest score of its machine)."""
    frame = scores[scores["model"] == model] if "model" in scores.columns else scores
    if machines is not None:
        wanted = {(str(t), str(i)) for t, i in machines}
        frame = frame[[(t, i) in wanted for t, i in zip(frame["machine_type"], frame["machine_id"].astype(str))]]
    top = (
        frame.sort_values("score", ascending=False, kind="stable")
        .groupby(["machine_type", "machine_id"], sort=False)
        .head(n)
    )
    top = top.assign(rank=top.groupby(["machine_type", "machine_id"], sort=False).cumcount() + 1)
    return top.sort_values(["machine_type", "machine_id", "rank"]).reset_index(drop=True)


# -- the data's difficulty and the detectors' worst case ------------------------------------------


def calibration_table(results: pd.DataFrame, *, model: str = "dense_ae") -> pd.DataFrame:
    """``model``'s AUC in this build beside the DCASE 2020 baseline's published development-set AUC.

    The synthetic data is calibrated so that the baseline (``dense_ae``) scores about what it
    scored on the real development set (:mod:`asd.synth.published`); this table checks that
    calibration on the build's own results (on real data, it compares the reproduction with the
    published figures).

    Parameters
    ----------
    results : DataFrame
        Tidy results (``model, machine_type, machine_id, auc, ...``) of one or several models.
    model : str
        The model whose AUCs are compared (the baseline's).

    Returns
    -------
    DataFrame
        One row per machine type (``machine_id`` ``"mean"``, first) and per published machine
        ID: ``machine_type, machine_id, auc, published, difference, tolerance, within``; empty
        when ``model`` has no results for a published machine type. ``attrs["model"]``: ``model``.
    """
    from .synth.published import BASELINE_AUC, BASELINE_AUC_PER_ID, ID_TOLERANCE, TYPE_TOLERANCE

    columns = ["machine_type", "machine_id", "auc", "published", "difference", "tolerance", "within"]
    ours = results[(results["model"] == model) & results["auc"].notna()]
    rows = []
    for machine_type, published_ids in BASELINE_AUC_PER_ID.items():
        of_type = ours[ours["machine_type"] == machine_type]
        if of_type.empty:
            continue
        by_id = dict(zip(of_type["machine_id"].astype(str).str.zfill(2), of_type["auc"]))
        rows.append((machine_type, "mean", float(of_type["auc"].mean()), BASELINE_AUC[machine_type], TYPE_TOLERANCE))
        rows += [(machine_type, m, by_id[m], auc, ID_TOLERANCE) for m, auc in published_ids.items() if m in by_id]
    table = pd.DataFrame(rows, columns=columns[:4] + ["tolerance"])
    table["difference"] = table["auc"] - table["published"]
    table["within"] = table["difference"].abs() <= table["tolerance"]
    table = table[columns]
    table.attrs["model"] = model
    return table


def worst_case_table(path: str | os.PathLike) -> pd.DataFrame | None:
    """The table ``make eval-real`` wrote (``benchmarks/eval_real.csv``), or None when absent.

    Rows are detectors; columns each data set's mean AUC, ``worst_real`` (the worst over the
    real sets) and ``worst_all``; sorted by ``worst_real``, best first.
    """
    path = Path(path)
    if not path.is_file():
        return None
    table = pd.read_csv(path).set_index("detector")
    return table.sort_values("worst_real", ascending=False) if "worst_real" in table.columns else table


def hindsight_ceiling(per_type: pd.DataFrame, *, default: str | None = None) -> pd.DataFrame:
    """What the best detector *per machine type*, chosen after seeing the anomalies, reaches.

    Not a detector: a user has no anomalous clips to choose with. It bounds what choosing among
    the detectors that were run could achieve on a set, so a set whose ceiling is below a target
    cannot show that target with any of them.

    Parameters
    ----------
    per_type : DataFrame
        ``make eval-real``'s per-type table (columns ``set``, ``model``, ``machine_type``,
        ``auc``; ``benchmarks/eval_real_per_type.csv``).
    default : str, optional
        A detector whose set mean is shown beside the ceiling (e.g. the default detector).

    Returns
    -------
    DataFrame
        One row per set (in first-seen order): ``ceiling`` (mean over machine types of the best
        AUC on that type), ``default``'s mean AUC if given, ``chance_upper`` when ``per_type`` has
        a ``chance_sd`` column (:func:`asd.metrics.chance_upper` of the set's machine types: a mean
        below it cannot be told from luck), ``models``
        (how many were run) and ``best per machine type`` (``type auc (model)``, ...).
    """
    rows = []
    per_type = per_type.reset_index(drop=True)  # idxmax needs one row per label (concatenated tables repeat them)
    for set_name, group in per_type.groupby("set", sort=False):
        best = group.loc[group.groupby("machine_type")["auc"].idxmax()].sort_values("machine_type")
        row = {"set": set_name, "ceiling": best["auc"].mean()}
        if default is not None:
            row[default] = group.loc[group["model"] == default, "auc"].mean()
        if "chance_sd" in group:
            row["chance_upper"] = chance_upper(group.groupby("machine_type")["chance_sd"].first())
        row["models"] = group["model"].nunique()
        row["best per machine type"] = ", ".join(f"{r.machine_type} {r.auc:.3f} ({r.model})" for r in best.itertuples())
        rows.append(row)
    columns = ["set", "ceiling"] + ([default] if default is not None else [])
    columns += (["chance_upper"] if "chance_sd" in per_type else []) + ["models", "best per machine type"]
    return pd.DataFrame(rows, columns=columns).set_index("set")
