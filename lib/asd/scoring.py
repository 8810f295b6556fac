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
    root, or a copy: same name, size and content) is marked ``training_clip = "yes"`` and
    warned about: it scores lower than a new clip would. :func:`run_summary` says what data
    the run was trained on (synthetic or real, its fingerprint) for the header line.

Bad files (missing, empty, not audio, NaN samples, a non-finite score) are reported with the
problem and the rest are still scored. :func:`score_paths` returns one row per file, scored
files first from the highest score down, then the others in the order found; columns
:data:`COLUMNS` (``problem`` empty for scored files; ``score``, ``threshold`` and ``anomalous``
empty for the others; ``top_bands_hz`` and ``top_seconds`` filled for flagged clips). ``asd
score`` (:mod:`asd.cli`) prints it (``--top N``, ``--only-anomalous``, ``--json``), writes it with ``--out
FILE.csv``, and exits with 1 only if no file could be scored.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from . import explain
from .audio import clip_problem
from .config import MACHINE_TYPES
from .errors import ASDError

logger = logging.getLogger(__name__)

COLUMNS = ["path", "machine_type", "machine_id", "score", "threshold", "anomalous"]
COLUMNS += ["top_bands_hz", "top_seconds", "training_clip", "problem"]
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
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() == ".wav" and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                problems.append((str(path), "folder holds no .wav file"))
        elif path.exists():
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
    run_dir: str | os.PathLike,
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
    run_dir : path-like
        A folder written by :func:`asd.pipeline.train`.
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
        run lacks, or a false-alarm rate outside (0, 1).
    """
    from .features import FeatureCache
    from .pipeline import load_run
    from .thresholds import false_alarm_rate_of, load_thresholds, refit_thresholds

    run, config = load_run(run_dir)
    run_types = list(run["machine_types"])
    if machine_type is not None and machine_type not in run_types:
        raise ASDError(f"{run_dir}: no model for machine type {machine_type!r} (has {', '.join(run_types)})")
    if machine_id is not None:
        machine_id = str(machine_id).zfill(2)
    files, problems = collect_wav_files(paths)
    rows: list[dict] = [_problem_row(p, why) for p, why in problems]
    known_types = run_types + [t for t in MACHINE_TYPES if t not in run_types]
    jobs: dict[str, list[tuple[Path, str | None]]] = {}
    for path in files:
        inferred_type, inferred_id = infer_machine(path, known_types)
        if machine_type is None and inferred_type is not None and inferred_type not in run_types:
            raise ASDError(
                f"{path}: the path names machine type {inferred_type!r} but the run {run_dir} has models for "
                f"{', '.join(run_types)} only; give --machine-type to score it as one of those"
            )
        this_type = machine_type or inferred_type or (run_types[0] if len(run_types) == 1 else None)
        this_id = machine_id or inferred_id
        short = clip_problem(path, min_seconds=config.audio.min_seconds)  # also warns about truncated WAVs
        if short is not None:
            rows.append(_problem_row(str(path), short, this_id, this_type))
            continue
        if this_type is None:
            rows.append(
                _problem_row(str(path), f"machine type unknown: not in the path, give --machine-type ({' / '.join(run_types)})", this_id)
            )
            continue
        jobs.setdefault(this_type, []).append((path, this_id))

    cache = FeatureCache(cache_dir)
    rates, departures, flagged_mels = {}, {}, {}
    for this_type, items in jobs.items():
        type_dir = Path(run_dir) / this_type
        if false_alarm_rate is None:
            thresholds = load_thresholds(type_dir)
        else:
            thresholds = refit_thresholds(type_dir, false_alarm_rate=false_alarm_rate)
        rates[this_type] = false_alarm_rate_of(thresholds)
        if executor is None or not executor.distributed:
            type_rows, mels = _score_type(run_dir, this_type, items, thresholds, config=config, cache=cache, progress=progress)
        else:
            type_rows, mels = _score_on_cluster(executor, run_dir, this_type, items, thresholds, config=config, cache=cache)
        rows += type_rows
        _explain_flagged(type_dir, [r for r in type_rows if r["anomalous"] == "yes"], mels, departures, flagged_mels, config=config, cache=cache)
        _mark_training_clips(run, type_dir, [r for r in type_rows if r["problem"] == ""])

    table = pd.DataFrame(rows, columns=COLUMNS)
    order = {str(p): i for i, p in enumerate(files)}
    table["_scored"] = table["problem"] == ""
    table["_order"] = [order.get(p, -1) for p in table["path"]]
    table["_key"] = np.where(table["_scored"], -table["score"].fillna(0.0), 0.0)
    table = table.sort_values(["_scored", "_key", "_order"], ascending=[False, True, True], kind="stable")
    table = table.drop(columns=["_scored", "_order", "_key"]).reset_index(drop=True)
    if figures_dir is not None:
        _write_figures(table, departures, flagged_mels, Path(figures_dir))
    table.attrs["false_alarm_rate"] = rates
    table.attrs["departures"] = {
        p: {"top_bands_hz": [round(v, 1) for v in d.top_bands_hz], "top_bands_db": [round(v, 2) for v in d.top_bands_db], "top_seconds": d.top_seconds}
        for p, d in departures.items()
    }
    return table


def _score_type(run_dir, machine_type, items, thresholds, *, config, cache, progress) -> tuple[list[dict], dict]:
    """Rows of one machine type's files, and the baseline log-mels already at hand (by path)."""
    from .features import extract_features
    from .pipeline import load_detector
    from .thresholds import threshold_for

    detector = load_detector(run_dir, machine_type)
    ids_by_path = {str(p): m for p, m in items}
    extracted = extract_features(
        [str(p) for p, _ in items],
        kind=detector.feature_kind,
        config=config,
        cache=cache,
        on_error="skip",
        progress=progress,
        description=f"{machine_type} features",
    )
    # (extract_features has logged these already)
    rows = [_problem_row(p, why, ids_by_path[p], machine_type, log=False) for p, why in extracted.failed]
    if not extracted.features:
        return rows, {}
    ids = [ids_by_path[p] for p in extracted.paths]
    scores = np.asarray(detector.score(extracted.features, ids), dtype=np.float64)
    for path, this_id, score in zip(extracted.paths, ids, scores):
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
                "problem": "",
            }
        )
    mels = dict(zip(extracted.paths, extracted.features)) if detector.feature_kind == "baseline" else {}
    return rows, mels


