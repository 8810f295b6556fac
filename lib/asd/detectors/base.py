"""The detector interface, the registry, the shared Keras fit loop and the saved-state check.

Every detector family module (:mod:`asd.detectors.autoencoders`, ...) imports from here and
from lower layers only (config, features, the network builders), never from another family,
so the package has no import cycle. A family finds another detector, when it needs one, by
name through :func:`get_detector`.

Saved state
    A fitted detector saves into one folder: ``detector.json`` (:data:`STATE_FILE`, the
    detector's name and settings, written last) plus its own files (a Keras model, arrays).
    :meth:`Detector.read_state` checks, before anything is loaded, that the folder holds
    ``detector.json`` of *this* detector and every file it needs, and raises
    :class:`DetectorStateError` naming the file otherwise.
Keras training
    :func:`fit_keras` is the one fit loop of every Keras detector: seeded, an Adam optimiser
    with ``config.training.learning_rate``, one tqdm step per epoch (:func:`epoch_progress`),
    the history returned as a table with one row per epoch. Inside
    :func:`reusing_compiled_models` (``asd train`` over several machine types) a fit of the same
    network as an earlier one retrains that model object from fresh seeded weights and a fresh
    optimiser instead of building and tracing a new one.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..atomic import write_text_atomic
from ..config import StudyConfig, declare_detector_settings
from ..errors import ConfigError, LayoutError, UnknownModelError
from ..features.kinds import KINDS
from ..features.standardize import Standardizer

#: The file naming the detector of a saved folder, and its settings (JSON).
STATE_FILE = "detector.json"


class DetectorStateError(LayoutError):
    """A saved detector folder that cannot be loaded: a missing or unreadable file, or another detector's."""


class Detector:
    """Base class: something fitted on normal training features of one machine type that scores clips.

    Subclasses set the class attributes below and implement :meth:`fit`, :meth:`score`,
    :meth:`save` and :meth:`load`; :func:`register` makes them known by ``name``.
    """

    #: Registry name (``asd train --model NAME``).
    name: ClassVar[str]
    #: The per-clip features it is given: a name in :data:`asd.features.kinds.KINDS`.
    feature_kind: ClassVar[str]
    #: One line for ``asd models`` and the report.
    summary: ClassVar[str] = ""
    #: True when fitting runs in epochs (``config.training.epochs[name]`` applies).
    trains_in_epochs: ClassVar[bool] = False
    #: True when the score is a reconstruction error of the detector's input (autoencoders).
    reconstructs_input: ClassVar[bool] = False
    #: True when scores are already on each machine ID's own normal scale ("how far above a typical
    #: normal clip of that ID"), so scores against two IDs compare as they are (asd.domains).
    scores_normalised_per_id: ClassVar[bool] = False
    #: Files besides :data:`STATE_FILE` that a saved folder must hold (checked by :meth:`read_state`).
    saved_files: ClassVar[tuple[str, ...]] = ()
    #: The dataclass of its knobs, if any: :func:`register` makes it the config section
    #: ``detectors.<settings_section>`` (read, validated and written like every other section).
    settings_class: ClassVar[type | None] = None
    #: The config section of :attr:`settings_class` (default: :attr:`name`).
    settings_section: ClassVar[str | None] = None

    def __init__(self, config: StudyConfig):
        self.config = config

    @classmethod
    def settings_of(cls, config: StudyConfig):
        """This detector's section of ``config.detectors`` (an instance of :attr:`settings_class`)."""
        if cls.settings_class is None:
            raise AttributeError(f"{cls.__name__}: declares no settings")
        return getattr(config.detectors, cls.settings_section or cls.name)

    def fit(self, features: Sequence[np.ndarray], machine_ids: Sequence[str], *, progress: bool = True) -> pd.DataFrame:
        """Fit on the normal training clips of one machine type.

        Parameters
        ----------
        features : sequence of np.ndarray
            One feature array per clip, of the detector's ``feature_kind``.
        machine_ids : sequence of str
            The machine ID of each clip.
        progress : bool
            Show a progress bar.

        Returns
        -------
        pd.DataFrame
            The training history, one row per epoch (column ``epoch`` first).
        """
        raise NotImplementedError

    def score(self, features: Sequence[np.ndarray], machine_ids: Sequence[str] | None = None) -> np.ndarray:
        """Anomaly score per clip, shape ``(n_clips,)``; higher is more anomalous."""
        raise NotImplementedError

    def training_scores(self, features: Sequence[np.ndarray], machine_ids: Sequence[str]) -> np.ndarray:
        """Scores of the clips just fitted on, shape ``(n_clips,)`` (``train_scores.csv``, thresholds).

        By default :meth:`score`. Detectors that memorise their training clips (nearest
        neighbours) override it with leave-one-out scores, like those of new normal clips.
        """
        return self.score(features, machine_ids)

    def save(self, directory: str | os.PathLike) -> None:
        """Save the fitted state into ``directory`` (created); :data:`STATE_FILE` last."""
        raise NotImplementedError

    @classmethod
    def load(cls, directory: str | os.PathLike, config: StudyConfig) -> Detector:
        """A detector fitted and saved by :meth:`save`; :class:`DetectorStateError` if the folder is not one."""
        raise NotImplementedError

    @classmethod
    def n_trainable_parameters(cls, config: StudyConfig | None = None) -> int:
        """Trainable parameters of the model this detector fits (0 for non-parametric ones)."""
        return 0

    # -- saved state ---------------------------------------------------------------------
    def write_state(self, directory: str | os.PathLike, **settings: Any) -> Path:
        """Write :data:`STATE_FILE` (``{"name": ..., **settings}``, JSON) atomically; call it last in :meth:`save`."""
        return write_text_atomic(Path(directory) / STATE_FILE, json.dumps({"name": self.name, **settings}, indent=2))

    @classmethod
    def read_state(cls, directory: str | os.PathLike, *, files: Sequence[str] | None = None) -> dict:
        """The settings saved in ``directory``, after checking it holds this detector.

        Parameters
        ----------
        directory : path-like
            A folder written by :meth:`save`.
        files : sequence of str, optional
            Files that must be present besides :data:`STATE_FILE` (default :attr:`saved_files`).

        Raises
        ------
        DetectorStateError
            No folder, no or unreadable :data:`STATE_FILE`, another detector's folder, or a
            missing file; the message names the path.
        """
        directory = Path(directory)
        path = directory / STATE_FILE
        if not path.is_file():
            what = "no such folder" if not directory.is_dir() else "missing: not a saved detector folder"
            raise DetectorStateError(f"{path}: {what}")
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise DetectorStateError(f"{path}: unreadable ({exc})") from None
        if not isinstance(state, dict):
            raise DetectorStateError(f"{path}: expected a JSON object")
        if state.get("name") != cls.name:
            raise DetectorStateError(f"{path}: holds a {state.get('name')!r} detector, not {cls.name!r}")
        for name in cls.saved_files if files is None else files:
            if not (directory / name).is_file():
                raise DetectorStateError(f"{directory / name}: missing (the {cls.name} detector saves it)")
        return state


