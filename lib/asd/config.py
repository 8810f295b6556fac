"""The study's knobs in one place, and the project's paths.

Every value the study varies lives in :class:`StudyConfig`; the CLI (``--config FILE``) and the
notebooks read it, and a run folder stores the one it was trained with (``config.yaml``).

>>> cfg = StudyConfig()
>>> cfg.image.n_mels, cfg.image.n_fft, cfg.image.hop_length
(64, 4096, 2500)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ConfigError

#: The project root (the folder holding ``lib/``), for default paths.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: Where ``make report`` keeps the generated default dataset, runs and the feature cache.
DATA_DIR = PROJECT_ROOT / "data"
RUNS_DIR = PROJECT_ROOT / "runs"
CACHE_DIR = Path(os.environ.get("ASD_CACHE_DIR", PROJECT_ROOT / "cache"))
FIGURES_DIR = PROJECT_ROOT / "figures"
REPORT_DIR = PROJECT_ROOT / "report"

#: DCASE 2020 Task 2 machine types and their machine IDs (development + evaluation sets).
MACHINE_IDS: dict[str, tuple[str, ...]] = {
    "ToyCar": ("01", "02", "03", "04", "05", "06", "07"),
    "ToyConveyor": ("01", "02", "03", "04", "05", "06"),
    "fan": ("00", "01", "02", "03", "04", "05", "06"),
    "pump": ("00", "01", "02", "03", "04", "05", "06"),
    "slider": ("00", "01", "02", "03", "04", "05", "06"),
    "valve": ("00", "01", "02", "03", "04", "05", "06"),
}
#: The IDs of the development set (the others are in the evaluation set only).
DEV_MACHINE_IDS: dict[str, tuple[str, ...]] = {
    "ToyCar": ("01", "02", "03", "04"),
    "ToyConveyor": ("01", "02", "03"),
    "fan": ("00", "02", "04", "06"),
    "pump": ("00", "02", "04", "06"),
    "slider": ("00", "02", "04", "06"),
    "valve": ("00", "02", "04", "06"),
}
MACHINE_TYPES: tuple[str, ...] = tuple(DEV_MACHINE_IDS)


def knob(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING, ge=None, gt=None, le=None, lt=None):
    """A config field with an allowed range, checked when the config is read.

    ``ge``/``gt``/``le``/``lt``: the value (or, for a ``dict``/``list`` field, every value in it)
    must be ``>=``/``>``/``<=``/``<`` the bound. The type comes from the field's annotation.

    >>> @dataclass
    ... class Example:
    ...     rate: float = knob(0.5, gt=0, le=1)
    """
    bounds = {key: value for key, value in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if value is not None}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata={"range": bounds})
    return field(default=default, metadata={"range": bounds})


@dataclass
class AudioConfig:
    """How clips are read."""

    sample_rate: int = knob(16000, ge=1)  #: Hz; clips at other rates are resampled (and logged)
    channel: int = knob(0, ge=0)  #: channel of multichannel files (MIMII: 8 mics; DCASE 2020 used channel 0)
    #: seconds; shorter clips (e.g. truncated files) are skipped and listed, not used. One second:
    #: below it a clip holds only a few of the image's frames and the rest would be repetition.
    min_seconds: float = knob(1.0, ge=0)


@dataclass
class ImageConfig:
    """The study's log-mel image: ``(n_mels, n_frames)`` dB, standardised per machine type."""

    n_mels: int = knob(64, ge=1)
    n_fft: int = knob(4096, ge=2)
    hop_length: int = knob(2500, ge=1)
    power: float = knob(2.0, gt=0)
    n_frames: int = knob(64, ge=1)  #: time frames kept (first ``n_frames`` of the centred STFT)


@dataclass
class BaselineFeatureConfig:
    """The DCASE 2020 baseline's vectors: ``frames`` consecutive log-mel frames, concatenated."""

    n_mels: int = knob(128, ge=1)
    n_fft: int = knob(1024, ge=2)
    hop_length: int = knob(512, ge=1)
    power: float = knob(2.0, gt=0)
    frames: int = knob(5, ge=1)


