"""Running the report's notebooks: Jupyter's kernel manager, quieted at the source, and papermill.

:func:`run_notebook` executes one notebook with the parameters it declares; :func:`quiet_kernel_manager`
is the kernel manager it uses; :func:`quiet_kernels` sets what every kernel inherits from the build.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .export import ReportError

__all__ = ["quiet_kernel_manager", "quiet_kernels", "run_notebook"]


@functools.cache
def _ipc_folder() -> str:
    """A private folder for this process's kernel sockets, removed when the process exits."""
    folder = tempfile.mkdtemp(prefix="asd-kernels-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def quiet_kernel_manager():
    """The kernel manager of the build's notebooks: Jupyter's, with two sources of alarming noise
    removed at the source (nothing is filtered from the kernels' output).

    - Where Unix sockets exist, the kernel is reached over IPC instead of TCP: no network port
      carries the notebook's code, so the kernel has no cause to warn "Kernel is running over TCP
      without encryption".
    - A kernel is shut down without first being interrupted once its notebook is done: the
      interrupt Jupyter sends by default reaches an idle kernel, which logs "KeyboardInterrupt
      caught in kernel" as an error. (A kernel still busy when the build is stopped with Ctrl-C
      gets the terminal's interrupt itself, and is killed if it does not shut down.)
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum, default

    class QuietKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc" if os.name == "posix" else "tcp", config=True)

        @default("ip")
        def _private_ipc_path(self) -> str:
            # Jupyter's default IPC path may be the shared "kernel-ipc" in the working folder, where two kernels
            # started at once (two test workers, two builds) can pick the same socket: one path per kernel instead.
            if self.transport != "ipc":
                return super()._ip_default()
            return os.path.join(_ipc_folder(), f"kernel-{uuid.uuid4().hex}")

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return QuietKernelManager


def run_notebook(source: Path, target: Path, parameters: Mapping[str, Any], *, log=print) -> float:
    """Execute ``source`` with papermill into ``target`` (only the parameters it declares).

    Returns the wall time in seconds; raises :class:`ReportError` with the failing cell's error.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    declared = pm.inspect_notebook(str(source))
    params = {k: v for k, v in parameters.items() if k in declared}
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(source),
            str(target),
            parameters=params,
            kernel_name="python3",
            progress_bar=False,
            cwd=str(source.parent),
            start_timeout=120,
            kernel_manager_class=quiet_kernel_manager(),
        )
    except PapermillExecutionError as exc:
        trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(exc.traceback or []))
        raise ReportError(
            f"{source.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}\n{trace}\n"
            f"(executed copy with the error: {target})"
        ) from None
    return time.perf_counter() - start


def quiet_kernels() -> None:
    """Settings the notebook kernels inherit: no TensorFlow start-up chatter (CUDA probing on a
    machine without a GPU), one OpenBLAS thread (its spinning worker threads made small linear
    algebra, 384x384 covariances, far slower on a busy 2-core machine)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
