"""The autoencoders: the study's convolutional AE and VAE, and the DCASE 2020 baseline's dense AE.

Each scores a clip by how badly it reconstructs its input (``reconstructs_input``); the
networks are built by :mod:`asd.detectors.networks`, trained by the shared
:func:`asd.detectors.base.fit_keras` loop.

=============  =========  =================================================================
name           features   score
=============  =========  =================================================================
``conv_ae``    image      mean squared reconstruction error of the standardised 64x64 image
``dense_ae``   baseline   mean over the clip's 640-d vectors of their reconstruction MSE
``conv_vae``   image      MSE of the [0, 1]-scaled image against the VAE's reconstruction
=============  =========  =================================================================

A fitted autoencoder saves ``model.keras``, ``normalization.json`` (the image standardisation;
not for ``dense_ae``) and ``detector.json``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..atomic import atomic_path
from ..config import StudyConfig
from ..features import Standardizer, frame_vectors, release_pages
from .base import Detector, fit_keras, load_keras_model, load_standardizer, register

MODEL_FILE = "model.keras"
NORMALIZATION_FILE = "normalization.json"


class KerasAutoencoder(Detector):
    """Shared plumbing of the autoencoders: seeded training, atomic ``.keras`` saves, the state check."""

    trains_in_epochs = True
    reconstructs_input = True
    saved_files: ClassVar[tuple[str, ...]] = (MODEL_FILE,)

    def __init__(self, config: StudyConfig):
        super().__init__(config)
        self.model = None
        self.standardizer: Standardizer | None = None

    @classmethod
    def build(cls, config: StudyConfig):
        """The untrained network for ``config``."""
        raise NotImplementedError

    @classmethod
    def n_trainable_parameters(cls, config: StudyConfig | None = None) -> int:
        from .networks import count_trainable_parameters

        return count_trainable_parameters(cls.build(config or StudyConfig()))

    def _train(self, inputs: np.ndarray, *, loss, batch_size: int, progress: bool):
        """Fit ``self.build(config)`` to reproduce ``inputs`` (shuffled once, seeded, then by Keras)."""
        training = self.config.training
        inputs = inputs[np.random.default_rng(training.seed).permutation(len(inputs))]
        validation_split = training.validation_split if len(inputs) * training.validation_split >= 1 else 0.0
        self.model, history = fit_keras(
            lambda: self.build(self.config),
            inputs,
            y=inputs,
            name=self.name,
            config=self.config,
            loss=loss,
            progress=progress,
            batch_size=batch_size,
            validation_split=validation_split,
            shuffle=True,
        )
        return history

    def _predict(self, inputs: np.ndarray, batch_size: int) -> np.ndarray:
        return np.asarray(self.model.predict(inputs, batch_size=batch_size, verbose=0))

    def _extra_state(self) -> dict:
        return {}

    def _load_extra_state(self, state: dict) -> None:
        pass

    def save(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / MODEL_FILE) as tmp:
            self.model.save(tmp)
        if self.standardizer is not None:
            self.standardizer.save(directory / NORMALIZATION_FILE)
        self.write_state(directory, **self._extra_state())

    @classmethod
    def load(cls, directory: str | os.PathLike, config: StudyConfig) -> KerasAutoencoder:
        directory = Path(directory)
        state = cls.read_state(directory)
        detector = cls(config)
        detector.model = load_keras_model(directory / MODEL_FILE)
        if (directory / NORMALIZATION_FILE).is_file():
            detector.standardizer = load_standardizer(directory / NORMALIZATION_FILE)
        detector._load_extra_state(state)
        return detector


class ConvAEDetector(KerasAutoencoder):
    """The study's convolutional autoencoder on standardised 64x64 log-mel images; score = MSE."""

    name = "conv_ae"
    feature_kind = "image"
    summary = "the study's convolutional autoencoder on 64x64 log-mel images; score = MSE"
    saved_files = (MODEL_FILE, NORMALIZATION_FILE)

    @classmethod
    def build(cls, config: StudyConfig):
        from .networks import build_conv_ae

        return build_conv_ae(
            input_shape=(config.image.n_mels, config.image.n_frames, 1),
            batchnorm_momentum=config.training.batchnorm_momentum,
        )

    def _inputs(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return self.standardizer.transform(np.stack(images))[..., np.newaxis]

    def fit(self, features, machine_ids, *, progress=True):
        images = np.stack(features)
        self.standardizer = Standardizer.fit(images)
        return self._train(
            self._inputs(images), loss="mse", batch_size=self.config.training.batch_size, progress=progress
        )

    def reconstruct(self, features: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Model input and reconstruction, each ``(n_clips, n_mels, n_frames)``, in model units."""
        inputs = self._inputs(features)
        outputs = self._predict(inputs, self.config.training.batch_size)
        return inputs[..., 0], outputs[..., 0]

    def score(self, features, machine_ids=None):
        inputs, outputs = self.reconstruct(features)
        return np.mean((inputs - outputs) ** 2, axis=(1, 2))


class ConvVAEDetector(ConvAEDetector):
    """BCE needs targets in [0, 1]: standardised images are min-max scaled with the training range."""

    name = "conv_vae"
    summary = "the study's variant: conv VAE, binary cross-entropy + KL; score = MSE"

    def __init__(self, config):
        super().__init__(config)
        self.low, self.high = -3.0, 3.0

    @classmethod
    def build(cls, config: StudyConfig):
        from .networks import build_conv_vae

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
            self._inputs(images),
            loss="binary_crossentropy",
            batch_size=self.config.training.batch_size,
            progress=progress,
        )

    def _extra_state(self):
        return {"low": self.low, "high": self.high}

    def _load_extra_state(self, state):
        self.low, self.high = state["low"], state["high"]


class DenseAEDetector(KerasAutoencoder):
    """The DCASE 2020 baseline: a dense autoencoder on 5-frame 640-d log-mel vectors."""

    name = "dense_ae"
    feature_kind = "baseline"
    summary = "the DCASE 2020 baseline: dense autoencoder on 5-frame 640-d log-mel vectors"

    @classmethod
    def build(cls, config: StudyConfig):
        from .networks import build_dense_ae

        return build_dense_ae(
            input_dim=config.baseline.n_mels * config.baseline.frames,
            batchnorm_momentum=config.training.batchnorm_momentum,
        )

    def fit(self, features, machine_ids, *, progress=True):
        """Train on every frame vector of ``features``, streamed in batches (bounded memory).

        The vectors are cut from the log-mels batch by batch (:mod:`asd.detectors.streaming`)
        instead of being stacked into one ``(n_vectors, 640)`` matrix; the split into training
        and validation vectors and the per-epoch order are seeded by ``config.training.seed``.
        Memory-mapped log-mels (a feature pack) have their pages released as the stream moves on.
        """
        from .streaming import frame_vector_batches

        training = self.config.training
        train_batches, validation_batches = frame_vector_batches(
            features,
            frames=self.config.baseline.frames,
            batch_size=training.dense_batch_size,
            validation_split=training.validation_split,
            seed=training.seed,
        )
        try:
            self.model, history = fit_keras(
                lambda: self.build(self.config),
                train_batches,
                validation_data=validation_batches,
                name=self.name,
                config=self.config,
                loss="mse",
                progress=progress,
                shuffle=False,  # the batches are reshuffled, seeded, at every epoch end
            )
        finally:
            for batches in (train_batches, validation_batches):
                if batches is not None:
                    batches.release()
        return history

    def score(self, features, machine_ids=None, *, clips_per_batch: int = 64):
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


# Registered in the study's order (``asd models`` and the report list them so).
for _detector in (ConvAEDetector, DenseAEDetector, ConvVAEDetector):
    register(_detector)