@dataclass
class TrainingConfig:
    """Optimiser settings shared by every Keras model; ``epochs`` per model name."""

    epochs: dict[str, int] = knob(
        factory=lambda: {"conv_ae": 30, "conv_vae": 30, "dense_ae": 10, "id_classifier": 6}, ge=1
    )
    default_epochs: int = knob(20, ge=1)
    batch_size: int = knob(32, ge=1)
    dense_batch_size: int = knob(512, ge=1)  #: the baseline trains on frame vectors, many per clip
    learning_rate: float = knob(1e-3, gt=0)
    validation_split: float = knob(0.1, ge=0, lt=1)
    seed: int = knob(0, ge=0)
    #: BatchNormalization running-statistics momentum of the autoencoders (conv_ae, conv_vae,
    #: dense_ae). 0.99 is Keras' default and the study's; see :mod:`asd.detectors.networks` for why 0.9
    #: suits small training sets. (The ID classifier has its own: ``detectors.id_classifier``.)
    batchnorm_momentum: float = knob(0.99, ge=0, lt=1)  # 1 would never update the running statistics

    def epochs_for(self, model: str) -> int:
        return int(self.epochs.get(model, self.default_epochs))


#: The detector ``asd train`` fits when no ``--model`` is given.
DEFAULT_MODEL = "multistat"


@dataclass
class ThresholdConfig:
    """Decision thresholds fitted at train time on the training scores (see :mod:`asd.thresholds`)."""

    #: expected fraction of normal clips flagged (0.1: the DCASE baselines' 0.9 quantile)
    false_alarm_rate: float = knob(0.1, gt=0, lt=1)
    #: "gamma" (fit a gamma distribution, then its quantile) or "empirical" (sample quantile)
    method: Literal["gamma", "empirical"] = "gamma"


@dataclass
class EmbeddingConfig:
    """Knobs of the embedding detectors (``embedding_knn``, ``embedding_mahalanobis``)."""

    #: per-band statistics over frames, in order: any of mean, std, max, min, delta
    statistics: list[Literal["mean", "std", "max", "min", "delta"]] = field(default_factory=lambda: ["mean", "delta"])
    n_neighbors: int = knob(1, ge=1)  #: embedding_knn: training clips of the same ID averaged over
    n_folds: int = knob(5, ge=2)  #: embedding_mahalanobis: cross-fitting folds of the training scores
    #: floor of each dimension's standard deviation, as a fraction of the ID's median one
    min_relative_scale: float = knob(0.1, ge=0)


@dataclass
class IDClassifierConfig:
    """Knobs of the ``id_classifier`` detector (its network: :func:`asd.detectors.networks.build_id_classifier`)."""

    batchnorm_momentum: float = knob(0.9, ge=0, lt=1)  #: BatchNormalization running-statistics momentum
    dropout: float = knob(0.2, ge=0, lt=1)  #: before the logits
    mel_pool: int = knob(2, ge=1)  #: adjacent mel bands averaged (128 -> 64)
    patch_frames: int = knob(64, ge=1)  #: frames per patch (64 x 32 ms = 2.0 s)
    patch_hop: int = knob(32, ge=1)  #: frames between patch starts
    batch_size: int = knob(64, ge=1)  #: patches per training batch


@dataclass
class MultistatConfig:
    """Knobs of the ``multistat`` detector (:mod:`asd.detectors.multistat`)."""

    #: statistic groups, each scored on its own and combined: any of mean, peak, delta, spread, rhythm, level, narrow
    groups: list[Literal["mean", "peak", "delta", "spread", "rhythm", "level", "narrow"]] = field(
        default_factory=lambda: ["mean", "peak", "delta", "spread", "rhythm", "level"], metadata={"nonempty": True}
    )
    n_neighbors: int = knob(1, ge=1)  #: nearest training clips of the same ID averaged per group
    combine: Literal["max", "mean"] = "max"  #: how the normalised group scores become one score


@dataclass
class DetectorsConfig:
    """Per-detector knobs, one section per detector family (``training`` holds the shared ones).

    Besides these fields, every section a detector module declares (:func:`declare_detector_settings`,
    done by :func:`asd.detectors.register` for a detector's ``settings_class``) is an attribute too.
    """

    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    id_classifier: IDClassifierConfig = field(default_factory=IDClassifierConfig)
    multistat: MultistatConfig = field(default_factory=MultistatConfig)

    def __getattr__(self, name: str):  # only for names that are not (yet) set: a declared section's defaults
        settings = DETECTOR_SETTINGS.get(name)
        if settings is None:
            raise AttributeError(f"{type(self).__name__} has no section {name!r}")
        section = settings()
        setattr(self, name, section)
        return section


