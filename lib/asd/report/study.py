"""What the report builds: the models and their epochs, the config, and where everything goes.

The notebooks and :mod:`asd.report.builder` share these helpers, so an interactive notebook run and
``make report`` train the same models with the same settings. The model list is the detector
registry (:data:`asd.detectors.DETECTORS`); what a detector *is* (whether it trains in epochs,
whether it reconstructs its input) comes from the detector class's attributes. How the report
*schedules* it (its epochs in ``make report``, the relative cost that orders the trainings) is
the report's own business: :data:`REPORT_SCHEDULE`, keyed by detector name, with
:data:`DEFAULT_SCHEDULE` for every detector it does not list, so adding a detector never
touches this package.

Folders
    ``make report`` on the default synthetic data writes the committed report: ``report/``,
    ``figures/`` and the work folder ``runs/report/``. A build on any other data folder writes
    into ``reports/<data-name>/`` (:func:`report_folders`) and never touches the committed
    report. Notebooks run by hand (Jupyter, no papermill) default to :data:`INTERACTIVE_WORK`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..config import DATA_DIR, FIGURES_DIR, PROJECT_ROOT, REPORT_DIR, RUNS_DIR, StudyConfig, load_config

#: Where ``make report`` generates the embedded synthetic dataset.
DEFAULT_DATA = DATA_DIR / "synthetic"
#: The work folder (runs, results, tables, staged figures) of the committed report.
DEFAULT_WORK = RUNS_DIR / "report"
#: Builds on other data go to ``REPORTS_DIR / <data-name>``.
REPORTS_DIR = PROJECT_ROOT / "reports"
#: The work folder of notebooks run by hand (the notebooks' parameter defaults name it too).
INTERACTIVE_WORK = RUNS_DIR / "notebooks"
#: Epochs of every trainable model with ``--quick``.
QUICK_EPOCHS = 1
#: The detector the report recommends; :func:`recommended_model` falls back when it is not
#: registered in this installation.
RECOMMENDED_MODEL = "multistat"
#: The study's own model: the image autoencoder whose reconstructions the report shows.
STUDY_MODEL = "conv_ae"
#: The reconstruction figures of the study: (machine type, machine ID).
RECONSTRUCTION_CASES = (("pump", "00"), ("ToyCar", "03"))


@dataclass(frozen=True)
class Schedule:
    """How ``make report`` trains one detector.

    Attributes
    ----------
    epochs : int or None
        Epochs in the report's build; None: the config's (``config.training.epochs_for``).
    epoch_cost : float
        About the CPU seconds of one epoch on 1,000 training clips on one TensorFlow thread (a
        report build's training table, docs/report.md "Time"); only orders the trainings that
        run side by side (:mod:`asd.report.training`), the longest first.
    """

    epochs: int | None = None
    epoch_cost: float = 0.0


#: The report's schedule of the detectors that train in epochs, by name. Fewer epochs than
#: ``StudyConfig()`` for the conv VAE and the ID classifier keep the whole build on the default
#: data within its time budget (docs/report.md); the conv AE trains as in the study.
REPORT_SCHEDULE: dict[str, Schedule] = {
    "conv_ae": Schedule(epochs=30, epoch_cost=4.3),
    "dense_ae": Schedule(epochs=10, epoch_cost=15.8),
    "conv_vae": Schedule(epochs=10, epoch_cost=5.7),
    "id_classifier": Schedule(epochs=5, epoch_cost=17.8),
}
#: The schedule of a detector :data:`REPORT_SCHEDULE` does not list: the config's epochs and,
#: if it trains in epochs, the largest listed cost (an unknown training starts among the first,
#: so that it cannot hold the build up at the end).
DEFAULT_SCHEDULE = Schedule(epochs=None, epoch_cost=max(s.epoch_cost for s in REPORT_SCHEDULE.values()))


def report_schedule(model: str) -> Schedule:
    """The report's :class:`Schedule` of detector ``model`` (:data:`DEFAULT_SCHEDULE` if unlisted)."""
    return REPORT_SCHEDULE.get(model, DEFAULT_SCHEDULE)


def project_path(path: str | os.PathLike) -> Path:
    """``path`` as an absolute path; relative paths are taken from the project root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def display_path(path: str | os.PathLike) -> str:
    """``path`` relative to the project root when it lies inside it (``../`` for siblings such
    as ``../shared``), else its folder name only: a report never prints the build machine's
    absolute paths."""
    path = project_path(path).resolve()
    root = PROJECT_ROOT.resolve()
    for prefix, base in (("", root), ("../", root.parent)):
        try:
            return prefix + path.relative_to(base).as_posix()
        except ValueError:
            continue
    return path.name


def data_name(data: str | os.PathLike) -> str:
    """A folder name for the report of a dataset: its folder name in lower case, characters
    other than letters, digits, ``-``, ``_`` and ``.`` replaced by ``-``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", project_path(data).resolve().name).strip("-.").lower()
    return name or "data"


def report_folders(data: str | os.PathLike) -> dict[str, Path]:
    """Where the report of ``data`` goes: ``out`` (HTML, PDF, build_info.json, executed
    notebooks), ``figures`` and ``work`` (runs, results, tables).

    The default synthetic data (:data:`DEFAULT_DATA`) gives the committed report (``report/``,
    ``figures/``, ``runs/report/``); any other folder ``reports/<data-name>/`` with
    ``figures/`` and ``runs/`` inside it (:func:`data_name`).
    """
    if project_path(data).resolve() == DEFAULT_DATA.resolve():
        return {"out": REPORT_DIR, "figures": FIGURES_DIR, "work": DEFAULT_WORK}
    root = REPORTS_DIR / data_name(data)
    return {"out": root, "figures": root / "figures", "work": root / "runs"}


def resolve_models(models: str | Sequence[str] | None) -> list[str]:
    """Model names to run: ``"all"``, ``None`` or empty -> every registered detector."""
    from ..detectors import DETECTORS, get_detector

    if models is None or models == "all" or (not isinstance(models, str) and len(models) == 0):
        return list(DETECTORS)
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    for name in models:
        get_detector(name)  # UnknownModelError names the known ones
    return list(dict.fromkeys(models))


def report_epochs() -> dict[str, int]:
    """Epochs of ``make report`` per registered detector that trains in epochs, by name (:data:`REPORT_SCHEDULE`).

    Detectors whose schedule leaves them None train for the config's epochs.

    Returns
    -------
    dict of str to int
        Sorted by name, e.g. ``{"conv_ae": 30, "conv_vae": 10, "dense_ae": 10, "id_classifier": 5}``.
    """
    from ..detectors import DETECTORS

    epochs = {name: report_schedule(name).epochs for name, cls in DETECTORS.items() if cls.trains_in_epochs}
    return {name: int(epochs[name]) for name in sorted(epochs) if epochs[name] is not None}


def trains_in_epochs(model: str) -> bool:
    """Whether a detector is trained by gradient descent in epochs rather than fitted in one
    step (the detector class's ``trains_in_epochs`` attribute)."""
    from ..detectors import get_detector

    return bool(get_detector(model).trains_in_epochs)


def reconstructs_input(model: str) -> bool:
    """Whether a detector scores a clip by how badly it reconstructs it (the detector class's
    ``reconstructs_input`` attribute)."""
    from ..detectors import get_detector

    return bool(get_detector(model).reconstructs_input)


def recommended_model(models: Sequence[str] | None = None) -> str:
    """:data:`RECOMMENDED_MODEL` when it is registered (and among ``models`` when given), else
    the first detector that does not reconstruct its input, else the first model."""
    from ..detectors import DETECTORS

    candidates = list(models) if models else list(DETECTORS)
    if RECOMMENDED_MODEL in DETECTORS and RECOMMENDED_MODEL in candidates:
        return RECOMMENDED_MODEL
    others = [m for m in candidates if m in DETECTORS and not reconstructs_input(m)]
    return (others or candidates)[0]


def study_config(
    *,
    epochs: Mapping[str, int] | None = None,
    quick: bool = False,
    seed: int = 0,
    config_file: str | os.PathLike | None = None,
) -> StudyConfig:
    """The config the report trains with.

    The study's defaults (or ``config_file``), with :func:`report_epochs` unless a config file
    is given, then ``epochs`` (per model), then ``quick`` (every model :data:`QUICK_EPOCHS`
    epochs); ``seed`` seeds training.
    """
    config = load_config(project_path(config_file)) if config_file else StudyConfig()
    if not config_file:
        config.training.epochs.update(report_epochs())
    config.training.epochs.update({k: int(v) for k, v in (epochs or {}).items()})
    if quick:
        config.training.epochs = {name: QUICK_EPOCHS for name in config.training.epochs}
        config.training.default_epochs = QUICK_EPOCHS
    config.training.seed = int(seed)
    return config


def optimizer_steps(n_clips: int, config: StudyConfig, model: str) -> int:
    """Gradient steps of an image autoencoder on one machine type: epochs times the batches of
    the clips left after Keras' validation split."""
    t = config.training
    n_fit = math.ceil(n_clips * (1.0 - t.validation_split)) if n_clips * t.validation_split >= 1 else n_clips
    return t.epochs_for(model) * math.ceil(n_fit / t.batch_size)


@dataclass(frozen=True)
class WorkDir:
    """The report's work folder and what the notebooks write into it."""

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", project_path(root))

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def build_json(self) -> Path:
        return self.root / "build.json"

    def run(self, model: str) -> Path:
        return self.runs / model

    def result(self, model: str) -> Path:
        return self.results / model

    def table(self, name: str) -> Path:
        return self.tables / f"{name}.csv"

    def write_table(self, name: str, frame: pd.DataFrame, **kwargs) -> Path:
        from ..atomic import write_csv_atomic

        kwargs.setdefault("index", False)
        return write_csv_atomic(self.table(name), frame, **kwargs)

    def read_table(self, name: str, **kwargs) -> pd.DataFrame:
        kwargs.setdefault("dtype", {"machine_id": str})
        return pd.read_csv(self.table(name), **kwargs)

    def has_table(self, name: str) -> bool:
        return self.table(name).is_file()

    def trained_models(self) -> list[str]:
        """Models with a finished run (``run.json``), in the order the training wrote them."""
        order = self.root / "models.json"
        names = (
            json.loads(order.read_text())
            if order.is_file()
            else sorted(p.name for p in self.runs.glob("*") if p.is_dir())
        )
        return [n for n in names if (self.run(n) / "run.json").is_file()]
