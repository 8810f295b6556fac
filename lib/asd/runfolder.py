"""Run folders that are complete or refused: where ``asd train`` builds, swaps in and checks a run.

A run is built beside its folder (``RUN_DIR.tmp-<pid>``) and renamed onto it only when complete
(:func:`swap_in`); ``run.json``, written last, records every file's size and SHA-256
(:func:`file_manifest`), which :func:`verify_files` checks before a run is used. Builds left by a
killed training are removed by the next one (:func:`remove_stale_builds`). Runs of one model on
disjoint machine types merge into one (:func:`merge_runs`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import pandas as pd

from .atomic import write_csv_atomic, write_text_atomic
from .errors import ConfigError, LayoutError

logger = logging.getLogger(__name__)

#: The run's description, written last: its ``"complete": true`` marks a finished run.
RUN_FILE = "run.json"


def check_out_folder(out: Path, option: str) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: is an existing file, expected a folder ({option})")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_builds(out: Path) -> None:
    """Remove ``out.tmp-<pid>`` folders left by trainings killed mid-way (their process is gone)."""
    for stale in out.parent.glob(f"{out.name}.tmp-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)) and stale.is_dir():
            logger.info("removing %s, left by an interrupted training", stale)
            shutil.rmtree(stale, ignore_errors=True)


def check_run_target(out: Path, *, overwrite: bool) -> None:
    """Refuse ``out`` if it is a file, a finished run (unless ``overwrite``) or a folder that is not a run."""
    check_out_folder(out, "--out")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if (out / RUN_FILE).is_file():
        if not overwrite:
            raise LayoutError(
                f"{out}: already holds a finished run; pass --overwrite to replace it "
                "(the old run stays intact until the new one is complete) or choose another --out"
            )
    elif not (out / "config.yaml").is_file():
        raise LayoutError(f"{out}: is not empty and is not a run folder; choose a new or empty folder for --out")
    else:
        logger.warning("%s: replacing an incomplete run (no run.json)", out)


def swap_in(new: Path, out: Path) -> None:
    """Rename the finished ``new`` run onto ``out``; the old one is deleted only afterwards."""
    if not out.exists():
        os.rename(new, out)
        return
    old = out.with_name(f"{out.name}.old-{os.getpid()}")
    os.rename(out, old)
    os.rename(new, out)
    shutil.rmtree(old, ignore_errors=True)


def file_manifest(run_dir: Path) -> dict[str, dict]:
    """Size and SHA-256 of every file of a run (relative POSIX paths), for :func:`verify_files`."""
    files = {}
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(run_dir).as_posix()
        if rel != RUN_FILE:
            files[rel] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_files(run_dir: Path, run: dict, prefix: str) -> None:
    """Every file of the manifest under ``prefix`` exists with its recorded size and checksum."""
    retrain = "the run is damaged: retrain with `asd train --overwrite`"
    for rel, expected in run.get("files", {}).items():
        if not (rel == prefix or rel.startswith(prefix + "/")):
            continue
        path = run_dir / rel
        if not path.is_file():
            raise LayoutError(f"{path}: missing; {retrain}")
        size = path.stat().st_size
        if size != expected["size"]:
            raise LayoutError(f"{path}: {size} bytes, {expected['size']} when trained (truncated or replaced); {retrain}")
        if _sha256(path) != expected["sha256"]:
            raise LayoutError(f"{path}: changed since training (checksum differs); {retrain}")


def merge_runs(parts: list[Path], out: Path, *, data_fingerprint: str) -> dict:
    """One run folder ``out`` from finished runs of one model on disjoint machine types.

    What :func:`asd.pipeline.train` over all their machine types would have written, when
    each part is such a training restricted to some of them (the report trains a model's
    machine types as separate jobs, see :mod:`asd.report.training`): the machine types'
    folders, one ``config.yaml``, a ``run.json`` with every part's machine types, training
    clip counts and skipped clips, ``data_fingerprint`` (of all of the parts' data), and a
    fresh manifest. Built beside ``out`` and swapped in (:func:`swap_in`); the parts are
    consumed (their machine-type folders move).

    Raises
    ------
    LayoutError
        A part that is not a finished run, or parts of different models, configs or data
        folders, or sharing a machine type.
    """
    runs = []
    for part in parts:
        run_file = Path(part) / RUN_FILE
        run = json.loads(run_file.read_text(encoding="utf-8")) if run_file.is_file() else {}
        if run.get("complete") is not True:
            raise LayoutError(f"{part}: not a finished run; cannot merge it")
        runs.append(run)
    keys = ("model", "config_fingerprint", "data_root")
    if any(tuple(run.get(k) for k in keys) != tuple(runs[0].get(k) for k in keys) for run in runs):
        raise LayoutError(f"{out}: the parts differ in model, config or data folder; cannot merge them")
    types = [machine_type for run in runs for machine_type in run["machine_types"]]
    if len(set(types)) != len(types):
        raise LayoutError(f"{out}: two parts hold the same machine type; cannot merge them")
    build = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    try:
        shutil.copy2(Path(parts[0]) / "config.yaml", build / "config.yaml")
        for part, run in zip(parts, runs):
            for machine_type in run["machine_types"]:
                shutil.move(str(Path(part) / machine_type), str(build / machine_type))
        skipped = list({(s["path"], s["problem"]): s for run in runs for s in run["skipped"]}.values())
        merged = {
            **runs[0],
            "machine_types": sorted(types),
            "data_fingerprint": data_fingerprint,
            "created": max(run["created"] for run in runs),
            "n_train_clips": {t: n for run in runs for t, n in run["n_train_clips"].items()},
            "skipped": skipped,
            "ignored": sorted({path for run in runs for path in run.get("ignored", [])}),
        }
        if skipped:
            write_csv_atomic(build / "skipped.csv", pd.DataFrame(skipped))
        merged["files"] = file_manifest(build)
        write_text_atomic(build / RUN_FILE, json.dumps(merged, indent=2))
        swap_in(build, out)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return merged

