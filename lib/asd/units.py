"""The units of work of ``asd train`` and ``asd evaluate``, as the executor sends them.

A unit names its data by path and carries nothing heavy, so that it can be pickled to a Dask worker
(:mod:`asd.executor`): :class:`TrainUnit` (one detector on one machine type, run by
:func:`asd.pipeline.train_unit`) and :class:`EvaluateUnit` (one machine type's test clips, run by
:func:`asd.pipeline.evaluate_unit`). In this process a unit carries the very objects the pipeline
holds (the loaded :class:`asd.run.Run`, the :class:`asd.features.FeatureCache`) and the paths as
given; on a cluster, absolute paths a worker on the shared filesystem finds
(:func:`for_workers`, :func:`cache_for`), mapped back to the paths as given by the client.

:func:`fill_cache` computes the clips' features into the shared feature cache first, in tasks of
:data:`CLUSTER_CHUNK_CLIPS` clips over every worker, so that a machine type's unit reads them
instead of extracting them alone.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .config import StudyConfig
from .executor import Executor
from .features import FeatureCache
from .features.extract import cache_chunk

#: Clips per feature-extraction task on a cluster (:func:`fill_cache`).
CLUSTER_CHUNK_CLIPS = 64


@dataclass(frozen=True)
class TrainUnit:
    """One detector on one machine type: what :func:`asd.pipeline.train_unit` needs."""

    machine_type: str
    clips: pd.DataFrame  #: the clip table's rows of this machine type (paths, IDs, splits)
    model: str
    config: StudyConfig
    cache: FeatureCache | str | None  #: the cache (in process), or its absolute folder (None: no cache)
    data_root: str
    progress: bool
    domain_ids: str | None  #: ``run.json``'s ``domain_ids`` (:mod:`asd.domains`)
    out: str | None  #: the machine type's folder of the run being built (in process); None: a scratch folder


@dataclass(frozen=True)
class EvaluateUnit:
    """One machine type's test clips to score with a run, or one section's (DCASE 2021-2025): what
    :func:`asd.pipeline.evaluate_unit` needs."""

    run: object  #: the :class:`asd.run.Run` (in process) or its absolute folder
    machine_type: str
    clips: pd.DataFrame  #: the clip table's rows of this machine type (paths, IDs, labels)
    cache: FeatureCache | str | None
    progress: bool


def by_section(clips: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """A machine type's clips cut into its sections (DCASE 2021-2025), each ``(section, rows)``; else ``[("", clips)]``.

    A clip's score depends on its own features and its section's fitted state only (the detector
    is fitted per machine type, its IDs per section and domain, :mod:`asd.domains`), so the sections
    can be scored apart, on as many workers.
    """
    if "section" not in clips or not clips["section"].fillna("").astype(str).str.len().any():
        return [("", clips)]
    sections = clips["section"].fillna("").astype(str)
    return [(section, clips[sections == section]) for section in sorted(sections.unique())]


def per_machine_type(todo: Sequence[EvaluateUnit], outcomes: Sequence, table: pd.DataFrame) -> list:
    """The outcomes of :func:`by_section`'s units joined back into one per machine type, in ``todo``'s order of
    machine types, the scored rows in ``table``'s order (as one unit per machine type gives them)."""
    position = {path: i for i, path in enumerate(table["path"])}
    joined: dict[str, tuple[list, list]] = {}
    for unit, (scored, failed) in zip(todo, outcomes):
        parts, problems = joined.setdefault(unit.machine_type, ([], []))
        parts.append(scored)
        problems.extend(failed)
    result = []
    for parts, problems in joined.values():
        scored = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        if len(parts) > 1:
            order = sorted(range(len(scored)), key=lambda row: position[scored["path"].iat[row]])
            scored = scored.iloc[order].reset_index(drop=True)
        result.append((scored, sorted(problems, key=lambda item: position.get(item["path"], -1))))
    return result


def as_cache(cache: FeatureCache | str | None) -> FeatureCache:
    """The unit's feature cache: the one given in process, else the one at the folder (``None``: no cache)."""
    return cache if isinstance(cache, FeatureCache) else FeatureCache(cache)


def cache_for(executor: Executor, cache: FeatureCache) -> FeatureCache | str | None:
    """What a unit carries of ``cache``: itself in process; on a cluster, its absolute folder (None: no cache)."""
    if not executor.distributed:
        return cache
    return None if cache.root is None else str(Path(cache.root).resolve())


def into_folder(step: Callable, out: str | None, *args) -> tuple[object, dict[str, bytes]]:
    """``step(folder, *args)`` writing into ``out``; or, with no ``out`` (a worker), into a scratch folder.

    Returns
    -------
    outcome
        What ``step`` returned.
    files : dict
        The files ``step`` wrote into the scratch folder (relative name -> bytes), for the client
        to write; empty when it wrote into ``out``.
    """
    if out is not None:
        return step(Path(out), *args), {}
    with tempfile.TemporaryDirectory(prefix="asd-unit-") as scratch:
        outcome = step(Path(scratch), *args)
        made = sorted(p for p in Path(scratch).rglob("*") if p.is_file())
        return outcome, {p.relative_to(scratch).as_posix(): p.read_bytes() for p in made}


class _Same(dict):
    """The identity mapping (in this process the units get the paths as given)."""

    def __missing__(self, key):
        return key


def for_workers(executor: Executor, table: pd.DataFrame) -> tuple[dict[str, str], pd.DataFrame]:
    """The clip table the units get (its paths absolute on a cluster), and each sent path's path as given."""
    if not executor.distributed:
        return _Same(), table
    sent = table.assign(path=[os.path.abspath(p) for p in table["path"]])
    return dict(zip(sent["path"], table["path"])), sent


def fill_cache(executor: Executor, paths: Sequence[str], *, kinds: Sequence[str], config: StudyConfig, cache) -> None:
    """On a cluster with a feature cache: the clips' features of every kind computed into the cache first.

    Tasks of :data:`CLUSTER_CHUNK_CLIPS` clips (:func:`asd.features.extract.cache_chunk`) over every
    worker; each reads a clip once for all ``kinds``. Does nothing in this process or without a
    cache (``cache`` as :func:`cache_for` gives it): the units extract as they always have. Clips
    that cannot be read are reported by the units themselves.
    """
    if not executor.distributed or cache is None:
        return
    paths = sorted({str(Path(path).resolve()) for path in paths})
    chunks = [paths[start : start + CLUSTER_CHUNK_CLIPS] for start in range(0, len(paths), CLUSTER_CHUNK_CLIPS)]
    kinds = tuple(dict.fromkeys(kinds))
    units = [(chunk, kinds, config, cache) for chunk in chunks]
    first = [i * CLUSTER_CHUNK_CLIPS + 1 for i in range(len(chunks))]
    names = [f"{'+'.join(kinds)} features of clips {s}-{s + len(c) - 1}" for s, c in zip(first, chunks)]
    executor.map(cache_chunk, units, names=names)
