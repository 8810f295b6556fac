"""A trained run, loaded once per command and passed along: :class:`Run`.

``asd score``, :func:`asd.pipeline.evaluate` and the report load a run folder once
(:meth:`Run.load`: ``run.json``, the completion marker, ``config.yaml`` and the file manifest
checked) and ask the :class:`Run` for what they need; each machine type's detector,
thresholds and training scores are read when first asked for and kept.

The data a run was trained on is known by content: ``data_fingerprint`` hashes every clip's
path and content key (:func:`asd.features.store.content_key`), and ``data_kind`` is
``"synthetic"`` when every training clip's content is one that ``asd.synth`` recorded in a
generator manifest (:func:`data_kind`), wherever the clips were copied.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .config import DATA_DIR, StudyConfig
from .detectors import Detector, get_detector
from .errors import ASDError, LayoutError
from .runfolder import RUN_FILE, verify_files
from .synth import read_manifest
from .thresholds import TRAIN_SCORES_FILE, load_thresholds, refit_thresholds

#: Folders whose generator manifests :func:`data_kind` reads besides the data root's own and its
#: parents': the project's generated data (``make report`` writes ``data/synthetic``).
GENERATED_ROOTS: list[Path] = [DATA_DIR]


class Run:
    """A finished run folder written by :func:`asd.pipeline.train`.

    Parameters
    ----------
    folder : path-like
        The run folder.
    info : dict
        The content of ``run.json``.
    config : StudyConfig
        The config the run was trained with (``config.yaml``).

    Use :meth:`load`, which checks the folder, rather than the constructor.
    """

    def __init__(self, folder: str | os.PathLike, info: dict, config: StudyConfig):
        self.folder = Path(folder)
        self.info = info
        self.config = config
        self._detectors: dict[str, Detector] = {}
        self._thresholds: dict[str, dict] = {}

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> Run:
        """The finished run in ``run_dir``.

        Raises
        ------
        LayoutError
            No such folder, no ``run.json`` or one without the completion marker (an
            interrupted run), a truncated ``run.json``, or a ``config.yaml`` missing or not the
            one the models were trained with. The message names the file.
        """
        run_dir = Path(run_dir)
        info = _read_run_file(run_dir)
        config_file = run_dir / "config.yaml"
        if not config_file.is_file():
            raise LayoutError(f"{config_file}: missing; the run is damaged: retrain with `asd train --overwrite`")
        config = StudyConfig.from_yaml(config_file)
        if config.fingerprint() != info.get("config_fingerprint"):
            raise LayoutError(
                f"{config_file}: not the config the models were trained with (edited or replaced after training); "
                "its features would not fit the models: restore it or retrain"
            )
        verify_files(run_dir, info, "config.yaml")
        return cls(run_dir, info, config)

    # -- what run.json says ----------------------------------------------------------------

    @property
    def model(self) -> str:
        return self.info["model"]

    @property
    def machine_types(self) -> list[str]:
        return list(self.info["machine_types"])

    @property
    def data_root(self) -> Path:
        return Path(self.info.get("data_root", "."))

    def summary(self) -> dict:
        """``model``, ``machine_types``, ``data_root``, ``data_fingerprint`` and ``data_kind``."""
        keys = ("model", "machine_types", "data_root", "data_fingerprint", "data_kind")
        return {k: self.info.get(k) for k in keys}

    # -- per machine type, read when first asked for -----------------------------------------

    def type_dir(self, machine_type: str) -> Path:
        """The folder of ``machine_type``'s detector; :class:`LayoutError` if the run has none."""
        if machine_type not in self.info["machine_types"]:
            raise LayoutError(
                f"{self.folder}: no model for machine type {machine_type!r} (has {', '.join(self.machine_types)})"
            )
        return self.folder / machine_type

    def detector(self, machine_type: str) -> Detector:
        """The fitted detector of ``machine_type`` (its files checked against ``run.json``)."""
        if machine_type not in self._detectors:
            self._detectors[machine_type] = self._load_detector(machine_type)
        return self._detectors[machine_type]

    def _load_detector(self, machine_type: str) -> Detector:
        type_dir = self.type_dir(machine_type)
        verify_files(self.folder, self.info, machine_type)
        try:
            return get_detector(self.model).load(type_dir, self.config)
        except ASDError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the model's loader trips on, name the folder
            message = " ".join(str(exc).split())[:300]
            raise LayoutError(
                f"{type_dir}: cannot load the {self.model} model ({type(exc).__name__}: {message}); "
                "retrain with `asd train --overwrite`"
            ) from None

    def thresholds(self, machine_type: str, *, false_alarm_rate: float | None = None) -> dict:
        """``thresholds.json`` of ``machine_type``, or thresholds refitted at ``false_alarm_rate``."""
        if false_alarm_rate is not None:
            return refit_thresholds(self.type_dir(machine_type), false_alarm_rate=false_alarm_rate)
        if machine_type not in self._thresholds:
            self._thresholds[machine_type] = load_thresholds(self.type_dir(machine_type))
        return self._thresholds[machine_type]

    def train_scores(self, machine_type: str) -> pd.DataFrame:
        """``train_scores.csv`` of ``machine_type`` as text columns (paths, IDs, content keys, scores)."""
        return pd.read_csv(self.type_dir(machine_type) / TRAIN_SCORES_FILE, dtype=str, keep_default_na=False)


