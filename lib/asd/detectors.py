"""Detectors: something fitted on normal training features of one machine type that scores clips.

A detector works on per-clip feature arrays (see :mod:`asd.features`), never on paths, so it is
easy to test. Higher score = more anomalous. Every detector is registered by name in
:data:`DETECTORS`; ``asd train --model NAME`` and ``asd models`` read that registry.

=============  =========  =================================================================
name           features   score
=============  =========  =================================================================
``conv_ae``    image      mean squared reconstruction error of the standardised 64x64 image
``dense_ae``   baseline   mean over the clip's 640-d vectors of their reconstruction MSE
``conv_vae``   image      MSE of the [0, 1]-scaled image against the VAE's reconstruction
=============  =========  =================================================================
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np
import pandas as pd

from .atomic import atomic_path, write_text_atomic
from .config import StudyConfig
from .errors import UnknownModelError
from .features import Standardizer, frame_vectors

logger = logging.getLogger(__name__)


class Detector:
    """Base class. Subclasses set ``name``, ``feature_kind`` and implement fit/score/save/load."""

    name: ClassVar[str]
    feature_kind: ClassVar[str]  #: "image" or "baseline" (see asd.features)
    summary: ClassVar[str] = ""
    #: True when fitting runs in epochs (``config.training.epochs[name]`` applies).
    trains_in_epochs: ClassVar[bool] = False
    #: True when the score is a reconstruction error of the detector's input (autoencoders).
    reconstructs_input: ClassVar[bool] = False

    def __init__(self, config: StudyConfig):
        self.config = config

    def fit(self, features: Sequence[np.ndarray], machine_ids: Sequence[str], *, progress: bool = True) -> pd.DataFrame:
        """Fit on normal training clips; return the training history (one row per epoch)."""
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
        raise NotImplementedError

    @classmethod
    def load(cls, directory: str | os.PathLike, config: StudyConfig) -> "Detector":
        raise NotImplementedError

    @classmethod
    def n_trainable_parameters(cls, config: StudyConfig | None = None) -> int:
        """Trainable parameters of the model this detector fits (0 for non-parametric ones)."""
        return 0


# -- Keras autoencoders -------------------------------------------------------------------


class _KerasDetector(Detector):
    """Shared plumbing: seeded training with a tqdm bar, atomic ``.keras`` saves."""

    model_file = "model.keras"
    state_file = "detector.json"
    trains_in_epochs = True
    reconstructs_input = True

    def __init__(self, config: StudyConfig):
        super().__init__(config)
        self.model = None
        self.standardizer: Standardizer | None = None

    @classmethod
    def build(cls, config: StudyConfig):
        raise NotImplementedError

    @classmethod
    def n_trainable_parameters(cls, config: StudyConfig | None = None) -> int:
        from .models import count_trainable_parameters

        return count_trainable_parameters(cls.build(config or StudyConfig()))

    def _train(self, inputs: np.ndarray, targets: np.ndarray | None, *, loss, batch_size: int, progress: bool) -> pd.DataFrame:
        import keras

        from .models import set_seed

        training = self.config.training
        set_seed(training.seed)
        order = np.random.default_rng(training.seed).permutation(len(inputs))
        inputs = inputs[order]
        targets = inputs if targets is None else targets[order]
        self.model = self.build(self.config)
        self.model.compile(optimizer=keras.optimizers.Adam(training.learning_rate), loss=loss)
        epochs = training.epochs_for(self.name)
        validation_split = training.validation_split if len(inputs) * training.validation_split >= 1 else 0.0
        history = self.model.fit(
            inputs,
            targets,
            epochs=epochs,
            batch_size=batch_size,
            validation_split=validation_split,
            shuffle=True,
            verbose=0,
            callbacks=[_TqdmEpochs(epochs, desc=f"train {self.name}", disable=not progress)],
        )
        frame = pd.DataFrame(history.history)
        frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
        return frame

    def _predict(self, inputs: np.ndarray, batch_size: int) -> np.ndarray:
        return np.asarray(self.model.predict(inputs, batch_size=batch_size, verbose=0))

    def _extra_state(self) -> dict:
        return {}

    def _load_extra_state(self, state: dict) -> None:
        pass

    def save(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / self.model_file) as tmp:
            self.model.save(tmp)
        if self.standardizer is not None:
            self.standardizer.save(directory / "normalization.json")
        state = {"name": self.name, **self._extra_state()}
        write_text_atomic(directory / self.state_file, json.dumps(state, indent=2))

    @classmethod
    def load(cls, directory: str | os.PathLike, config: StudyConfig) -> "_KerasDetector":
        import keras

        from . import models  # noqa: F401  (registers custom layers)

        directory = Path(directory)
        detector = cls(config)
        detector.model = keras.models.load_model(directory / cls.model_file, compile=False)
        if (directory / "normalization.json").is_file():
            detector.standardizer = Standardizer.load(directory / "normalization.json")
        detector._load_extra_state(json.loads((directory / cls.state_file).read_text(encoding="utf-8")))
        return detector


class ConvAEDetector(_KerasDetector):
    name = "conv_ae"
    feature_kind = "image"
    summary = "the study's convolutional autoencoder on 64x64 log-mel images; score = MSE"

    @classmethod
    def build(cls, config: StudyConfig):
        from .models import build_conv_ae

        return build_conv_ae(
            input_shape=(config.image.n_mels, config.image.n_frames, 1), batchnorm_momentum=config.training.batchnorm_momentum
        )

    def _inputs(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return self.standardizer.transform(np.stack(images))[..., np.newaxis]

    def fit(self, features, machine_ids, *, progress=True):
        images = np.stack(features)
        self.standardizer = Standardizer.fit(images)
        return self._train(self._inputs(images), None, loss="mse", batch_size=self.config.training.batch_size, progress=progress)

    def reconstruct(self, features: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Model input and reconstruction, each ``(n_clips, n_mels, n_frames)``, in model units."""
        inputs = self._inputs(features)
        outputs = self._predict(inputs, self.config.training.batch_size)
        return inputs[..., 0], outputs[..., 0]

    def score(self, features, machine_ids=None):
        inputs, outputs = self.reconstruct(features)
        return np.mean((inputs - outputs) ** 2, axis=(1, 2))