#: The settings sections that detector modules declared beyond :class:`DetectorsConfig`'s own
#: fields: section name -> dataclass (see :func:`declare_detector_settings`).
DETECTOR_SETTINGS: dict[str, type] = {}


def declare_detector_settings(section: str, settings: type) -> None:
    """Make ``config.detectors.<section>`` a section of dataclass ``settings``, read and validated like the others.

    A field of :class:`DetectorsConfig` is already one (then ``settings`` must be its type); a
    name another dataclass declared is refused (:class:`ConfigError`).
    """
    if not dataclasses.is_dataclass(settings):
        raise ConfigError(f"detectors.{section}: the settings must be a dataclass, got {settings!r}")
    known = typing.get_type_hints(DetectorsConfig).get(section) or DETECTOR_SETTINGS.get(section)
    if known is not None and known.__qualname__ != settings.__qualname__:
        raise ConfigError(f"detectors.{section}: the section is taken by {known.__module__}.{known.__qualname__}")
    if section not in typing.get_type_hints(DetectorsConfig):
        DETECTOR_SETTINGS[section] = settings


@dataclass
class StudyConfig:
    """Every knob of the study. ``StudyConfig.from_yaml(path)`` reads a (partial) YAML file.

    Every value is checked when the config is read (:meth:`from_dict`, :meth:`from_yaml`,
    :meth:`validate`): its type from the field's annotation, its range from :func:`knob`.
    """

    audio: AudioConfig = field(default_factory=AudioConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    baseline: BaselineFeatureConfig = field(default_factory=BaselineFeatureConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    thresholds: ThresholdConfig = field(default_factory=ThresholdConfig)
    detectors: DetectorsConfig = field(default_factory=DetectorsConfig)
    max_fpr: float = knob(0.1, gt=0, le=1)  #: partial-AUC range, as DCASE 2020
    machine_types: list[str] | None = None  #: None: every machine type found in the data
    models: list[str] = field(default_factory=lambda: ["conv_ae", "dense_ae", "conv_vae"])

    # -- (de)serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["detectors"].update(
            {name: dataclasses.asdict(getattr(self.detectors, name)) for name in DETECTOR_SETTINGS}
        )
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> StudyConfig:
        return _from_dict(cls, values or {}, "config")

    def validate(self) -> StudyConfig:
        """Check every value (types and ranges) and return ``self``; :class:`ConfigError` names the key."""
        _from_dict(type(self), self.to_dict(), "config")
        return self

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            from .atomic import write_text_atomic

            write_text_atomic(path, text)
        return text

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> StudyConfig:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{path}: is a folder, expected a YAML config file") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); expected a YAML "
                "config file"
            ) from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
        if values is not None and not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        try:
            return cls.from_dict(values)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def fingerprint(self, section: str | None = None) -> str:
        """Short hash of the whole config or one section (keys feature caches)."""
        values = self.to_dict() if section is None else self.to_dict()[section]
        blob = json.dumps(values, sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:12]


# -- validation: generic over the dataclass fields ------------------------------------------


