"""Train a detector per machine type and evaluate it: the steps behind ``asd train``/``evaluate``.

Run folder (``asd train --out RUN_DIR``)::

    RUN_DIR/run.json                 model name, machine types, data root, kind and fingerprint, clip counts and
                                     frame counts (asd.lengths), the config's fingerprint, every file's size and
                                     SHA-256, and ``"complete": true`` (written last)
    RUN_DIR/config.yaml              the StudyConfig used
    RUN_DIR/skipped.csv              training clips that could not be used, and why (only if any)
    RUN_DIR/<machine_type>/          one fitted detector per machine type
        model.keras, normalization.json, detector.json   (what the detector saves)
        history.csv                  training history, one row per epoch
        train_scores.csv             scores of the training clips, their paths under the data root (thresholds)
        thresholds.json              per-ID decision thresholds fitted on train_scores.csv (asd.thresholds)
        explain_reference.npz        per-ID band statistics of the normal clips (asd.explain, asd score)

Results folder (``asd evaluate --out RESULTS_DIR``, default ``RUN_DIR/results``): :mod:`asd.year_results`
(the DCASE 2020 files, or on a DCASE 2021-2025 layout the official scores and submission files; each
section is then fitted per domain, :mod:`asd.domains`).

Every file is written atomically, and a run folder is always either complete or absent: the new run
is built beside it (``RUN_DIR.tmp-<pid>``) and swapped in only once complete, so an interrupted
training leaves the previous run as it was. :class:`asd.run.Run` (``Run.load``) refuses an
incomplete run, a file missing, truncated or changed since training, and a ``config.yaml`` that is
not the one the models were trained with, each in one line naming the file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, domains, explain, units, year_results
from .atomic import atomic_path, write_csv_atomic, write_text_atomic
from .config import CACHE_DIR, StudyConfig
from .data import apply_ground_truth, discover_clips, one_class_tests
from .detectors import Detector, get_detector, reusing_compiled_models
from .errors import ASDError, ConfigError, LayoutError
from .executor import Executor, InProcessExecutor
from .features import Extracted, FeatureCache, data_fingerprint, extract_features
from .lengths import frame_range
from .metrics import results_table
from .run import Run, as_run, data_kind, load_detector, load_run, worker_run
from .runfolder import RUN_FILE, build_beside, check_out_folder, check_run_target, file_manifest
from .thresholds import THRESHOLDS_FILE, fit_thresholds, note_unseen_ids, save_thresholds, threshold_for, unseen_ids
from .year_results import write_results

logger = logging.getLogger(__name__)

#: ``Run``, ``load_run`` and ``load_detector`` live in :mod:`asd.run`; named here for the notebooks and tests.
__all__ = [
    "Run",
    "data_fingerprint",
    "evaluate",
    "evaluate_unit",
    "load_detector",
    "load_run",
    "train",
    "train_unit",
    "write_results",
]


def _cache(cache_dir) -> FeatureCache:
    if cache_dir is False:
        return FeatureCache(None)
    root = Path(CACHE_DIR if cache_dir is None else cache_dir)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: is a file, expected a feature cache folder (--cache)")
    return FeatureCache(root)


def _extract(paths: list[str], *, config: StudyConfig, cache: FeatureCache, **kwargs) -> Extracted:
    """:func:`extract_features` with ``on_error="skip"``, clips shorter than ``config.audio.min_seconds`` skipped.

    The cache is an optimisation: when it cannot be written (disk full, read-only), the
    features are computed again without it and the run goes on.
    """
    kwargs["min_seconds"] = config.audio.min_seconds
    try:
        return extract_features(paths, config=config, cache=cache, on_error="skip", **kwargs)
    except OSError as exc:  # WriteError included
        if cache.root is None:
            raise
        logger.warning("feature cache %s cannot be used (%s): continuing without it", cache.root, exc)
        kwargs.pop("mmap", None)
        return extract_features(paths, config=config, cache=FeatureCache(None), on_error="skip", **kwargs)


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
    dataset: str | None = None,
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
    dataset : str, optional
        The dataset ``data_root`` holds (``"dcase2023"``, ...; default: detected), recorded in
        ``run.json``. DCASE 2021-2025 sections are fitted per domain (:mod:`asd.domains`).
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
        data_root,
        machine_types=list(machine_types) if machine_types else None,
        machine_type=machine_type,
        machine_id=machine_id,
        dataset=dataset,
    )
    machine_types = sorted(table.machine_type.unique())
    cache = _cache(cache_dir)
    names = {"data_machine_type": machine_type, "data_machine_id": machine_id, "dataset": table.attrs["dataset"]}
    names["domain_ids"] = domains.RULE if year_results.is_year(names["dataset"]) else None
    executor = executor or InProcessExecutor()
    return build_beside(
        out,
        lambda build: _train_into(
            build, table, machine_types, detector_class, config, cache, progress, data_root, names, executor
        ),
    )


def _train_into(
    build: Path,
    table,
    machine_types,
    detector_class,
    config,
    cache,
    progress,
    data_root,
    names: dict,
    executor: Executor,
) -> dict:
    """Train every machine type into the folder ``build``; ``run.json`` last."""
    model = detector_class.name
    build.mkdir(parents=True)
    config.to_yaml(build / "config.yaml")
    run = {
        "model": model,
        "machine_types": machine_types,
        "data_root": str(Path(data_root).resolve()),
        "data_layout": table.attrs["layout"],
        "data_fingerprint": None,  # from the clips' content keys, once they are read
        "data_kind": None,
        "asd_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "config_fingerprint": config.fingerprint(),
        "n_train_clips": {},
        "skipped": list(table.attrs.get("skipped", [])),
        "ignored": table.attrs["ignored"],
        **names,  # the machine type and ID given for folders that do not name them
    }
    keys: dict[str, str] = {}  # content key by path, of every training clip read
    given, sent = units.for_workers(executor, table)
    unit_cache = units.cache_for(executor, cache)
    todo = [
        units.TrainUnit(
            machine_type,
            sent[sent.machine_type == machine_type],
            model,
            config,
            unit_cache,
            str(Path(data_root).resolve()),
            progress,
            run.get("domain_ids"),
            None if executor.distributed else str(build / machine_type),  # in process: straight into the run
        )
        for machine_type in machine_types
    ]
    train_paths = sent[sent.machine_type.isin(machine_types) & (sent.split == "train")]["path"].tolist()
    kinds = (detector_class.feature_kind, "baseline")  # what _train_machine_type reads of each clip
    units.fill_cache(executor, train_paths, kinds=kinds, config=config, cache=unit_cache)
    with reusing_compiled_models():  # in this process: one traced network per model, retrained per machine type
        outcomes = executor.map(train_unit, todo, names=[f"{model} on {unit.machine_type}" for unit in todo])
    for outcome in outcomes:  # in machine-type order, as the loop it replaces; files sent back written here only
        machine_type = outcome["machine_type"]
        for name, data in outcome["files"].items():
            with atomic_path(build / machine_type / name) as tmp:
                tmp.write_bytes(data)
        run["skipped"] += [item | {"path": given[item["path"]]} for item in outcome["skipped"]]
        run["n_train_clips"][machine_type] = outcome["n_train_clips"]
        run.setdefault("train_frames", {})[machine_type] = outcome["train_frames"]
        keys |= {given[path]: key for path, key in outcome["keys"].items()}
    run["data_fingerprint"] = data_fingerprint(table, keys=keys)
    run["data_kind"] = data_kind(keys.values(), data_root)
    if run["skipped"]:
        write_csv_atomic(build / "skipped.csv", pd.DataFrame(run["skipped"]))
    run["files"] = file_manifest(build)
    run["complete"] = True
    write_text_atomic(build / RUN_FILE, json.dumps(run, indent=2))
    return run


def train_unit(unit: units.TrainUnit) -> dict:
    """One machine type's detector fitted, saved and scored by :func:`_train_machine_type`; what to record.

    Runs wherever the executor puts it: in this process it writes into ``unit.out``, the run being
    built; on a Dask worker (which sees the clips and the cache at the same paths) into a scratch
    folder whose files it returns, for the client alone to write.

    Returns
    -------
    dict
        ``machine_type``; ``files``: the machine type's files (relative name -> bytes; empty in
        process); ``n_train_clips``, ``train_frames``; ``skipped``: ``{"path", "problem"}`` of the
        clips that could not be used; ``keys``: the content keys of the clips read, by path.
    """
    run: dict = {"skipped": [], "n_train_clips": {}, "domain_ids": unit.domain_ids}
    args = (
        unit.clips,
        unit.machine_type,
        get_detector(unit.model),
        unit.config,
        units.as_cache(unit.cache),
        unit.progress,
        unit.data_root,
        run,
    )
    keys, files = units.into_folder(_train_machine_type, unit.out, *args)
    machine_type = unit.machine_type
    return {
        "machine_type": machine_type,
        "files": files,
        "skipped": run["skipped"],
        "keys": keys,
        "n_train_clips": run["n_train_clips"][machine_type],
        "train_frames": run["train_frames"][machine_type],
    }


def _train_machine_type(
    type_dir: Path, table, machine_type, detector_class, config, cache, progress, data_root, run: dict
) -> dict[str, str]:
    """Fit, save and score one machine type's detector into ``type_dir``; its counts and skipped clips into ``run``.

    Returns the content keys of the training clips read, by path.
    """
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
        also=("baseline",),  # asd.explain's reference, from the same read of each clip
    )
    run["skipped"] += [{"path": p, "problem": why} for p, why in extracted.failed]
    if not extracted.features:
        raise ASDError(f"{machine_type}: none of the {len(clips)} training clips could be read")
    ids = domains.training_ids(clips.set_index("path").loc[extracted.paths], rule=run.get("domain_ids"))
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
            "content_key": [extracted.keys[p] for p in extracted.paths],
            "score": detector.training_scores(extracted.features, ids),
        }
    )
    write_csv_atomic(type_dir / "train_scores.csv", train_scores)
    rate, method = config.thresholds.false_alarm_rate, config.thresholds.method
    save_thresholds(type_dir / THRESHOLDS_FILE, fit_thresholds(train_scores, false_alarm_rate=rate, method=method))
    mels = extracted.also.get("baseline", extracted.features)  # asd.explain's reference: baseline log-mel bands
    explain.save(type_dir / explain.REFERENCE_FILE, explain.fit_reference(mels, ids, config=config))
    run["n_train_clips"][machine_type] = len(extracted.features)
    run.setdefault("train_frames", {})[machine_type] = frame_range(extracted.features)  # asd.lengths
    return extracted.keys


def evaluate(
    data_root: str | os.PathLike,
    *,
    run_dir: str | os.PathLike | Run,
    out: str | os.PathLike | None = None,
    machine_types: Sequence[str] | None = None,
    labels: pd.DataFrame | str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None | bool = None,
    progress: bool = True,
    dataset: str | None = None,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Score the test clips of every machine type in the run; write the result files.

    Parameters
    ----------
    data_root : path-like
        Dataset with ``<machine_type>/test/`` clips.
    run_dir : path-like or Run
        A folder written by :func:`train`, or the :class:`asd.run.Run` already loaded.
    out : path-like, optional
        Results folder (default ``run_dir/results``).
    labels : DataFrame or path-like, optional
        Ground truth for unlabeled (evaluation-set) clips: a table with columns ``machine_type``,
        ``file_name``, ``label``, or an ``eval_data_list.csv`` (see
        :func:`asd.data.load_ground_truth`). Clips still unlabeled get scores but no metrics.
    dataset : str, optional
        The dataset ``data_root`` holds (default: detected from the layout). DCASE 2021-2025 sets
        get the official scores and submission files (:mod:`asd.year_results`).
    executor : asd.executor.Executor, optional
        Where the machine types are scored (:func:`evaluate_unit`, one unit each); default: one
        after another in this process. This process alone writes the results.

    Returns
    -------
    DataFrame
        The tidy results (``results.csv``), one row per machine type and ID (2021-2025: section).
    """
    run = as_run(run_dir)
    machine_types = list(machine_types or run.machine_types)
    out = Path(out) if out is not None else run.folder / "results"
    check_out_folder(out, "--out")
    table = _test_clips(data_root, run, machine_types, labels, dataset)
    cache = _cache(cache_dir)
    all_scores, skipped, unseen = [], list(table.attrs.get("skipped", [])), []
    executor = executor or InProcessExecutor()
    given, sent = units.for_workers(executor, table)
    unit_cache, unit_run = units.cache_for(executor, cache), str(run.folder.resolve()) if executor.distributed else run
    todo, names = [], []
    for machine_type in machine_types:
        clips = sent[sent.machine_type == machine_type]
        if clips.empty:
            raise LayoutError(f"{Path(data_root) / machine_type / 'test'}: no test clips")
        for section, part in units.by_section(clips):
            todo.append(units.EvaluateUnit(unit_run, machine_type, part, unit_cache, progress))
            names.append(f"{run.model} scoring {machine_type}" + (f" section {section}" if section else ""))
    kind = get_detector(run.model).feature_kind
    units.fill_cache(executor, sent["path"].tolist(), kinds=(kind,), config=run.config, cache=unit_cache)
    outcomes = units.per_machine_type(todo, executor.map(evaluate_unit, todo, names=names), sent)
    for machine_type, (scored, failed) in zip(machine_types, outcomes):
        scored["path"] = [given[p] for p in scored["path"]]
        skipped += [item | {"path": given[item["path"]]} for item in failed]
        unseen += [(machine_type, m) for m in unseen_ids(run.thresholds(machine_type), scored["scored_as"])]
        all_scores.append(scored)
    scores = pd.concat(all_scores, ignore_index=True)
    scores.insert(0, "model", run.model)
    if year_results.is_year(table.attrs["dataset"]):
        return year_results.write_year_results(
            out, scores=scores, dataset=table.attrs["dataset"], max_fpr=run.config.max_fpr, skipped=skipped
        )
    scores = year_results.drop_year_columns(scores)
    results = note_unseen_ids(results_table(scores, model=run.model, max_fpr=run.config.max_fpr), unseen)
    write_results(out, scores=scores, results=results, skipped=skipped)
    return results


