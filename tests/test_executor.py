"""asd.executor: the units of train/evaluate/score in this process or on a Dask cluster, with the same results."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from asd.config import StudyConfig
from asd.errors import ASDError, ConfigError
from asd.executor import SCHEDULER_ENV, InProcessExecutor, UnitError, get_executor
from asd.pipeline import evaluate, train

STATISTICS = ["multistat", "embedding_knn", "embedding_mahalanobis"]


def test_without_a_scheduler_nothing_imports_dask(tiny_root, tmp_path):
    code = (
        "import sys\n"
        "from asd.cli import main\n"
        f"assert main(['-q', 'train', '--data', {str(tiny_root)!r}, '--model', 'multistat', '--out', "
        f"{str(tmp_path / 'run')!r},"
        " '--machine-types', 'valve', '--no-cache']) == 0\n"
        f"assert main(['-q', 'evaluate', '--data', {str(tiny_root)!r}, '--run', {str(tmp_path / 'run')!r}, "
        "'--no-cache']) == 0\n"
        f"assert main(['-q', 'score', '--run', {str(tmp_path / 'run')!r}, {str(tiny_root / 'valve' / 'test')!r}]) == "
        "0\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not loaded, loaded\n"
    )
    env = {k: v for k, v in os.environ.items() if k != SCHEDULER_ENV}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_command_line_picks_the_executor(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert isinstance(get_executor(), InProcessExecutor) and isinstance(get_executor(workers=1), InProcessExecutor)
    with pytest.raises(ConfigError, match="--workers must be at least 1"):
        get_executor(workers=0)
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://127.0.0.1:1")
    with pytest.raises(ConfigError, match="either it or --scheduler"):
        get_executor(workers=2)
    assert InProcessExecutor().map(abs, [-1, 2, -3]) == [1, 2, 3]


@pytest.fixture(scope="module")
def cluster():
    """A local cluster of 2 worker processes (one thread each), started once for the module; a task is given up
    after its second worker died (the default allows three)."""
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")  # its config defaults first, so that the block below restores them
    from asd.executor import DaskExecutor

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        executor = DaskExecutor(workers=2)
    with executor:
        yield executor


def _files(run_dir):
    return json.loads((run_dir / "run.json").read_text())["files"]


def test_statistics_detectors_are_bit_identical_on_a_cluster(tiny_root, tmp_path, cluster, monkeypatch):
    from asd.scoring import score_paths

    monkeypatch.chdir(tiny_root.parent)  # the data by a relative path: the workers get it absolute
    data, config = tiny_root.name, StudyConfig()
    for model in STATISTICS:
        runs = {}
        for where, executor in (("here", None), ("cluster", cluster)):
            run = runs[where] = tmp_path / where / model
            cache = tmp_path / f"cache-{where}"
            train(
                data,
                model=model,
                out=run,
                config=config,
                machine_types=["valve"],
                cache_dir=cache,
                progress=False,
                executor=executor,
            )
            evaluate(data, run_dir=run, cache_dir=cache, progress=False, executor=executor)
        assert _files(runs["here"]) == _files(runs["cluster"]), model  # every file's SHA-256
        for name in ("scores.csv", "results.csv", "result.csv"):
            assert (runs["here"] / "results" / name).read_bytes() == (runs["cluster"] / "results" / name).read_bytes()
    here = score_paths(runs["here"], [tiny_root / "valve" / "test"])
    monkeypatch.setattr("asd.scoring.SCORE_CHUNK_FILES", 5)  # 16 files in 4 tasks
    there = score_paths(runs["here"], [tiny_root / "valve" / "test"], executor=cluster)
    assert len(here) == 16 and here.equals(there)
    assert here.attrs["departures"] == there.attrs["departures"]


def test_a_dcase_year_per_domain_is_bit_identical_on_a_cluster(tmp_path, cluster):
    """DCASE 2022 (three sections, source and target domains): the run, the official result files and the
    scores of new files are the same in process and on the cluster."""
    from asd.scoring import score_paths
    from asd.synth import generate_dataset

    root = tmp_path / "dcase2022"
    generate_dataset(root, size="tiny", seed=0, machine_types=["valve"], format="dcase2022", progress=False)
    runs = {}
    for where, executor in (("here", None), ("cluster", cluster)):
        run = runs[where] = tmp_path / where
        cache = tmp_path / f"cache-{where}"
        train(root, model="multistat", out=run, cache_dir=cache, progress=False, dataset="dcase2022", executor=executor)
        evaluate(root, run_dir=run, cache_dir=cache, progress=False, dataset="dcase2022", executor=executor)
    assert _files(runs["here"]) == _files(runs["cluster"])
    results = sorted(p.relative_to(runs["here"]) for p in (runs["here"] / "results").rglob("*") if p.is_file())
    assert results and results == sorted(
        p.relative_to(runs["cluster"]) for p in (runs["cluster"] / "results").rglob("*") if p.is_file()
    )
    for name in results:
        assert (runs["here"] / name).read_bytes() == (runs["cluster"] / name).read_bytes(), name
    here = score_paths(runs["here"], [root / "valve" / "test"])
    there = score_paths(runs["here"], [root / "valve" / "test"], executor=cluster)
    assert len(here) > 1 and here.equals(there)


def test_the_errors_a_worker_raises_reach_the_client_as_raised():
    import pickle

    from asd.errors import AudioError, WriteError

    for error in (AudioError("a.wav", "empty"), WriteError("run/x.csv", "disk full"), UnitError("fan: failed")):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)


def _install_killer(marker: str, always: bool) -> None:
    """On a worker: :func:`asd.pipeline.train_unit` finishes its work, then kills its worker process
    (the first time only, unless ``always``), before the outcome reaches the client."""
    import asd.pipeline as pipeline

    original = getattr(pipeline.train_unit, "__wrapped__", pipeline.train_unit)

    def killing(unit):
        outcome = original(unit)
        if always or not os.path.exists(marker):
            open(marker, "a").close()
            os._exit(1)
        return outcome

    killing.__wrapped__ = original
    pipeline.train_unit = killing


def _remove_killer() -> None:
    import asd.pipeline as pipeline

    pipeline.train_unit = getattr(pipeline.train_unit, "__wrapped__", pipeline.train_unit)


@pytest.fixture
def killer(cluster):
    """Install the killer on every worker, those that replace a killed one included (a worker plugin)."""
    import cloudpickle
    from distributed import WorkerPlugin

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers need not import this test module

    class Killer(WorkerPlugin):
        def __init__(self, marker, always):
            self.marker, self.always = marker, always

        def setup(self, worker):
            _install_killer(self.marker, self.always)

        def teardown(self, worker):
            _remove_killer()

    def install(marker, *, always):
        cluster.client.wait_for_workers(1, timeout=120)  # a worker killed earlier may still be restarting
        cluster.client.register_plugin(Killer(str(marker), always), name="killer")

    yield install
    cluster.client.unregister_worker_plugin("killer")


def test_a_worker_killed_mid_task_loses_nothing(tiny_root, tmp_path, cluster, killer):
    killer(tmp_path / "killed-once", always=False)
    run = train(
        tiny_root,
        model="multistat",
        out=tmp_path / "run",
        machine_types=["valve"],
        cache_dir=False,
        progress=False,
        executor=cluster,
    )
    assert (tmp_path / "killed-once").exists() and run["complete"]  # a worker died; the task ran again elsewhere
    train(
        tiny_root, model="multistat", out=tmp_path / "alone", machine_types=["valve"], cache_dir=False, progress=False
    )
    assert _files(tmp_path / "run") == _files(tmp_path / "alone")


def test_a_task_whose_workers_keep_dying_ends_in_one_line_and_no_run_folder(tiny_root, tmp_path, cluster, killer):
    killer(tmp_path / "killed", always=True)
    with pytest.raises(UnitError, match=r"^multistat on valve: the Dask workers running it died 2 times") as caught:
        train(
            tiny_root,
            model="multistat",
            out=tmp_path / "run",
            machine_types=["valve"],
            cache_dir=False,
            progress=False,
            executor=cluster,
        )
    assert isinstance(caught.value, ASDError) and "\n" not in str(caught.value)
    assert not any(tmp_path.glob("run*"))  # neither the run nor its build folder


def test_a_unit_that_raises_is_named(tiny_root, tmp_path, cluster):
    (tmp_path / "data" / "valve" / "train").mkdir(parents=True)
    (tmp_path / "data" / "valve" / "train" / "normal_id_00_00000000.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(ASDError, match="valve: none of the 1 training clips could be read"):
        train(
            tmp_path / "data",
            model="multistat",
            out=tmp_path / "run",
            cache_dir=False,
            progress=False,
            executor=cluster,
        )
    assert not any(tmp_path.glob("run*"))


def test_the_commands_run_on_the_scheduler_given(tiny_root, tmp_path, cluster, monkeypatch, capsys):
    from asd.cli import main

    address = cluster.client.scheduler.address
    run = str(tmp_path / "run")
    assert (
        main(
            [
                "-q",
                "train",
                "--data",
                str(tiny_root),
                "--model",
                "multistat",
                "--out",
                run,
                "--machine-types",
                "valve",
                "--no-cache",
                "--scheduler",
                address,
            ]
        )
        == 0
    )
    monkeypatch.setenv(SCHEDULER_ENV, address)
    assert main(["-q", "evaluate", "--data", str(tiny_root), "--run", run, "--no-cache"]) == 0
    assert main(["-q", "score", "--run", run, str(tiny_root / "valve" / "test"), "--out", str(tmp_path / "s.csv")]) == 0
    assert main(["-q", "score", "--run", run, str(tiny_root / "valve" / "test"), "--workers", "2"]) == 2
    assert "give either it or --scheduler" in capsys.readouterr().err
    assert (tmp_path / "run" / "results" / "results.csv").is_file() and (tmp_path / "s.csv").is_file()


def test_a_worker_extracts_features_on_its_one_thread(cluster, monkeypatch):
    """``prepare_worker`` caps a task's own thread pools at one thread (``$ASD_THREADS``); the client is untouched."""
    from asd.features.parallel import THREADS_ENV, default_workers

    assert set(cluster.client.run(default_workers).values()) == {1}
    monkeypatch.setenv(THREADS_ENV, "3")
    assert default_workers() == 3
    monkeypatch.setenv(THREADS_ENV, "none")  # not a count: the cores, as without it
    assert default_workers() >= 1
