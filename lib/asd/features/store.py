"""The on-disk feature store: per-clip cache entries and feature packs, under one key scheme.

Keys
    A clip is known by its **content**: :func:`content_key` is the SHA-256 of the file's bytes
    (:func:`hashlib.file_digest`), the one file digest of the toolkit: the feature store's key,
    the data fingerprint of a run, the marking of training clips by ``asd score`` and a run's file
    manifest use it, and the synthetic generator's manifest records the same digest.
    :func:`read_keyed` reads a file once and gives its bytes (to decode) and its key. A clip
    rewritten in place, whatever its size and modification time, gets a new key; a copy of a
    clip elsewhere shares the entry. The feature configuration is known by :func:`fingerprint`:
    the kind plus a hash of the configuration sections its values depend on
    (:data:`asd.features.kinds.KINDS`), the entry's *namespace*.

Layout under the cache root
    ``<namespace>/<key[:2]>/<key>.npy``
        One clip's float32 features, written atomically (temporary name, then rename).
    ``packs/<pack key>.f32`` and ``packs/<pack key>.json``
        The features of a list of clips in one memory-mapped file (:mod:`asd.features.packs`);
        :meth:`FeatureCache.pack_key` hashes the namespace and the list of clips, and the pack
        records every clip's content key: it serves a clip only while its bytes are unchanged.

The store is an optimisation: a write that fails (full disk, read-only folder) logs one warning
naming the path and the run carries on without storing; an unreadable entry is dropped and
recomputed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import StudyConfig
from .kinds import feature_kind
from .packs import FeaturePack, PackWriter, load_pack
from .wav import read_bytes

logger = logging.getLogger(__name__)

#: Bumped when the meaning of a key changes, so that old entries are never read as new ones.
KEY_VERSION = 3
#: The digest of :func:`content_key` (what ``asd.synth``'s manifest records per clip, too).
KEY_DIGEST = "sha256"


def content_key(source: str | os.PathLike | bytes) -> str:
    """The content key of a file: the SHA-256 of its bytes (hex, 64 characters).

    Parameters
    ----------
    source : path-like or bytes
        A file (read here), or the bytes of a file already read (nothing is read again).

    Raises
    ------
    OSError
        The file cannot be read.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return hashlib.file_digest(io.BytesIO(source), KEY_DIGEST).hexdigest()
    with open(source, "rb") as handle:
        return hashlib.file_digest(handle, KEY_DIGEST).hexdigest()


