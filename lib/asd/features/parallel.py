"""CPU workers for feature extraction (and for any other code that runs NumPy on its own threads).

- :func:`default_workers`: the cores this process may use (``$ASD_THREADS`` when set: a Dask worker's one).
- :func:`single_threaded_blas`: BLAS on one thread while our own threads or processes run, so two
  levels of parallelism do not oversubscribe the cores.
- :func:`ordered_map`: ``map`` on an executor, results in input order, a bounded number ahead.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor

#: The environment variable that caps :func:`default_workers` (set to 1 in a Dask worker, :mod:`asd.executor`).
THREADS_ENV = "ASD_THREADS"


def default_workers() -> int:
    """CPU cores this process may use (``os.sched_getaffinity``, else ``os.cpu_count()``), or ``$ASD_THREADS``."""
    if os.environ.get(THREADS_ENV, "").strip().isdigit() and int(os.environ[THREADS_ENV]) >= 1:
        return int(os.environ[THREADS_ENV])
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def single_threaded_blas():
    """A context manager limiting BLAS to one thread (a no-op without threadpoolctl).

    Results do not change: BLAS products of the shapes used here are computed the same way on
    one thread or several.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def ordered_map(pool: Executor, function: Callable, items: list, *, ahead: int) -> Iterator:
    """``map(function, items)`` on ``pool``: results in input order, at most ``ahead`` submitted early.

    Closing the generator (or an exception in the consumer) cancels the items not started yet.
    """
    pending: deque = deque()
    queue = iter(items)
    try:
        for item in queue:
            pending.append(pool.submit(function, item))
            if len(pending) >= ahead:
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