#: Files per task when ``asd score`` runs on a Dask cluster (:func:`score_chunk`).
SCORE_CHUNK_FILES = 64


def score_chunk(unit: tuple) -> tuple[list[dict], dict]:
    """One task of :func:`_score_on_cluster`: the rows of a chunk of one machine type's files, and the
    baseline log-mels of its flagged files only (for their explanations).

    ``unit`` is ``(run_dir, machine_type, items, thresholds, config, cache_dir)``, every path absolute.
    """
    from .features import FeatureCache

    run_dir, machine_type, items, thresholds, config, cache_dir = unit
    rows, mels = _score_type(run_dir, machine_type, items, thresholds, config=config, cache=FeatureCache(cache_dir), progress=False)
    flagged = {row["path"] for row in rows if row["anomalous"] == "yes"}
    return rows, {path: mel for path, mel in mels.items() if path in flagged}


def _score_on_cluster(executor, run_dir, machine_type, items, thresholds, *, config, cache) -> tuple[list[dict], dict]:
    """:func:`_score_type` as tasks of :data:`SCORE_CHUNK_FILES` files; rows and log-mels keyed by the paths as given."""
    given = {str(Path(path).resolve()): str(path) for path, _ in items}
    absolute = [(Path(path).resolve(), machine_id) for path, machine_id in items]
    cache_dir = None if cache.root is None else str(Path(cache.root).resolve())
    chunks = [absolute[start : start + SCORE_CHUNK_FILES] for start in range(0, len(absolute), SCORE_CHUNK_FILES)]
    units = [(str(Path(run_dir).resolve()), machine_type, chunk, thresholds, config, cache_dir) for chunk in chunks]
    names = [f"{machine_type} files {i * SCORE_CHUNK_FILES + 1}-{i * SCORE_CHUNK_FILES + len(c)}" for i, c in enumerate(chunks)]
    rows, mels = [], {}
    for chunk_rows, chunk_mels in executor.map(score_chunk, units, names=names):
        rows += [row | {"path": given[row["path"]]} for row in chunk_rows]
        mels.update({given[path]: mel for path, mel in chunk_mels.items()})
    return rows, mels


