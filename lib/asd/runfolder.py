"""Run folders that are complete or refused: where ``asd train`` builds, swaps in and checks a run.

A run is built beside its folder (``RUN_DIR.tmp-<pid>``) and renamed onto it only when complete
(:func:`swap_in`); ``run.json``, written last, records every file's size and SHA-256
(:func:`file_manifest`, with :func:`asd.features.store.content_key`), which :func:`verify_files`
checks before a run is used. Builds left by a killed training are removed by the next one
(:func:`remove_stale_builds`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
from pathlib import Path

from .errors import ConfigError, LayoutError, WriteError
from .features import content_key

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


@contextlib.contextmanager
def run_lock(out: Path):
    """Hold ``.<name>.lock`` beside ``out`` while a run is written there; refuse a second writer.

    The lock (``fcntl.flock``) goes with the process, so a killed training leaves none in force;
    the file is removed on release (a lock taken on a file removed meanwhile is taken again).

    Raises
    ------
    LayoutError
        Another process writes a run into ``out`` now.
    """
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LayoutError(f"{out}: cannot create the folder it goes in ({exc.strerror or exc})") from None
    path = out.with_name(f".{out.name}.lock")
    for _ in range(5):
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise LayoutError(
                f"{out}: another `asd train` is writing a run there now; wait for it or choose another --out"
            ) from None
        if path.exists() and os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
            break
        handle.close()  # the holder before us removed the file after we opened it: lock the new one
    else:
        raise LayoutError(f"{path}: cannot take the lock (the file keeps being replaced)")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        handle.close()


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
            files[rel] = {"size": path.stat().st_size, "sha256": content_key(path)}
    return files


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
            raise LayoutError(
                f"{path}: {size} bytes, {expected['size']} when trained (truncated or replaced); {retrain}"
            )
        if content_key(path) != expected["sha256"]:
            raise LayoutError(f"{path}: changed since training (checksum differs); {retrain}")


def build_beside(out: Path, fill) -> dict:
    """``fill(build)`` into ``<out>.tmp-<pid>`` beside ``out``, renamed onto ``out`` once complete; on any
    failure the build folder is removed and ``out`` stays as it was. Returns what ``fill`` returns."""
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(out)
    build = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(build, ignore_errors=True)
    try:
        run = fill(build)
        swap_in(build, out)
    except WriteError as exc:
        shutil.rmtree(build, ignore_errors=True)
        raise WriteError(out, f"cannot write the new run ({exc}); the previous run, if any, is intact") from exc
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return run
