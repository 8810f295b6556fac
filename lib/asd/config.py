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
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass
class AudioConfig:
    """How clips are read."""

    sample_rate: int = 16000  #: Hz; clips at other rates are resampled (and logged)
    channel: int = 0  #: channel of multichannel files (MIMII: 8 mics; DCASE 2020 used channel 0)


@dataclass
class ImageConfig:
    """The study's log-mel image: ``(n_mels, n_frames)`` dB, standardised per machine type."""

    n_mels: int = 64
    n_fft: int = 4096
    hop_length: int = 2500
    power: float = 2.0
    n_frames: int = 64  #: time frames kept (first ``n_frames`` of the centred STFT)


@dataclass
class BaselineFeatureConfig:
    """The DCASE 2020 baseline's vectors: ``frames`` consecutive log-mel frames, concatenated."""

    n_mels: int = 128
    n_fft: int = 1024
    hop_length: int = 512
    power: float = 2.0
    frames: int = 5


@dataclass
class TrainingConfig:
    """Optimiser settings shared by every Keras model; ``epochs`` per model name."""

    epochs: dict[str, int] = field(
        default_factory=lambda: {"conv_ae": 30, "conv_vae": 30, "dense_ae": 10, "id_classifier": 6}
    )
    default_epochs: int = 20
    batch_size: int = 32
    dense_batch_size: int = 512  #: the baseline trains on frame vectors, many per clip
    learning_rate: float = 1e-3
    validation_split: float = 0.1
    seed: int = 0
    #: BatchNormalization running-statistics momentum of the autoencoders (conv_ae, conv_vae,
    #: dense_ae). 0.99 is Keras' default and the study's; see :mod:`asd.detectors.networks` for why 0.9
    #: suits small training sets. (The ID classifier has its own: ``detectors.id_classifier``.)
    batchnorm_momentum: float = 0.99

    def epochs_for(self, model: str) -> int:
        return int(self.epochs.get(model, self.default_epochs))


@dataclass
class EmbeddingConfig:
    """Knobs of the embedding detectors (``embedding_knn``, ``embedding_mahalanobis``)."""

    #: per-band statistics over frames, in order: any of mean, std, max, min, delta
    statistics: list[str] = field(default_factory=lambda: ["mean", "delta"])
    n_neighbors: int = 1  #: embedding_knn: training clips of the same ID averaged over
    n_folds: int = 5  #: embedding_mahalanobis: cross-fitting folds of the training scores
    #: floor of each dimension's standard deviation, as a fraction of the ID's median one
    min_relative_scale: float = 0.1


@dataclass
class IDClassifierConfig:
    """Knobs of the ``id_classifier`` detector (its network: :func:`asd.detectors.networks.build_id_classifier`)."""

    batchnorm_momentum: float = 0.9  #: BatchNormalization running-statistics momentum
    dropout: float = 0.2  #: before the logits
    mel_pool: int = 2  #: adjacent mel bands averaged (128 -> 64)
    patch_frames: int = 64  #: frames per patch (64 x 32 ms = 2.0 s)
    patch_hop: int = 32  #: frames between patch starts
    batch_size: int = 64  #: patches per training batch


@dataclass
class DetectorsConfig:
    """Per-detector knobs, one section per detector family (``training`` holds the shared ones)."""

    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    id_classifier: IDClassifierConfig = field(default_factory=IDClassifierConfig)


@dataclass
class StudyConfig:
    """Every knob of the study. ``StudyConfig.from_yaml(path)`` reads a (partial) YAML file."""

    audio: AudioConfig = field(default_factory=AudioConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    baseline: BaselineFeatureConfig = field(default_factory=BaselineFeatureConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    detectors: DetectorsConfig = field(default_factory=DetectorsConfig)
    max_fpr: float = 0.1  #: partial-AUC range, as DCASE 2020
    machine_types: list[str] | None = None  #: None: every machine type found in the data
    models: list[str] = field(default_factory=lambda: ["conv_ae", "dense_ae", "conv_vae"])
    seed: int = 0

    # -- (de)serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "StudyConfig":
        return _from_dict(cls, values or {}, "config")

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            from .atomic import write_text_atomic

            write_text_atomic(path, text)
        return text

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "StudyConfig":
        path = Path(path)
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
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


def _from_dict(cls, values: dict[str, Any], where: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(values).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    kwargs = {}
    for name, value in values.items():
        f = known[name]
        if dataclasses.is_dataclass(f.type) or (isinstance(f.type, str) and f.type in _SECTIONS):
            kwargs[name] = _from_dict(_SECTIONS[f.type if isinstance(f.type, str) else f.type.__name__], value, f"{where}.{name}")
        else:
            kwargs[name] = value
    return cls(**kwargs)


_SECTIONS = {
    "AudioConfig": AudioConfig,
    "ImageConfig": ImageConfig,
    "BaselineFeatureConfig": BaselineFeatureConfig,
    "TrainingConfig": TrainingConfig,
    "DetectorsConfig": DetectorsConfig,
    "EmbeddingConfig": EmbeddingConfig,
    "IDClassifierConfig": IDClassifierConfig,
}


def load_config(path: str | os.PathLike | None = None, **overrides: Any) -> StudyConfig:
    """Default config, updated from ``path`` (YAML) if given, then top-level ``overrides``."""
    cfg = StudyConfig.from_yaml(path) if path else StudyConfig()
    for key, value in overrides.items():
        if value is None:
            continue
        if not hasattr(cfg, key):
            raise ConfigError(f"unknown config key {key!r}")
        setattr(cfg, key, value)
    return cfg
