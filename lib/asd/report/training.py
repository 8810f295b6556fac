"""Train the report's models, several jobs at a time: notebook 02's training step.

One Keras training of the study's small networks keeps about one core busy, and TensorFlow
spends about a third more CPU time on it when it spreads the training over several threads. So
the build runs ``workers`` trainings at once (by default one per core), each worker a spawned
process (:class:`concurrent.futures.ProcessPoolExecutor`) whose TensorFlow uses
:data:`THREADS_PER_MODEL` thread. A model that trains in epochs is trained one machine type per
job, the longest jobs first (:attr:`asd.detectors.base.Detector.epoch_cost`), so that the
workers finish together; its parts are then merged into one run folder
(:func:`asd.runfolder.merge_runs`), the same folder one :func:`asd.pipeline.train` call over every
machine type writes: each machine type's fit is seeded on its own, and a worker keeps its traced
networks from job to job (:func:`asd.detectors.reusing_compiled_models`). Because every worker
computes with the same number of threads, the run folders depend neither on how many trainings
run at once nor on the machine's number of cores. Workers on a GPU machine claim GPU memory as
they need it (``TF_FORCE_GPU_ALLOW_GROWTH``), so that several fit on one GPU.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ..config import StudyConfig

#: TensorFlow intra- and inter-op threads of each training process.
THREADS_PER_MODEL = 1


def _start_worker(threads: int) -> None:
    """Process-pool initialiser: TensorFlow's threads and GPU memory growth, before any TensorFlow op runs."""
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    from ..runtime import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    from ..detectors import reusing_compiled_models

    global _WORKER_MODELS  # one reuse block for the worker's life: its jobs share traced models
    _WORKER_MODELS = reusing_compiled_models()
    _WORKER_MODELS.__enter__()


_WORKER_MODELS = None


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
        Models trained at once, each in its own process with :data:`THREADS_PER_MODEL` thread;
        default: one per core, at most one per model (in a worker process even when that is
        one, so that the numbers are the same). 1 trains in this process, with its own
        TensorFlow threads (the Keras models' numbers may then differ in the last digits).

    Returns
    -------
    DataFrame
        One row per model: ``model``, ``train clips``, ``epochs``, ``seconds`` (wall time of
        its training, summed over its jobs), ``cpu seconds`` (of the processes that trained it).
    """
    in_process = workers is not None and int(workers) <= 1
    if in_process:
        jobs = {model: (str(data_root), model, str(Path(out)), config, list(machine_types) if machine_types else None, cache_dir)
                for model, out in runs.items()}
        return pd.DataFrame([_train_one(*job) for job in jobs.values()])
    from ..data import discover_clips
    from ..detectors import get_detector
    from ..pipeline import data_fingerprint
    from ..runfolder import merge_runs

    machine_types = list(machine_types or config.machine_types or []) or None  # as asd.pipeline.train chooses them
    table = discover_clips(data_root, machine_types=machine_types)
    types = sorted(table.machine_type.unique())
    jobs = []  # (expected cost, model, machine types, run folder of the job)
    for model, out in runs.items():
        split = get_detector(model).trains_in_epochs and len(types) > 1
        for part in types if split else [None]:
            chosen = [part] if part else machine_types
            folder = Path(f"{out}.parts") / part if part else Path(out)
            jobs.append((_expected_cost(model, config) / (len(types) if part else 1), model, chosen, folder))
    jobs.sort(key=lambda job: -job[0])  # the long ones first
    if workers is None:
        workers = max(1, min((os.cpu_count() or 1) // THREADS_PER_MODEL, len(jobs)))
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(THREADS_PER_MODEL,),
    )
    with pool:
        futures = [
            (model, folder, pool.submit(_train_one, str(data_root), model, str(folder), config, chosen, cache_dir))
            for _, model, chosen, folder in jobs
        ]
        done = [(model, folder, future.result()) for model, folder, future in futures]
    rows = []
    for model, out in runs.items():
        parts = [(folder, row) for name, folder, row in done if name == model]
        if len(parts) > 1:  # one job per machine type: one run folder again
            merge_runs([folder for folder, _ in parts], Path(out), data_fingerprint=data_fingerprint(table))
            shutil.rmtree(Path(f"{out}.parts"), ignore_errors=True)
        rows.append({
            "model": model,
            "train clips": sum(row["train clips"] for _, row in parts),
            "epochs": parts[0][1]["epochs"],
            "seconds": round(sum(row["seconds"] for _, row in parts), 1),
            "cpu seconds": round(sum(row["cpu seconds"] for _, row in parts), 1),
        })
    return pd.DataFrame(rows)


def _expected_cost(model: str, config: StudyConfig) -> float:
    """Relative cost of training ``model``: its epochs times its :attr:`~asd.detectors.base.Detector.epoch_cost`."""
    from ..detectors import get_detector

    detector = get_detector(model)
    return config.training.epochs_for(model) * detector.epoch_cost if detector.trains_in_epochs else 0.0
