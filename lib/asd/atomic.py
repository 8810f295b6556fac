"""Atomic file writes: write to a temporary file beside the target, then rename.

A crash or an exception mid-write leaves the previous file (or nothing) in place, never a
half-written one. A write that fails for lack of space or permission (disk full, read-only file
system, quota) raises :class:`asd.errors.WriteError` naming the target after the temporary file
is removed, so the message can say that nothing was corrupted.

Files get the permissions any new file would get, ``0o666 & ~umask`` (``tempfile.mkstemp``
alone would make every file private, mode 0600).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import WriteError

#: ``errno`` values that mean "this cannot be written here", reported as :class:`WriteError`.
WRITE_ERRNOS = frozenset(
    code
    for code in (
        errno.ENOSPC,
        errno.EROFS,
        errno.EDQUOT,
        errno.EACCES,
        errno.EPERM,
        errno.EFBIG,
        getattr(errno, "EIO", None),
    )
    if code is not None
)


def current_umask() -> int:
    """The process's umask (read from ``/proc`` where possible, else set and restored)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_error(path: Path, exc: OSError) -> WriteError:
    reason = exc.strerror or str(exc)
    return WriteError(path, f"cannot write ({reason}); nothing was changed: the previous file, if any, is intact")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    Parameters
    ----------
    path : path-like
        Final destination. Its parent folder is created if missing.
    suffix : str, optional
        Suffix of the temporary file (some writers, e.g. ``keras.Model.save``, insist on
        the right extension). Defaults to the suffix of ``path``.

    Raises
    ------
    WriteError
        The file system refused the write (disk full, read-only, quota, permissions). The
        temporary file is removed and the previous ``path`` is untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.stem}.tmp-", suffix=path.suffix if suffix is None else suffix
        )
        os.close(fd)
    except OSError as exc:
        if exc.errno in WRITE_ERRNOS:
            raise _write_error(path, exc) from exc
        raise
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())  # after the writer: some replace the file
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, WriteError) and exc.errno in WRITE_ERRNOS:
            raise _write_error(path, exc) from exc
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_csv_atomic(path: str | os.PathLike, frame, **to_csv_kwargs) -> Path:
    """Write a pandas DataFrame to CSV atomically (``index=False`` unless given)."""
    to_csv_kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **to_csv_kwargs)
    return Path(path)
