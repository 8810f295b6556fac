"""Score new recordings with a trained run: ``asd score --run RUN_DIR PATH...``.

For a machine in operation: each WAV file (or every ``*.wav`` under a folder, recursively) is
scored by the run's detector of its machine type and compared with the decision threshold of
its machine ID (``thresholds.json``, fitted on training scores only at the run's false-alarm
rate, or refitted at another rate with ``false_alarm_rate=``; see :mod:`asd.thresholds`).
For every flagged clip, :mod:`asd.explain` says where it departs from the normal training clips
of its machine ID: which mel bands and which seconds (optionally as a figure per clip).

Which machine a file belongs to
    - machine ID: ``id_XX`` in the file name (DCASE: ``normal_id_00_00000012.wav``,
      ``id_02_00000003.wav``), else the nearest parent folder named ``id_XX`` (MIMII:
      ``fan/id_00/normal/00000000.wav``); ``--machine-id`` overrides both.
    - machine type: the nearest parent folder named like one of the run's machine types or a
      DCASE 2020 machine type (``fan/test/...``, ``fan/id_00/...``); ``--machine-type``
      overrides it; a run with a single machine type needs neither.
    A file whose machine type cannot be told is reported, not guessed. A path that names a
    machine type the run has no model for (``pump/test/x.wav`` with a fan-only run) stops the
    command (:class:`asd.errors.ASDError`) unless ``machine_type`` is given. A file of an ID the
    run has not seen, or of unknown ID, is scored against all of its machine type's IDs (see each
    detector) and compared with the machine type's pooled threshold.

Honest scoring
    A file that is one of the run's training clips (same resolved path under the run's data
    root, or a copy: same content key, :func:`asd.features.store.content_key`) is marked ``training_clip = "yes"`` and
    warned about: it scores lower than a new clip would. :func:`run_summary` says what data
    the run was trained on (synthetic or real, its fingerprint) for the header line.

Clips of another length than the training clips are scored on windows or refused
(:mod:`asd.lengths`); a ``note`` says so, and names a machine ID scored against the pooled
threshold or a machine type assumed. Bad files (missing, empty, not audio, NaN samples, a
non-finite score; FIFOs, broken or looping links, never opened) are reported with the
problem and the rest are still scored. :func:`score_paths` returns one row per file, scored
files first from the highest score down, then the others in the order found; columns
:data:`COLUMNS` (``problem`` empty for scored files; ``score``, ``threshold`` and ``anomalous``
empty for the others; ``top_bands_hz`` and ``top_seconds`` filled for flagged clips). ``asd
score`` (:mod:`asd.cli`) prints it (``--top N``, ``--only-anomalous``, ``--json``), writes it with ``--out
FILE.csv``, and exits with 2 (bad input) when no file could be scored.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from . import domains, explain
from .config import MACHINE_TYPES
from .errors import ASDError
from .features import FeatureCache, extract_features
from .inputs import check_machine_id, figure_name, file_problem, folder_wavs, id_note
from .lengths import matcher_for, score_by_length
from .run import Run, as_run, worker_run
from .thresholds import false_alarm_rate_of, quantile_of, threshold_for

logger = logging.getLogger(__name__)

COLUMNS = ["path", "machine_type", "machine_id", "score", "threshold", "anomalous"]
COLUMNS += ["top_bands_hz", "top_seconds", "training_clip", "note", "problem"]
_ID_IN_NAME = re.compile(r"(?:^|_)id_(?P<id>\d{2})(?:_|\.|$)")
_ID_DIR = re.compile(r"^id_(?P<id>\d{2})$")


def collect_wav_files(paths: Sequence[str | os.PathLike]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand files and folders into WAV files.

    Parameters
    ----------
    paths : sequence of path-like
        Files (taken as given, whatever their extension) and folders (every ``*.wav``,
        case-insensitive, recursively; hidden files and folders skipped), in the order given.

    Returns
    -------
    files : list of Path
        Without duplicates, folders' files sorted.
    problems : list of (path, problem)
        Paths that do not exist, and folders with no WAV file.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found, unusable = folder_wavs(path)  # broken links, loops and FIFOs named, never opened
            problems += unusable
            if not found and not unusable:
                problems.append((str(path), "folder holds no .wav file"))
        elif path.exists() or path.is_symlink():
            if (problem := file_problem(path)) is not None:
                problems.append((str(path), problem))
                continue
            found = [path]
        else:
            problems.append((str(path), "file not found"))
            continue
        for p in found:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                files.append(p)
    return files, problems


def infer_machine(path: str | os.PathLike, machine_types: Sequence[str]) -> tuple[str | None, str | None]:
    """Machine type and ID of a file from its name and parent folders (``None`` where unknown).

    >>> infer_machine("data/fan/test/anomaly_id_02_00000007.wav", ["fan", "pump"])
    ('fan', '02')
    >>> infer_machine("mimii/pump/id_04/abnormal/00000001.wav", ["fan", "pump"])
    ('pump', '04')
    >>> infer_machine("recording.wav", ["fan"])
    (None, None)
    """
    path = Path(path)
    match = _ID_IN_NAME.search(path.name)
    machine_id = match["id"] if match else None
    machine_type = None
    for parent in path.parents:
        if machine_id is None and (dir_match := _ID_DIR.match(parent.name)):
            machine_id = dir_match["id"]
        if machine_type is None and parent.name in machine_types:
            machine_type = parent.name
    return machine_type, machine_id


def score_paths(
    run_dir: str | os.PathLike | Run,
    paths: Sequence[str | os.PathLike],
    *,
    machine_type: str | None = None,
    machine_id: str | None = None,
    false_alarm_rate: float | None = None,
    figures_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    executor=None,
) -> pd.DataFrame:
    """Score WAV files and folders with a trained run; see the module docstring.

    Parameters
    ----------
    run_dir : path-like or Run
        A folder written by :func:`asd.pipeline.train`, or the :class:`asd.run.Run` already loaded.
    paths : sequence of path-like
        Files and folders.
    machine_type, machine_id : str, optional
        Override what is inferred from the paths (an ID is zero-padded to two digits).
    false_alarm_rate : float, optional
        In (0, 1): refit the thresholds from the run's training scores at this expected
        false-alarm rate (nothing is written); default: the run's ``thresholds.json``.
    figures_dir : path-like, optional
        Write one PNG per flagged clip there (spectrogram and deviation map, see
        :func:`asd.explain.plot_departure`), named ``<rank>_<file stem>.png``.
    cache_dir : path-like, optional
        Feature cache folder; none by default (new recordings are scored once).
    progress : bool
        Show feature-extraction progress bars.
    executor : asd.executor.Executor, optional
        Where the files are scored: by default each machine type's files at once in this
        process; on a cluster, chunks of :data:`SCORE_CHUNK_FILES` files as tasks
        (:func:`score_chunk`), the files named by absolute path.

    Returns
    -------
    DataFrame
        Columns :data:`COLUMNS`, one row per file: scored files by decreasing score, then the
        others. ``attrs``: ``false_alarm_rate`` (per machine type, the expected rate of the
        thresholds applied) and ``departures`` (per flagged path: top bands in Hz, their level
        change in dB, top seconds).

    Raises
    ------
    ASDError
        Not a finished run, ``machine_type`` not in the run, a path naming a machine type the
        run lacks, or a false-alarm rate outside (0, 1) (:class:`asd.errors.ConfigError`).
    """
    run = as_run(run_dir)
    if machine_type is not None:
        run.type_dir(machine_type)  # refuses a machine type the run has no model for
    if false_alarm_rate is not None:
        quantile_of(false_alarm_rate, key="false_alarm_rate")  # refused before any file is read
    machine_id = check_machine_id(machine_id)
    files, problems = collect_wav_files(paths)
    rows: list[dict] = [_problem_row(p, why) for p, why in problems]
    jobs, assumed = _assign_machines(run, files, rows, machine_type=machine_type, machine_id=machine_id)
    cache = FeatureCache(cache_dir)
    rates, departures, flagged_mels = {}, {}, {}
    for this_type, items in jobs.items():
        thresholds = run.thresholds(this_type, false_alarm_rate=false_alarm_rate)
        rates[this_type] = false_alarm_rate_of(thresholds)
        type_rows, mels, keys = _rows_of_type(run, this_type, items, thresholds, cache, progress, executor)
        for row in type_rows:
            row["note"] = "; ".join(n for n in (assumed.get(row["path"], ""), row["note"]) if n)
        rows += type_rows
        flagged = [r for r in type_rows if r["anomalous"] == "yes"]
        _explain_flagged(run, this_type, flagged, mels, departures, flagged_mels, cache=cache)
        _mark_training_clips(run, this_type, [r for r in type_rows if r["problem"] == ""], keys)
    table = _ranked(pd.DataFrame(rows, columns=COLUMNS), files)
    if figures_dir is not None:
        _write_figures(table, departures, flagged_mels, Path(figures_dir))
    table.attrs["false_alarm_rate"] = rates
    table.attrs["departures"] = {p: _departure_attrs(d) for p, d in departures.items()}
    return table


def _rows_of_type(run: Run, machine_type, items, thresholds, cache, progress, executor) -> tuple[list, dict, dict]:
    """:func:`_score_type` of one machine type's files: here, or in chunks on a cluster (:func:`score_chunk`)."""
    lengths = run.info.get("train_frames", {}).get(machine_type)  # asd.lengths
    if executor is None or not executor.distributed:
        return _score_type(run, machine_type, items, thresholds, cache=cache, progress=progress, lengths=lengths)
    return _score_on_cluster(executor, run, machine_type, items, thresholds, cache, lengths)


