"""Features for many clips at once: read, compute, cache, with a progress bar.

``kind`` names what is computed per clip:

- ``"image"``: the study's ``(64, 64)`` log-mel image (:func:`asd.features.log_mel_image`)
- ``"baseline"``: the DCASE baseline's ``(128, n_frames)`` log-mel, from which the 640-d vectors
  are cut on the fly (:func:`asd.features.frame_vectors`); caching the log-mel rather than the
  vectors keeps the cache 5x smaller.

A clip that cannot be read (see :class:`asd.errors.AudioError`) either stops the run
(``on_error="raise"``) or is skipped and reported (``on_error="skip"``).

Speed: clips are read and computed in fixed chunks of :data:`CHUNK_CLIPS` by a pool of threads
(one per core; decoding, the FFT and the matrix products release the GIL), with the batched
float32 path of :mod:`asd.fastfeatures`. A clip's features are the same, bit for bit, whatever
the number of workers and whether they come from the cache, and equal those of
:func:`asd.features.log_mel_image` / :func:`asd.features.baseline_log_mel` within float32
round-off.

Memory: with ``mmap=True`` the features come back as read-only memory-mapped views of one
feature pack per list of clips (:mod:`asd.featurepack`), held by the operating system's page
cache rather than by the process; ``asd train`` uses this.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from .cache import FeatureCache
from .config import StudyConfig
from .errors import AudioError
from .fastfeatures import baseline_log_mels, default_workers, log_mel_images, read_clip_fast
from .featurepack import FeaturePack, PackWriter, load_pack, pack_key

logger = logging.getLogger(__name__)

KINDS = ("image", "baseline")


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
    """Cache namespace: the kind plus a fingerprint of everything the features depend on."""
    if kind == "image":
        section = {"audio": config.audio.__dict__, "image": config.image.__dict__}
    elif kind == "baseline":
        section = {"audio": config.audio.__dict__, "baseline": config.baseline.__dict__}
    else:
        raise ValueError(f"unknown feature kind {kind!r} (expected one of {KINDS})")
    return f"{kind}-" + hashlib.sha1(json.dumps(section, sort_keys=True).encode()).hexdigest()[:12]


#: Kinds computed by the batched path of :mod:`asd.fastfeatures` (other kinds: one clip at a time).
BATCHED_KINDS = ("image", "baseline")


def compute_features(samples: np.ndarray, *, kind: str, config: StudyConfig) -> np.ndarray:
    """One clip's features of ``kind`` from its samples (float32); what :func:`extract_features` stores."""
    if kind in BATCHED_KINDS:
        return compute_features_batch([samples], kind=kind, config=config)[0]
    raise ValueError(f"unknown feature kind {kind!r} (expected one of {KINDS})")


#: Clips per work item of :func:`extract_features` (fixed, so nothing depends on the worker count).
CHUNK_CLIPS = 4
#: Fewer clips than this are computed in the calling thread (a pool costs more than it saves).
MIN_PARALLEL_CLIPS = 2 * CHUNK_CLIPS


