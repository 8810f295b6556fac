"""Train a detector per machine type and evaluate it: the steps behind ``asd train``/``evaluate``.

Run folder (``asd train --out RUN_DIR``)::

    RUN_DIR/run.json                 model name, machine types, data root, kind and fingerprint, clip counts,
                                     the config's fingerprint, every file's size and SHA-256, and
                                     ``"complete": true`` (written last)
    RUN_DIR/config.yaml              the StudyConfig used
    RUN_DIR/skipped.csv              training clips that could not be used, and why (only if any)
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

Every file is written atomically, and a run folder is always either complete or absent: the new run
is built beside it (``RUN_DIR.tmp-<pid>``) and swapped in only once complete, so an interrupted
training leaves the previous run as it was. :func:`load_run` and :func:`load_detector` refuse an
incomplete run, a file missing, truncated or changed since training, and a ``config.yaml`` that is
not the one the models were trained with, each in one line naming the file.
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
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from . import __version__, explain
from .atomic import atomic_path, write_csv_atomic, write_text_atomic
from .audio import clip_problem
from .config import CACHE_DIR, StudyConfig
from .data import apply_ground_truth, discover_clips, one_class_tests
from .detectors import Detector, get_detector, reusing_compiled_models
from .errors import ASDError, ConfigError, LayoutError, WriteError
from .executor import Executor, InProcessExecutor
from .features import Extracted, FeatureCache, extract_features
from .features.extract import cache_chunk
from .metrics import dcase_result_rows, results_table
from .runfolder import RUN_FILE, check_out_folder, check_run_target, file_manifest, remove_stale_builds, swap_in, verify_files
from .synth import MANIFEST_NAME
from .thresholds import THRESHOLDS_FILE, fit_thresholds, load_thresholds, save_thresholds, threshold_for

logger = logging.getLogger(__name__)


#: Bytes read at a time when hashing a clip for :func:`data_fingerprint`.
_CHUNK = 1 << 20


def data_fingerprint(table: pd.DataFrame) -> str:
    """Short hash identifying the data of a clip table: every clip's relative path and content.

    The fingerprint is a SHA-1 over, per clip in sorted order, its path relative to the table's
    root (``table.attrs["root"]``) and the SHA-1 of the file's bytes (the same digest the
    feature store keys the clip by, :func:`asd.features.store.content_key`). Two datasets whose
    files have the same names and sizes but different audio (a sample changed, a new version of
    the synthetic generator) get different fingerprints; the same files in another folder get
    the same one. Files are read in 1 MiB chunks, about 0.2 ms per 10 s 16-bit clip.

    Parameters
    ----------
    table : pandas.DataFrame
        A clip table as :func:`asd.data.discover_clips` returns it (a ``path`` column).

    Returns
    -------
    str
        The first 12 hex characters of the SHA-1. A file that cannot be read counts as
        ``unreadable`` (training skips it and reports why).
    """
    root = Path(table.attrs.get("root", "."))
    digest = hashlib.sha1()
    for path in sorted(table["path"]):
        rel = Path(os.path.relpath(path, root)).as_posix()
        digest.update(f"{rel}|{_file_sha1(path)}\n".encode())
    return digest.hexdigest()[:12]


def _file_sha1(path: str | os.PathLike) -> str:
    """SHA-1 (hex) of the file's bytes read in chunks, or ``"unreadable"``."""
    digest = hashlib.sha1()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return "unreadable"
    return digest.hexdigest()


def _cache(cache_dir) -> FeatureCache:
    if cache_dir is False:
        return FeatureCache(None)
    root = Path(CACHE_DIR if cache_dir is None else cache_dir)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: is a file, expected a feature cache folder (--cache)")
    return FeatureCache(root)


