"""Self-supervised machine-ID classifier: an anomaly is a clip that does not sound like its own ID.

A machine type has several machines (IDs) of the same kind. A compact CNN learns to tell,
from a 2-second log-mel patch, *which* of them is playing, using only normal training clips
(the IDs are free labels: no anomaly is ever seen). To do that it must pick up the fine,
machine-specific details (exact rotation speed, harmonic pattern, resonances, click timing)
and ignore what all IDs share (background, loudness drift). A fault changes exactly those
details, so the classifier becomes unsure that the clip is its own machine: the anomaly score is
the negative log-probability of the clip's own ID, averaged over its patches,

.. math:: s = -\\frac{1}{P} \\sum_{p=1}^{P} \\log \\mathrm{softmax}(z_p)_{\\mathrm{id}},

in nats (0 when every patch is surely its own ID; :math:`\\log K` for a uniform guess among
:math:`K` IDs). Unlike the autoencoder, nothing is rewarded for *reproducing* the input, so a
model that generalises well does not also generalise to anomalies; this is the idea behind the
best DCASE 2020 Task 2 systems (e.g. Giri et al., 2020) and the DCASE 2021 MobileNetV2 baseline.

Input
    The DCASE baseline's log-mel spectrogram (``"baseline"`` features: 128 mel bands, hop
    32 ms, dB), pairs of adjacent bands averaged (``mel_pool=2``) to 64 bands, standardised
    with one mean and standard deviation of the training spectrograms, cut into
    ``64 x 64``-frame patches (2.0 s) every ``patch_hop=32`` frames, the last one aligned to
    the end: 9 patches per 10 s clip (313 frames). The knobs are ``detectors.id_classifier``
    in the config (:class:`asd.config.IDClassifierConfig`); a saved detector keeps its own.
    This is a finer time resolution than the study's 64x64 image (156 ms hop), which is what
    resolves click and impulse timing.
Network (:func:`asd.detectors.networks.build_id_classifier`)
    A MobileNetV2-style CNN (inverted residual blocks with depthwise convolutions, Keras 3
    Functional) ending in one logit per machine ID; BatchNormalization momentum
    ``detectors.id_classifier.batchnorm_momentum`` (0.9: Keras' 0.99 needs many hundred steps
    to forget the initial moving statistics, more than a small machine type trains for).
Training
    Adam (``config.training.learning_rate``), sparse categorical cross-entropy,
    ``config.training.epochs_for("id_classifier")`` epochs, batch
    ``detectors.id_classifier.batch_size``, seeded. Every patch of every training clip is used
    each epoch; classes are weighted inversely to their patch counts, so an ID with fewer clips
    is not ignored. The patches are never stacked: they are cut batch by batch from the
    (possibly memory-mapped) log-mels (:class:`asd.detectors.streaming.PatchBatches`,
    window-shuffled and seeded as the dense autoencoder's frame vectors), and scoring runs over
    a few dozen clips at a time, so memory stays bounded whatever the number of clips.

One machine ID only (e.g. the MIMII fan id_00 sample)
    With a single ID there is nothing to discriminate: every patch is trivially "its own ID",
    the loss is 0 from the start, and the score would be constant. The detector then **falls back
    to** ``embedding_knn`` (:class:`asd.detectors.embedding.EmbeddingKNNDetector`; logs a
    warning, records ``"mode": "single_id_knn_fallback"`` in ``detector.json`` and in the
    history), so a run over a single-ID dataset still gives meaningful scores; its results are
    those of ``embedding_knn``, and any report must say so.

Unknown machine IDs at scoring time
    A clip of an ID the classifier was not trained on (or with no ID given) is scored
    :math:`-\\log \\max_k \\mathrm{softmax}(z)_k`, averaged over patches: how unlike *any*
    known machine it sounds.

How well it does, and why it misses what it misses, is measured in ``docs/detectors.md``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..config import IDClassifierConfig, StudyConfig
from ..features import Standardizer, release_pages
from .base import Detector, DetectorStateError, fit_keras, get_detector, load_keras_model, load_standardizer, register
from .windows import cut_patches

logger = logging.getLogger(__name__)

#: Mode recorded when a machine type has one ID and :data:`FALLBACK_DETECTOR` is used instead.
FALLBACK_MODE = "single_id_knn_fallback"
#: The detector fitted instead when a machine type has a single ID.
FALLBACK_DETECTOR = "embedding_knn"
#: Saved settings that fix what the network's input is (a saved detector keeps its own).
INPUT_SETTINGS = ("mel_pool", "patch_frames", "patch_hop")
MODEL_FILE = "model.keras"
NORMALIZATION_FILE = "normalization.json"


def pool_mels(log_mel: np.ndarray, factor: int) -> np.ndarray:
    """Average groups of ``factor`` adjacent mel bands: ``(n_mels, T) -> (n_mels // factor, T)`` (dB)."""
    log_mel = np.asarray(log_mel, dtype=np.float32)
    if factor == 1:
        return log_mel
    n_mels = (log_mel.shape[0] // factor) * factor
    return log_mel[:n_mels].reshape(n_mels // factor, factor, -1).mean(axis=1)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class IDClassifierDetector(Detector):
    """MobileNetV2-style machine-ID classifier on log-mel patches; score = -log p(own ID)."""

    name = "id_classifier"
    trains_in_epochs = True
    feature_kind = "baseline"
    settings_class = IDClassifierConfig
    summary = "self-supervised MobileNetV2-style machine-ID classifier on 64x64 log-mel patches; score = -log p(own ID)"
    fallback_dir: ClassVar[str] = "fallback"
    #: What it scores as on a machine type with one machine ID (the report names it).
    fallback_detector: ClassVar[str] = FALLBACK_DETECTOR
    #: Clips whose patches are scored together (bounds scoring memory).
    score_clips: ClassVar[int] = 64
    #: Patches per inference call.
    predict_batch: ClassVar[int] = 256

    def __init__(self, config: StudyConfig):
        super().__init__(config)
        self.settings: IDClassifierConfig = config.detectors.id_classifier
        self.mel_pool = int(self.settings.mel_pool)
        self.patch_frames = int(self.settings.patch_frames)
        self.patch_hop = int(self.settings.patch_hop)
        self.model = None
        self.standardizer: Standardizer | None = None
        self.ids: list[str] = []
        self.mode = "classifier"
        self.fallback: Detector | None = None

    @classmethod
    def n_trainable_parameters(cls, config: StudyConfig | None = None) -> int:
        """Trainable parameters for a machine type with 4 IDs (the DCASE development sets)."""
        from .networks import count_trainable_parameters

        config = config or StudyConfig()
        return count_trainable_parameters(cls._build(config, n_classes=4))

    @staticmethod
    def _build(config: StudyConfig, *, n_classes: int):
        from .networks import build_id_classifier

        settings = config.detectors.id_classifier
        n_mels = config.baseline.n_mels // settings.mel_pool
        return build_id_classifier(
            input_shape=(n_mels, settings.patch_frames, 1),
            n_classes=n_classes,
            batchnorm_momentum=settings.batchnorm_momentum,
            dropout=settings.dropout,
        )

    # -- patches -------------------------------------------------------------------------
    def _pooled(self, log_mel: np.ndarray) -> np.ndarray:
        return pool_mels(log_mel, self.mel_pool)

    def _standardised(self, log_mel: np.ndarray) -> np.ndarray:
        """One clip, mel-pooled and standardised, ``(n_mels // mel_pool, n_frames)`` float32."""
        return self.standardizer.transform(pool_mels(log_mel, self.mel_pool))

    def _patches(self, log_mel: np.ndarray) -> np.ndarray:
        """Standardised patches of one clip, shape ``(n_patches, n_mels, frames, 1)``, float32."""
        return cut_patches(self._standardised(log_mel), frames=self.patch_frames, hop=self.patch_hop)[..., np.newaxis]

    # -- fit / score ---------------------------------------------------------------------
    def fit(self, features, machine_ids, *, progress=True) -> pd.DataFrame:
        """Train on the normal clips of every ID of one machine type.

        Returns the history, one row per epoch: ``loss`` (nats per patch) and ``accuracy``
        (fraction of training patches classified as their own ID).
        """
        from .streaming import PatchBatches, streamed_mean_std

        machine_ids = [str(m) for m in machine_ids]
        if len(machine_ids) != len(features):
            raise ValueError(f"{len(features)} clips but {len(machine_ids)} machine IDs")
        self.ids = sorted(set(machine_ids))
        if len(self.ids) < 2:
            return self._fit_fallback(features, machine_ids, progress=progress)
        self.mode = "classifier"
        mean, std = streamed_mean_std(features, self._pooled)
        self.standardizer = Standardizer(mean=mean, std=max(std, Standardizer.min_std))
        clip_labels = np.asarray([self.ids.index(m) for m in machine_ids])
        training = self.config.training
        batches = PatchBatches(
            features,
            prepare=self._standardised,
            frames=self.patch_frames,
            hop=self.patch_hop,
            labels=clip_labels,
            class_weights=np.ones(len(self.ids)),
            batch_size=int(self.settings.batch_size),
            shuffle_seed=training.seed,
        )
        counts = np.bincount(clip_labels, weights=batches.patch_counts(), minlength=len(self.ids))
        n_patches = int(counts.sum())
        batches.class_weights = (n_patches / (len(self.ids) * counts)).astype(np.float32)
        logger.info(
            "%s: %d patches of %d clips, %d IDs, %d epochs",
            self.name, n_patches, len(features), len(self.ids), training.epochs_for(self.name),
        )  # fmt: skip
        import keras

        try:
            self.model, history = fit_keras(
                lambda: self._build(self.config, n_classes=len(self.ids)),
                batches,
                name=self.name,
                config=self.config,
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"],
                progress=progress,
                shuffle=False,  # the batches are reshuffled, seeded, at every epoch end
            )
        finally:
            batches.release()
        return history

    def _fit_fallback(self, features, machine_ids, *, progress: bool) -> pd.DataFrame:
        logger.warning(
            "%s: only one machine ID (%s) to learn from, so there is nothing to classify; "
            "falling back to %s (k-NN on log-mel statistics) for this machine type",
            self.name,
            self.ids[0],
            FALLBACK_DETECTOR,
        )
        self.mode = FALLBACK_MODE
        self.fallback = get_detector(FALLBACK_DETECTOR)(self.config)
        history = self.fallback.fit(features, machine_ids, progress=progress)
        history.insert(1, "mode", FALLBACK_MODE)
        return history

    def log_probabilities(self, features: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per clip, the log-probability of every ID for every patch, ``(n_patches, n_ids)`` (nats).

        The patches of :attr:`score_clips` clips at a time are cut and classified, so memory is
        bounded; the pages of memory-mapped log-mels are released as they are read.
        """
        if self.model is None:
            raise RuntimeError(f"{self.name}: no classifier (fit() or load() first, and at least 2 IDs)")
        result = []
        for start in range(0, len(features), self.score_clips):
            chunk = features[start : start + self.score_clips]
            patches = [self._patches(f) for f in chunk]
            release_pages(chunk)
            bounds = np.cumsum([len(p) for p in patches])[:-1]
            stacked = np.concatenate(patches)
            del patches
            logits = np.concatenate(
                [
                    np.asarray(
                        self.model.predict_on_batch(stacked[first : first + self.predict_batch]), dtype=np.float64
                    )
                    for first in range(0, len(stacked), self.predict_batch)
                ]
            )
            result.extend(np.split(_log_softmax(logits), bounds))
        return result

    def score(self, features, machine_ids=None) -> np.ndarray:
        """Mean over patches of ``-log p(own ID)`` (nats), shape ``(n_clips,)``; see the module docstring."""
        if self.mode == FALLBACK_MODE:
            return self.fallback.score(features, machine_ids)
        if len(features) == 0:
            return np.empty(0)
        if machine_ids is not None and len(machine_ids) != len(features):
            raise ValueError(f"{len(features)} clips but {len(machine_ids)} machine IDs")
        scores = np.empty(len(features))
        for i, log_p in enumerate(self.log_probabilities(features)):
            machine_id = None if machine_ids is None else str(machine_ids[i])
            if machine_id in self.ids:
                scores[i] = -log_p[:, self.ids.index(machine_id)].mean()
            else:
                scores[i] = -log_p.max(axis=1).mean()
        return scores

    def training_scores(self, features, machine_ids) -> np.ndarray:
        if self.mode == FALLBACK_MODE:
            return self.fallback.training_scores(features, machine_ids)
        return self.score(features, machine_ids)

    # -- persistence ---------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.mode == FALLBACK_MODE:
            self.fallback.save(directory / self.fallback_dir)
        else:
            with atomic_path(directory / MODEL_FILE) as tmp:
                self.model.save(tmp)
            self.standardizer.save(directory / NORMALIZATION_FILE)
        self.write_state(directory, mode=self.mode, ids=self.ids, **{key: getattr(self, key) for key in INPUT_SETTINGS})

    @classmethod
    def load(cls, directory: str | os.PathLike, config: StudyConfig) -> IDClassifierDetector:
        """The detector saved in ``directory``, with the patch settings it was trained with."""
        directory = Path(directory)
        state = cls.read_state(directory, files=())
        missing = [key for key in ("mode", "ids", *INPUT_SETTINGS) if key not in state]
        if missing:
            raise DetectorStateError(f"{directory / 'detector.json'}: incomplete, no {', '.join(missing)}")
        detector = cls(config)
        detector.ids, detector.mode = list(state["ids"]), state["mode"]
        for key in INPUT_SETTINGS:
            setattr(detector, key, int(state[key]))
        if detector.mode == FALLBACK_MODE:
            detector.fallback = get_detector(FALLBACK_DETECTOR).load(directory / cls.fallback_dir, config)
        else:
            cls.read_state(directory, files=(MODEL_FILE, NORMALIZATION_FILE))
            detector.model = load_keras_model(directory / MODEL_FILE)
            detector.standardizer = load_standardizer(directory / NORMALIZATION_FILE)
        return detector


register(IDClassifierDetector)
