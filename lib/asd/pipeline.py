"""Train a detector per machine type and evaluate it: the steps behind ``asd train``/``evaluate``.

Run folder (``asd train --out RUN_DIR``)::

    RUN_DIR/run.json                 model name, machine types, data root, kind and fingerprint, clip counts
    RUN_DIR/config.yaml              the StudyConfig used
    RUN_DIR/<machine_type>/          one fitted detector per machine type
        model.keras, normalization.json, detector.json   (what the detector saves)
        history.csv                  training history, one row per epoch
        train_scores.csv             scores of the training clips, their paths under the data root (thresholds)
        thresholds.json              per-ID decision thresholds fitted on train_scores.csv (asd.thresholds)
        explain_reference.npz        per-ID band statistics of the normal clips (asd.explain, asd score)

Results folder (``asd evaluate --out RESULTS_DIR``, default ``RUN_DIR/results``)::

    anomaly_score_<machine_type>_id_XX.csv   DCASE format: file name, score (no header)
    result.csv                               DCASE format: AUC/pAUC per ID, averages
    results.csv                              tidy: model, machine_type, machine_id, auc, pauc, n_normal, n_anomaly,
                                             precision, recall, f1 (decisions at the thresholds.json thresholds)
    scores.csv                               every scored clip with its label, score, threshold and decision
    skipped.csv                              clips that could not be read, and why (only if any)

Every file is written atomically; a machine type's folder is complete once its
``detector.json`` and ``train_scores.csv`` exist.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import os
import platform
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from . import __version__, explain
from .atomic import write_csv_atomic, write_text_atomic
from .cache import FeatureCache
from .config import CACHE_DIR, StudyConfig
from .data import discover_clips
from .detectors import Detector, get_detector
from .errors import ASDError, LayoutError
from .extraction import extract_features
from .metrics import dcase_result_rows, results_table
from .synth import MANIFEST_NAME
from .thresholds import THRESHOLDS_FILE, fit_thresholds, load_thresholds, save_thresholds, threshold_for

logger = logging.getLogger(__name__)


def data_fingerprint(table: pd.DataFrame) -> str:
    """Short hash of a clip table: relative paths and file sizes (changes when the data does)."""
    root = Path(table.attrs.get("root", "."))
    digest = hashlib.sha1()
    for path in sorted(table["path"]):
        rel = os.path.relpath(path, root)
        digest.update(f"{rel}|{Path(path).stat().st_size}\n".encode())
    return digest.hexdigest()[:12]


def _cache(cache_dir) -> FeatureCache:
    if cache_dir is False:
        return FeatureCache(None)
    return FeatureCache(CACHE_DIR if cache_dir is None else cache_dir)


def train(
    data_root: str | os.PathLike,
    *,
    model: str,
    out: str | os.PathLike,
    config: StudyConfig | None = None,
    machine_types: Sequence[str] | None = None,
    cache_dir: str | os.PathLike | None | bool = None,
    progress: bool = True,
) -> dict:
    """Fit ``model`` on the normal training clips of each machine type; save to ``out``.

    Unreadable training clips are skipped with a warning and listed in ``run.json``; a machine
    type left with no readable clip is an error.

    Returns
    -------
    dict
        The content written to ``run.json``.
    """
    config = config or StudyConfig()
    detector_class = get_detector(model)  # fails early on an unknown name
    machine_types = machine_types or config.machine_types
    table = discover_clips(data_root, machine_types=list(machine_types) if machine_types else None)
    machine_types = sorted(table.machine_type.unique())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config.to_yaml(out / "config.yaml")
    cache = _cache(cache_dir)
    run = {
        "model": model,
        "machine_types": machine_types,
        "data_root": str(Path(data_root).resolve()),
        "data_layout": table.attrs["layout"],
        "data_fingerprint": data_fingerprint(table),
        "data_kind": "synthetic" if (Path(data_root) / MANIFEST_NAME).is_file() else "real",  # asd.synth's manifest
        "asd_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "n_train_clips": {},
        "skipped": [],
        "ignored": table.attrs["ignored"],
    }
    for machine_type in machine_types:
        clips = table[(table.machine_type == machine_type) & (table.split == "train")]
        extracted = extract_features(
            clips["path"].tolist(),
            kind=detector_class.feature_kind,
            config=config,
            cache=cache,
            on_error="skip",
            progress=progress,
            description=f"{machine_type} train features",
            mmap=True,  # memory-mapped feature pack: training memory stays bounded (docs/benchmarks.md)
        )
        run["skipped"] += [{"path": p, "problem": why} for p, why in extracted.failed]
        if not extracted.features:
            raise ASDError(f"{machine_type}: none of the {len(clips)} training clips could be read")
        ids = clips.set_index("path").loc[extracted.paths, "machine_id"].tolist()
        logger.info("%s: training %s on %d clips", machine_type, model, len(extracted.features))
        detector = detector_class(config)
        history = detector.fit(extracted.features, ids, progress=progress)
        type_dir = out / machine_type
        write_csv_atomic(type_dir / "history.csv", history)
        detector.save(type_dir)
        train_scores = pd.DataFrame(
            {
                "file_name": [Path(p).name for p in extracted.paths],
                "path": [os.path.relpath(Path(p).resolve(), Path(data_root).resolve()) for p in extracted.paths],
                "machine_id": ids,
                "score": detector.training_scores(extracted.features, ids),
            }
        )
        write_csv_atomic(type_dir / "train_scores.csv", train_scores)
        rate, method = config.thresholds.false_alarm_rate, config.thresholds.method
        save_thresholds(type_dir / THRESHOLDS_FILE, fit_thresholds(train_scores, false_alarm_rate=rate, method=method))
        mels = extracted.features  # asd.explain's reference: band statistics of the baseline log-mel
        if detector_class.feature_kind != "baseline":
            mels = extract_features(extracted.paths, kind="baseline", config=config, cache=cache, progress=progress).features
        explain.save(type_dir / explain.REFERENCE_FILE, explain.fit_reference(mels, ids, config=config))
        run["n_train_clips"][machine_type] = len(extracted.features)
    write_text_atomic(out / "run.json", json.dumps(run, indent=2))
    return run


def load_run(run_dir: str | os.PathLike) -> tuple[dict, StudyConfig]:
    """``run.json`` and the config of a finished run; :class:`LayoutError` if it is incomplete."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise LayoutError(f"{run_dir}: not a finished run (no run.json); run `asd train` first")
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    return run, StudyConfig.from_yaml(run_dir / "config.yaml")