def _extract(paths: list[str], *, config: StudyConfig, cache: FeatureCache, **kwargs) -> Extracted:
    """:func:`extract_features` with ``on_error="skip"``, after skipping clips shorter than
    ``config.audio.min_seconds``.

    The cache is an optimisation: when it cannot be written (disk full, read-only), the
    features are computed again without it and the run goes on.
    """
    failed = []
    min_seconds = config.audio.min_seconds
    if min_seconds > 0:
        for path in paths:
            problem = clip_problem(path, min_seconds=min_seconds)
            if problem is not None:
                logger.warning("skipping %s: %s", path, problem)
                failed.append((path, problem))
        if failed:
            short = {path for path, _ in failed}
            paths = [path for path in paths if path not in short]
    try:
        extracted = extract_features(paths, config=config, cache=cache, on_error="skip", **kwargs)
    except OSError as exc:  # WriteError included
        if cache.root is None:
            raise
        logger.warning("feature cache %s cannot be used (%s): continuing without it", cache.root, exc)
        kwargs.pop("mmap", None)
        extracted = extract_features(paths, config=config, cache=FeatureCache(None), on_error="skip", **kwargs)
    extracted.failed[:0] = failed
    return extracted


def train(
    data_root: str | os.PathLike,
    *,
    model: str,
    out: str | os.PathLike,
    config: StudyConfig | None = None,
    machine_types: Sequence[str] | None = None,
    cache_dir: str | os.PathLike | None | bool = None,
    progress: bool = True,
    overwrite: bool = True,
    machine_type: str | None = None,
    machine_id: str | None = None,
    executor: Executor | None = None,
) -> dict:
    """Fit ``model`` on the normal training clips of each machine type; save to ``out``.

    Unreadable training clips, and clips shorter than ``config.audio.min_seconds``, are skipped
    with a warning and listed in ``run.json`` and ``skipped.csv``; a machine type left with no
    readable clip is an error.

    The run is built in ``<out>.tmp-<pid>`` beside ``out`` and renamed onto it only when
    complete: an interrupted or failed training leaves ``out`` as it was.

    Parameters
    ----------
    overwrite : bool
        Replace a finished run already in ``out``. The command line passes ``False`` unless
        ``--overwrite`` is given; the notebooks re-train into their run folders.
    machine_type, machine_id : str, optional
        For a folder of recordings whose folder names do not say them (a flat folder, one
        machine's folder): the machine type and ID of its clips (:func:`asd.data.discover_clips`).
        Recorded in ``run.json``; :func:`evaluate` reads the data the same way.
    executor : asd.executor.Executor, optional
        Where the machine types are trained (:func:`train_unit`, one unit each); default: one
        after another in this process. This process alone writes the run folder.

    Returns
    -------
    dict
        The content written to ``run.json``.

    Raises
    ------
    ConfigError
        Invalid config values, ``out`` or the cache folder is an existing file.
    LayoutError
        ``out`` holds a finished run and ``overwrite`` is false, or is a folder that is not a run.
    WriteError
        The disk refused the run's files; the previous run, if any, is intact.
    """
    config = (config or StudyConfig()).validate()
    detector_class = get_detector(model)  # fails early on an unknown name
    out = Path(out)
    check_run_target(out, overwrite=overwrite)
    machine_types = machine_types or config.machine_types
    table = discover_clips(
        data_root, machine_types=list(machine_types) if machine_types else None, machine_type=machine_type, machine_id=machine_id
    )
    machine_types = sorted(table.machine_type.unique())
    cache = _cache(cache_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(out)
    build = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(build, ignore_errors=True)
    try:
        names = {"data_machine_type": machine_type, "data_machine_id": machine_id}
        executor = executor or InProcessExecutor()
        run = _train_into(build, table, machine_types, detector_class, config, cache, progress, data_root, names, executor)
        swap_in(build, out)
    except WriteError as exc:
        shutil.rmtree(build, ignore_errors=True)
        raise WriteError(out, f"cannot write the new run ({exc}); the previous run, if any, is intact") from exc
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return run


def _train_into(build: Path, table, machine_types, detector_class, config, cache, progress, data_root, names: dict, executor) -> dict:
    """Train every machine type into the folder ``build``; ``run.json`` last."""
    model = detector_class.name
    build.mkdir(parents=True)
    config.to_yaml(build / "config.yaml")
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
        "config_fingerprint": config.fingerprint(),
        "n_train_clips": {},
        "skipped": list(table.attrs.get("skipped", [])),
        "ignored": table.attrs["ignored"],
        **names,  # the machine type and ID given for folders that do not name them
    }
    cache_dir = False if cache.root is None else str(Path(cache.root).resolve())  # as a worker elsewhere finds it
    given, sent = _paths_for(executor, table)
    units = [
        TrainUnit(machine_type, sent[sent.machine_type == machine_type], model, config, cache_dir, os.path.abspath(data_root), progress)
        for machine_type in machine_types
    ]
    train_paths = table[table.machine_type.isin(machine_types) & (table.split == "train")]["path"].tolist()
    fill_cache(executor, train_paths, kinds={detector_class.feature_kind, "baseline"}, config=config, cache_dir=cache_dir)
    with reusing_compiled_models():  # in this process: one traced network per model, retrained per machine type
        outcomes = executor.map(train_unit, units, names=[f"{model} on {unit.machine_type}" for unit in units])
    for outcome in outcomes:  # the units' files, written here only
        for name, data in outcome["files"].items():
            with atomic_path(build / outcome["machine_type"] / name) as tmp:
                tmp.write_bytes(data)
        run["skipped"] += [item | {"path": given[item["path"]]} for item in outcome["skipped"]]
        run["n_train_clips"][outcome["machine_type"]] = outcome["n_train_clips"]
    if run["skipped"]:
        write_csv_atomic(build / "skipped.csv", pd.DataFrame(run["skipped"]))
    run["files"] = file_manifest(build)
    run["complete"] = True
    write_text_atomic(build / RUN_FILE, json.dumps(run, indent=2))
    return run


