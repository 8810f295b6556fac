"""Features for many clips at once: read, compute, cache, with a progress bar.

``kind`` names what is computed per clip:

- ``"image"``: the study's ``(64, 64)`` log-mel image (:func:`asd.features.log_mel_images`)
- ``"baseline"``: the DCASE baseline's ``(128, n_frames)`` log-mel, from which the 640-d vectors
  are cut on the fly (:func:`asd.features.frame_vectors`); caching the log-mel rather than the
  vectors keeps the cache 5x smaller.

A clip that cannot be read (see :class:`asd.errors.AudioError`) either stops the run
(``on_error="raise"``) or is skipped and reported (``on_error="skip"``).

Speed: clips are read and computed in fixed chunks of :data:`CHUNK_CLIPS` by a pool of threads
(one per core; reading, hashing, the FFT and the matrix products release the GIL), with the
batched float32 backend of :mod:`asd.features.mel`. Each file is opened and read once: its bytes
give the store's content key, the clip's duration and the samples. A clip's features are the same, bit for bit, whatever
the number of workers and whether they come from the store, and equal those of
:mod:`asd.features.reference` within float32 round-off.

Memory: with ``mmap=True`` the features come back as read-only memory-mapped views of one
feature pack per list of clips (:mod:`asd.features.packs`), held by the operating system's page
cache rather than by the process; ``asd train`` uses this.

The store (:class:`asd.features.store.FeatureCache`) is an optimisation: when it cannot be
written, one warning names the path and the features are returned from memory.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ..audio import clip_problem, too_short
from ..config import StudyConfig
from ..errors import AudioError
from .kinds import feature_kind
from .packs import PACK_FOLDER, PackSink
from .parallel import default_workers, ordered_map, single_threaded_blas
from .store import FeatureCache, fingerprint, read_keyed
from .wav import pcm16_duration, read_clip_fast

logger = logging.getLogger(__name__)


@dataclass
class Extracted:
    """Features of the clips that could be read, and the ones that could not."""

    features: list[np.ndarray] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  #: (path, problem)
    #: path -> content key (:func:`asd.features.store.content_key`) of every clip that could be read
    keys: dict[str, str] = field(default_factory=dict)
    #: kind -> features of the ``also`` kinds of :func:`extract_features`, aligned with ``paths``
    also: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def stacked(self) -> np.ndarray:
        """All features stacked on a new first axis, e.g. ``(n_clips, 64, 64)``."""
        return np.stack(self.features) if self.features else np.empty((0,), dtype=np.float32)


#: Clips per work item of :func:`extract_features` (fixed, so nothing depends on the worker count).
CHUNK_CLIPS = 4
#: Fewer clips than this are computed in the calling thread (a pool costs more than it saves).
MIN_PARALLEL_CLIPS = 2 * CHUNK_CLIPS


def compute_features_batch(
    samples: Sequence[np.ndarray], *, kind: str, config: StudyConfig, sources: Sequence[str] | None = None
) -> list[np.ndarray]:
    """Features of ``kind`` for several clips' samples, in order; equal-length clips are batched.

    Parameters
    ----------
    samples : sequence of np.ndarray, each shape ``(n_samples,)``
        Mono audio in [-1, 1] at ``config.audio.sample_rate``.
    kind : str
        One of :data:`asd.features.kinds.KINDS`.
    config : StudyConfig
    sources : sequence of str, optional
        The clips' files, named in warnings.

    Returns
    -------
    list of np.ndarray (float32)
        ``(n_mels, n_frames)`` per clip: ``(64, 64)`` for ``"image"``, ``(128, 1 + n_samples // 512)``
        for ``"baseline"``.
    """
    return feature_kind(kind).compute(list(samples), config, sources)


def extract_features(
    paths: Sequence[str],
    *,
    kind: str,
    config: StudyConfig,
    cache: FeatureCache | None = None,
    on_error: str = "raise",
    progress: bool = True,
    description: str | None = None,
    workers: int | None = None,
    mmap: bool = False,
    min_seconds: float = 0.0,
    also: Sequence[str] = (),
) -> Extracted:
    """Features of ``kind`` for every path, from the cache where possible, in input order.

    Each file is opened and read once: its bytes give its content key
    (:func:`asd.features.store.content_key`, returned in :attr:`Extracted.keys`), its duration
    and, unless the store has its features, its samples.

    Parameters
    ----------
    paths : sequence of str
        WAV files.
    kind : {"image", "baseline"}
    config : StudyConfig
    cache : FeatureCache, optional
    on_error : {"raise", "skip"}
        What to do with a clip that cannot be read. With ``"raise"``, the first unreadable clip
        in input order is raised, as a serial loop would.
    progress : bool
        Show a tqdm bar.
    workers : int, optional
        Threads reading and computing chunks of :data:`CHUNK_CLIPS` clips (default: the CPU
        cores this process may use). 1, or fewer than :data:`MIN_PARALLEL_CLIPS` clips, runs
        serially. The features do not depend on it.
    mmap : bool
        Return read-only ``numpy.memmap`` views of a feature pack (:mod:`asd.features.packs`)
        instead of arrays in memory: the features then live in the operating system's page
        cache, not in the process. Needs a cache (ignored without one). The pack is reused
        while the clips' bytes and the configuration are unchanged, else written in the pass
        that reads the clips; when it cannot be written, the features come back in memory.
    min_seconds : float
        Seconds; a clip shorter than this fails (skipped or raised as ``on_error`` says) with
        the problem :func:`asd.audio.clip_problem` names (``config.audio.min_seconds``).
    also : sequence of str
        Other kinds computed from the same read (and stored), in memory in :attr:`Extracted.also`,
        aligned with :attr:`Extracted.paths` (``asd train`` takes the baseline log-mels of
        :mod:`asd.explain` this way from the clips an image detector is trained on).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    namespace = fingerprint(kind, config)
    cache = cache or FeatureCache(None)
    paths = [str(path) for path in paths]
    parallel = workers > 1 and len(paths) >= MIN_PARALLEL_CLIPS
    kinds = (kind, *[k for k in dict.fromkeys(also) if k != kind])
    namespaces = tuple(fingerprint(k, config) for k in kinds)
    step = _Step(kinds, config, cache, namespaces, on_error, progress, description, workers, min_seconds)
    with contextlib.ExitStack() as stack:
        pool = None
        if parallel:
            stack.enter_context(single_threaded_blas())
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asd-features"))
        if not (mmap and cache.root is not None):
            return _extract(paths, step, pool)
        return _extract_packed(paths, step, pool, pack=f"{namespace}|min_seconds={min_seconds!r}")


def _extract_packed(paths: list[str], step: _Step, pool, *, pack: str) -> Extracted:
    """:func:`_extract` into (or from) the cache's memory-mapped feature pack named by ``pack`` and the clips."""
    cache = step.cache
    key = cache.pack_key(pack, paths)
    sink = PackSink(cache.load_pack(key, paths), lambda: cache.pack_writer(key))
    if sink.found is None and not cache.writable:  # nothing to map: features in memory
        return _extract(paths, step, pool)
    try:
        extracted = _extract(paths, step, pool, sink=sink)
        packed = sink.finish(paths)
    except OSError as exc:  # writing the pack failed (full disk): carry on in memory
        sink.abandon()
        cache.write_failed(cache.root / PACK_FOLDER, exc)
        return _extract(paths, step, pool)
    except BaseException:
        sink.abandon()
        raise
    return Extracted(packed.features, packed.paths, list(packed.failed), keys=extracted.keys, also=extracted.also)


@dataclass(frozen=True)
class _Step:
    """What every chunk of one :func:`extract_features` call needs."""

    kinds: tuple[str, ...]  #: the kind asked for, then the ``also`` kinds
    config: StudyConfig
    cache: FeatureCache
    namespaces: tuple[str, ...]  #: the store's namespace of each kind
    on_error: str
    progress: bool
    description: str | None
    workers: int
    min_seconds: float


def _extract(paths: list[str], step: _Step, pool, *, sink: PackSink | None = None) -> Extracted:
    """The extraction loop: chunks on ``pool`` (or here), outcomes in input order, into ``sink`` or memory."""
    result = Extracted()
    starts = range(0, len(paths), CHUNK_CLIPS)
    chunks = [paths[start : start + CHUNK_CLIPS] for start in starts]

    def job(start: int) -> list[_Outcome]:
        return _extract_chunk(paths[start : start + CHUNK_CLIPS], step, start=start, sink=sink)

    position = 0
    result.also = {kind: [] for kind in step.kinds[1:]}
    description = step.description or f"{step.kinds[0]} features"
    with tqdm(total=len(paths), desc=description, disable=not step.progress, unit="clip") as bar:
        outcomes = ordered_map(pool, job, list(starts), ahead=4 * step.workers) if pool else map(job, starts)
        try:
            for chunk, chunk_outcomes in zip(chunks, outcomes):
                for path, (features, error, key, reused) in zip(chunk, chunk_outcomes):
                    if key is not None:
                        result.keys[path] = key
                    if error is not None:
                        if step.on_error == "raise":
                            raise error
                        logger.warning("skipped %s", error)
                        result.failed.append((path, error.problem))
                        if sink is not None:
                            sink.add(position, error.problem, key, reused=reused)
                        position += 1
                        continue
                    if sink is not None:
                        sink.add(position, features[0], key, reused=reused)  # to the page cache, not kept here
                    else:
                        result.features.append(features[0])
                        result.paths.append(path)
                    for kind, other in zip(step.kinds[1:], features[1:]):
                        result.also[kind].append(other)
                    position += 1
                bar.update(len(chunk))
        finally:
            if pool is not None:
                outcomes.close()  # cancels chunks not started yet
    return result


def _read(path: str, min_seconds: float) -> tuple[bytes | None, str | None, str | None]:
    """``(bytes, content key, why the clip is too short)`` of a file read once; no bytes when unreadable."""
    try:
        data, key = read_keyed(path)
    except OSError:
        return None, None, None  # read_clip_fast names the problem
    if min_seconds <= 0:
        return data, key, None
    duration = pcm16_duration(data)
    if duration is None:  # not a plain 16-bit PCM WAV, or truncated: soundfile reads its header
        return data, key, clip_problem(path, min_seconds=min_seconds)
    return data, key, too_short(duration, min_seconds) if duration < min_seconds else None


#: What :func:`_extract_chunk` gives per clip: its features (one per kind) or its error, its content
#: key, and whether the pack found for the clips served it.
_Outcome = tuple[list[np.ndarray] | None, AudioError | None, str | None, bool]


def cache_chunk(unit: tuple) -> list[tuple[str, str]]:
    """Compute a chunk of clips' features into the feature cache (a task of a cluster run): the clips that failed.

    ``unit`` is ``(paths, kinds, config, cache_root)``: files and cache by absolute path, as a worker
    on a shared filesystem sees them; every kind is computed from one read of each clip, clips
    shorter than ``config.audio.min_seconds`` are skipped as :func:`extract_features` skips them.
    Nothing but the store's own atomic entries is written, and no features travel back: the units
    that need them read them from the store.

    Returns
    -------
    list of (path, problem)
        The clips that could not be read.
    """
    paths, kinds, config, cache_root = unit
    kinds = tuple(kinds)
    cache = FeatureCache(cache_root)
    namespaces = tuple(fingerprint(kind, config) for kind in kinds)
    step = _Step(kinds, config, cache, namespaces, "skip", False, None, 1, config.audio.min_seconds)
    outcomes = _extract_chunk(list(paths), step)
    return [(path, error.problem) for path, (_, error, _, _) in zip(paths, outcomes) if error is not None]


def _extract_chunk(paths: list[str], step: _Step, *, start: int = 0, sink: PackSink | None = None) -> list[_Outcome]:
    """Per path (input positions from ``start``): from the found pack or the store, else decoded, computed, stored."""
    outcomes: list[_Outcome] = [(None, None, None, False)] * len(paths)
    todo: list[tuple[int, str | None, np.ndarray, list, bool]] = []  # (index, key, samples, features so far, reused)
    audio, cache = step.config.audio, step.cache
    for index, path in enumerate(paths):
        data, key, short = _read(path, step.min_seconds)
        stored = [None] * len(step.kinds)
        reused = sink is not None and sink.matches(start + index, key)
        if reused:
            entry = sink.found.entries[start + index]
            if isinstance(entry, str):  # failed when the pack was written, same bytes: fails again
                outcomes[index] = (None, AudioError(path, entry), key, True)
                continue
            stored[0] = entry
        elif short is not None:
            outcomes[index] = (None, AudioError(path, short), key, False)
            continue
        for position, namespace in enumerate(step.namespaces):
            if stored[position] is None and key is not None:
                stored[position] = cache.get(key, namespace)
        if all(features is not None for features in stored):
            outcomes[index] = (stored, None, key, reused)
            continue
        try:
            samples = read_clip_fast(path, sample_rate=audio.sample_rate, channel=audio.channel, data=data)
        except AudioError as exc:
            outcomes[index] = (None, exc, key, False)
            continue
        todo.append((index, key, samples, stored, reused))
    for position, (kind, namespace) in enumerate(zip(step.kinds, step.namespaces)):
        missing = [item for item in todo if item[3][position] is None]
        if not missing:
            continue
        sources = [paths[item[0]] for item in missing]
        computed = compute_features_batch([item[2] for item in missing], kind=kind, config=step.config, sources=sources)
        for (_, key, _, stored, _), features in zip(missing, computed):
            if key is not None:
                cache.put(key, namespace, features)
            stored[position] = features
    for index, key, _, stored, reused in todo:
        outcomes[index] = (stored, None, key, reused)
    return outcomes