def _assign_machines(
    run: Run, files: list[Path], rows: list[dict], *, machine_type, machine_id
) -> tuple[dict, dict[str, str]]:
    """Files grouped by the machine type that scores them, ``(path, machine ID)`` each, and the notes of files whose
    machine type was assumed (by path); the files that cannot be assigned go into ``rows``."""
    run_types = run.machine_types
    known_types = run_types + [t for t in MACHINE_TYPES if t not in run_types]
    jobs: dict[str, list[tuple[Path, str | None]]] = {}
    assumed: dict[str, str] = {}
    for path in files:
        inferred_type, inferred_id = infer_machine(path, known_types)
        if machine_type is None and inferred_type is not None and inferred_type not in run_types:
            raise ASDError(
                f"{path}: the path names machine type {inferred_type!r} but the run {run.folder} has models for "
                f"{', '.join(run_types)} only; give --machine-type to score it as one of those"
            )
        this_type = machine_type or inferred_type or (run_types[0] if len(run_types) == 1 else None)
        if machine_type is None and inferred_type is None and this_type is not None:
            assumed[str(path)] = f"machine type assumed: the run's only one ({this_type}); not in the path"
        this_id = machine_id or inferred_id
        if this_type is None:
            unknown = f"machine type unknown: not in the path, give --machine-type ({' / '.join(run_types)})"
            rows.append(_problem_row(str(path), unknown, this_id))
            continue
        jobs.setdefault(this_type, []).append((path, this_id))
    return jobs, assumed