def compute_features_batch(samples: Sequence[np.ndarray], *, kind: str, config: StudyConfig) -> list[np.ndarray]:
    """Features of ``kind`` for several clips' samples, in order; equal-length clips are batched.

    Parameters
    ----------
    samples : sequence of np.ndarray, each shape ``(n_samples,)``
        Mono audio in [-1, 1] at ``config.audio.sample_rate``.
    kind : str
        One of :data:`KINDS`; kinds outside :data:`BATCHED_KINDS` go through
        :func:`compute_features` clip by clip.
    config : StudyConfig

    Returns
    -------
    list of np.ndarray (float32)
        ``(n_mels, n_frames)`` per clip: ``(64, 64)`` for ``"image"``, ``(128, 1 + n_samples // 512)``
        for ``"baseline"``.
    """
    rate = config.audio.sample_rate
    if kind == "image":
        return list(log_mel_images(list(samples), sample_rate=rate, config=config.image))
    if kind == "baseline":
        return baseline_log_mels(list(samples), sample_rate=rate, config=config.baseline)
    return [compute_features(clip, kind=kind, config=config) for clip in samples]


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
        Return read-only ``numpy.memmap`` views of a feature pack (:mod:`asd.featurepack`)
        instead of arrays in memory: the features then live in the operating system's page
        cache, not in the process. Needs a cache (ignored without one). The pack is written
        on the first call and reused while the clips and the configuration are unchanged.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    namespace = feature_namespace(kind, config)
    cache = cache or FeatureCache(None)
    result = Extracted()
    paths = list(paths)
    chunks = [paths[start : start + CHUNK_CLIPS] for start in range(0, len(paths), CHUNK_CLIPS)]

    def job(chunk: list[str]) -> list[tuple[np.ndarray | None, AudioError | None]]:
        return _extract_chunk(chunk, kind=kind, config=config, cache=cache, namespace=namespace)

    pack = None
    if mmap and cache.root is not None:
        key = pack_key(namespace, paths)
        packed = load_pack(cache.root, key, paths)
        if packed is not None:
            return _from_pack(packed, on_error=on_error)
        pack = PackWriter(cache.root, key)
    parallel = workers > 1 and len(paths) >= MIN_PARALLEL_CLIPS
    position = 0
    with tqdm(total=len(paths), desc=description or f"{kind} features", disable=not progress, unit="clip") as bar:
        with _single_threaded_blas() if parallel else contextlib.nullcontext():
            outcomes = _ordered_map(job, chunks, workers=workers) if parallel else map(job, chunks)
            try:
                for chunk, chunk_outcomes in zip(chunks, outcomes):
                    for path, (features, error) in zip(chunk, chunk_outcomes):
                        if error is not None:
                            if on_error == "raise":
                                raise error
                            logger.warning("skipped %s", error)
                            result.failed.append((str(path), error.problem))
                            if pack is not None:
                                pack.add_failure(position, error.problem)
                        elif pack is not None:
                            pack.add(position, features)  # to the page cache, not kept here
                        else:
                            result.features.append(features)
                            result.paths.append(str(path))
                        position += 1
                    bar.update(len(chunk))
            except BaseException:
                if pack is not None:
                    pack.abandon()
                raise
            finally:
                if parallel:
                    outcomes.close()  # cancels chunks not started yet, waits for running ones
    if pack is not None:
        packed = pack.finish(paths)
        result.features, result.paths = packed.features, packed.paths
    return result


def _from_pack(packed: FeaturePack, *, on_error: str) -> Extracted:
    """An :class:`Extracted` from a reused pack; its failures are raised or reported again."""
    if packed.failed and on_error == "raise":
        raise AudioError(*packed.failed[0])
    for path, problem in packed.failed:
        logger.warning("skipped %s: %s", path, problem)
    return Extracted(features=packed.features, paths=packed.paths, failed=list(packed.failed))


def _extract_chunk(
    paths: list[str], *, kind: str, config: StudyConfig, cache: FeatureCache, namespace: str
) -> list[tuple[np.ndarray | None, AudioError | None]]:
    """``(features, None)`` or ``(None, error)`` per path: cached, else read, computed and cached."""
    outcomes: list[tuple[np.ndarray | None, AudioError | None]] = [(None, None)] * len(paths)
    missing: list[int] = []
    samples: list[np.ndarray] = []
    for index, path in enumerate(paths):
        features = cache.get(path, namespace) if cache.root is not None and Path(path).is_file() else None
        if features is not None:
            outcomes[index] = (features, None)
            continue
        try:
            samples.append(read_clip_fast(path, sample_rate=config.audio.sample_rate, channel=config.audio.channel))
        except AudioError as exc:
            outcomes[index] = (None, exc)
            continue
        missing.append(index)
    if missing:
        for index, features in zip(missing, compute_features_batch(samples, kind=kind, config=config)):
            cache.put(paths[index], namespace, features)
            outcomes[index] = (features, None)
    return outcomes


def _ordered_map(function: Callable, items: list, *, workers: int) -> Iterator:
    """``map(function, items)`` on a thread pool: results in input order, at most ``4 * workers`` ahead."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asd-features") as pool:
        pending: deque = deque()
        queue = iter(items)
        try:
            for item in queue:
                pending.append(pool.submit(function, item))
                if len(pending) >= 4 * workers:
                    break
            while pending:
                result = pending.popleft().result()
                for item in queue:
                    pending.append(pool.submit(function, item))
                    break
                yield result
        finally:
            for future in pending:
                future.cancel()


def _single_threaded_blas():
    """BLAS on one thread while our own threads run (no oversubscription), if threadpoolctl is there."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")