def load_detector(run_dir: str | os.PathLike, machine_type: str) -> Detector:
    """The fitted detector of one machine type in a run folder."""
    run, config = load_run(run_dir)
    if machine_type not in run["machine_types"]:
        raise LayoutError(f"{run_dir}: no model for machine type {machine_type!r} (has {', '.join(run['machine_types'])})")
    return get_detector(run["model"]).load(Path(run_dir) / machine_type, config)


def evaluate(
    data_root: str | os.PathLike,
    *,
    run_dir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    machine_types: Sequence[str] | None = None,
    labels: pd.DataFrame | str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None | bool = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Score the test clips of every machine type in the run; write the result files.

    Parameters
    ----------
    data_root : path-like
        Dataset with ``<machine_type>/test/`` clips.
    run_dir : path-like
        A folder written by :func:`train`.
    out : path-like, optional
        Results folder (default ``run_dir/results``).
    labels : DataFrame or path-like, optional
        Ground truth for unlabeled (evaluation-set) clips: a table with columns ``machine_type``,
        ``file_name``, ``label``, or an ``eval_data_list.csv`` (see
        :func:`asd.download.load_ground_truth`). Clips still unlabeled get scores but no metrics.

    Returns
    -------
    DataFrame
        The tidy results (``results.csv``), one row per machine type and ID.
    """
    run, config = load_run(run_dir)
    model = run["model"]
    machine_types = list(machine_types or run["machine_types"])
    out = Path(out) if out is not None else Path(run_dir) / "results"
    table = discover_clips(data_root, machine_types=machine_types, require_train=False)
    table = table[table.split == "test"]
    if table.empty:
        raise LayoutError(f"{data_root}: no test clips for {', '.join(machine_types)}")
    if labels is not None:
        from .download import apply_ground_truth

        table = apply_ground_truth(table, labels)
    cache = _cache(cache_dir)
    all_scores, skipped = [], []
    for machine_type in machine_types:
        clips = table[table.machine_type == machine_type]
        if clips.empty:
            raise LayoutError(f"{Path(data_root) / machine_type / 'test'}: no test clips")
        detector = load_detector(run_dir, machine_type)
        extracted = extract_features(
            clips["path"].tolist(),
            kind=detector.feature_kind,
            config=config,
            cache=cache,
            on_error="skip",
            progress=progress,
            description=f"{machine_type} test features",
        )
        skipped += [{"path": p, "problem": why} for p, why in extracted.failed]
        scored = clips.set_index("path").loc[extracted.paths].reset_index()
        scored["score"] = detector.score(extracted.features, scored["machine_id"].tolist()) if len(scored) else []
        thresholds = load_thresholds(Path(run_dir) / machine_type)
        scored["threshold"] = [threshold_for(thresholds, m) for m in scored["machine_id"]]
        scored["decision"] = np.where(scored["score"] > scored["threshold"], "anomaly", "normal")
        all_scores.append(scored)
    scores = pd.concat(all_scores, ignore_index=True)
    scores.insert(0, "model", model)
    results = results_table(scores, model=model, max_fpr=config.max_fpr)
    write_results(out, scores=scores, results=results, skipped=skipped)
    return results


def write_results(out: str | os.PathLike, *, scores: pd.DataFrame, results: pd.DataFrame, skipped: list[dict]) -> None:
    """Write the DCASE score/result files, ``results.csv``, ``scores.csv`` and ``skipped.csv``."""
    out = Path(out)
    for (machine_type, machine_id), group in scores.groupby(["machine_type", "machine_id"], sort=True):
        write_csv_atomic(out / f"anomaly_score_{machine_type}_id_{machine_id}.csv", group[["file_name", "score"]], header=False)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(dcase_result_rows(results))
    write_text_atomic(out / "result.csv", buffer.getvalue())
    write_csv_atomic(out / "results.csv", results)
    write_csv_atomic(out / "scores.csv", scores)
    if skipped:
        write_csv_atomic(out / "skipped.csv", pd.DataFrame(skipped))
    elif (out / "skipped.csv").exists():
        (out / "skipped.csv").unlink()