def _explain_flagged(type_dir: Path, flagged: list[dict], mels: dict, departures: dict, flagged_mels: dict, *, config, cache) -> None:
    """Fill ``top_bands_hz``/``top_seconds`` of the flagged rows (in place); keep their log-mels for figures."""
    from .features import extract_features

    if not flagged:
        return
    if not (type_dir / explain.REFERENCE_FILE).is_file():
        logger.warning("%s: no %s (trained before explanations existed): flagged clips are not explained", type_dir, explain.REFERENCE_FILE)
        return
    reference = explain.load(type_dir / explain.REFERENCE_FILE)
    missing = [r["path"] for r in flagged if r["path"] not in mels]
    if missing:
        extracted = extract_features(missing, kind="baseline", config=config, cache=cache, on_error="skip", progress=False)
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
            title = f"{Path(row.path).name}  ({row.machine_type} id {row.machine_id or '?'}, score {row.score:.4g} > {row.threshold:.4g})"
            explain.plot_departure(log_mel, departures[row.path], reference, folder / f"{rank:03d}_{Path(row.path).stem}.png", title=title)


def _mark_training_clips(run: dict, type_dir: Path, rows: list[dict]) -> None:
    """Set ``training_clip`` of the rows that are training clips of the run (in place), and warn."""
    train_file = type_dir / "train_scores.csv"
    if not rows or not train_file.is_file():
        return
    train = pd.read_csv(train_file, dtype=str, keep_default_na=False)
    if "path" not in train:
        return  # a run trained before paths were recorded
    root = Path(run.get("data_root", "."))
    train_paths = {str((root / rel).resolve()) for rel in train["path"]}
    by_name: dict[str, list[str]] = {}
    for path in train_paths:
        by_name.setdefault(Path(path).name, []).append(path)
    hits = []
    for row in rows:
        path = Path(row["path"])
        if str(path.resolve()) in train_paths or any(_same_content(path, Path(c)) for c in by_name.get(path.name, [])):
            row["training_clip"] = "yes"
            hits.append(row["path"])
    if hits:
        logger.warning(
            "%d scored file(s) are training clips of this run: they score lower than new clips would (first: %s)", len(hits), hits[0]
        )


def _same_content(a: Path, b: Path) -> bool:
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        return hashlib.sha1(a.read_bytes()).digest() == hashlib.sha1(b.read_bytes()).digest()
    except OSError:
        return False


def run_summary(run_dir: str | os.PathLike) -> dict:
    """What a run is: model, machine types, and the data it was trained on.

    Returns
    -------
    dict
        ``model``, ``machine_types``, ``data_root``, ``data_fingerprint`` and ``data_kind``
        (``"synthetic"``, ``"real"``, or ``"unknown"`` for an older run whose data root is gone).
    """
    from .pipeline import load_run
    from .synth import MANIFEST_NAME

    run, _ = load_run(run_dir)
    kind = run.get("data_kind")
    if kind is None:  # a run trained before the kind was recorded
        root = Path(run.get("data_root", ""))
        kind = ("synthetic" if (root / MANIFEST_NAME).is_file() else "real") if root.is_dir() else "unknown"
    keys = ("model", "machine_types", "data_root", "data_fingerprint")
    return {**{k: run.get(k) for k in keys}, "data_kind": kind}


def _problem_row(
    path: str, problem: str, machine_id: str | None = None, machine_type: str | None = None, *, log: bool = True
) -> dict:
    if log:
        logger.warning("cannot score %s: %s", path, problem)
    row = dict.fromkeys(COLUMNS, "") | {"path": str(path), "machine_type": machine_type or "", "machine_id": machine_id or ""}
    return row | {"score": np.nan, "threshold": np.nan, "problem": problem}