def _ranked(table: pd.DataFrame, files: list[Path]) -> pd.DataFrame:
    """Scored rows by decreasing score, then the others in the order the files were found."""
    order = {str(p): i for i, p in enumerate(files)}
    table["_scored"] = table["problem"] == ""
    table["_order"] = [order.get(p, -1) for p in table["path"]]
    table["_key"] = np.where(table["_scored"], -table["score"].fillna(0.0), 0.0)
    table = table.sort_values(["_scored", "_key", "_order"], ascending=[False, True, True], kind="stable")
    return table.drop(columns=["_scored", "_order", "_key"]).reset_index(drop=True)


def _departure_attrs(departure: explain.Departure) -> dict:
    return {
        "top_bands_hz": [round(v, 1) for v in departure.top_bands_hz],
        "top_bands_db": [round(v, 2) for v in departure.top_bands_db],
        "top_seconds": departure.top_seconds,
    }


def _score_type(
    run: Run, machine_type, items, thresholds, *, cache, progress, lengths=None
) -> tuple[list[dict], dict, dict]:
    """Rows of one machine type's files, the baseline log-mels already at hand and the content keys (by path).

    ``lengths`` is the run's training clip length in frames (:mod:`asd.lengths`), ``None`` to score clips as they are.
    """
    detector = run.detector(machine_type)
    ids_by_path = {str(p): m for p, m in items}
    extracted = extract_features(
        [str(p) for p, _ in items],
        kind=detector.feature_kind,
        config=run.config,
        cache=cache,
        on_error="skip",
        progress=progress,
        description=f"{machine_type} features",
        min_seconds=run.config.audio.min_seconds,
    )
    # (extract_features has logged these already)
    rows = [_problem_row(p, why, ids_by_path[p], machine_type, log=False) for p, why in extracted.failed]
    if not extracted.features:
        return rows, {}, extracted.keys
    sections = [domains.section_of(p, ids_by_path[p]) for p in extracted.paths]  # DCASE 2021+: per domain
    matcher = matcher_for(run, machine_type, detector, cache=cache)  # short clips against cut training clips
    by_length: dict[str, list[str]] = {}

    def score_clips(machine_ids: list) -> np.ndarray:  # asd.lengths: windows for long clips, short ones refused
        values, by_length["notes"], by_length["problems"] = score_by_length(
            detector, extracted.features, machine_ids, lengths, matcher=matcher
        )
        return values

    scores, ids = domains.score_sections(
        score_clips,
        sections,
        known_ids=thresholds.get("ids", {}),
        detector_name=detector.name,
        train_scores=run.train_scores(machine_type),
    )
    scores = np.asarray(scores, dtype=np.float64)
    for path, this_id, score, note, problem in zip(
        extracted.paths, ids, scores, by_length["notes"], by_length["problems"]
    ):
        if problem:
            rows.append(_problem_row(path, problem, this_id, machine_type))
            continue
        if not np.isfinite(score):
            rows.append(_problem_row(path, f"score is not finite ({score})", this_id, machine_type))
            continue
        threshold = threshold_for(thresholds, this_id)
        rows.append(
            {
                "path": path,
                "machine_type": machine_type,
                "machine_id": this_id or "",
                "score": float(score),
                "threshold": threshold,
                "anomalous": "yes" if score > threshold else "no",
                "top_bands_hz": "",
                "top_seconds": "",
                "training_clip": "no",
                "note": "; ".join(n for n in (note, id_note(this_id, thresholds, machine_type)) if n),
                "problem": "",
            }
        )
    mels = dict(zip(extracted.paths, extracted.features)) if detector.feature_kind == "baseline" else {}
    return rows, mels, extracted.keys