def _from_dict(cls, values: Any, where: str):
    """Build ``cls`` from a (partial) mapping, checking every value against the field's type and range."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {_describe(values)}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    declared = DETECTOR_SETTINGS if cls is DetectorsConfig else {}
    unknown = sorted(str(key) for key in set(values) - set(known) - set(declared))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join([*known, *declared])})")
    hints = {**declared, **typing.get_type_hints(cls)}
    kwargs = {}
    for name, value in values.items():
        kind = hints[name]
        key = f"{where}.{name}"
        if dataclasses.is_dataclass(kind):
            kwargs[name] = _from_dict(kind, value, key)
        else:
            kwargs[name] = _check(value, kind, key, known[name].metadata.get("range", {}))
            if known[name].metadata.get("nonempty") and not kwargs[name]:
                raise ConfigError(f"{key}: must not be empty")
    instance = cls(**{name: value for name, value in kwargs.items() if name in known})
    for name in set(kwargs) - set(known):
        setattr(instance, name, kwargs[name])
    return instance


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if not isinstance(value, (dict, list)) else type(value).__name__


_NAMES = {
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    str: ("a string", "strings"),
    bool: ("true or false", "booleans"),
    type(None): ("null", "nulls"),
}


def _type_name(kind: Any, *, plural: bool = False) -> str:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg, plural=plural) for arg in args)
    if origin is list:
        return f"a list of {_type_name(args[0], plural=True)}" if args else "a list"
    if origin is dict:
        return (
            f"a mapping of {_type_name(args[0], plural=True)} to {_type_name(args[1], plural=True)}"
            if args
            else "a mapping"
        )
    return _NAMES.get(kind, (getattr(kind, "__name__", str(kind)),) * 2)[plural]


def _check(value: Any, kind: Any, key: str, bounds: dict) -> Any:
    """``value`` converted to ``kind`` (only int -> float), or :class:`ConfigError` naming ``key``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        for arg in options:
            try:
                return _check(value, arg, key, bounds)
            except ConfigError:
                if len(options) == 1 and isinstance(value, (typing.get_origin(arg) or arg)):
                    raise  # the right kind of value, wrong inside: that message is the precise one
        raise ConfigError(f"{key}: expected {_type_name(kind)}, got {_describe(value)}")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected {_type_name(kind)}, got {_describe(value)}")
        return [_check(item, args[0], f"{key}[{i}]", bounds) for i, item in enumerate(value)] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected {_type_name(kind)}, got {_describe(value)}")
        if not args:
            return dict(value)
        return {
            _check(k, args[0], f"{key} (key {k!r})", {}): _check(v, args[1], f"{key}.{k}", bounds)
            for k, v in value.items()
        }
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {_describe(value)}")
        item_kinds = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if args and len(item_kinds) != len(value):
            raise ConfigError(f"{key}: expected {len(item_kinds)} values, got {len(value)}")
        return (
            tuple(_check(v, k, f"{key}[{i}]", bounds) for i, (v, k) in enumerate(zip(value, item_kinds)))
            if args
            else tuple(value)
        )
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key}: expected one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if kind is Any or origin is not None or not isinstance(kind, type):
        return value  # a type this checker does not know: accepted as is
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ConfigError(f"{key}: expected {_type_name(kind)}, got {_describe(value)}")
    _check_range(value, key, bounds)
    return float(value) if kind is float else value


def _check_range(value: Any, key: str, bounds: dict) -> None:
    tests = {
        "ge": (lambda v, b: v >= b, ">="),
        "gt": (lambda v, b: v > b, ">"),
        "le": (lambda v, b: v <= b, "<="),
        "lt": (lambda v, b: v < b, "<"),
    }
    if not bounds or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    for name, bound in bounds.items():
        test, symbol = tests[name]
        if not test(value, bound):
            allowed = " and ".join(f"{tests[n][1]} {b}" for n, b in bounds.items())
            raise ConfigError(f"{key}: must be {allowed}, got {value!r}")


def check_knob(section: type, name: str, value: Any, *, key: str | None = None) -> Any:
    """``value`` checked as the knob ``name`` of the config section ``section`` (type and range).

    The one check of a setting given outside a config file (a command-line option, a keyword
    argument), so that it is refused exactly as in ``config.yaml``.

    >>> check_knob(ThresholdConfig, "false_alarm_rate", 0.05)
    0.05

    Raises
    ------
    ConfigError
        Naming ``key`` (default ``name``): the value is of the wrong type or out of range.
    """
    known = {f.name: f for f in dataclasses.fields(section)}
    return _check(value, typing.get_type_hints(section)[name], key or name, known[name].metadata.get("range", {}))


def load_config(path: str | os.PathLike | None = None, **overrides: Any) -> StudyConfig:
    """Default config, updated from ``path`` (YAML) if given, then top-level ``overrides``."""
    cfg = StudyConfig.from_yaml(path) if path else StudyConfig()
    for key, value in overrides.items():
        if value is None:
            continue
        if not hasattr(cfg, key):
            raise ConfigError(f"unknown config key {key!r}")
        setattr(cfg, key, value)
    return cfg.validate()
