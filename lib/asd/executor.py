"""Where the independent units of work run: in this process, or on a Dask cluster.

A *unit* is one call of a module-level function on picklable arguments that reads its data by
path and returns its outcome: one detector fitted on one machine type
(:func:`asd.pipeline.train_unit`), one machine type's test clips scored
(:func:`asd.pipeline.evaluate_unit`), feature extraction of a chunk of clips into the shared
feature cache (:func:`asd.features.extract.cache_chunk`), scoring of a chunk of files
(:func:`asd.scoring.score_chunk`). Code that has such units calls ``executor.map(function,
units)`` instead of a ``for`` loop; the executor decides where they run:

- :class:`InProcessExecutor` (the default): the loop itself, in this process. Imports nothing.
- :class:`DaskExecutor`: every unit a Dask task (:mod:`distributed`, imported only here, only
  when such an executor is made), on the cluster at a scheduler address or on a
  :class:`distributed.LocalCluster` of worker processes started for the command.

The caller alone writes run folders and result files, from the outcomes ``map`` returns, so a
worker lost mid-way leaves nothing half-written: the scheduler runs its task again on another
worker, and a task whose workers keep dying ends the command with one line naming the unit
(:class:`UnitError`). docs/scaling.md says what is sent where and what a worker needs.

:func:`get_executor` picks one from the command line's ``--scheduler ADDRESS`` (or
``$DASK_SCHEDULER_ADDRESS``) and ``--workers N``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from .errors import ASDError, ConfigError

logger = logging.getLogger(__name__)

#: The environment variable naming a running Dask scheduler (Dask's own name for it).
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"


class UnitError(ASDError):
    """A unit of work could not be completed on the cluster (its workers died, or it raised)."""


class Executor:
    """Runs independent units of work; subclasses say where.

    Use it as a context manager (or call :meth:`close`) so that a cluster started for the
    command is stopped with it.
    """

    #: Whether units leave this process (their arguments and outcomes are pickled).
    distributed: bool = False

    def map(self, function: Callable, units: Sequence, *, names: Sequence[str] | None = None) -> list:
        """``[function(unit) for unit in units]``, in input order.

        Parameters
        ----------
        function : callable
            A module-level function (picklable by reference) of one argument.
        units : sequence
            Its arguments, each picklable; they should name data by path, not carry it.
        names : sequence of str, optional
            What each unit is (``"fan"``, ``"fan files 1-64"``), for the line that names a failed one.

        Returns
        -------
        list
            The outcomes, in the order of ``units``. The first unit that raises stops the map:
            :class:`asd.errors.ASDError` as raised, anything else as :class:`UnitError`
            on a cluster (as raised in process).
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release what the executor holds (a local cluster, a client connection)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class InProcessExecutor(Executor):
    """The units one after another in this process: exactly the ``for`` loop they replace."""

    def map(self, function: Callable, units: Sequence, *, names: Sequence[str] | None = None) -> list:
        return [function(unit) for unit in units]

    def __repr__(self) -> str:
        return "InProcessExecutor()"