#: Files per task when ``asd score`` runs on a Dask cluster (:func:`score_chunk`).
SCORE_CHUNK_FILES = 64


def score_chunk(unit: tuple) -> tuple[list[dict], dict, dict]:
    """One task of :func:`_score_on_cluster`: :func:`_score_type` of a chunk of one machine type's files.

    ``unit`` is ``(run_dir, machine_type, items, thresholds, cache_dir, lengths)``, every path absolute.
    Returns the rows, the baseline log-mels of the flagged files only (for their explanations) and
    the content keys by path.
    """
    run_dir, machine_type, items, thresholds, cache_dir, lengths = unit
    rows, mels, keys = _score_type(
        worker_run(run_dir),
        machine_type,
        items,
        thresholds,
        cache=FeatureCache(cache_dir),
        progress=False,
        lengths=lengths,
    )
    flagged = {row["path"] for row in rows if row["anomalous"] == "yes"}
    return rows, {path: mel for path, mel in mels.items() if path in flagged}, keys


def _score_on_cluster(executor, run: Run, machine_type, items, thresholds, cache, lengths) -> tuple[list, dict, dict]:
    """:func:`_score_type` as tasks of :data:`SCORE_CHUNK_FILES` files; rows, log-mels, keys by the paths as given."""
    given = {str(Path(path).resolve()): str(path) for path, _ in items}
    absolute = [(str(Path(path).resolve()), machine_id) for path, machine_id in items]
    cache_dir = None if cache.root is None else str(Path(cache.root).resolve())
    run_dir = str(run.folder.resolve())
    starts = range(0, len(absolute), SCORE_CHUNK_FILES)
    chunks = [absolute[start : start + SCORE_CHUNK_FILES] for start in starts]
    todo = [(run_dir, machine_type, chunk, thresholds, cache_dir, lengths) for chunk in chunks]
    names = [f"{machine_type} files {s + 1}-{s + len(c)}" for s, c in zip(starts, chunks)]
    rows, mels, keys = [], {}, {}
    for chunk_rows, chunk_mels, chunk_keys in executor.map(score_chunk, todo, names=names):
        rows += [row | {"path": given[row["path"]]} for row in chunk_rows]
        mels.update({given[path]: mel for path, mel in chunk_mels.items()})
        keys.update({given[path]: key for path, key in chunk_keys.items()})
    return rows, mels, keys