def read_keyed(path: str | os.PathLike) -> tuple[bytes, str]:
    """A file's bytes, read with one ``open`` and one ``read``, and their :func:`content_key`.

    Raises
    ------
    OSError
        The file cannot be read.
    """
    data = read_bytes(path)
    return data, content_key(data)


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
        self._prefix = None if self.root is None else f"{self.root}{os.sep}"  # entry paths as plain strings
        self._lock = threading.Lock()
        self._failed_write: str | None = None  # the first write that failed: stop writing

    # -- per-clip entries ----------------------------------------------------------------------

    def entry(self, key: str, namespace: str) -> Path | None:
        """Where the features of the clip with content ``key`` live in ``namespace`` (None: no cache)."""
        entry = self._entry(key, namespace)
        return None if entry is None else Path(entry)

    def _entry(self, key: str, namespace: str) -> str | None:
        """:meth:`entry` as a plain string (no ``pathlib`` on the per-clip path)."""
        if self._prefix is None:
            return None
        return f"{self._prefix}{namespace}{os.sep}{key[:2]}{os.sep}{key}.npy"

    def get(self, key: str, namespace: str) -> np.ndarray | None:
        """The cached array of the clip with content ``key`` in ``namespace``, or None."""
        entry = self._entry(key, namespace)
        if entry is None:
            return None
        try:
            with open(entry, "rb") as handle:
                return np.load(handle, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:  # unreadable entry: drop it and recompute
            logger.warning("dropping unreadable cache entry %s (%s)", entry, exc)
            with contextlib.suppress(OSError):
                os.unlink(entry)
            return None

    def put(self, key: str, namespace: str, array: np.ndarray) -> bool:
        """Store ``array`` (as float32) for the clip with content ``key``; False if not stored.

        A failed write (full disk, read-only folder) leaves no partial entry, logs one warning
        naming the path, and turns writing off for this cache object: the run carries on.
        """
        entry = self._entry(key, namespace)
        if entry is None or self._failed_write is not None:
            return False
        # Atomic as asd.atomic.atomic_path, with fewer system calls and no Python file objects
        # (this runs once per clip, from several threads): a temporary name unique to the process
        # and thread, the folder made only when missing, header and data in one writev, a rename.
        folder, name = os.path.split(entry)
        tmp = f"{folder}{os.sep}.{name[:-4]}.tmp-{os.getpid()}-{threading.get_ident()}.npy"
        values = np.asarray(array, dtype="<f4")  # what the header says, on any platform
        if not values.flags.c_contiguous:
            values = values.copy(order="C")
        try:
            try:
                handle = os.open(tmp, _CREATE, 0o666)
            except FileNotFoundError:
                os.makedirs(folder, exist_ok=True)
                handle = os.open(tmp, _CREATE, 0o666)
            try:
                try:
                    _write_all(handle, _npy_header(values.shape), memoryview(values).cast("B"))
                finally:
                    os.close(handle)
                os.replace(tmp, entry)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
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
    def pack_key(namespace: str, paths: Sequence[str]) -> str:
        """Key of a pack: the namespace (and whatever else decides its content) and the clips, in order.

        The clips' content keys are recorded in the pack and checked as the clips are read
        (:class:`asd.features.packs.PackSink`).
        """
        digest = hashlib.sha1(f"v{KEY_VERSION}|{namespace}\n".encode())
        for path in paths:
            digest.update(f"{path}\n".encode())
        return digest.hexdigest()[:20]

    def load_pack(self, key: str, paths: Sequence[str]) -> FeaturePack | None:
        """The complete pack ``key`` (memmap views naming ``paths``), or None."""
        return None if self.root is None else load_pack(self.root, key, paths)

    def pack_writer(self, key: str) -> PackWriter | None:
        """A :class:`asd.features.packs.PackWriter` for ``key``, or None if nothing can be written."""
        if not self.writable:
            return None
        try:
            return PackWriter(self.root, key)
        except OSError as exc:
            self.write_failed(self.root / "packs", exc)
            return None


#: ``os.open`` flags of a store entry's temporary file.
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _write_all(handle: int, header: bytes, data: memoryview) -> None:
    """Write ``header`` then the bytes of ``data`` to the file descriptor ``handle``.

    One ``writev`` where the platform has it (a regular file takes it whole); short writes are
    continued.
    """
    chunks = [memoryview(header), data]
    while chunks:
        written = os.writev(handle, chunks) if hasattr(os, "writev") else os.write(handle, chunks[0])
        while chunks and written >= chunks[0].nbytes:
            written -= chunks.pop(0).nbytes
        if chunks and written:
            chunks[0] = chunks[0][written:]


@functools.lru_cache(maxsize=64)
def _npy_header(shape: tuple[int, ...]) -> bytes:
    """The ``.npy`` (format 1.0) header of a C-ordered little-endian float32 array of ``shape``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue()


def data_fingerprint(table: pd.DataFrame, *, keys: dict[str, str] | None = None) -> str:
    """Short hash identifying the data of a clip table: every clip's relative path and content.

    The fingerprint is a SHA-1 over, per clip in sorted order, its path relative to the table's
    root (``table.attrs["root"]``) and its content key (:func:`content_key`, the feature store's key). Two datasets
    whose files have the same names and sizes but
    different audio get different fingerprints; the same files in another folder get the same one.

    Parameters
    ----------
    table : pandas.DataFrame
        A clip table as :func:`asd.data.discover_clips` returns it (a ``path`` column).
    keys : dict, optional
        Content keys already computed in this command, by path (:attr:`asd.features.Extracted.keys`):
        those files are not read again; the others are read here.

    Returns
    -------
    str
        The first 12 hex characters of the SHA-1. A file that cannot be read counts as
        ``unreadable`` (training skips it and reports why).
    """
    root = Path(table.attrs.get("root", "."))
    keys = keys or {}
    digest = hashlib.sha1()
    for path in sorted(table["path"]):
        rel = Path(os.path.relpath(path, root)).as_posix()
        digest.update(f"{rel}|{keys.get(path) or _content_key_or_none(path)}\n".encode())
    return digest.hexdigest()[:12]


def _content_key_or_none(path: str) -> str:
    try:
        return content_key(path)
    except OSError:
        return "unreadable"