#: Clips per feature-extraction task on a cluster (:func:`fill_cache`).
CLUSTER_CHUNK_CLIPS = 64


def _paths_for(executor: Executor, table: pd.DataFrame) -> tuple[dict[str, str], pd.DataFrame]:
    """The table to send to the units (its paths absolute on a cluster) and each sent path's path as given."""
    if not executor.distributed:
        return _Same(), table
    sent = table.assign(path=[os.path.abspath(p) for p in table["path"]])
    return dict(zip(sent["path"], table["path"])), sent


class _Same(dict):
    """The identity mapping (in this process the units get the paths as given)."""

    def __missing__(self, key):
        return key


def fill_cache(executor: Executor, paths: list[str], *, kinds: set[str], config: StudyConfig, cache_dir) -> None:
    """On a cluster with a feature cache: the clips' features of every kind computed into the cache first, in
    tasks of :data:`CLUSTER_CHUNK_CLIPS` clips over every worker (a machine type's unit then reads them from
    the cache). Does nothing in this process or without a cache: the units extract as they always have.
    """
    if not executor.distributed or cache_dir is False:
        return
    paths = sorted({str(Path(path).resolve()) for path in paths})
    chunks = [paths[start : start + CLUSTER_CHUNK_CLIPS] for start in range(0, len(paths), CLUSTER_CHUNK_CLIPS)]
    for kind in sorted(kinds):
        units = [(chunk, kind, config, cache_dir) for chunk in chunks]
        names = [f"{kind} features of clips {i * CLUSTER_CHUNK_CLIPS + 1}-{i * CLUSTER_CHUNK_CLIPS + len(c)}" for i, c in enumerate(chunks)]
        executor.map(cache_chunk, units, names=names)  # the units report unreadable clips themselves


@dataclass(frozen=True)
class TrainUnit:
    """One detector on one machine type: what :func:`train_unit` needs, by path (picklable)."""

    machine_type: str
    clips: pd.DataFrame  #: the clip table's rows of this machine type (paths, IDs, splits)
    model: str
    config: StudyConfig
    cache_dir: str | bool  #: an absolute feature cache folder, or False for none
    data_root: str
    progress: bool


def train_unit(unit: TrainUnit) -> dict:
    """Fit, save and score one machine type's detector in a scratch folder; return what to write.

    Runs wherever the executor puts it (this process or a Dask worker that sees the clips and
    the cache at the same paths); it writes nothing but the feature cache and its scratch folder.

    Returns
    -------
    dict
        ``machine_type``; ``files``: the machine type's files (relative name -> bytes);
        ``n_train_clips``; ``skipped``: ``{"path", "problem"}`` of the clips that could not be used.
    """
    run: dict = {"skipped": [], "n_train_clips": {}}
    cache = _cache(unit.cache_dir)
    detector_class = get_detector(unit.model)
    with tempfile.TemporaryDirectory(prefix="asd-unit-") as scratch:
        type_dir = Path(scratch) / unit.machine_type
        _train_machine_type(type_dir, unit.clips, unit.machine_type, detector_class, unit.config, cache, unit.progress, unit.data_root, run)
        files = {p.relative_to(type_dir).as_posix(): p.read_bytes() for p in sorted(type_dir.rglob("*")) if p.is_file()}
    return {"machine_type": unit.machine_type, "files": files, "n_train_clips": run["n_train_clips"][unit.machine_type], "skipped": run["skipped"]}


