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
    the end: 9 patches per 10 s clip (313 frames).
    This is a finer time resolution than the study's 64x64 image (156 ms hop), which is what
    resolves click and impulse timing.
Network (:func:`build_id_classifier`, Keras 3 Functional, MobileNetV2-style)
    Conv 3x3/2 (16) -> inverted residual blocks (expand 1x1, depthwise 3x3, linear 1x1
    projection, residual where shapes match; ReLU6; BatchNormalization) with (expansion,
    channels, repeats, stride) = :data:`BLOCKS` (``64x64 -> 32 -> 16 -> 8 -> 4x4x48``) ->
    Conv 1x1 (128) -> global average pooling -> dropout 0.2 -> Dense(n_ids) logits.
    45,508 trainable parameters for 4 IDs. The early downsampling (stride 2 in the stem and
    the first block) keeps an epoch over the 1,800 patches of a default synthetic machine type
    at a few seconds on 2 CPU cores.
Training
    Adam (``config.training.learning_rate``), sparse categorical cross-entropy,
    ``config.training.epochs_for("id_classifier")`` epochs (6 by default), batch 64, seeded.
    Every patch of every training clip is used each epoch; classes are weighted inversely to
    their patch counts, so an ID with fewer clips is not ignored.

How well it works here
    On the default synthetic data it reaches AUC 0.61-0.89 (mean 0.79), well above the
    study's autoencoder but below :mod:`asd.embedding`. The IDs of a synthetic machine type
    differ in many details of the machine itself (speed, blade or vane count, harmonics,
    resonances), so the network is sure of the right ID for most anomalous clips too: the
    median p(own ID) of anomalous test clips is above 0.99 and 74-97 % of them stay above 0.9.
    The information is in the network (a Mahalanobis distance on its pooled 128-d patch
    embedding separated fan 0.97 and valve 0.85-0.88), but the softmax, trained only to tell
    IDs apart, ignores whatever does not help with that. See ``docs/detectors.md``.

One machine ID only (e.g. the MIMII fan id_00 sample)
    With a single ID there is nothing to discriminate: every patch is trivially "its own ID",
    the loss is 0 from the start, and the score would be constant. The detector then **falls back
    to** :class:`asd.embedding.EmbeddingKNNDetector` (logs a warning, records
    ``"mode": "single_id_knn_fallback"`` in ``detector.json`` and in the history), so a run
    over a single-ID dataset still gives meaningful scores; its results are those of
    ``embedding_knn``, and any report must say so.

Unknown machine IDs at scoring time
    A clip of an ID the classifier was not trained on (or with no ID given) is scored
    :math:`-\\log \\max_k \\mathrm{softmax}(z)_k`, averaged over patches: how unlike *any*
    known machine it sounds.
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
from .detectors import Detector, register
from .features import Standardizer

logger = logging.getLogger(__name__)

#: Inverted residual stages: (expansion factor, output channels, repeats, stride of the first).
BLOCKS: tuple[tuple[int, int, int, int], ...] = ((1, 16, 1, 2), (4, 24, 2, 2), (4, 32, 2, 2), (4, 48, 1, 1))
STEM_FILTERS = 16
HEAD_FILTERS = 128
DROPOUT = 0.2
#: BatchNormalization moving-average momentum. Keras' default (0.99) needs many hundreds of
#: steps before the moving statistics used at inference forget their initial values (mean 0,
#: variance 1); a default synthetic machine type trains for only ~170 steps (6 epochs x 28
#: batches), after which 0.99**170 = 18 % of the initial values remain and the network's
#: inference-mode outputs are nearly constant. With 0.9 they converge in a few dozen steps.
BN_MOMENTUM = 0.9
#: Mode recorded when a machine type has one ID and the k-NN embedding detector is used instead.
FALLBACK_MODE = "single_id_knn_fallback"
_LOG_FLOOR = 1e-12


