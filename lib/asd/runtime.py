"""Process set-up for the ``asd`` command line: TensorFlow's start-up noise on machines without a GPU, and memory
allocators.

Importing TensorFlow on a machine without a CUDA driver prints lines such as
``cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.`` and
``failed call to cuInit``: C++ log lines written straight to the process's standard error
before any logging is configured, so neither Python's logging nor ``-q`` can hide them.

:func:`quiet_tensorflow` (called by :func:`asd.cli.main`, the report's training workers, the
notebooks' kernels on importing :mod:`asd.report` and the tests, before anything imports
TensorFlow):

- sets ``TF_CPP_MIN_LOG_LEVEL`` (unless the user has set it): ``2`` (warnings and errors
  hidden, fatal shown) when a GPU device node is present, ``3`` when none is;
- on a machine without a GPU, filters the known start-up lines (:data:`NOISE`) out of the
  standard error written while ``tensorflow`` is first imported; every other line written
  meanwhile is passed on unchanged;
- drops TensorFlow's "triggered tf.function retracing" warning (:class:`_RetracingFilter`: the
  first trace of each new per-machine-type model counted as a retrace), and no other record.

Nothing hides a GPU: ``CUDA_VISIBLE_DEVICES`` is never touched, and where a GPU device node
exists nothing is filtered, so TensorFlow finds and reports the GPU as usual.

:func:`single_malloc_arena` (called by :func:`asd.cli.main` and by the report's training
workers, before TensorFlow starts its threads): with glibc's default of several malloc arenas,
each thread that Keras and ``tf.data`` use to feed a :class:`keras.utils.PyDataset` to the
model gets its own arena, which is trimmed back and faulted in again batch after batch. On the
dense autoencoder's batches that cost about as much kernel time as the training's own
arithmetic (docs/benchmarks.md); one arena keeps the memory. It changes no number.

:func:`pooled_tensorflow_memory` (called by :func:`configure_allocators`, with the arena limit):
TensorFlow's CPU tensors come from ``malloc`` by default. A training step's activations are
blocks of megabytes that glibc maps afresh (above its mmap threshold, which never exceeds 32 MB)
or trims back to the system once freed, so every step faults their pages in again: on the ID
classifier, about 110 MB of new pages per step and a third of its training's CPU time. ``TF_CPU_ALLOCATOR_USE_BFC=1``
makes TensorFlow keep its CPU
tensors in its own pooling allocator (the BFC allocator it uses on GPUs, growing as needed),
which reuses the memory step after step. It changes no number either (docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.abc
import logging
import os
import platform
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: Start-up lines of a CPU-only TensorFlow import that say nothing the user can act on.
NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|cudart_stub\.cc|cuda_platform\.cc|failed call to cuInit|Could not find cuda drivers"
    r"|cpu_feature_guard\.cc|To enable the following instructions:.*rebuild TensorFlow"
    r"|Unable to register cu(?:DNN|FFT|BLAS) factory|computation placer already registered"
    r"|TF-TRT Warning: Could not find TensorRT"
    r"|oneDNN custom operations are on"  # informational: oneDNN's round-off (asd's seeds fix the numbers per machine)
)

#: Device nodes whose presence means a GPU TensorFlow could use (NVIDIA, WSL, ROCm).
GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg", "/dev/kfd")


#: ``mallopt`` parameter of glibc's arena limit (``M_ARENA_MAX`` in ``malloc.h``).
M_ARENA_MAX = -8


def single_malloc_arena() -> bool:
    """Limit glibc's malloc to one arena in this process (see the module docstring).

    Call it before threads start, i.e. before TensorFlow is imported. Elsewhere than on Linux
    with glibc it does nothing.

    Returns
    -------
    bool
        Whether the limit was set.
    """
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        return bool(ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1))
    except (OSError, AttributeError):
        return False


#: TensorFlow's switch for its pooling (BFC) allocator on the CPU, read at its first allocation.
TF_CPU_BFC = "TF_CPU_ALLOCATOR_USE_BFC"


def pooled_tensorflow_memory() -> None:
    """Ask TensorFlow to pool its CPU tensors (see the module docstring), unless the user has set it.

    Takes effect when called before TensorFlow's first tensor is allocated.
    """
    os.environ.setdefault(TF_CPU_BFC, "1")


def configure_allocators() -> bool:
    """:func:`single_malloc_arena` and :func:`pooled_tensorflow_memory`: call before TensorFlow is imported.

    Returns
    -------
    bool
        Whether the malloc arena limit was set.
    """
    pooled_tensorflow_memory()
    return single_malloc_arena()


def has_gpu_device(nodes: tuple[str, ...] = GPU_DEVICE_NODES) -> bool:
    """``True`` when a GPU device node exists (a cheap check that imports nothing)."""
    return any(Path(node).exists() for node in nodes)


def quiet_tensorflow(*, gpu: bool | None = None) -> None:
    """Set TensorFlow's log level and, without a GPU, filter its start-up noise; see the module docstring.

    Parameters
    ----------
    gpu : bool, optional
        Whether a GPU is present; default :func:`has_gpu_device`.
    """
    gpu = has_gpu_device() if gpu is None else gpu
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if gpu else "3")
    tf_logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _RetracingFilter) for f in tf_logger.filters):
        tf_logger.addFilter(_RetracingFilter())
    if gpu or "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, _QuietImportFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietImportFinder())


def quiet_kernel_shutdown() -> None:
    """In a notebook kernel: drop asyncio's "Task was destroyed but it is pending" record for the
    kernel's own control-channel task, and only it (:class:`_KernelShutdownFilter`)."""
    asyncio_logger = logging.getLogger("asyncio")
    if not any(isinstance(f, _KernelShutdownFilter) for f in asyncio_logger.filters):
        asyncio_logger.addFilter(_KernelShutdownFilter())


class _KernelShutdownFilter(logging.Filter):
    """Drops asyncio's report of the kernel's control-channel task (``Kernel.dispatch_control``) left
    pending when the build shuts the kernel down after its notebook: the kernel is done, nothing is
    lost, and the line would read as an error at the end of a successful ``make report``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("Task was destroyed but it is pending" in message and "Kernel.dispatch_control" in message)


class _RetracingFilter(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning, and only it.

    Every machine type (and every cross-fitting fold) trains its own Keras model, and each new
    model traces its own predict and train functions once. TensorFlow counts those first traces
    of new models as retraces of one function and warns after five; nothing is traced twice for
    the same model and no time is lost, so the warning says nothing the user can act on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def filtered_stderr(pattern: re.Pattern = NOISE) -> Iterator[None]:
    """Capture file descriptor 2 (C and Python writes alike); afterwards pass on the lines not matching ``pattern``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [
                line
                for line in capture.read().decode("utf-8", "replace").splitlines(keepends=True)
                if not pattern.search(line)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietImportFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the first ``import tensorflow`` in :func:`filtered_stderr`, then removes itself."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self._loader
        module.__spec__.loader = self._loader
        with filtered_stderr():
            self._loader.exec_module(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)