def _explain_flagged(
    run: Run, machine_type: str, flagged: list[dict], mels: dict, departures: dict, flagged_mels: dict, *, cache
) -> None:
    """Fill ``top_bands_hz``/``top_seconds`` of the flagged rows (in place); keep their log-mels for figures."""
    if not flagged:
        return
    reference = explain.load(run.type_dir(machine_type) / explain.REFERENCE_FILE)
    missing = [r["path"] for r in flagged if r["path"] not in mels]
    if missing:
        extracted = extract_features(
            missing, kind="baseline", config=run.config, cache=cache, on_error="skip", progress=False
        )
        mels = {**mels, **dict(zip(extracted.paths, extracted.features))}
    for row in flagged:
        if row["path"] not in mels:
            continue
        departure = explain.explain_clip(mels[row["path"]], row["machine_id"] or None, reference)
        row.update(departure.columns())
        departures[row["path"]] = departure
        flagged_mels[row["path"]] = (np.asarray(mels[row["path"]]), reference)


def _write_figures(table: pd.DataFrame, departures: dict, flagged_mels: dict, folder: Path) -> None:
    for rank, row in enumerate(table.itertuples(), start=1):
        if row.path in departures:
            log_mel, reference = flagged_mels[row.path]
            machine = f"{row.machine_type} {explain.machine_label(row.machine_id)}"
            title = f"{Path(row.path).name}  ({machine}, score {row.score:.4g} > {row.threshold:.4g})"
            target = folder / figure_name(rank, row.path)  # cut to the file system's 255 bytes
            explain.plot_departure(log_mel, departures[row.path], reference, target, title=title)


def _mark_training_clips(run: Run, machine_type: str, rows: list[dict], keys: dict[str, str]) -> None:
    """Set ``training_clip`` of the rows that are training clips of the run (in place), and warn.

    A row is a training clip when its file is one (same resolved path under the run's data
    root) or has the content key of one (a copy), from the keys computed when it was read.
    """
    if not rows:
        return
    train = run.train_scores(machine_type)
    train_paths = {str((run.data_root / rel).resolve()) for rel in train["path"]}
    train_keys = set(train["content_key"])
    hits = []
    for row in rows:
        if keys.get(row["path"]) in train_keys or str(Path(row["path"]).resolve()) in train_paths:
            row["training_clip"] = "yes"
            hits.append(row["path"])
            row["training_clip"] = "yes"
    hits = [row["path"] for row in rows if row["path"] in hits]
    if hits:
        logger.warning(
            "%d scored file(s) are training clips of this run: they score lower than new clips would (first: %s)",
            len(hits),
            hits[0],
        )


def run_summary(run_dir: str | os.PathLike | Run) -> dict:
    """What a run is: :meth:`asd.run.Run.summary` (model, machine types, the data it was trained on)."""
    return as_run(run_dir).summary()


def _problem_row(
    path: str, problem: str, machine_id: str | None = None, machine_type: str | None = None, *, log: bool = True
) -> dict:
    if log:
        logger.warning("cannot score %s: %s", path, problem)
    row = dict.fromkeys(COLUMNS, "") | {
        "path": str(path),
        "machine_type": machine_type or "",
        "machine_id": machine_id or "",
    }
    return row | {"score": np.nan, "threshold": np.nan, "problem": problem}
