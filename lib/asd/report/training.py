"""Train the report's models, several at a time: notebook 02's training step.

One Keras training of the study's small networks keeps about one core busy, and TensorFlow
spends a third more CPU time on it when it spreads the training over several threads. So the build trains
``workers`` models at once (by default one per core) as tasks of the command line's executor
(:class:`asd.executor.DaskExecutor` on a local cluster of one-thread worker processes, or on the
cluster at ``scheduler``), each worker's TensorFlow on :data:`THREADS_PER_MODEL` thread, the
longest trainings first (the report's :func:`asd.report.study.report_schedule`). Each training is
the same :func:`asd.pipeline.train` call as in one process, seeded the same way; because every
worker computes with the same number of threads, the run folders depend neither on how many models
train at once nor on the machine's number of cores. Workers on a GPU machine claim GPU memory as
they need it (``TF_FORCE_GPU_ALLOW_GROWTH``), so that several fit on one GPU, and every worker
keeps to one malloc arena and pools TensorFlow's CPU memory
(:func:`asd.runtime.configure_allocators`).

Given ``results`` folders, the same workers also score each model's test clips
(:func:`asd.pipeline.evaluate`, notebook 03's step) as soon as that model is trained. The
four Keras trainings of unequal length cannot be split evenly between two workers, so one
worker would otherwise wait idle for the other's last training; ``make report`` fills that wait
with the scoring, and notebook 03 then reads the results.

A training writes its run folder itself (:func:`asd.pipeline.train` builds it beside and swaps it
in), so the workers must see the data, run and cache folders at the same paths as this process:
a local cluster does, a remote one needs the shared filesystem of docs/scaling.md.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..config import StudyConfig
from .study import report_schedule

#: TensorFlow intra- and inter-op threads of each training process.
THREADS_PER_MODEL = 1

logger = logging.getLogger(__name__)


def _progress_to_terminal() -> None:
    """In a worker: the training's progress lines (this module's and :mod:`asd.pipeline`'s, one
    per model started, machine type trained and model finished) go to the worker's standard error,
    which it shares with the notebook's kernel and so with the terminal of ``make report``."""
    handler = logging.StreamHandler(sys.__stderr__)
    handler.setFormatter(logging.Formatter("  [train] %(message)s"))
    for name in (__name__, "asd.pipeline"):
        progress = logging.getLogger(name)
        progress.setLevel(logging.INFO)
        progress.addHandler(handler)
        progress.propagate = False


def _start_worker(threads: int) -> None:
    """A worker's set-up, before its first task: TensorFlow's threads, its allocators and GPU memory growth,
    before any TensorFlow op runs (:func:`asd.executor.prepare_worker` and more)."""
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    from ..executor import prepare_worker

    prepare_worker()
    _progress_to_terminal()
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # a cluster's worker whose TensorFlow already ran: its numbers may differ in the last digits
        logger.warning("a worker's TensorFlow had started; its threads stay as they were (not %d)", threads)


def _train_one(data_root: str, model: str, out: str, config: StudyConfig, machine_types, cache_dir) -> dict:
    """One :func:`asd.pipeline.train` call, timed (wall and this process's CPU seconds)."""
    from ..detectors import get_detector
    from ..pipeline import train

    start, cpu = time.perf_counter(), time.process_time()
    logger.info("%s: started", model)
    run = train(
        data_root, model=model, out=out, config=config, machine_types=machine_types, cache_dir=cache_dir, progress=False
    )
    done = _epochs_done(Path(out)) if get_detector(model).trains_in_epochs else "fitted in one step"
    logger.info("%s: finished in %.0f s (%s)", model, time.perf_counter() - start, done)
    return {
        "model": model,
        "train clips": sum(run["n_train_clips"].values()),
        "epochs": config.training.epochs_for(model) if get_detector(model).trains_in_epochs else "-",
        "seconds": round(time.perf_counter() - start, 1),
        "cpu seconds": round(time.process_time() - cpu, 1),
    }


def _epochs_done(run_dir: Path) -> str:
    """The epochs a finished run trained, from its machine types' histories."""
    from ..tables import load_histories

    histories = load_histories({"run": run_dir})
    if histories.empty:
        return "no epochs recorded"
    epochs = histories.groupby("machine_type")["epoch"].max()
    low, high = int(epochs.min()), int(epochs.max())
    return f"{low if low == high else f'{low}-{high}'} epochs on each of {len(epochs)} machine types"


def _evaluate_one(data_root: str, run_dir: str, out: str, machine_types, cache_dir) -> dict:
    """One :func:`asd.pipeline.evaluate` call, timed like :func:`_train_one`."""
    from ..pipeline import evaluate

    start, cpu = time.perf_counter(), time.process_time()
    evaluate(data_root, run_dir=run_dir, out=out, machine_types=machine_types, cache_dir=cache_dir, progress=False)
    return {
        "scoring seconds": round(time.perf_counter() - start, 1),
        "scoring cpu seconds": round(time.process_time() - cpu, 1),
    }