# -- the registry ---------------------------------------------------------------------------

#: Every detector by name; each family module adds its own with :func:`register` on import.
DETECTORS: dict[str, type[Detector]] = {}


def register(detector_class: type[Detector]) -> type[Detector]:
    """Add a detector class to :data:`DETECTORS` under its ``name`` (usable as a class decorator).

    Its :attr:`~Detector.settings_class`, if any, becomes the config section
    ``detectors.<settings_section>`` (:func:`asd.config.declare_detector_settings`).

    Raises
    ------
    ValueError
        The class has no ``name``, a ``feature_kind`` not in :data:`asd.features.kinds.KINDS`,
        or another class has that name (or its settings section).
    """
    name = getattr(detector_class, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{detector_class.__name__}: a detector needs a `name` to be registered")
    kind = getattr(detector_class, "feature_kind", None)
    if kind not in KINDS:
        raise ValueError(f"{detector_class.__name__}: feature_kind {kind!r} is not a feature kind ({', '.join(KINDS)})")
    known = DETECTORS.get(name)
    if known is not None and known.__qualname__ != detector_class.__qualname__:
        raise ValueError(f"detector name {name!r} is taken by {known.__module__}.{known.__qualname__}")
    if detector_class.settings_class is not None:
        try:
            declare_detector_settings(detector_class.settings_section or name, detector_class.settings_class)
        except ConfigError as exc:
            raise ValueError(f"{detector_class.__name__}: {exc}") from None
    DETECTORS[name] = detector_class
    return detector_class


def get_detector(name: str) -> type[Detector]:
    """The detector class called ``name``; :class:`asd.errors.UnknownModelError` lists the known names."""
    try:
        return DETECTORS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(DETECTORS)}") from None


# -- the shared Keras fit loop -------------------------------------------------------------


def epoch_progress(epochs: int, *, desc: str, disable: bool = False):
    """A Keras callback showing one tqdm step per epoch with the latest losses."""
    import keras
    from tqdm.auto import tqdm

    class EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=epochs, desc=desc, unit="epoch", disable=disable)

        def on_epoch_end(self, epoch, logs=None):
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in (logs or {}).items()})
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return EpochProgress()


