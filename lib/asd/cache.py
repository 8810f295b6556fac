"""On-disk feature cache, keyed by file (path, size, mtime) and feature configuration.

Each entry is one float32 ``.npy`` file, written atomically, so an interrupted run leaves only
complete entries. Layout: ``<root>/<kind>-<config fingerprint>/<key[:2]>/<key>.npy``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import threading
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


class FeatureCache:
    """Store and fetch per-clip feature arrays.

    Parameters
    ----------
    root : path-like or None
        Cache folder; ``None`` disables caching (every lookup misses, nothing is written).
    """

    def __init__(self, root: str | os.PathLike | None):
        self.root = Path(root) if root is not None else None

    def _entry(self, path: str | os.PathLike, namespace: str) -> Path | None:
        if self.root is None:
            return None
        resolved = os.path.realpath(path)  # what Path.resolve() gives, without the Path objects
        stat = os.stat(resolved)
        key = hashlib.sha1(f"{resolved}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
        return self.root / namespace / key[:2] / f"{key}.npy"

    def get(self, path: str | os.PathLike, namespace: str) -> np.ndarray | None:
        """The cached array for ``path`` in ``namespace`` (e.g. ``image-<fingerprint>``), or None."""
        entry = self._entry(path, namespace)
        if entry is None or not entry.is_file():
            return None
        try:
            return np.load(entry, allow_pickle=False)
        except (OSError, ValueError) as exc:  # unreadable entry: drop it and recompute
            logger.warning("dropping unreadable cache entry %s (%s)", entry, exc)
            entry.unlink(missing_ok=True)
            return None

    def put(self, path: str | os.PathLike, namespace: str, array: np.ndarray) -> None:
        entry = self._entry(path, namespace)
        if entry is None:
            return
        # Atomic as asd.atomic.atomic_path, with fewer system calls (this runs once per clip, from
        # several threads): a temporary name unique to the process and thread, the folder made
        # only when missing, then a rename.
        tmp = entry.parent / f".{entry.stem}.tmp-{os.getpid()}-{threading.get_ident()}.npy"
        try:
            handle = open(tmp, "wb")
        except FileNotFoundError:
            entry.parent.mkdir(parents=True, exist_ok=True)
            handle = open(tmp, "wb")
        values = np.asarray(array, dtype="<f4")  # what the header says, on any platform
        if not values.flags.c_contiguous:
            values = values.copy(order="C")
        try:
            with handle:
                handle.write(_npy_header(values.shape))
                handle.write(values.data)
            os.replace(tmp, entry)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


@functools.lru_cache(maxsize=64)
def _npy_header(shape: tuple[int, ...]) -> bytes:
    """The ``.npy`` (format 1.0) header of a C-ordered little-endian float32 array of ``shape``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue()
