"""On-disk feature cache, keyed by file (path, size, mtime) and feature configuration.

Each entry is one float32 ``.npy`` file, written atomically, so an interrupted run leaves only
complete entries. Layout: ``<root>/<kind>-<config fingerprint>/<key[:2]>/<key>.npy``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from .atomic import atomic_path

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
        path = Path(path).resolve()
        stat = path.stat()
        key = hashlib.sha1(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
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
        with atomic_path(entry) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, np.asarray(array, dtype=np.float32), allow_pickle=False)
