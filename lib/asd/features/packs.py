"""Feature packs: the features of many clips in one memory-mapped float32 file.

``extract_features(..., mmap=True)`` (what ``asd train`` uses) writes the features of a list
of clips, in order, into one pack beside the feature cache and returns read-only
``numpy.memmap`` views of it instead of arrays in memory::

    <cache root>/packs/<key>.f32     every clip's float32 features, C order, one after another
    <cache root>/packs/<key>.json    offsets and shapes, and the clips that failed (by input position)

The key (:meth:`asd.features.store.FeatureCache.pack_key`) hashes the feature namespace and the
list of clips; the index records every clip's content key, and :class:`PackSink` reuses the pack
while the clips read match it, so a clip is read once either way and a pack never serves changed
bytes. The data live in
the operating system's page cache, not in the process: the kernel reads pages in when they are
used and may drop them under memory pressure, and :func:`release_pages` hands pages a consumer
is done with back at once (``madvise(MADV_DONTNEED)``; the next access faults them back in from
the page cache). This keeps training on the 4,000 11 s clips of a DCASE machine type within
the memory budget of ``docs/benchmarks.md``: the frame-vector stream (:mod:`asd.detectors.streaming`) and
the dense autoencoder's scoring release what they have read.

A pack is written under a temporary name that carries the host and process id
(``.<key>.tmp-<host>-<pid>-*.f32``) and renamed into place when complete; a run killed while
writing leaves that temporary file, and the next writer removes it (:func:`remove_stale_temporaries`).

One pack uses one file descriptor and one mapping, however many clips it holds (a memory map
per cache entry would need one open file per clip).
"""

from __future__ import annotations

import contextlib
import json
import logging
import mmap
import os
import socket
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import write_text_atomic

logger = logging.getLogger(__name__)

PACK_FOLDER = "packs"
_VERSION = 1


@dataclass
class FeaturePack:
    """A loaded pack: the clips that have features (as memmap views) and those that failed."""

    paths: list[str] = field(default_factory=list)
    features: list[np.ndarray] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  #: (path, problem), in input order
    #: per input position: the clip's content key when the pack was written (None: not recorded)
    clip_keys: list[str | None] = field(default_factory=list)
    #: per input position: the clip's features, or the problem (str) of a clip that failed
    entries: list[np.ndarray | str] = field(default_factory=list)


class PackWriter:
    """Append clips' features to a new pack; :meth:`finish` publishes it and maps it.

    Parameters
    ----------
    root : path-like
        The feature cache root (the pack goes into ``root/packs/``).
    key : str
        The pack key of the clips in the order they are added.

    Raises
    ------
    OSError
        If the folder or the temporary file cannot be created (read-only or full disk).
    """

    def __init__(self, root: str | os.PathLike, key: str):
        self.folder = Path(root) / PACK_FOLDER
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.folder)
        self.key = key
        fd, name = tempfile.mkstemp(dir=self.folder, prefix=f".{key}{_tmp_tag()}", suffix=".f32")
        self._tmp = Path(name)
        self._handle = os.fdopen(fd, "wb")
        self._clips: list[list] = []  # [input position, offset (values), shape]
        self._failed: list[list] = []  # [input position, problem]
        self._offset = 0

    def add(self, position: int, features: np.ndarray) -> None:
        """Append the features of the clip at ``position`` in the input list (float32, C order)."""
        values = np.ascontiguousarray(features, dtype=np.float32)
        self._handle.write(memoryview(values).cast("B"))
        self._clips.append([int(position), self._offset, list(values.shape)])
        self._offset += values.size

    def add_failure(self, position: int, problem: str) -> None:
        """Record the clip at ``position`` that could not be read (replayed when the pack is reused)."""
        self._failed.append([int(position), problem])

    def abandon(self) -> None:
        """Drop the unfinished pack (an error stopped the extraction)."""
        with contextlib.suppress(OSError):
            self._handle.close()
        self._tmp.unlink(missing_ok=True)

    def finish(self, paths: Sequence[str], *, clip_keys: Sequence[str | None] | None = None) -> FeaturePack:
        """Rename the data into place, write the index (its presence marks a complete pack), map it.

        ``clip_keys``: the content key of each clip, by input position, as read while the pack
        was written (recorded, so that a later pass can tell which clips are unchanged).
        """
        self._handle.close()
        data = self.folder / f"{self.key}.f32"
        os.replace(self._tmp, data)
        index = {
            "version": _VERSION,
            "dtype": "float32",
            "n_values": self._offset,
            "clips": self._clips,
            "failed": self._failed,
        }
        index["clip_keys"] = list(clip_keys) if clip_keys is not None else [None] * len(paths)
        write_text_atomic(self.folder / f"{self.key}.json", json.dumps(index))
        pack = load_pack(self.folder.parent, self.key, paths)
        if pack is None:  # pragma: no cover - we just wrote it
            raise OSError(f"feature pack {data} could not be read back")
        return pack