def as_run(run: Run | str | os.PathLike) -> Run:
    """``run`` itself, or the run loaded from the folder ``run``."""
    return run if isinstance(run, Run) else Run.load(run)


#: Runs a worker process keeps loaded between its units of work (:func:`worker_run`), the newest last.
_WORKER_RUNS: OrderedDict[tuple[str, str], Run] = OrderedDict()
#: How many runs :func:`worker_run` keeps (a sweep's worker moves from run to run; the last two stay).
WORKER_RUNS_KEPT = 2
_WORKER_RUNS_LOCK = threading.Lock()


def worker_run(run_dir: str | os.PathLike) -> Run:
    """The run in ``run_dir``, loaded once per process while its ``run.json`` stays the same.

    For the units of work on a Dask worker (:mod:`asd.executor`), which get the run by folder: without
    it each unit would load the run again (check every file's SHA-256, read each detector's model and,
    for a Keras model, trace its prediction anew); with it a worker does so once per run and keeps the
    detectors between units. A run folder replaced by a new training has a new ``run.json`` (its file
    manifest changes), so it is loaded anew; a folder that can no longer be read raises as
    :meth:`Run.load` does.
    """
    folder = Path(run_dir)
    try:
        key = (str(folder.resolve()), hashlib.sha256((folder / RUN_FILE).read_bytes()).hexdigest())
    except OSError:
        key = None
    if key is None:
        return Run.load(folder)  # the one line naming what is wrong
    with _WORKER_RUNS_LOCK:
        if key in _WORKER_RUNS:
            _WORKER_RUNS.move_to_end(key)
            return _WORKER_RUNS[key]
    run = Run.load(folder)
    with _WORKER_RUNS_LOCK:
        _WORKER_RUNS[key] = run
        while len(_WORKER_RUNS) > WORKER_RUNS_KEPT:
            _WORKER_RUNS.popitem(last=False)
    return run


def load_run(run_dir: str | os.PathLike) -> Run:
    """:meth:`Run.load`."""
    return Run.load(run_dir)


def load_detector(run: Run | str | os.PathLike, machine_type: str) -> Detector:
    """The fitted detector of one machine type of a run (a :class:`Run` or its folder)."""
    return as_run(run).detector(machine_type)


def data_kind(keys: Iterable[str], data_root: str | os.PathLike) -> str:
    """``"synthetic"`` when every clip's content key is one ``asd.synth`` recorded, else ``"real"``.

    The generator records the SHA-256 of every clip it writes in its manifest (``dataset.json``,
    :func:`asd.synth.read_manifest`); the manifests read are those of ``data_root`` and its
    parents and of :data:`GENERATED_ROOTS` and their sub-folders. A copy of generated clips
    elsewhere is synthetic; a generated folder whose clips were changed or mixed with
    recordings is not.

    Parameters
    ----------
    keys : iterable of str
        Content keys (:func:`asd.features.store.content_key`) of the training clips.
    data_root : path-like
        The folder the clips were found in.
    """
    keys = set(keys)
    if not keys:
        return "real"
    recorded: set[str] = set()
    for folder in _manifest_folders(Path(data_root)):
        manifest = read_manifest(folder) if folder.is_dir() else None
        if manifest is not None:
            recorded.update(row.get("sha256") for row in manifest.get("clips", []))
            if keys <= recorded:
                return "synthetic"
    return "real"


def _manifest_folders(data_root: Path) -> list[Path]:
    root = data_root.resolve()
    folders = [root, *root.parents]
    for generated in GENERATED_ROOTS:
        if generated.is_dir():
            folders += [generated, *sorted(p for p in generated.iterdir() if p.is_dir())]
    return list(dict.fromkeys(folders))


def _read_run_file(run_dir: Path) -> dict:
    """``run.json`` of a finished run; :class:`LayoutError` naming what is wrong."""
    if not run_dir.exists():
        left = sorted(run_dir.parent.glob(f"{run_dir.name}.old-*")) if run_dir.parent.is_dir() else []
        hint = f" (an interrupted replacement left the previous run in {left[0]})" if left else ""
        raise LayoutError(f"{run_dir}: not a finished run (folder not found){hint}; run `asd train` first")
    if not run_dir.is_dir():
        raise LayoutError(f"{run_dir}: is a file, expected a run folder written by `asd train`")
    run_file = run_dir / RUN_FILE
    if not run_file.is_file():
        raise LayoutError(f"{run_dir}: not a finished run (no run.json); run `asd train` first")
    try:
        info = json.loads(run_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LayoutError(f"{run_file}: truncated or not JSON ({exc}); retrain with `asd train --overwrite`") from None
    if not isinstance(info, dict) or info.get("complete") is not True or not {"model", "machine_types"} <= set(info):
        raise LayoutError(
            f"{run_file}: not a finished run (no completion marker: interrupted, or written by an older asd); "
            "retrain with `asd train --overwrite`"
        )
    return info
