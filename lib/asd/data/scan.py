"""Listing dataset folders: WAV files and subfolders, hidden names never read, oddities listed with the reason.

Every layout reads its folders through these functions, so a broken link, a link loop, a folder named ``*.wav`` or a
special file is skipped the same way everywhere (an item ``{"path", "problem"}`` in the ``skipped`` list that the
clip table carries in ``attrs["skipped"]``).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ..errors import LayoutError

__all__ = ["check_root", "child_dir", "has_wav", "is_wav", "scan", "skip", "walk"]


def skip(skipped: list[dict], path: Path, problem: str) -> None:
    """Add ``path`` and why it is not read to ``skipped``."""
    skipped.append({"path": str(path), "problem": problem})


def is_wav(path: Path) -> bool:
    """True for a name ending in ``.wav`` in any case (``.WAV`` too)."""
    return path.suffix.lower() == ".wav"


def entry_kind(path: Path) -> tuple[str | None, str | None]:
    """``("dir"|"file", None)`` or ``(None, why it cannot be read)`` for one directory entry."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return None, f"broken symbolic link (-> {os.readlink(path)}: target not found)"
        return None, "vanished while the folder was read"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, "symbolic link loop (the link leads back to itself)"
        return None, f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return "dir", None
    if stat.S_ISREG(mode):
        return "file", None
    return None, "not a regular file (device, FIFO or socket)"


def scan(folder: Path, skipped: list[dict]) -> tuple[list[Path], list[Path]]:
    """The WAV files and the subfolders of ``folder``, sorted; hidden names are never read.

    Entries that cannot be clips although they look like ones (a folder named ``*.wav``, a
    broken or looping symbolic link, a special file) are added to ``skipped`` with the reason.
    """
    try:
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        skip(skipped, folder, f"folder cannot be listed ({exc.strerror or exc})")
        return [], []
    files, dirs = [], []
    for path in entries:
        kind, problem = entry_kind(path)
        if kind == "file":
            if is_wav(path):
                files.append(path)
        elif kind == "dir":
            if is_wav(path):
                skip(skipped, path, "a folder named like a WAV file, not a clip")
            else:
                dirs.append(path)
        elif is_wav(path) or os.path.islink(path):
            skip(skipped, path, problem)
    return files, dirs


def child_dir(folder: Path, name: str) -> Path | None:
    """The subfolder of ``folder`` called ``name`` in any case (``train``, ``TRAIN``), or None."""
    exact = folder / name
    if exact.is_dir():
        return exact
    try:
        return next((p for p in sorted(folder.iterdir()) if p.name.lower() == name and p.is_dir()), None)
    except OSError:
        return None


def has_wav(folder: Path, depth: int = 4) -> bool:
    """True if ``folder`` or its subfolders (``depth`` levels down) hold a WAV file."""
    try:
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    except OSError:
        return False
    if any(is_wav(p) and p.is_file() for p in entries):
        return True
    return depth > 0 and any(has_wav(p, depth - 1) for p in entries if p.is_dir() and not p.is_symlink())


def check_root(root: str | os.PathLike) -> Path:
    """``root`` as a Path; :class:`LayoutError` when it is missing or a file."""
    root = Path(root)
    if not root.exists():
        raise LayoutError(f"{root}: dataset folder not found")
    if not root.is_dir():
        raise LayoutError(f"{root}: a file, not a folder: give the folder that holds the recordings")
    return root


def walk(folder: Path, skipped: list[dict]) -> list[tuple[Path, tuple[str, ...]]]:
    """Every WAV file under ``folder`` with the folder names along its path; loops and second paths skipped."""
    out: list[tuple[Path, tuple[str, ...]]] = []
    _walk(folder, (), (), set(), skipped, out)
    return out


def _walk(
    folder: Path, parts: tuple[str, ...], ancestors: tuple[str, ...], seen: set[str], skipped: list[dict], out: list
) -> None:
    real = os.path.realpath(folder)
    if real in ancestors:
        skip(skipped, folder, f"symbolic link loop (leads back to {real})")
        return
    if real in seen:
        skip(skipped, folder, f"a second path to a folder already read ({real})")
        return
    seen.add(real)
    files, dirs = scan(folder, skipped)
    out += [(path, parts) for path in files]
    for sub in sorted(dirs, key=lambda d: (d.is_symlink(), d.name)):  # real folders before links to them
        _walk(sub, parts + (sub.name,), ancestors + (real,), seen, skipped, out)
