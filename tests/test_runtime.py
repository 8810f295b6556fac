import os
import subprocess
import sys

import pytest

from asd import __version__, runtime
from asd.cli import main


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not isinstance(f, runtime._QuietImportFinder)])
    return monkeypatch


def test_gpu_device_nodes_are_detected(tmp_path):
    assert not runtime.has_gpu_device((str(tmp_path / "nvidia0"),))
    (tmp_path / "nvidia0").write_text("")
    assert runtime.has_gpu_device((str(tmp_path / "missing"), str(tmp_path / "nvidia0")))


def test_with_a_gpu_nothing_is_filtered_or_hidden(clean_env):
    clean_env.setenv("CUDA_VISIBLE_DEVICES", "0")
    runtime.quiet_tensorflow(gpu=True)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    assert not any(isinstance(f, runtime._QuietImportFinder) for f in sys.meta_path)


def test_without_a_gpu_the_import_is_filtered_and_the_user_level_kept(clean_env):
    clean_env.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    runtime.quiet_tensorflow(gpu=False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"  # the user's choice wins
    if "tensorflow" not in sys.modules:
        assert sum(isinstance(f, runtime._QuietImportFinder) for f in sys.meta_path) == 1
        runtime.quiet_tensorflow(gpu=False)
        assert sum(isinstance(f, runtime._QuietImportFinder) for f in sys.meta_path) == 1  # installed once


def test_only_the_retracing_warning_is_dropped(caplog):
    import logging

    runtime.quiet_tensorflow(gpu=True)
    runtime.quiet_tensorflow(gpu=True)
    tf_logger = logging.getLogger("tensorflow")
    assert sum(isinstance(f, runtime._RetracingFilter) for f in tf_logger.filters) == 1
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        tf_logger.warning(
            "5 out of the last 5 calls to <function f> triggered tf.function retracing. Tracing is costly"
        )
        tf_logger.warning("a real problem")
        tf_logger.error("an error")
    assert [r.getMessage() for r in caplog.records] == ["a real problem", "an error"]


def test_filtered_stderr_drops_noise_and_keeps_the_rest(capfd):
    with runtime.filtered_stderr():
        os.write(2, b"I0000 00:00:1.2 123 cudart_stub.cc:31] Could not find cuda drivers on your machine\n")
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"something the user must see\n")
    assert capfd.readouterr().err == "something the user must see\n"


def test_tensorflow_imports_quietly_on_a_cpu_only_machine():
    pytest.importorskip("tensorflow")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = (
        "from asd.runtime import quiet_tensorflow; quiet_tensorflow(gpu=False); import tensorflow as tf; "
        "print(len(tf.config.list_physical_devices('CPU')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    assert done.stdout.strip() == "1"
    assert not runtime.NOISE.search(done.stderr), done.stderr
    assert "I0000" not in done.stderr, done.stderr  # no informational C++ log line at all


def test_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.strip() == f"asd {__version__}"


def test_single_malloc_arena_is_set_on_glibc_and_harmless_elsewhere(monkeypatch):
    import platform

    from asd.runtime import single_malloc_arena

    expected = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"
    assert single_malloc_arena() is expected
    assert single_malloc_arena() is expected  # idempotent
    monkeypatch.setattr(platform, "libc_ver", lambda: ("musl", "1.2"))
    assert single_malloc_arena() is False


def test_configure_allocators_pools_tensorflow_cpu_memory_unless_the_user_chose(monkeypatch):
    from asd.runtime import TF_CPU_BFC, configure_allocators

    monkeypatch.delenv(TF_CPU_BFC, raising=False)
    configure_allocators()
    assert os.environ[TF_CPU_BFC] == "1"
    monkeypatch.setenv(TF_CPU_BFC, "0")
    configure_allocators()
    assert os.environ[TF_CPU_BFC] == "0"  # the user's choice wins


def test_configured_process_really_uses_tensorflows_pooling_allocator():
    # Only TensorFlow's BFC allocator keeps statistics: the default CPU allocator raises ValueError.
    code = (
        "from asd.runtime import configure_allocators, quiet_tensorflow\n"
        "quiet_tensorflow(); configure_allocators()\n"
        "import tensorflow as tf\n"
        "tf.zeros((256, 1024))\n"
        "print(tf.config.experimental.get_memory_info('CPU:0')['peak'] >= 256 * 1024 * 4)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != runtime.TF_CPU_BFC}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "True"


def test_kernel_shutdown_filter_drops_only_the_kernels_pending_control_task():
    import logging

    from asd.runtime import _KernelShutdownFilter

    def record(message):
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None, None)

    kernel = "Task was destroyed but it is pending!\ntask: <Task pending coro=<Kernel.dispatch_control() running>>"
    other = "Task was destroyed but it is pending!\ntask: <Task pending coro=<my_code() running>>"
    assert not _KernelShutdownFilter().filter(record(kernel))
    assert _KernelShutdownFilter().filter(record(other))
    assert _KernelShutdownFilter().filter(record("Exception in callback Kernel.dispatch_control"))
