"""Check a zip before extracting it, extract it with the standard library, check disk space.

:func:`check_archive` refuses, before one byte is written, an archive with absolute paths,
``..`` components (zip-slip), symbolic links or special files; :func:`extract_zip` then writes
each entry under the target folder only. :func:`check_free_space` compares the bytes an
archive will take (from its directory: a zip bomb declares its size there) with the free space.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import zipfile
from pathlib import Path

from .archives import ArchiveError, DownloadError, fmt_bytes

__all__ = ["SPACE_MARGIN", "check_archive", "check_free_space", "extract_zip", "uncompressed_size"]

#: Kept free on top of the estimate, for logs, markers and the file system's own needs.
SPACE_MARGIN = 64 * 1024**2
_CHUNK = 1024 * 1024


def _member_problem(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry must not be extracted, or None if it is safe."""
    name = info.filename
    if "\x00" in name:
        return "NUL byte in the name"
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        return "absolute path"
    parts = [p for p in posix.split("/") if p not in ("", ".")]
    if ".." in parts:
        return "'..' in the path (would write outside the target folder)"
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_IFMT(mode):  # Unix attributes with a file type
        if stat.S_ISLNK(mode):
            target = zf.read(info).decode("utf-8", "replace")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname("/".join(parts)), target))
            if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
                return f"symbolic link pointing outside the target folder (-> {target})"
            return f"symbolic link (-> {target}); links are not extracted"
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            return "special file (device, FIFO or socket)"
    return None


def check_archive(path: str | os.PathLike, *, name: str | None = None) -> list[zipfile.ZipInfo]:
    """Open a zip and check every entry before anything is extracted; return the entries.

    Raises :class:`ArchiveError` naming the archive and the first unsafe entry (absolute path,
    ``..`` component, symbolic link, special file) or if the file is not a zip.
    """
    name = name or Path(path).name
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            for info in infos:
                problem = _member_problem(zf, info)
                if problem:
                    raise ArchiveError(f"{name}: refusing to extract entry {info.filename!r}: {problem}")
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"{name}: not a valid zip archive ({exc})") from None
    return infos


def extract_zip(
    path: str | os.PathLike, dest: str | os.PathLike, *, name: str | None = None, progress: bool = False
) -> int:
    """Extract a zip into the folder ``dest`` after :func:`check_archive`; return the file count.

    Entries are written under ``dest`` only (checked again per entry against the resolved path).
    """
    from tqdm.auto import tqdm

    name = name or Path(path).name
    infos = check_archive(path, name=name)
    dest = Path(dest)
    root = dest.resolve()
    n_files = 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in tqdm(infos, desc=f"extract {name}", unit="file", disable=not progress, leave=False):
                parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
                if not parts:
                    continue
                target = dest.joinpath(*parts)
                if not target.resolve().is_relative_to(root):  # belt and braces
                    raise ArchiveError(
                        f"{name}: refusing to extract entry {info.filename!r}: outside the target folder"
                    )
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
                n_files += 1
    except zipfile.BadZipFile as exc:  # CRC errors surface here
        raise ArchiveError(f"{name}: corrupt archive ({exc})") from None
    return n_files


def uncompressed_size(infos: list[zipfile.ZipInfo]) -> int:
    return sum(i.file_size for i in infos if not i.is_dir())


def check_free_space(folder: str | os.PathLike, needed: int, *, what: str) -> None:
    """Raise :class:`DownloadError` if the disk holding ``folder`` has less than ``needed`` bytes free."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    needed += SPACE_MARGIN
    if free < needed:
        raise DownloadError(
            f"not enough free disk space in {folder} for {what}: need about {fmt_bytes(needed)}, "
            f"only {fmt_bytes(free)} free. Free some space, fetch fewer --machine-types or --sets, "
            f"or point --to at a bigger disk."
        )