def fit_keras(
    build: Callable[[], Any],
    data,
    *,
    name: str,
    config: StudyConfig,
    loss,
    metrics: Sequence | None = None,
    progress: bool = True,
    **fit_options: Any,
) -> tuple[Any, pd.DataFrame]:
    """Seed, build, compile and fit a Keras model: the fit loop of every Keras detector.

    Parameters
    ----------
    build : callable
        Returns the (uncompiled) model; called after seeding, so its initial weights are seeded.
    data : np.ndarray or keras.utils.PyDataset
        The training inputs (``keras.Model.fit``'s ``x``).
    name : str
        The detector's name: ``config.training.epochs_for(name)`` epochs, the progress label.
    config : StudyConfig
        ``training.seed`` and ``training.learning_rate`` (Adam) apply.
    loss, metrics
        As ``keras.Model.compile`` takes them.
    progress : bool
        One tqdm step per epoch.
    **fit_options
        Passed to ``keras.Model.fit`` (``y``, ``batch_size``, ``validation_split``, ...).

    Returns
    -------
    (keras.Model, pd.DataFrame)
        The fitted model and its history, one row per epoch (``epoch`` first, 1-based).
    """
    from .networks import set_seed

    training = config.training
    set_seed(training.seed)
    model = _compiled(build(), name=name, learning_rate=training.learning_rate, loss=loss, metrics=metrics)
    epochs = training.epochs_for(name)
    history = model.fit(
        data,
        epochs=epochs,
        verbose=0,
        callbacks=[epoch_progress(epochs, desc=f"train {name}", disable=not progress)],
        **fit_options,
    )
    frame = pd.DataFrame(history.history)
    frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    return model, frame


#: The compiled models of the innermost :func:`reusing_compiled_models` block (None outside one):
#: key -> (model, the optimiser's variables as built, before any step).
_REUSABLE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("asd_reusable_models", default=None)


@contextlib.contextmanager
def reusing_compiled_models():
    """Within this block, :func:`fit_keras` retrains one model object per network instead of building new ones.

    Why: every new Keras model traces its training, validation and prediction functions anew,
    seconds of CPU each time for the study's small networks (docs/report.md, "Time"), and
    ``asd train`` fits the same network once per machine type.

    How: each fit still builds the network, seeded, and compares its configuration (layers,
    shapes, settings; with the loss, metrics, learning rate and detector name) with the models
    compiled earlier in the block. On a match the new network's variables (weights, batch-norm
    statistics, random-seed states) are copied into the compiled model and its optimiser's
    variables are reset to their state before the first step, so the fit starts where a new
    model would; its traced functions are kept. The model a fit returns is therefore
    overwritten by the next fit of the same network in the block: use (save, score) each
    fitted detector before fitting the next. Outside the block every fit builds a new model.
    """
    token = _REUSABLE.set({})
    try:
        yield
    finally:
        _REUSABLE.reset(token)


def _compiled(fresh, *, name: str, learning_rate: float, loss, metrics):
    """``fresh`` compiled with Adam, or the block's compiled model of the same network reset to ``fresh``'s state."""
    import keras

    models = _REUSABLE.get()
    key = None
    if models is not None:
        key = (name, _network_signature(fresh), float(learning_rate), repr(loss), repr(list(metrics or [])))
        if key in models:
            model, optimizer_state = models[key]
            for target, value in zip(model.variables, fresh.variables, strict=True):
                target.assign(value)
            for target, value in zip(model.optimizer.variables, optimizer_state, strict=True):
                target.assign(value)
            return model
    fresh.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=list(metrics) if metrics else None)
    if key is not None:
        fresh.optimizer.build(fresh.trainable_variables)
        models[key] = (fresh, [np.array(variable) for variable in fresh.optimizer.variables])
    return fresh


def _network_signature(model) -> str:
    """The model's configuration as JSON, its own and its layers' names replaced by their positions.

    Two builds of one network differ only in the names Keras numbers as it goes (``dense_3``,
    ``functional_2``); their signatures are equal.
    """
    rename = {layer.name: f"layer_{position}" for position, layer in enumerate(model.layers)}
    rename[model.name] = "model"

    def canonical(value):
        if isinstance(value, dict):
            return {key: canonical(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [canonical(item) for item in value]
        return rename.get(value, value) if isinstance(value, str) else value

    return json.dumps(canonical(model.get_config()), sort_keys=True, default=repr)


def load_standardizer(path: str | os.PathLike) -> Standardizer:
    """A saved :class:`~asd.features.Standardizer`; :class:`DetectorStateError` naming the file if unreadable."""
    try:
        return Standardizer.load(path)
    except (OSError, ValueError, TypeError) as exc:  # missing, not JSON, or not a standardizer's fields
        raise DetectorStateError(f"{path}: unreadable ({type(exc).__name__}: {exc})"[:300]) from None


def load_keras_model(path: str | os.PathLike):
    """A saved ``.keras`` model (not compiled); :class:`DetectorStateError` naming the file if unreadable."""
    import keras

    from . import networks  # noqa: F401  (registers the custom layers)

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds for a damaged archive
        raise DetectorStateError(
            f"{path}: cannot be read as a Keras model ({type(exc).__name__}: {exc})"[:300]
        ) from None
