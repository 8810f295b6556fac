"""The synthetic dataset writer: plan, parallel generation, manifest and versioning.

:func:`generate_dataset` writes the DCASE 2020 Task 2 development layout (or, with ``format``, a
later year's: :mod:`asd.synth.years`) and, last, a manifest
(``dataset.json``) that records :data:`GENERATOR_VERSION`; a later call with the same size, seed
and version finds it complete and returns at once.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import multiprocessing
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..atomic import write_text_atomic
from ..audio import write_clip
from ..config import DEV_MACHINE_IDS, MACHINE_TYPES
from ..errors import ConfigError, LayoutError
from .machines import CLIP_SECONDS, FAULTS, SAMPLE_RATE, clip_rng, clip_severity, generate_clip, severity_centre
from .years import (
    LAYOUTS,
    MODELS,
    YEAR_FORMATS,
    YEAR_SIZES,
    YearJob,
    eval_style,
    make_year_clip,
    plan_year,
    write_attribute_csvs,
    write_ground_truth,
    year_size,
)

if TYPE_CHECKING:  # pandas is imported where a table is built: worker processes start faster
    import pandas as pd

logger = logging.getLogger(__name__)

#: The version of the generated samples: bumped whenever a change alters any generated file (not
#: for comments or refactoring); recorded in the manifest, which is what decides whether an
#: existing dataset is still current.
GENERATOR_VERSION = "2.0.0"
MANIFEST_NAME = "dataset.json"
_INCOMPLETE_NAME = ".asd-synth-incomplete"
TABLE_COLUMNS = ["path", "machine_type", "machine_id", "split", "label", "fault", "severity"]
#: Columns of the table of a later year's layout (:mod:`asd.synth.years`).
YEAR_TABLE_COLUMNS = [
    "path",
    "machine_type",
    "section",
    "domain",
    "split",
    "label",
    "attributes",
    "fault",
    "severity",
    "labelled",
]
#: Layouts :func:`generate_dataset` writes.
FORMATS = ("dcase2020", *YEAR_FORMATS)


@dataclass(frozen=True)
class SizeSpec:
    """Clips per machine ID: normal training clips, normal and anomalous test clips."""

    train_normal: int
    test_normal: int
    test_anomaly: int

    @property
    def per_id(self) -> int:
        return self.train_normal + self.test_normal + self.test_anomaly


#: Dataset sizes. ``tiny`` (230 clips) is for tests; ``default`` (2,070 clips, 23 machine IDs)
#: is the study's.
SIZES: dict[str, SizeSpec] = {
    "tiny": SizeSpec(train_normal=6, test_normal=2, test_anomaly=2),
    "default": SizeSpec(train_normal=50, test_normal=20, test_anomaly=20),
}


@dataclass(frozen=True)
class _Job:
    relpath: str
    machine_type: str
    machine_id: str
    split: str
    label: str
    index: int
    fault: str
    seed: int


def _plan(spec: SizeSpec, machine_types: list[str], seed: int) -> list[_Job]:
    jobs = []
    for machine_type in machine_types:
        faults = FAULTS[machine_type]
        for machine_id in DEV_MACHINE_IDS[machine_type]:
            groups = (
                ("train", "normal", spec.train_normal),
                ("test", "normal", spec.test_normal),
                ("test", "anomaly", spec.test_anomaly),
            )
            for split, label, count in groups:
                for index in range(count):
                    fault = faults[(index + int(machine_id)) % len(faults)] if label == "anomaly" else ""
                    relpath = f"{machine_type}/{split}/{label}_id_{machine_id}_{index:08d}.wav"
                    jobs.append(_Job(relpath, machine_type, machine_id, split, label, index, fault, seed))
    return jobs


def _make_clip(job: _Job, out_dir: str) -> dict:
    """Generate and write one clip; return its table row (and the file's SHA-256)."""
    rng = clip_rng(job.seed, job.machine_type, job.machine_id, job.split, job.label, job.index)
    severity = (
        clip_severity(severity_centre(job.machine_type, job.machine_id), float(rng.uniform())) if job.fault else 0.0
    )
    samples = generate_clip(job.machine_type, job.machine_id, anomaly=job.fault or None, rng=rng, severity=severity)
    path = Path(out_dir) / job.relpath
    write_clip(path, samples, sample_rate=SAMPLE_RATE)
    return {
        "relpath": job.relpath,
        "machine_type": job.machine_type,
        "machine_id": job.machine_id,
        "split": job.split,
        "label": job.label,
        "fault": job.fault,
        "severity": round(severity, 6),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _table(rows: list[dict], out_dir: Path, format: str = "dcase2020") -> pd.DataFrame:
    import pandas as pd

    columns = TABLE_COLUMNS if format == "dcase2020" else YEAR_TABLE_COLUMNS
    table = pd.DataFrame(
        [{**{k: r[k] for k in columns if k != "path"}, "path": str(out_dir / r["relpath"])} for r in rows],
        columns=columns,
    )
    return table.sort_values("path", ignore_index=True)


def _fingerprint(rows: list[dict]) -> str:
    digest = hashlib.sha256()
    for row in sorted(rows, key=lambda r: r["relpath"]):
        digest.update(f"{row['relpath']} {row['sha256']}\n".encode())
    return digest.hexdigest()


def _read_manifest(out_dir: Path) -> dict | None:
    try:
        manifest = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("generator") == "asd.synth" else None


def read_manifest(out_dir: str | os.PathLike) -> dict | None:
    """The manifest of a complete generated dataset (``dataset.json``), or ``None``.

    Keys: ``generator``, ``version`` (:data:`GENERATOR_VERSION`), ``size``, ``counts`` (clips per machine ID), ``seed``,
    ``sample_rate``, ``machine_types``, ``n_clips``, ``fingerprint`` (SHA-256 over every
    file's path and SHA-256), ``seconds`` (generation time) and ``clips`` (one row per file).
    """
    return _read_manifest(Path(out_dir))


@dataclass(frozen=True)
class _Request:
    """A validated generation request: what :func:`generate_dataset` is asked to write."""

    size: str
    seed: int
    machine_types: tuple[str, ...]
    format: str
    eval_style: bool

    @property
    def counts(self) -> dict:
        return asdict(SIZES[self.size]) if self.format == "dcase2020" else asdict(year_size(self.format, self.size))

    def plan(self) -> list:
        if self.format == "dcase2020":
            return _plan(SIZES[self.size], list(self.machine_types), self.seed)
        jobs = plan_year(self.format, self.size, self.seed, list(self.machine_types))
        return eval_style(self.format, jobs, self.seed) if self.eval_style else jobs


def _request(size, seed, machine_types, format: str, eval_names: bool) -> _Request:
    """Check the arguments of :func:`generate_dataset` (one clear :class:`ConfigError` each)."""
    if format not in FORMATS:
        raise ConfigError(f"unknown dataset format {format!r} (expected one of {', '.join(FORMATS)})")
    sizes = list(SIZES) if format == "dcase2020" else list(YEAR_SIZES)
    if size not in sizes:
        raise ConfigError(f"unknown dataset size {size!r} for {format} (expected one of {', '.join(sizes)})")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if eval_names and format == "dcase2020":
        raise ConfigError("eval-style names exist for the dcase2021 ... dcase2025 formats only")
    known = MACHINE_TYPES if format == "dcase2020" else LAYOUTS[format].machine_types
    machine_types = list(known) if machine_types is None else list(machine_types)
    unknown = [t for t in machine_types if t not in known]
    if unknown or not machine_types:
        raise ConfigError(
            f"unknown machine type(s) {', '.join(unknown) or '(none given)'} for {format} "
            f"(expected some of {', '.join(known)})"
        )
    return _Request(size, int(seed), tuple(t for t in known if t in machine_types), format, bool(eval_names))


def _manifest_matches(manifest: dict | None, request: _Request, out_dir: Path) -> bool:
    if manifest is None:
        return False
    same = (
        manifest.get("version") == GENERATOR_VERSION
        and manifest.get("format", "dcase2020") == request.format
        and manifest.get("eval_style", False) == request.eval_style
        and manifest.get("size") == request.size
        and manifest.get("counts") == request.counts
        and manifest.get("seed") == request.seed
        and manifest.get("sample_rate") == SAMPLE_RATE
        and set(request.machine_types) <= set(manifest.get("machine_types", []))
    )
    if not same:
        return False
    wanted = [r for r in manifest.get("clips", []) if r["machine_type"] in request.machine_types]
    expected = {j.relpath for j in request.plan()}
    return {r["relpath"] for r in wanted} == expected and all((out_dir / r["relpath"]).is_file() for r in wanted)


#: Folders of a machine type that may hold generated clips (every format).
_CLIP_FOLDERS = ("train", "test", "source_test", "target_test")


def _clear_stale(out_dir: Path, keep: set[str]) -> None:
    """Remove WAV files (and leftover temporary files) of an earlier generation that are not in ``keep``.

    Only runs in a folder this module wrote (manifest or unfinished-run marker present); a folder
    holding clips of unknown origin is refused rather than overwritten. An earlier generation's
    attribute and ground-truth CSVs are removed too (they are rewritten for the new plan).
    """
    ours = _read_manifest(out_dir) is not None or (out_dir / _INCOMPLETE_NAME).exists()
    types = dict.fromkeys([*MACHINE_TYPES, *MODELS])
    present = [
        p
        for t in types
        for split in _CLIP_FOLDERS
        for p in sorted((out_dir / t / split).glob("*.wav"))
        if (out_dir / t / split).is_dir()
    ]
    if present and not ours:
        raise LayoutError(
            f"{out_dir}: holds {len(present)} WAV file(s) that asd.synth did not write; choose an empty or new folder"
        )
    for path in present:
        rel = path.relative_to(out_dir).as_posix()
        if rel not in keep or path.name.startswith("."):
            path.unlink()
    if ours:
        tables = [*out_dir.glob("ground_truth/*/ground_truth_*.csv")]
        tables += [p for t in types for p in out_dir.glob(f"{t}/attributes_*.csv")]
        for path in tables:
            path.unlink()


def generate_dataset(
    out_dir: str | os.PathLike,
    *,
    size: str = "default",
    seed: int = 0,
    machine_types: list[str] | tuple[str, ...] | None = None,
    progress: bool = True,
    workers: int | None = None,
    format: str = "dcase2020",
    eval_names: bool = False,
) -> pd.DataFrame:
    """Write the synthetic dataset in the layout of DCASE 2020 Task 2 (default) or of a later year.

    Parameters
    ----------
    out_dir : path-like
        Dataset root; created if missing. It must be empty, new, or a folder this function
        wrote before (a :class:`LayoutError` is raised for a folder with other WAV files).
    size : str
        A key of :data:`SIZES`: ``"tiny"`` or ``"default"``. In the DCASE 2020 layout 6 + 2 + 2 or
        50 + 20 + 20 clips per machine ID; in a later year's layout (:mod:`asd.synth.years`) 4 source
        + 2 target training clips and 2 test clips per domain and label per section, 2 s long, or
        the real sets' counts (990 + 10 and 50, 2021: 1000 + 3 and 100) at full length.
    seed : int
        Non-negative; the same seed gives byte-identical files.
    machine_types : list of str, optional
        Only these machine types (default: all of the format's development types).
    progress : bool
        Show a tqdm progress bar.
    workers : int, optional
        Worker processes (default: every available core); the files do not depend on it.
    format : str
        ``"dcase2020"`` or one of :data:`asd.synth.years.YEAR_FORMATS`.
    eval_names : bool
        Later years only: name the test clips as the evaluation sets do (no label, domain or
        attributes) and write the evaluators' ground truth under ``<out>/ground_truth/``.

    Returns
    -------
    pandas.DataFrame
        One row per clip, sorted by path. DCASE 2020 layout: columns :data:`TABLE_COLUMNS`:
        ``path`` (str), ``machine_type``, ``machine_id`` (two digits), ``split`` (train/test),
        ``label`` (normal/anomaly), ``fault`` (fault model name, ``""`` for normal clips) and
        ``severity`` (in [0, 1], 0 for normal clips). Later years: :data:`YEAR_TABLE_COLUMNS`, with
        ``section``, ``domain``, ``attributes`` and ``labelled`` (the development-style relative path,
        which differs from the file's under ``eval_names``). ``table.attrs`` holds ``root``, ``size``,
        ``seed``, ``version`` and ``fingerprint``.

    Notes
    -----
    Every file is written atomically; ``dataset.json`` is written last. When it already
    describes a complete dataset with the same format, size, seed and :data:`GENERATOR_VERSION` (and the requested
    machine types), nothing is regenerated and the table is returned at once: a refactor that leaves the samples
    alone keeps the version and so the data.
    Otherwise the manifest is removed first, files of an earlier generation that the new plan
    does not contain are deleted, and everything is written anew.
    """
    request = _request(size, seed, machine_types, format, eval_names)
    out_dir = Path(out_dir)
    manifest = _read_manifest(out_dir)
    if _manifest_matches(manifest, request, out_dir):
        logger.info(
            "%s: complete synthetic dataset (%s, size %s, seed %d, version %s) found; not regenerating",
            out_dir,
            request.format,
            request.size,
            request.seed,
            GENERATOR_VERSION,
        )
        rows = [r for r in manifest["clips"] if r["machine_type"] in request.machine_types]
        return _attach(_table(rows, out_dir, request.format), out_dir, manifest)
    rows, manifest = _generate(out_dir, request, workers=workers, progress=progress)
    return _attach(_table(rows, out_dir, request.format), out_dir, manifest)


def _generate(out_dir: Path, request, *, workers: int | None, progress: bool) -> tuple[list[dict], dict]:
    """Write every clip of ``request``'s plan (stale files of an earlier plan removed), the year's attribute and
    ground-truth files, then the manifest, last; the clip rows and the manifest."""
    jobs = request.plan()
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear_stale(out_dir, {j.relpath for j in jobs})
    write_text_atomic(out_dir / _INCOMPLETE_NAME, "asd.synth generation in progress or interrupted\n")
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    n_workers = max(1, min(workers or _default_workers(), len(jobs)))
    logger.info(
        "generating %d synthetic clips (%s, size %s, seed %d) into %s with %d worker(s)",
        len(jobs),
        request.format,
        request.size,
        request.seed,
        out_dir,
        n_workers,
    )
    started = time.perf_counter()
    rows = _run_jobs(jobs, out_dir, n_workers, progress, desc=f"synth {request.size}")
    if request.format != "dcase2020":
        write_attribute_csvs(out_dir, request.format, rows)
        write_ground_truth(out_dir, request.format, rows)
    manifest = _manifest(request, rows, time.perf_counter() - started)
    write_text_atomic(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")
    (out_dir / _INCOMPLETE_NAME).unlink(missing_ok=True)
    logger.info(
        "wrote %d clips in %.1f s; fingerprint %s", len(rows), manifest["seconds"], manifest["fingerprint"][:12]
    )
    return rows, manifest


def _manifest(request: _Request, rows: list[dict], seconds: float) -> dict:
    """The manifest of a finished generation (the DCASE 2020 one has no ``format`` key, as before)."""
    types = list(request.machine_types)
    if request.format == "dcase2020":
        models = {t: (t, DEV_MACHINE_IDS[t]) for t in types}
    else:
        models = {t: MODELS[t] for t in types}
    extra = {} if request.format == "dcase2020" else {"format": request.format, "eval_style": request.eval_style}
    return {
        "generator": "asd.synth",
        "version": GENERATOR_VERSION,
        **extra,
        "size": request.size,
        "counts": request.counts,
        "seed": request.seed,
        "sample_rate": SAMPLE_RATE,
        "clip_seconds": {t: CLIP_SECONDS[m] for t, (m, _) in models.items()},
        "machine_types": types,
        "machine_ids": {t: list(ids) for t, (_, ids) in models.items()},
        "faults": {t: FAULTS[m] for t, (m, _) in models.items()},
        "n_clips": len(rows),
        "fingerprint": _fingerprint(rows),
        "seconds": round(seconds, 2),
        "clips": sorted(rows, key=lambda r: r["relpath"]),
    }


def _attach(table: pd.DataFrame, out_dir: Path, manifest: dict) -> pd.DataFrame:
    table.attrs.update(
        root=str(out_dir),
        size=manifest["size"],
        seed=manifest["seed"],
        version=manifest["version"],
        fingerprint=manifest["fingerprint"],
    )
    return table


def _run_jobs(jobs: list[_Job], out_dir: Path, n_workers: int, progress: bool, *, desc: str) -> list[dict]:
    from tqdm.auto import tqdm

    rows = []
    with tqdm(total=len(jobs), desc=desc, unit="clip", disable=not progress) as bar:
        if n_workers == 1:
            for job in jobs:
                rows.extend(_make_chunk([job], str(out_dir)))
                bar.update()
            return rows
        # "spawn": safe even when the caller has started threads (TensorFlow, BLAS).
        context = multiprocessing.get_context("spawn")
        chunk = max(1, min(32, len(jobs) // (n_workers * 4)))
        with concurrent.futures.ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
            futures = [pool.submit(_make_chunk, jobs[i : i + chunk], str(out_dir)) for i in range(0, len(jobs), chunk)]
            for future in concurrent.futures.as_completed(futures):
                done = future.result()
                rows.extend(done)
                bar.update(len(done))
    return rows


def _make_chunk(jobs: list, out_dir: str) -> list[dict]:
    return [make_year_clip(job, out_dir) if isinstance(job, YearJob) else _make_clip(job, out_dir) for job in jobs]
