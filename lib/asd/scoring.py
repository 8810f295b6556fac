"""Score new recordings with a trained run: ``asd score --run RUN_DIR PATH...``.

For a machine in operation: each WAV file (or every ``*.wav`` under a folder, recursively) is
scored by the run's detector of its machine type and compared with the decision threshold of
its machine ID (``thresholds.json``, fitted on training scores only; see
:mod:`asd.thresholds`).

Which machine a file belongs to
    - machine ID: ``id_XX`` in the file name (DCASE: ``normal_id_00_00000012.wav``,
      ``id_02_00000003.wav``), else the nearest parent folder named ``id_XX`` (MIMII:
      ``fan/id_00/normal/00000000.wav``); ``--machine-id`` overrides both.
    - machine type: the nearest parent folder named like one of the run's machine types
      (``fan/test/...``, ``fan/id_00/...``); ``--machine-type`` overrides it; a run with a single
      machine type needs neither.
    A file whose machine type cannot be told is reported, not guessed. A file of an ID the run
    has not seen, or of unknown ID, is scored against all of its machine type's IDs (see each
    detector) and compared with the machine type's pooled threshold.

Bad files (missing, empty, not audio, NaN samples, a non-finite score) are reported with the
problem and the rest are still scored. :func:`score_paths` returns one row per file:
``path, machine_type, machine_id, score, threshold, anomalous ("yes"/"no"), problem``
(``problem`` empty for scored files; ``score``, ``threshold`` and ``anomalous`` empty for the
others). ``asd score`` prints it, writes it with ``--out FILE.csv``, and exits with 1 only if no
file could be scored.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .errors import ASDError

logger = logging.getLogger(__name__)

COLUMNS = ["path", "machine_type", "machine_id", "score", "threshold", "anomalous", "problem"]
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
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
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
    cache_dir : path-like, optional
        Feature cache folder; none by default (new recordings are scored once).
    progress : bool
        Show feature-extraction progress bars.

    Returns
    -------
    DataFrame
        Columns :data:`COLUMNS`, one row per file, in the order found.
    """
    from .cache import FeatureCache
    from .extraction import extract_features
    from .pipeline import load_detector, load_run
    from .thresholds import load_thresholds, threshold_for

    run, config = load_run(run_dir)
    run_types = list(run["machine_types"])
    if machine_type is not None and machine_type not in run_types:
        raise ASDError(f"{run_dir}: no model for machine type {machine_type!r} (has {', '.join(run_types)})")
    if machine_id is not None:
        machine_id = str(machine_id).zfill(2)
    files, problems = collect_wav_files(paths)
    rows: list[dict] = [_problem_row(p, why) for p, why in problems]
    jobs: dict[str, list[tuple[Path, str | None]]] = {}
    for path in files:
        inferred_type, inferred_id = infer_machine(path, run_types)
        this_type = machine_type or inferred_type or (run_types[0] if len(run_types) == 1 else None)
        this_id = machine_id or inferred_id
        if this_type is None:
            rows.append(
                _problem_row(str(path), f"machine type unknown: not in the path, give --machine-type ({' / '.join(run_types)})", this_id)
            )
            continue
        jobs.setdefault(this_type, []).append((path, this_id))

    cache = FeatureCache(cache_dir)
    for this_type, items in jobs.items():
        detector = load_detector(run_dir, this_type)
        thresholds = load_thresholds(Path(run_dir) / this_type)
        ids_by_path = {str(p): m for p, m in items}
        extracted = extract_features(
            [str(p) for p, _ in items],
            kind=detector.feature_kind,
            config=config,
            cache=cache,
            on_error="skip",
            progress=progress,
            description=f"{this_type} features",
        )
        # (extract_features has logged these already)
        rows += [_problem_row(p, why, ids_by_path[p], this_type, log=False) for p, why in extracted.failed]
        if not extracted.features:
            continue
        ids = [ids_by_path[p] for p in extracted.paths]
        scores = np.asarray(detector.score(extracted.features, ids), dtype=np.float64)
        for path, this_id, score in zip(extracted.paths, ids, scores):
            if not np.isfinite(score):
                rows.append(_problem_row(path, f"score is not finite ({score})", this_id, this_type))
                continue
            threshold = threshold_for(thresholds, this_id)
            rows.append(
                {
                    "path": path,
                    "machine_type": this_type,
                    "machine_id": this_id or "",
                    "score": float(score),
                    "threshold": threshold,
                    "anomalous": "yes" if score > threshold else "no",
                    "problem": "",
                }
            )
    order = {str(p): i for i, p in enumerate(files)}
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["_order"] = [order.get(p, -1) for p in table["path"]]
    return table.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


def _problem_row(
    path: str, problem: str, machine_id: str | None = None, machine_type: str | None = None, *, log: bool = True
) -> dict:
    if log:
        logger.warning("cannot score %s: %s", path, problem)
    return {
        "path": str(path),
        "machine_type": machine_type or "",
        "machine_id": machine_id or "",
        "score": np.nan,
        "threshold": np.nan,
        "anomalous": "",
        "problem": problem,
    }


# -- command line --------------------------------------------------------------------------


def register_cli(subparsers) -> None:
    """Add ``asd score`` (see :data:`asd.cli.EXTENSIONS`)."""
    parser = subparsers.add_parser(
        "score",
        help="score new WAV files or folders with a trained run and flag anomalies",
        description="Score WAV files (folders: every .wav inside, recursively) with the detector of RUN_DIR and "
        "compare each score with its machine ID's decision threshold (fitted on training scores). Machine type "
        "and ID are read from DCASE/MIMII-style names and folders (e.g. fan/test/normal_id_00_00000001.wav, "
        "fan/id_00/normal/00000001.wav) unless given. Unreadable files are reported and skipped; the exit "
        "status is 1 only if no file could be scored.",
    )
    parser.add_argument("--run", required=True, type=Path, metavar="RUN_DIR", help="folder written by `asd train`")
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="WAV files and/or folders")
    parser.add_argument("--out", type=Path, metavar="FILE.csv", help="also write the table as CSV")
    parser.add_argument("--machine-type", metavar="TYPE", help="machine type of every file (default: from the path)")
    parser.add_argument("--machine-id", metavar="XX", help="machine ID of every file (default: from the path)")
    parser.add_argument("--cache", type=Path, metavar="DIR", help="feature cache folder (default: none)")
    parser.set_defaults(func=_run_score)


def _run_score(args) -> int:
    from .atomic import write_csv_atomic

    table = score_paths(
        args.run,
        args.paths,
        machine_type=args.machine_type,
        machine_id=args.machine_id,
        cache_dir=args.cache,
        progress=not args.quiet,
    )
    scored = table[table["problem"] == ""]
    failed = table[table["problem"] != ""]
    if not scored.empty:
        shown = scored.drop(columns="problem")
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for row in failed.itertuples():
        print(f"not scored: {row.path}: {row.problem}", file=sys.stderr)
    n_anomalous = int((scored["anomalous"] == "yes").sum())
    print(f"{len(scored)} scored, {n_anomalous} anomalous, {len(failed)} not scored")
    if args.out is not None:
        write_csv_atomic(args.out, table)
        print(f"written to {args.out}")
    return 0 if len(scored) else 1
