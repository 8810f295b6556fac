"""Train the report's models, several at a time: notebook 02's training step.

One Keras training keeps about one core busy (small models, small batches), so the build trains
``workers`` models at once, each in its own process (:class:`concurrent.futures.ProcessPoolExecutor`,
spawned), models that train in epochs first. Each training is the same
:func:`asd.pipeline.train` call as in one process, seeded the same way, so the run folders do not
depend on how many run at once.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ..config import StudyConfig


def _train_one(data_root: str, model: str, out: str, config: StudyConfig, machine_types, cache_dir) -> dict:
    """One :func:`asd.pipeline.train` call, timed (wall and this process's CPU seconds)."""
    from ..detectors import get_detector
    from ..pipeline import train

    start, cpu = time.perf_counter(), time.process_time()
    run = train(data_root, model=model, out=out, config=config, machine_types=machine_types, cache_dir=cache_dir, progress=False)
    return {
        "model": model,
        "train clips": sum(run["n_train_clips"].values()),
        "epochs": config.training.epochs_for(model) if get_detector(model).trains_in_epochs else "-",
        "seconds": round(time.perf_counter() - start, 1),
        "cpu seconds": round(time.process_time() - cpu, 1),
    }


def train_models(
    data_root: str | os.PathLike,
    *,
    runs: Mapping[str, str | os.PathLike],
    config: StudyConfig,
    machine_types: Sequence[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Train every model of ``runs`` into its run folder; return the training-time table.

    Parameters
    ----------
    data_root : path-like
        The dataset.
    runs : mapping of str to path-like
        Model name -> run folder, in the order of the returned table.
    config : StudyConfig
        The config every model trains with.
    machine_types : sequence of str, optional
        Only these machine types (default: every one in the data).
    cache_dir : path-like, optional
        Feature cache folder (default: the project's).
    workers : int, optional
        Models trained at once, each in its own process; default ``min(2, CPU count)``; 1 trains
        in this process.

    Returns
    -------
    DataFrame
        One row per model: ``model``, ``train clips``, ``epochs``, ``seconds`` (wall time of
        its training), ``cpu seconds`` (of the process that trained it).
    """
    from ..detectors import get_detector

    workers = min(2, os.cpu_count() or 1) if workers is None else max(1, int(workers))
    jobs = {
        model: (str(data_root), model, str(Path(out)), config, list(machine_types) if machine_types else None, cache_dir)
        for model, out in runs.items()
    }
    if workers == 1 or len(jobs) == 1:
        rows = {model: _train_one(*job) for model, job in jobs.items()}
    else:
        order = sorted(jobs, key=lambda m: not get_detector(m).trains_in_epochs)  # the long ones first
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {model: pool.submit(_train_one, *jobs[model]) for model in order}
            rows = {model: future.result() for model, future in futures.items()}
    return pd.DataFrame([rows[model] for model in runs])