def load_pack(root: str | os.PathLike, key: str, paths: Sequence[str]) -> FeaturePack | None:
    """The pack ``key`` under cache ``root`` as memmap views, or None if absent or unusable.

    ``paths`` is the input list the pack was keyed on: the result names clips as they are
    written there.
    """
    folder = Path(root) / PACK_FOLDER
    try:
        index = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
        data = folder / f"{key}.f32"
        if index.get("version") != _VERSION or data.stat().st_size != 4 * int(index["n_values"]):
            raise ValueError("size does not match the index")
        positions = [entry[0] for entry in index["clips"]] + [entry[0] for entry in index["failed"]]
        if sorted(positions) != list(range(len(paths))):
            raise ValueError("does not cover the clips asked for")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        logger.warning("ignoring unusable feature pack %s (%s)", folder / key, exc)
        return None
    pack = FeaturePack(failed=[(str(paths[position]), problem) for position, problem in index["failed"]])
    pack.clip_keys = list(index.get("clip_keys") or [None] * len(paths))[: len(paths)]
    pack.entries = [""] * len(paths)
    for position, problem in index["failed"]:
        pack.entries[position] = str(problem)
    if index["n_values"]:
        values = np.memmap(data, dtype=np.float32, mode="r")
        for position, offset, shape in index["clips"]:
            pack.paths.append(str(paths[position]))
            pack.features.append(values[offset : offset + int(np.prod(shape))].reshape(shape))
            pack.entries[position] = pack.features[-1]
    return pack


class PackSink:
    """Where one pass of :func:`asd.features.extract_features` puts each clip's features, in order.

    While every clip read matches the pack already found for these paths (``found``: same
    content key at the same position), nothing is written and :meth:`finish` returns that pack.
    At the first clip that differs, a new pack is started (``new_writer()``) with the clips the
    found pack served so far, and filled from then on; :meth:`finish` publishes it in place of
    the old one. Each clip is thus read once, whether or not its pack already exists.

    Parameters
    ----------
    found : FeaturePack or None
        The pack of the same key, if any.
    new_writer : callable
        Returns a :class:`PackWriter` for the key, or None when the store cannot be written
        (then :meth:`add` raises :class:`OSError`).
    """

    def __init__(self, found: FeaturePack | None, new_writer):
        self.found = found
        self._new_writer = new_writer
        self.writer: PackWriter | None = None
        self._keys: dict[int, str | None] = {}

    def matches(self, position: int, key: str | None) -> bool:
        """Whether the found pack holds the clip at ``position`` with content ``key``."""
        return key is not None and self.found is not None and self.found.clip_keys[position] == key

    def add(self, position: int, entry: np.ndarray | str, key: str | None, *, reused: bool) -> None:
        """The clip at ``position``: its features or its problem (str); ``reused`` if from the found pack."""
        self._keys[position] = key
        if reused and self.writer is None:
            return
        writer = self._writer(position)
        if isinstance(entry, str):
            writer.add_failure(position, entry)
        else:
            writer.add(position, entry)

    def _writer(self, position: int) -> PackWriter:
        if self.writer is None:
            writer = self._new_writer()
            if writer is None:
                raise OSError("the feature store cannot be written")
            self.writer = writer
            for earlier in range(position):  # the clips the found pack served so far
                entry = self.found.entries[earlier]
                writer.add_failure(earlier, entry) if isinstance(entry, str) else writer.add(earlier, entry)
        return self.writer

    def finish(self, paths: Sequence[str]) -> FeaturePack:
        """The found pack if every clip matched it, else the new pack, published."""
        if self.writer is None and self.found is not None:
            return self.found
        writer = self._writer(0)
        return writer.finish(paths, clip_keys=[self._keys.get(i) for i in range(len(paths))])

    def abandon(self) -> None:
        """Drop the new pack, if one was started."""
        if self.writer is not None:
            self.writer.abandon()


def release_pages(arrays: Iterable[np.ndarray]) -> None:
    """Unmap the pages of memory-mapped arrays from this process (they stay in the page cache).

    Arrays that are not ``numpy.memmap`` views are ignored. Reading a released array again is
    correct, only slower (the pages fault back in). Pages shared with a neighbouring clip are
    released too and come back the same way.
    """
    for array in arrays:
        buffer = getattr(array, "_mmap", None)
        if buffer is None or not isinstance(array, np.memmap) or array.size == 0:
            continue
        start = array.__array_interface__["data"][0] - _base_address(buffer)
        first = start - start % mmap.PAGESIZE
        try:
            buffer.madvise(mmap.MADV_DONTNEED, first, start + array.nbytes - first)
        except (AttributeError, OSError, ValueError):  # platform without madvise: nothing to do
            return


#: A temporary pack file of another host is removed once it has not changed for this long (s).
STALE_AFTER_S = 24 * 3600


def _tmp_tag() -> str:
    """``.tmp-<host>-<pid>-``: who is writing a temporary pack file."""
    host = "".join(c if c.isalnum() else "_" for c in socket.gethostname()) or "host"
    return f".tmp-{host}-{os.getpid()}-"


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary pack files of writers that are gone; returns what was removed.

    A temporary file of this host whose process no longer runs is stale; one of another host
    (a shared cache) only when it has not changed for :data:`STALE_AFTER_S` seconds. Files of
    live writers are left alone.
    """
    removed = []
    host = _tmp_tag().split("-")[1]
    for tmp in Path(folder).glob(".*.tmp-*.f32"):
        try:
            owner, pid, _ = tmp.name.split(".tmp-", 1)[1].split("-", 2)
            if owner == host:
                stale = not _alive(int(pid))
            else:
                stale = time.time() - tmp.stat().st_mtime > STALE_AFTER_S
        except (ValueError, OSError):  # another naming (older version) or gone meanwhile
            stale = True
        if stale:
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
                logger.info("removed %s, left by an interrupted feature pack write", tmp)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _base_address(buffer: mmap.mmap) -> int:
    """Address of the first byte of a mapping."""
    return np.frombuffer(buffer, dtype=np.uint8, count=1).__array_interface__["data"][0]