def _test_clips(data_root, run: Run, machine_types: list[str], labels, dataset: str | None) -> pd.DataFrame:
    """The test clips of ``machine_types`` under ``data_root``, read as the run's data was, labelled."""
    table = discover_clips(
        data_root,
        machine_types=machine_types,
        require_train=False,
        machine_type=run.info.get("data_machine_type"),
        machine_id=run.info.get("data_machine_id"),
        dataset=dataset,
    )
    table = table[table.split == "test"]
    if table.empty:
        raise LayoutError(f"{data_root}: no test clips for {', '.join(machine_types)}")
    if labels is not None:
        table = apply_ground_truth(table, labels)
    for line in one_class_tests(table):
        logger.warning(line)
    return table


def evaluate_unit(unit: units.EvaluateUnit) -> tuple[pd.DataFrame, list[dict]]:
    """:func:`_evaluate_type` of one machine type, wherever the executor puts it; it writes nothing but the cache."""
    run = unit.run if isinstance(unit.run, Run) else worker_run(unit.run)
    return _evaluate_type(run, unit.machine_type, unit.clips, cache=units.as_cache(unit.cache), progress=unit.progress)


def _evaluate_type(
    run: Run, machine_type: str, clips: pd.DataFrame, *, cache, progress
) -> tuple[pd.DataFrame, list[dict]]:
    """One machine type's test clips scored and decided; and the clips that could not be read.

    A DCASE 2021+ clip is scored against its section's domain IDs, the smaller normalised score kept
    (:mod:`asd.domains`); ``scored_as`` names the ID whose threshold applies.
    """
    detector = run.detector(machine_type)
    extracted = _extract(
        clips["path"].tolist(),
        kind=detector.feature_kind,
        config=run.config,
        cache=cache,
        progress=progress,
        description=f"{machine_type} test features",
    )
    scored = clips.set_index("path").loc[extracted.paths].reset_index()
    type_dir = run.type_dir(machine_type)
    thresholds = run.thresholds(machine_type)
    if len(scored):
        scored["score"], scored["scored_as"] = domains.score_sections(
            lambda ids: _score(detector, extracted, ids, type_dir),
            scored["machine_id"].tolist(),
            known_ids=thresholds["ids"],
            detector_name=run.model,
            train_scores=run.train_scores(machine_type),
        )
    else:
        scored["score"], scored["scored_as"] = [], []
    scored["threshold"] = [threshold_for(thresholds, m) for m in scored["scored_as"]]
    scored["decision"] = np.where(scored["score"] > scored["threshold"], "anomaly", "normal")
    return scored, [{"path": p, "problem": why} for p, why in extracted.failed]


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