def _inverted_residual(x, *, expansion: int, filters: int, stride: int, name: str):
    """MobileNetV2 block: 1x1 expand -> 3x3 depthwise (stride) -> 1x1 linear projection (+ skip)."""
    from keras import layers

    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = layers.Conv2D(in_channels * expansion, 1, use_bias=False, name=f"{name}_expand")(y)
        y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_expand_bn")(y)
        y = layers.ReLU(6.0, name=f"{name}_expand_relu")(y)
    y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_depthwise")(y)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_depthwise_bn")(y)
    y = layers.ReLU(6.0, name=f"{name}_depthwise_relu")(y)
    y = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(y)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_project_bn")(y)
    if stride == 1 and in_channels == filters:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def build_id_classifier(*, input_shape: tuple[int, int, int] = (64, 64, 1), n_classes: int = 4, blocks=BLOCKS):
    """The MobileNetV2-style ID classifier; outputs logits, shape ``(batch, n_classes)``.

    Parameters
    ----------
    input_shape : (n_mels, n_frames, 1)
        Standardised log-mel patch.
    n_classes : int
        Number of machine IDs (>= 2).
    blocks : sequence of (expansion, channels, repeats, stride)
        The inverted residual stages.
    """
    import keras
    from keras import layers

    if n_classes < 2:
        raise ValueError(f"an ID classifier needs at least 2 IDs, got {n_classes}")
    inputs = keras.Input(shape=input_shape, name="log_mel_patch")
    x = layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    for stage, (expansion, filters, repeats, stride) in enumerate(blocks, start=1):
        for repeat in range(repeats):
            x = _inverted_residual(
                x, expansion=expansion, filters=filters, stride=stride if repeat == 0 else 1, name=f"block{stage}_{repeat + 1}"
            )
    x = layers.Conv2D(HEAD_FILTERS, 1, use_bias=False, name="head_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="head_bn")(x)
    x = layers.ReLU(6.0, name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(DROPOUT, name="dropout")(x)
    outputs = layers.Dense(n_classes, name="id_logits")(x)
    return keras.Model(inputs, outputs, name="id_classifier")


def pool_mels(log_mel: np.ndarray, factor: int) -> np.ndarray:
    """Average groups of ``factor`` adjacent mel bands: ``(n_mels, T) -> (n_mels // factor, T)`` (dB)."""
    log_mel = np.asarray(log_mel, dtype=np.float32)
    if factor == 1:
        return log_mel
    n_mels = (log_mel.shape[0] // factor) * factor
    return log_mel[:n_mels].reshape(n_mels // factor, factor, -1).mean(axis=1)


def cut_patches(log_mel: np.ndarray, *, frames: int, hop: int) -> np.ndarray:
    """Windows of ``frames`` frames every ``hop`` frames, shape ``(n_patches, n_mels, frames)``.

    A spectrogram shorter than ``frames`` is tiled (repeated in time) to one full window; the
    last window is aligned to the end so the clip's tail is always covered.
    """
    n_mels, n_frames = log_mel.shape
    if n_frames < frames:
        log_mel = np.tile(log_mel, (1, -(-frames // n_frames)))[:, :frames]
        n_frames = frames
    starts = list(range(0, n_frames - frames + 1, hop))
    if starts[-1] != n_frames - frames:
        starts.append(n_frames - frames)
    return np.stack([log_mel[:, s : s + frames] for s in starts])


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@register
class IDClassifierDetector(Detector):
    """MobileNetV2-style machine-ID classifier on log-mel patches; score = -log p(own ID)."""

    name = "id_classifier"
    trains_in_epochs = True
    feature_kind = "baseline"
    summary = "self-supervised MobileNetV2-style machine-ID classifier on 64x64 log-mel patches; score = -log p(own ID)"

    mel_pool: ClassVar[int] = 2  #: adjacent mel bands averaged (128 -> 64)
    patch_frames: ClassVar[int] = 64  #: frames per patch (64 x 32 ms = 2.0 s)
    patch_hop: ClassVar[int] = 32  #: frames between patch starts
    batch_size: ClassVar[int] = 64
    model_file: ClassVar[str] = "model.keras"
    state_file: ClassVar[str] = "detector.json"
    fallback_dir: ClassVar[str] = "fallback"

    def __init__(self, config: StudyConfig):
        super().__init__(config)
        self.model = None
        self.standardizer: Standardizer | None = None
        self.ids: list[str] = []
        self.mode = "classifier"
        self.fallback: Detector | None = None

    @classmethod
    def n_trainable_parameters(cls, config: StudyConfig | None = None) -> int:
        """Trainable parameters for a machine type with 4 IDs (the DCASE development sets)."""
        from .models import count_trainable_parameters

        n_mels = (config or StudyConfig()).baseline.n_mels // cls.mel_pool
        return count_trainable_parameters(build_id_classifier(input_shape=(n_mels, cls.patch_frames, 1), n_classes=4))

    # -- patches -------------------------------------------------------------------------
    def _patches(self, log_mel: np.ndarray) -> np.ndarray:
        """Standardised patches of one clip, shape ``(n_patches, n_mels, frames, 1)``, float32."""
        pooled = self.standardizer.transform(pool_mels(log_mel, self.mel_pool))
        return cut_patches(pooled, frames=self.patch_frames, hop=self.patch_hop)[..., np.newaxis]

    def _all_patches(self, features: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Patches of every clip stacked, and the clip index of each patch, ``(n_patches,)``."""
        patches = [self._patches(f) for f in features]
        owner = np.concatenate([np.full(len(p), i) for i, p in enumerate(patches)])
        return np.concatenate(patches), owner

    # -- fit / score ---------------------------------------------------------------------
    def fit(self, features, machine_ids, *, progress=True) -> pd.DataFrame:
        """Train on the normal clips of every ID of one machine type.

        Returns the history, one row per epoch: ``loss`` (nats per patch) and ``accuracy``
        (fraction of training patches classified as their own ID).
        """
        import keras

        from .detectors import _TqdmEpochs
        from .models import set_seed

        machine_ids = [str(m) for m in machine_ids]
        if len(machine_ids) != len(features):
            raise ValueError(f"{len(features)} clips but {len(machine_ids)} machine IDs")
        self.ids = sorted(set(machine_ids))
        if len(self.ids) < 2:
            return self._fit_fallback(features, machine_ids, progress=progress)
        self.mode = "classifier"
        self.standardizer = Standardizer.fit(np.stack([pool_mels(f, self.mel_pool) for f in features]))
        patches, owner = self._all_patches(features)
        labels = np.asarray([self.ids.index(m) for m in machine_ids])[owner]
        counts = np.bincount(labels, minlength=len(self.ids))
        class_weight = {k: float(len(labels) / (len(self.ids) * c)) for k, c in enumerate(counts)}

        training = self.config.training
        set_seed(training.seed)
        self.model = build_id_classifier(input_shape=patches.shape[1:], n_classes=len(self.ids))
        self.model.compile(
            optimizer=keras.optimizers.Adam(training.learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        epochs = training.epochs_for(self.name)
        logger.info("%s: %d patches of %d clips, %d IDs, %d epochs", self.name, len(patches), len(features), len(self.ids), epochs)
        history = self.model.fit(
            patches,
            labels,
            epochs=epochs,
            batch_size=self.batch_size,
            shuffle=True,
            class_weight=class_weight,
            verbose=0,
            callbacks=[_TqdmEpochs(epochs, desc=f"train {self.name}", disable=not progress)],
        )
        frame = pd.DataFrame(history.history)
        frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
        return frame

    def _fit_fallback(self, features, machine_ids, *, progress: bool) -> pd.DataFrame:
        from .embedding import EmbeddingKNNDetector

        logger.warning(
            "%s: only one machine ID (%s) to learn from, so there is nothing to classify; "
            "falling back to embedding_knn (k-NN on log-mel statistics) for this machine type",
            self.name,
            self.ids[0],
        )
        self.mode = FALLBACK_MODE
        self.fallback = EmbeddingKNNDetector(self.config)
        history = self.fallback.fit(features, machine_ids, progress=progress)
        history.insert(1, "mode", FALLBACK_MODE)
        return history

    def log_probabilities(self, features: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per clip, the log-probability of every ID for every patch, ``(n_patches, n_ids)`` (nats)."""
        if self.model is None:
            raise RuntimeError(f"{self.name}: no classifier (fit() or load() first, and at least 2 IDs)")
        patches, owner = self._all_patches(features)
        logits = np.asarray(self.model.predict(patches, batch_size=256, verbose=0), dtype=np.float64)
        log_p = _log_softmax(logits)
        return [log_p[owner == i] for i in range(len(features))]

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
    def _state(self) -> dict:
        return {
            "name": self.name,
            "mode": self.mode,
            "ids": self.ids,
            "mel_pool": self.mel_pool,
            "patch_frames": self.patch_frames,
            "patch_hop": self.patch_hop,
        }

    def save(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.mode == FALLBACK_MODE:
            self.fallback.save(directory / self.fallback_dir)
        else:
            with atomic_path(directory / self.model_file) as tmp:
                self.model.save(tmp)
            self.standardizer.save(directory / "normalization.json")
        write_text_atomic(directory / self.state_file, json.dumps(self._state(), indent=2))

    @classmethod
    def load(cls, directory: str | os.PathLike, config: StudyConfig) -> "IDClassifierDetector":
        directory = Path(directory)
        state = json.loads((directory / cls.state_file).read_text(encoding="utf-8"))
        if state.get("name") != cls.name:
            raise ValueError(f"{directory}: holds a {state.get('name')!r} detector, not {cls.name!r}")
        for key in ("mel_pool", "patch_frames", "patch_hop"):
            if state[key] != getattr(cls, key):
                raise ValueError(f"{directory}: saved {key}={state[key]} differs from this version's {getattr(cls, key)}")
        detector = cls(config)
        detector.ids, detector.mode = list(state["ids"]), state["mode"]
        if detector.mode == FALLBACK_MODE:
            from .embedding import EmbeddingKNNDetector

            detector.fallback = EmbeddingKNNDetector.load(directory / cls.fallback_dir, config)
        else:
            import keras

            detector.model = keras.models.load_model(directory / cls.model_file, compile=False)
            detector.standardizer = Standardizer.load(directory / "normalization.json")
        return detector