class ConvVAEDetector(ConvAEDetector):
    """BCE needs targets in [0, 1]: standardised images are min-max scaled with training range."""

    name = "conv_vae"
    summary = "the study's variant: conv VAE, binary cross-entropy + KL; score = MSE"

    def __init__(self, config):
        super().__init__(config)
        self.low, self.high = -3.0, 3.0

    @classmethod
    def build(cls, config: StudyConfig):
        from .models import build_conv_vae

        return build_conv_vae(
            input_shape=(config.image.n_mels, config.image.n_frames, 1),
            seed=config.training.seed,
            batchnorm_momentum=config.training.batchnorm_momentum,
        )

    def _inputs(self, images):
        standardised = super()._inputs(images)
        return np.clip((standardised - self.low) / (self.high - self.low), 0.0, 1.0).astype(np.float32)

    def fit(self, features, machine_ids, *, progress=True):
        images = np.stack(features)
        self.standardizer = Standardizer.fit(images)
        standardised = self.standardizer.transform(images)
        self.low, self.high = float(standardised.min()), float(max(standardised.max(), standardised.min() + 1e-6))
        return self._train(
            self._inputs(images), None, loss="binary_crossentropy", batch_size=self.config.training.batch_size, progress=progress
        )

    def _extra_state(self):
        return {"low": self.low, "high": self.high}

    def _load_extra_state(self, state):
        self.low, self.high = state["low"], state["high"]