def _train_machine_type(type_dir: Path, table, machine_type, detector_class, config, cache, progress, data_root, run: dict) -> None:
    """Fit, save and score one machine type's detector into ``type_dir``; its counts and skipped clips into ``run``."""
    model = detector_class.name
    clips = table[(table.machine_type == machine_type) & (table.split == "train")]
    extracted = _extract(
        clips["path"].tolist(),
        kind=detector_class.feature_kind,
        config=config,
        cache=cache,
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


def load_run(run_dir: str | os.PathLike) -> tuple[dict, StudyConfig]:
    """``run.json`` and the config of a finished run.

    Raises
    ------
    LayoutError
        No such folder, no ``run.json`` or one without the completion marker (an interrupted
        or older run), a truncated ``run.json``, or a ``config.yaml`` missing or not the one the
        models were trained with. The message names the file.
    """
    run_dir = Path(run_dir)
    if not run_dir.exists():
        left = sorted(run_dir.parent.glob(f"{run_dir.name}.old-*")) if run_dir.parent.is_dir() else []
        hint = f" (an interrupted replacement left the previous run in {left[0]})" if left else ""
        raise LayoutError(f"{run_dir}: not a finished run (folder not found){hint}; run `asd train` first")
    if not run_dir.is_dir():
        raise LayoutError(f"{run_dir}: is a file, expected a run folder written by `asd train`")
    run_file = run_dir / RUN_FILE
    if not run_file.is_file():
        raise LayoutError(f"{run_dir}: not a finished run (no run.json); run `asd train` first")
    try:
        run = json.loads(run_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LayoutError(f"{run_file}: truncated or not JSON ({exc}); retrain with `asd train --overwrite`") from None
    if not isinstance(run, dict) or run.get("complete") is not True or not {"model", "machine_types"} <= set(run):
        raise LayoutError(
            f"{run_file}: not a finished run (no completion marker: interrupted, or written by an older asd); "
            "retrain with `asd train --overwrite`"
        )
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise LayoutError(f"{config_file}: missing; the run is damaged: retrain with `asd train --overwrite`")
    config = StudyConfig.from_yaml(config_file)
    if "config_fingerprint" in run and config.fingerprint() != run["config_fingerprint"]:
        raise LayoutError(
            f"{config_file}: not the config the models were trained with (edited or replaced after training); "
            "its features would not fit the models: restore it or retrain"
        )
    verify_files(run_dir, run, "config.yaml")
    return run, config


def load_detector(run_dir: str | os.PathLike, machine_type: str) -> Detector:
    """The fitted detector of one machine type in a run folder (files checked against ``run.json``)."""
    run, config = load_run(run_dir)
    if machine_type not in run["machine_types"]:
        raise LayoutError(f"{run_dir}: no model for machine type {machine_type!r} (has {', '.join(run['machine_types'])})")
    type_dir = Path(run_dir) / machine_type
    verify_files(Path(run_dir), run, machine_type)
    detector_class = get_detector(run["model"])
    try:
        return detector_class.load(type_dir, config)
    except ASDError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the model's loader trips on, name the folder
        message = " ".join(str(exc).split())[:300]
        raise LayoutError(f"{type_dir}: cannot load the {run['model']} model ({type(exc).__name__}: {message}); retrain with `asd train --overwrite`") from None


def evaluate(
    data_root: str | os.PathLike,
    *,
    run_dir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    machine_types: Sequence[str] | None = None,
    labels: pd.DataFrame | str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None | bool = None,
    progress: bool = True,
    executor: Executor | None = None,
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
        :func:`asd.data.load_ground_truth`). Clips still unlabeled get scores but no metrics.
    executor : asd.executor.Executor, optional
        Where the machine types are scored (:func:`evaluate_unit`, one unit each); default: one
        after another in this process. This process alone writes the results.

    Returns
    -------
    DataFrame
        The tidy results (``results.csv``), one row per machine type and ID.
    """
    run, config = load_run(run_dir)
    model = run["model"]
    machine_types = list(machine_types or run["machine_types"])
    out = Path(out) if out is not None else Path(run_dir) / "results"
    check_out_folder(out, "--out")
    table = discover_clips(
        data_root,
        machine_types=machine_types,
        require_train=False,
        machine_type=run.get("data_machine_type"),
        machine_id=run.get("data_machine_id"),
    )
    table = table[table.split == "test"]
    if table.empty:
        raise LayoutError(f"{data_root}: no test clips for {', '.join(machine_types)}")
    if labels is not None:
        table = apply_ground_truth(table, labels)
    for line in one_class_tests(table):
        logger.warning(line)
    cache = _cache(cache_dir)
    cache_dir = False if cache.root is None else str(Path(cache.root).resolve())  # as a worker elsewhere finds it
    all_scores, skipped = [], list(table.attrs.get("skipped", []))
    executor = executor or InProcessExecutor()
    given, sent = _paths_for(executor, table)
    units = []
    for machine_type in machine_types:
        clips = sent[sent.machine_type == machine_type]
        if clips.empty:
            raise LayoutError(f"{Path(data_root) / machine_type / 'test'}: no test clips")
        units.append(EvaluateUnit(str(Path(run_dir).resolve()), machine_type, clips[["path", "machine_id"]], config, cache_dir, progress))
    fill_cache(executor, table["path"].tolist(), kinds={get_detector(model).feature_kind}, config=config, cache_dir=cache_dir)
    outcomes = executor.map(evaluate_unit, units, names=[f"{model} scoring {unit.machine_type}" for unit in units])
    for machine_type, (paths, scores, failed) in zip(machine_types, outcomes):
        clips = table[table.machine_type == machine_type]
        skipped += [{"path": given[p], "problem": why} for p, why in failed]
        scored = clips.set_index("path").loc[[given[p] for p in paths]].reset_index()
        scored["score"] = scores
        thresholds = load_thresholds(Path(run_dir) / machine_type)
        scored["threshold"] = [threshold_for(thresholds, m) for m in scored["machine_id"]]
        scored["decision"] = np.where(scored["score"] > scored["threshold"], "anomaly", "normal")
        all_scores.append(scored)
    scores = pd.concat(all_scores, ignore_index=True)
    scores.insert(0, "model", model)
    results = results_table(scores, model=model, max_fpr=config.max_fpr)
    write_results(out, scores=scores, results=results, skipped=skipped)
    return results


@dataclass(frozen=True)
class EvaluateUnit:
    """One machine type's test clips to score with a run's detector: what :func:`evaluate_unit` needs, by path."""

    run_dir: str
    machine_type: str
    clips: pd.DataFrame  #: ``path`` and ``machine_id`` of the clips
    config: StudyConfig
    cache_dir: str | bool  #: an absolute feature cache folder, or False for none
    progress: bool


def evaluate_unit(unit: EvaluateUnit) -> tuple[list[str], np.ndarray | list, list[tuple[str, str]]]:
    """Scores of one machine type's test clips (this process or a Dask worker); writes nothing but the cache.

    Returns
    -------
    paths : list of str
        The clips scored, in input order.
    scores : np.ndarray, shape ``(len(paths),)``
    failed : list of (path, problem)
        Clips that could not be read.
    """
    detector = load_detector(unit.run_dir, unit.machine_type)
    extracted = _extract(
        unit.clips["path"].tolist(),
        kind=detector.feature_kind,
        config=unit.config,
        cache=_cache(unit.cache_dir),
        progress=unit.progress,
        description=f"{unit.machine_type} test features",
    )
    if not extracted.paths:
        return [], [], extracted.failed
    ids = unit.clips.set_index("path").loc[extracted.paths, "machine_id"].tolist()
    return extracted.paths, _score(detector, extracted, ids, Path(unit.run_dir) / unit.machine_type), extracted.failed


def _score(detector: Detector, extracted: Extracted, machine_ids: list[str], type_dir: Path) -> np.ndarray:
    """``detector.score``, with features that do not fit the model reported in one line."""
    try:
        return detector.score(extracted.features, machine_ids)
    except (ValueError, TypeError) as exc:
        shape = extracted.features[0].shape
        message = " ".join(str(exc).split())[:200]
        raise LayoutError(
            f"{type_dir}: the model cannot score features of shape {shape} ({message}); "
            "if the run's config.yaml was changed after training, restore it or retrain"
        ) from None


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