def train_models(
    data_root: str | os.PathLike,
    *,
    runs: Mapping[str, str | os.PathLike],
    config: StudyConfig,
    machine_types: Sequence[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    results: Mapping[str, str | os.PathLike] | None = None,
    scheduler: str | None = None,
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
        Models trained at once, on a local Dask cluster of that many worker processes with
        :data:`THREADS_PER_MODEL` thread each; default: one per core, at most one per model (in a
        worker process even when that is one, so that the numbers are the same). 1 trains in this
        process, with its own TensorFlow threads (the Keras models' numbers may then differ in the
        last digits).
    results : mapping of str to path-like, optional
        Model name -> results folder: also score each model's test clips into it
        (:func:`asd.pipeline.evaluate`) as soon as the model is trained, by the same workers.
    scheduler : str, optional
        A running Dask scheduler's address: train on its workers instead of a local cluster (as many
        models at once as the cluster has worker threads; ``workers`` is then not used). Its workers
        must see the data, run and cache folders at the same paths, and start TensorFlow with
        :data:`THREADS_PER_MODEL` thread for the numbers to be the local cluster's.

    Returns
    -------
    DataFrame
        One row per model: ``model``, ``train clips``, ``epochs``, ``seconds`` (wall time of
        its training), ``cpu seconds`` (of the process that trained it); with ``results``
        also ``scoring seconds`` and ``scoring cpu seconds``.
    """
    if results is not None and set(results) != set(runs):
        raise ValueError(f"results folders {sorted(results)} do not match the models {sorted(runs)}")
    in_process = workers is not None and int(workers) <= 1 and not scheduler
    if workers is None and not scheduler:
        workers = max(1, min((os.cpu_count() or 1) // THREADS_PER_MODEL, len(runs)))
    types = list(machine_types) if machine_types else None
    jobs = {model: (str(data_root), model, str(Path(out)), config, types, cache_dir) for model, out in runs.items()}
    scorings = {
        model: (str(data_root), str(Path(runs[model])), str(Path(out)), types, cache_dir)
        for model, out in (results or {}).items()
    }
    if in_process:
        rows = {}
        for model, job in jobs.items():
            rows[model] = _train_one(*job)
            if model in scorings:
                rows[model].update(_evaluate_one(*scorings[model]))
    else:
        from ..executor import DaskExecutor

        order = sorted(jobs, key=lambda m: -_expected_cost(m, config))  # the long ones first
        setup = functools.partial(_start_worker, THREADS_PER_MODEL)
        where = {"address": scheduler} if scheduler else {"workers": int(workers)}
        with DaskExecutor(setup=setup, **where) as executor:
            rows = _run_on(executor, jobs, scorings, order)
    return pd.DataFrame([rows[model] for model in runs])


def _run_on(executor, jobs: dict, scorings: dict, order: Sequence[str]) -> dict[str, dict]:
    """Every training of ``jobs`` in ``order``, each followed by its scoring (if in ``scorings``) as soon as it is
    done, as tasks of ``executor`` (an :class:`asd.executor.DaskExecutor`).

    At most one task per worker thread is handed to the cluster at a time, from one queue: the trainings in
    ``order``, then each scoring in the order its training finished. The cluster therefore runs them as a pool of
    that many workers would (the longest trainings first, and a scoring only where no training is waiting),
    whatever its own placement would have done with every task at once. The first failure cancels what is
    still running and is raised (one line naming the model, :meth:`asd.executor.DaskExecutor.result`).
    """
    queue = [(_train_one, model) for model in order]
    running: dict = {}
    rows: dict[str, dict] = {}
    slots = executor.threads()
    try:
        while queue or running:
            while queue and len(running) < slots:
                step, model = queue.pop(0)
                arguments = jobs[model] if step is _train_one else scorings[model]
                running[executor.submit(step, *arguments, name=model)] = (step, model)
            for future in sorted(executor.first_done(running), key=lambda f: order.index(running[f][1])):
                step, model = running.pop(future)
                what = "training" if step is _train_one else "scoring"
                outcome = executor.result(future, f"{what} {model}")
                if step is _train_one:
                    rows[model] = outcome
                    if model in scorings:
                        queue.append((_evaluate_one, model))
                else:
                    rows[model].update(outcome)
    finally:
        executor.cancel(list(running))
    return rows


def _expected_cost(model: str, config: StudyConfig) -> float:
    """Relative cost of training ``model``: epochs times epoch cost (:func:`asd.report.study.report_schedule`)."""
    from ..detectors import get_detector

    if not get_detector(model).trains_in_epochs:
        return 0.0
    return config.training.epochs_for(model) * report_schedule(model).epoch_cost