class DenseAEDetector(_KerasDetector):
    name = "dense_ae"
    feature_kind = "baseline"
    summary = "the DCASE 2020 baseline: dense autoencoder on 5-frame 640-d log-mel vectors"

    @classmethod
    def build(cls, config: StudyConfig):
        from .models import build_dense_ae

        return build_dense_ae(
            input_dim=config.baseline.n_mels * config.baseline.frames, batchnorm_momentum=config.training.batchnorm_momentum
        )

    def fit(self, features, machine_ids, *, progress=True):
        """Train on every frame vector of ``features``, streamed in batches (bounded memory).

        The vectors are cut from the log-mels batch by batch (:mod:`asd.streaming`) instead of
        being stacked into one ``(n_vectors, 640)`` matrix; the split into training and
        validation vectors and the per-epoch order are seeded by ``config.training.seed``.
        Memory-mapped log-mels (a feature pack) have their pages released as the stream moves on.
        """
        import keras

        from .models import set_seed
        from .streaming import frame_vector_batches

        training = self.config.training
        set_seed(training.seed)
        train_batches, validation_batches = frame_vector_batches(
            features,
            frames=self.config.baseline.frames,
            batch_size=training.dense_batch_size,
            validation_split=training.validation_split,
            seed=training.seed,
        )
        self.model = self.build(self.config)
        self.model.compile(optimizer=keras.optimizers.Adam(training.learning_rate), loss="mse")
        epochs = training.epochs_for(self.name)
        history = self.model.fit(
            train_batches,
            validation_data=validation_batches,
            epochs=epochs,
            shuffle=False,  # the batches are reshuffled, seeded, at every epoch end
            verbose=0,
            callbacks=[_TqdmEpochs(epochs, desc=f"train {self.name}", disable=not progress)],
        )
        for batches in (train_batches, validation_batches):
            if batches is not None:
                batches.release()
        frame = pd.DataFrame(history.history)
        frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
        return frame

    def score(self, features, machine_ids=None, *, clips_per_batch: int = 64):
        from .features import release_pages

        frames = self.config.baseline.frames
        scores = []
        for start in range(0, len(features), clips_per_batch):
            chunk = features[start : start + clips_per_batch]
            vectors = [frame_vectors(f, frames=frames) for f in chunk]
            release_pages(chunk)  # memory-mapped log-mels: read once, hand the pages back
            bounds = np.cumsum([len(v) for v in vectors])[:-1]
            stacked = np.concatenate(vectors)
            del vectors
            # predict_on_batch: model.predict would build a new input pipeline per call. Rows in
            # slices of at most 8 training batches bound what Keras holds (~10 kB per row).
            slices = np.array_split(stacked, -(-len(stacked) // (8 * self.config.training.dense_batch_size)))
            errors = np.concatenate(
                [np.mean((rows - np.asarray(self.model.predict_on_batch(rows))) ** 2, axis=1) for rows in slices]
            )
            scores.extend(float(np.mean(part)) for part in np.split(errors, bounds))
        return np.asarray(scores)


class _TqdmEpochs:
    """A Keras callback showing one tqdm step per epoch with the latest losses."""

    def __new__(cls, epochs: int, *, desc: str, disable: bool):
        import keras
        from tqdm.auto import tqdm

        class Callback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.bar = tqdm(total=epochs, desc=desc, unit="epoch", disable=disable)

            def on_epoch_end(self, epoch, logs=None):
                self.bar.set_postfix({k: f"{v:.4g}" for k, v in (logs or {}).items()})
                self.bar.update(1)

            def on_train_end(self, logs=None):
                self.bar.close()

        return Callback()


#: Every detector by name (issue-specific modules add theirs with :func:`register`).
DETECTORS: dict[str, type[Detector]] = {}


def register(detector_class: type[Detector]) -> type[Detector]:
    """Add a detector class to :data:`DETECTORS` (usable as a class decorator)."""
    DETECTORS[detector_class.name] = detector_class
    return detector_class


for _cls in (ConvAEDetector, DenseAEDetector, ConvVAEDetector):
    register(_cls)


def get_detector(name: str) -> type[Detector]:
    """The detector class called ``name``; :class:`UnknownModelError` lists the known names."""
    try:
        return DETECTORS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(DETECTORS)}") from None


# Detectors defined in their own modules register themselves on import (issue #5); imported
# last so that they can subclass Detector without a circular-import problem.
from . import embedding, id_classifier  # noqa: E402,F401