class DaskExecutor(Executor):
    """Units as Dask tasks, on a running cluster or on a local cluster of worker processes.

    Parameters
    ----------
    address : str, optional
        A scheduler's address (``tcp://host:8786``). Without one, a
        :class:`distributed.LocalCluster` of ``workers`` processes is started, one thread each,
        no dashboard, listening on localhost only, and stopped by :meth:`close`.
    workers : int, optional
        Worker processes of the local cluster (default: the CPU cores this process may use).
    setup : callable, optional
        Called once in every worker process before its first task (and in every worker that
        replaces a lost one); default :func:`prepare_worker` (TensorFlow's logs and allocators,
        one thread for a task's own pools).

    Raises
    ------
    ConfigError
        Dask is not installed (``pip install 'asd[dask]'``), or the scheduler cannot be reached.
    """

    distributed = True

    def __init__(
        self, *, address: str | None = None, workers: int | None = None, setup: Callable[[], Any] | None = None
    ):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("running on a Dask cluster needs Dask: pip install 'asd[dask]'") from None
        self.address, self._cluster = address, None
        if not logger.isEnabledFor(logging.DEBUG):  # the cluster's own chatter only with asd --verbose
            logging.getLogger("distributed").setLevel(logging.WARNING)
        if address is None:
            from .features.parallel import default_workers

            workers = default_workers() if workers is None else int(workers)
            self._cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
                memory_limit=0,  # one machine, as a process pool: the OS manages memory
            )
        try:
            self.client = Client(self._cluster if self._cluster is not None else address, timeout="30s")
        except (OSError, TimeoutError) as exc:
            self.close()
            raise ConfigError(f"--scheduler {address}: cannot reach the Dask scheduler ({exc})") from None
        self._set_up_workers(setup or prepare_worker)
        logger.info("Dask executor: %s", self)

    def _set_up_workers(self, setup: Callable[[], Any]) -> None:
        """``setup()`` in every worker process, those that join later included (a Dask worker plugin)."""
        from distributed import WorkerPlugin

        class _Setup(WorkerPlugin):
            def setup(self, worker):
                setup()

        self.client.register_plugin(_Setup(), name="asd-setup")

    def submit(self, function: Callable, *args, priority: int = 0, name: str | None = None):
        """One task (``function(*args)``; futures among ``args`` are awaited first); its future."""
        return self.client.submit(function, *args, pure=False, priority=priority, key=_key(function, name))

    def threads(self) -> int:
        """The worker threads of the cluster now: how many tasks run at once."""
        return max(1, sum(self.client.nthreads().values()))

    def first_done(self, futures) -> set:
        """Wait until at least one of ``futures`` is done (finished, failed or cancelled); those done."""
        from distributed import wait

        return set(wait(list(futures), return_when="FIRST_COMPLETED").done)

    def cancel(self, futures) -> None:
        """Cancel ``futures`` not done yet (after a failure: what need not run any more)."""
        if futures:
            self.client.cancel(list(futures))

    def result(self, future, name: str):
        """A future's outcome, or :class:`UnitError`/:class:`~asd.errors.ASDError` naming the unit."""
        from distributed import KilledWorker

        try:
            return future.result()
        except ASDError:
            raise
        except KilledWorker as exc:
            raise UnitError(
                f"{name}: the Dask workers running it died {exc.allowed_failures + 1} times (lost, killed or out of "
                "memory); nothing was written"
            ) from None
        except Exception as exc:  # noqa: BLE001 - any failure of a unit: one line naming it
            message = " ".join(str(exc).split())[:300]
            raise UnitError(f"{name}: failed on a Dask worker ({type(exc).__name__}: {message})") from None

    def map(self, function: Callable, units: Sequence, *, names: Sequence[str] | None = None) -> list:
        units = list(units)
        names = list(names) if names is not None else [f"unit {i + 1} of {len(units)}" for i in range(len(units))]
        futures = [self.submit(function, unit, name=name) for unit, name in zip(units, names)]
        try:
            return [self.result(future, name) for future, name in zip(futures, names)]
        finally:
            self.client.cancel(futures)  # those not done when one failed

    def close(self) -> None:
        client, cluster = getattr(self, "client", None), self._cluster
        self.client, self._cluster = None, None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def __repr__(self) -> str:
        local = f"local cluster of {len(self._cluster.workers)} processes" if self._cluster else "closed"
        where = self.address or local
        return f"DaskExecutor({where})"


def _key(function: Callable, name: str | None) -> str:
    """A task key unique to this submission, readable in the scheduler's logs."""
    import uuid

    label = "".join(c if c.isalnum() or c in "-_." else "-" for c in (name or "unit"))[:60]
    return f"asd-{function.__name__}-{label}-{uuid.uuid4().hex[:12]}"


def get_executor(*, scheduler: str | None = None, workers: int | None = None) -> Executor:
    """The executor the command line asks for.

    Parameters
    ----------
    scheduler : str, optional
        ``--scheduler ADDRESS``; default ``$DASK_SCHEDULER_ADDRESS`` when set.
    workers : int, optional
        ``--workers N``: a local cluster of ``N`` worker processes (when no scheduler is
        given); ``None`` or 1 with no scheduler runs everything in this process.

    Raises
    ------
    ConfigError
        ``workers`` below 1, or both a scheduler and ``workers``.
    """
    if workers is not None and int(workers) < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if scheduler is not None:
        if workers is not None:
            raise ConfigError("--workers starts a local cluster: give either it or --scheduler/$DASK_SCHEDULER_ADDRESS")
        return DaskExecutor(address=scheduler)
    if workers is not None and int(workers) > 1:
        return DaskExecutor(workers=int(workers))
    return InProcessExecutor()


def prepare_worker() -> None:
    """A worker process set up as the command line sets up its own (:mod:`asd.runtime`), before its first task.

    A task's own thread pools (feature extraction) get one thread: the worker's one core. Several
    threads in a Dask worker also ended a unit with CPython 3.11's
    ``SystemError: AST constructor recursion depth mismatch`` (``numpy.load`` parsing cache entries' headers on two
    threads at once; docs/scaling.md).
    """
    from .features.parallel import THREADS_ENV
    from .runtime import configure_allocators, quiet_tensorflow

    os.environ[THREADS_ENV] = "1"
    quiet_tensorflow()
    configure_allocators()


# -- the command line's options (asd train, evaluate, score) ---------------------------------------


def add_cluster_options(parser) -> None:
    """``--scheduler`` and ``--workers``: where the units of work run (asd.executor, docs/scaling.md)."""
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the work as tasks on this Dask scheduler (tcp://host:8786; default $DASK_SCHEDULER_ADDRESS); "
        "workers must see the data, run and cache folders at the same paths",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="run the work on a local Dask cluster of N worker processes"
    )


def executor_of(args) -> Executor:
    """The executor of ``--scheduler``/``--workers`` (in this process without either)."""
    return get_executor(scheduler=args.scheduler, workers=args.workers)
