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
batched float32 backend of :mod:`asd.features.mel`. Each file is read once: its bytes give both
the store's content key and the samples. A clip's features are the same, bit for bit, whatever
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from ..config import StudyConfig
from ..errors import AudioError
from .kinds import feature_kind
from .packs import FeaturePack
from .parallel import default_workers, ordered_map, single_threaded_blas
from .store import FeatureCache, content_key, fingerprint
from .wav import read_bytes, read_clip_fast

logger = logging.getLogger(__name__)


@dataclass
class Extracted:
    """Features of the clips that could be read, and the ones that could not."""

    features: list[np.ndarray] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  #: (path, problem)

    def stacked(self) -> np.ndarray:
        """All features stacked on a new first axis, e.g. ``(n_clips, 64, 64)``."""
        return np.stack(self.features) if self.features else np.empty((0,), dtype=np.float32)


def feature_namespace(kind: str, config: StudyConfig) -> str:
    """The store's namespace of ``kind`` under ``config`` (:func:`asd.features.store.fingerprint`)."""
    return fingerprint(kind, config)


def compute_features(samples: np.ndarray, *, kind: str, config: StudyConfig) -> np.ndarray:
    """One clip's features of ``kind`` from its samples (float32); what :func:`extract_features` stores."""
    return compute_features_batch([samples], kind=kind, config=config)[0]


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
) -> Extracted:
    """Features of ``kind`` for every path, from the cache where possible, in input order.

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
        cache, not in the process. Needs a cache (ignored without one). The pack is written
        on the first call and reused while the clips' bytes and the configuration are
        unchanged; when it cannot be written, the features come back in memory.
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
    with contextlib.ExitStack() as stack:
        pool = None
        if parallel:
            stack.enter_context(single_threaded_blas())
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asd-features"))
        if not (mmap and cache.root is not None):
            return _extract(paths, kind, config, cache, namespace, on_error, progress, description, pool, workers)
        keys = list(pool.map(_key_of, paths, chunksize=CHUNK_CLIPS)) if pool else [_key_of(p) for p in paths]
        key = cache.pack_key(namespace, keys)
        packed = cache.load_pack(key, paths)
        if packed is not None:
            return _from_pack(packed, on_error=on_error)
        pack = cache.pack_writer(key)
        if pack is None:  # the store cannot be written: features in memory
            return _extract(paths, kind, config, cache, namespace, on_error, progress, description, pool, workers)
        try:
            _extract(paths, kind, config, cache, namespace, on_error, progress, description, pool, workers, pack=pack)
            packed = pack.finish(paths)
        except OSError as exc:  # writing the pack failed (full disk): carry on in memory
            pack.abandon()
            cache.write_failed(pack.folder, exc)
            return _extract(paths, kind, config, cache, namespace, on_error, progress, description, pool, workers)
        except BaseException:
            pack.abandon()
            raise
        return Extracted(features=packed.features, paths=packed.paths, failed=list(packed.failed))


def _extract(paths, kind, config, cache, namespace, on_error, progress, description, pool, workers, *, pack=None) -> Extracted:
    """The extraction loop: chunks on ``pool`` (or here), outcomes in input order, into ``pack`` or memory."""
    result = Extracted()
    chunks = [paths[start : start + CHUNK_CLIPS] for start in range(0, len(paths), CHUNK_CLIPS)]

    def job(chunk: list[str]) -> list[tuple[np.ndarray | None, AudioError | None]]:
        return _extract_chunk(chunk, kind=kind, config=config, cache=cache, namespace=namespace)

    position = 0
    with tqdm(total=len(paths), desc=description or f"{kind} features", disable=not progress, unit="clip") as bar:
        outcomes = ordered_map(pool, job, chunks, ahead=4 * workers) if pool else map(job, chunks)
        try:
            for chunk, chunk_outcomes in zip(chunks, outcomes):
                for path, (features, error) in zip(chunk, chunk_outcomes):
                    if error is not None:
                        if on_error == "raise":
                            raise error
                        logger.warning("skipped %s", error)
                        result.failed.append((path, error.problem))
                        if pack is not None:
                            pack.add_failure(position, error.problem)
                    elif pack is not None:
                        pack.add(position, features)  # to the page cache, not kept here
                    else:
                        result.features.append(features)
                        result.paths.append(path)
                    position += 1
                bar.update(len(chunk))
        finally:
            if pool is not None:
                outcomes.close()  # cancels chunks not started yet
    return result


def _key_of(path: str) -> str | None:
    """The store's content key of ``path``, or None when it cannot be read."""
    try:
        return content_key(read_bytes(path))
    except OSError:
        return None


def _from_pack(packed: FeaturePack, *, on_error: str) -> Extracted:
    """An :class:`Extracted` from a reused pack; its failures are raised or reported again."""
    if packed.failed and on_error == "raise":
        raise AudioError(*packed.failed[0])
    for path, problem in packed.failed:
        logger.warning("skipped %s: %s", path, problem)
    return Extracted(features=packed.features, paths=packed.paths, failed=list(packed.failed))


def cache_chunk(unit: tuple) -> list[tuple[str, str]]:
    """Compute a chunk of clips' features into the feature cache (a task of a cluster run): the clips that failed.

    ``unit`` is ``(paths, kind, config, cache_root)``: files and cache by absolute path, as a worker
    on a shared filesystem sees them. Nothing but the store's own atomic entries is written, and
    no features travel back: the units that need them read them from the store.

    Returns
    -------
    list of (path, problem)
        The clips that could not be read.
    """
    paths, kind, config, cache_root = unit
    cache = FeatureCache(cache_root)
    outcomes = _extract_chunk(list(paths), kind=kind, config=config, cache=cache, namespace=fingerprint(kind, config))
    return [(path, error.problem) for path, (_, error) in zip(paths, outcomes) if error is not None]


def _extract_chunk(
    paths: list[str], *, kind: str, config: StudyConfig, cache: FeatureCache, namespace: str
) -> list[tuple[np.ndarray | None, AudioError | None]]:
    """``(features, None)`` or ``(None, error)`` per path: from the store, else read, computed and stored."""
    outcomes: list[tuple[np.ndarray | None, AudioError | None]] = [(None, None)] * len(paths)
    missing: list[tuple[int, str | None]] = []
    samples: list[np.ndarray] = []
    audio = config.audio
    for index, path in enumerate(paths):
        try:
            data = read_bytes(path)
        except OSError:
            data = None  # read_clip_fast names the problem
        key = content_key(data) if data is not None and cache.root is not None else None
        features = cache.get(key, namespace) if key is not None else None
        if features is not None:
            outcomes[index] = (features, None)
            continue
        try:
            samples.append(read_clip_fast(path, sample_rate=audio.sample_rate, channel=audio.channel, data=data))
        except AudioError as exc:
            outcomes[index] = (None, exc)
            continue
        missing.append((index, key))
    if missing:
        sources = [paths[index] for index, _ in missing]
        for (index, key), features in zip(missing, compute_features_batch(samples, kind=kind, config=config, sources=sources)):
            if key is not None:
                cache.put(key, namespace, features)
            outcomes[index] = (features, None)
    return outcomes
