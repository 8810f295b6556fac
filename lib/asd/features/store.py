"""The on-disk feature store: per-clip cache entries and feature packs, under one key scheme.

Keys
    A clip is known by its **content**: :func:`content_key` hashes the file's bytes (SHA-1,
    about 0.3 ms for a 10 s clip; the bytes are the ones read to decode it, so a clip is read
    once). A clip rewritten in place, whatever its size and modification time, gets a new key;
    a copy of a clip elsewhere shares the entry. The feature configuration is known by
    :func:`fingerprint`: the kind plus a hash of the configuration sections its values depend on
    (:data:`asd.features.kinds.KINDS`), the entry's *namespace*.

Layout under the cache root
    ``<namespace>/<key[:2]>/<key>.npy``
        One clip's float32 features, written atomically (temporary name, then rename).
    ``packs/<pack key>.f32`` and ``packs/<pack key>.json``
        The features of a list of clips in one memory-mapped file (:mod:`asd.features.packs`);
        :meth:`FeatureCache.pack_key` hashes the namespace and every clip's content key.

The store is an optimisation: a write that fails (full disk, read-only folder) logs one warning
naming the path and the run carries on without storing; an unreadable entry is dropped and
recomputed.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import logging
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import StudyConfig
from .kinds import feature_kind
from .packs import FeaturePack, PackWriter, load_pack

logger = logging.getLogger(__name__)

#: Bumped when the meaning of a key changes, so that old entries are never read as new ones.
KEY_VERSION = 2


def content_key(data: bytes) -> str:
    """The store's key of a clip: a hash of the file's bytes (hex, 40 characters)."""
    return hashlib.sha1(data).hexdigest()


def fingerprint(kind: str, config: StudyConfig) -> str:
    """Namespace of ``kind``'s features: ``<kind>-<hash of the config sections they depend on>``.

    Raises
    ------
    ValueError
        For a kind :data:`asd.features.kinds.KINDS` does not know.
    """
    sections = {name: dataclasses.asdict(getattr(config, name)) for name in feature_kind(kind).sections}
    return f"{kind}-" + hashlib.sha1(json.dumps(sections, sort_keys=True).encode()).hexdigest()[:12]


class FeatureCache:
    """Store and fetch features by clip content key and namespace.

    Parameters
    ----------
    root : path-like or None
        Cache folder; ``None`` disables caching (every lookup misses, nothing is written).
    """

    def __init__(self, root: str | os.PathLike | None):
        self.root = Path(root) if root is not None else None
        self._lock = threading.Lock()
        self._failed_write: str | None = None  # the first write that failed: stop writing

    # -- per-clip entries ----------------------------------------------------------------------

    def entry(self, key: str, namespace: str) -> Path | None:
        """Where the features of the clip with content ``key`` live in ``namespace`` (None: no cache)."""
        if self.root is None:
            return None
        return self.root / namespace / key[:2] / f"{key}.npy"

    def get(self, key: str, namespace: str) -> np.ndarray | None:
        """The cached array of the clip with content ``key`` in ``namespace``, or None."""
        entry = self.entry(key, namespace)
        if entry is None:
            return None
        try:
            return np.load(entry, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:  # unreadable entry: drop it and recompute
            logger.warning("dropping unreadable cache entry %s (%s)", entry, exc)
            try:
                entry.unlink(missing_ok=True)
            except OSError:
                pass
            return None

    def put(self, key: str, namespace: str, array: np.ndarray) -> bool:
        """Store ``array`` (as float32) for the clip with content ``key``; False if not stored.

        A failed write (full disk, read-only folder) leaves no partial entry, logs one warning
        naming the path, and turns writing off for this cache object: the run carries on.
        """
        entry = self.entry(key, namespace)
        if entry is None or self._failed_write is not None:
            return False
        # Atomic as asd.atomic.atomic_path, with fewer system calls (this runs once per clip, from
        # several threads): a temporary name unique to the process and thread, the folder made
        # only when missing, then a rename.
        tmp = entry.parent / f".{entry.stem}.tmp-{os.getpid()}-{threading.get_ident()}.npy"
        values = np.asarray(array, dtype="<f4")  # what the header says, on any platform
        if not values.flags.c_contiguous:
            values = values.copy(order="C")
        try:
            try:
                handle = open(tmp, "wb")
            except FileNotFoundError:
                entry.parent.mkdir(parents=True, exist_ok=True)
                handle = open(tmp, "wb")
            try:
                with handle:
                    handle.write(_npy_header(values.shape))
                    handle.write(values.data)
                os.replace(tmp, entry)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except OSError as exc:
            self.write_failed(entry, exc)
            return False
        return True

    def write_failed(self, path: str | os.PathLike, exc: BaseException) -> None:
        """Record a failed write: warn once (naming ``path``), and write nothing more."""
        with self._lock:
            if self._failed_write is not None:
                return
            self._failed_write = str(path)
        logger.warning(
            "feature cache: cannot write %s (%s); carrying on without storing features "
            "(nothing stored before is affected)",
            path,
            getattr(exc, "strerror", None) or exc,
        )

    @property
    def writable(self) -> bool:
        """Whether this cache still writes (it has a root and no write has failed)."""
        return self.root is not None and self._failed_write is None

    # -- packs -----------------------------------------------------------------------------------

    @staticmethod
    def pack_key(namespace: str, keys: Sequence[str | None]) -> str:
        """Key of a pack: the namespace and every clip's content key, in order (None: unreadable)."""
        digest = hashlib.sha1(f"v{KEY_VERSION}|{namespace}\n".encode())
        for key in keys:
            digest.update(f"{key or 'unreadable'}\n".encode())
        return digest.hexdigest()[:20]

    def load_pack(self, key: str, paths: Sequence[str]) -> FeaturePack | None:
        """The complete pack ``key`` (memmap views naming ``paths``), or None."""
        if self.root is None:
            return None
        return load_pack(self.root, key, paths)

    def pack_writer(self, key: str) -> PackWriter | None:
        """A :class:`asd.features.packs.PackWriter` for ``key``, or None if nothing can be written."""
        if not self.writable:
            return None
        try:
            return PackWriter(self.root, key)
        except OSError as exc:
            self.write_failed(self.root / "packs", exc)
            return None


@functools.lru_cache(maxsize=64)
def _npy_header(shape: tuple[int, ...]) -> bytes:
    """The ``.npy`` (format 1.0) header of a C-ordered little-endian float32 array of ``shape``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue()
