"""Keras 3 network builders of every Keras detector (Functional API, layers built in loops).

Only the networks live here; the detectors that train them are in the family modules
(:mod:`asd.detectors.autoencoders`, :mod:`asd.detectors.id_classifier`).

``conv_ae``
    The study's convolutional autoencoder on ``(64, 64, 1)`` standardised log-mel images.
    Encoder Conv2D 32, 64, 64, 128 and decoder Conv2DTranspose 64, 64, 32, 1; every
    convolution has kernel 3, stride 2, padding ``same`` and ReLU, and is followed by
    BatchNormalization: ``64x64 -> 32 -> 16 -> 8 -> 4x4x128 -> 8 -> 16 -> 32 -> 64x64x1``.
    259,971 trainable parameters. Trained with MSE; the MSE is also the anomaly score.
    (The last layer is kept as the study built it, ReLU then BatchNormalization, so its output
    can still take negative values through the BatchNormalization shift.)
``dense_ae``
    The DCASE 2020 Task 2 baseline: ``640-128-128-128-128-8-128-128-128-128-640``, each hidden
    layer Dense + BatchNormalization + ReLU, linear output, on 5-frame log-mel vectors.
``conv_vae``
    The study's brief variant: the conv AE's encoder and decoder around a Gaussian latent,
    trained with binary cross-entropy (inputs scaled to [0, 1]) plus the KL divergence.
``id_classifier``
    A MobileNetV2-style classifier of machine IDs on ``(64, 64, 1)`` log-mel patches
    (:func:`build_id_classifier`): Conv 3x3/2 (16) -> inverted residual blocks (expand 1x1,
    depthwise 3x3, linear 1x1 projection, residual where shapes match; ReLU6;
    BatchNormalization) with (expansion, channels, repeats, stride) = :data:`ID_BLOCKS`
    (``64x64 -> 32 -> 16 -> 8 -> 4x4x48``) -> Conv 1x1 (128) -> global average pooling ->
    dropout -> Dense(n_ids) logits; 45,508 trainable parameters for 4 IDs. The early
    downsampling (stride 2 in the stem and the first block) keeps it cheap on CPUs.

Every builder takes ``batchnorm_momentum``, the momentum of the BatchNormalization layers'
running mean and variance, which are what the model uses at inference. Keras' default, 0.99,
is the study's; it needs several hundred optimiser steps to forget its initial values
(0.99**180 = 16 % left after the 180 steps of 30 epochs on 180 images), so on small training
sets the scoring model differs from the trained one. 0.9 converges within about 50 steps
(``training.batchnorm_momentum`` in :class:`asd.config.TrainingConfig`; the ID classifier's is
``detectors.id_classifier.batchnorm_momentum``, 0.9, for the same reason: a default synthetic
machine type trains it for only about 170 steps).
"""

from __future__ import annotations

import random
import threading

import keras
from keras import layers, ops

IMAGE_SHAPE = (64, 64, 1)
#: Keras' default BatchNormalization momentum, as the study used it.
DEFAULT_BATCHNORM_MOMENTUM = 0.99
ENCODER_FILTERS = (32, 64, 64, 128)
DECODER_FILTERS = (64, 64, 32, 1)
DENSE_HIDDEN = (128, 128, 128, 128)
#: ID classifier's inverted residual stages: (expansion factor, output channels, repeats, stride of the first).
ID_BLOCKS: tuple[tuple[int, int, int, int], ...] = ((1, 16, 1, 2), (4, 24, 2, 2), (4, 32, 2, 2), (4, 48, 1, 1))
ID_STEM_FILTERS = 16
ID_HEAD_FILTERS = 128


def _conv_block(x, filters: int, *, transpose: bool, momentum: float, name: str):
    conv = layers.Conv2DTranspose if transpose else layers.Conv2D
    x = conv(filters, kernel_size=3, strides=2, padding="same", activation="relu", name=f"{name}_conv")(x)
    return layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)


def _encoder(inputs, *, momentum: float):
    x = inputs
    for index, filters in enumerate(ENCODER_FILTERS, start=1):
        x = _conv_block(x, filters, transpose=False, momentum=momentum, name=f"encoder_{index}")
    return x


def _decoder(x, *, momentum: float):
    for index, filters in enumerate(DECODER_FILTERS, start=1):
        x = _conv_block(x, filters, transpose=True, momentum=momentum, name=f"decoder_{index}")
    return x


def _check_momentum(momentum: float) -> float:
    if not 0.0 <= float(momentum) < 1.0:
        raise ValueError(f"batchnorm_momentum must be in [0, 1), got {momentum!r}")
    return float(momentum)


def build_conv_ae(
    *, input_shape: tuple[int, int, int] = IMAGE_SHAPE, batchnorm_momentum: float = DEFAULT_BATCHNORM_MOMENTUM
) -> keras.Model:
    """The study's convolutional autoencoder (259,971 trainable parameters for 64x64x1)."""
    momentum = _check_momentum(batchnorm_momentum)
    inputs = keras.Input(shape=input_shape, name="log_mel_image")
    outputs = _decoder(_encoder(inputs, momentum=momentum), momentum=momentum)
    return keras.Model(inputs, outputs, name="conv_ae")


def build_dense_ae(
    *, input_dim: int = 640, bottleneck: int = 8, batchnorm_momentum: float = DEFAULT_BATCHNORM_MOMENTUM
) -> keras.Model:
    """The DCASE 2020 baseline's dense autoencoder on ``input_dim``-d frame vectors."""
    momentum = _check_momentum(batchnorm_momentum)
    inputs = keras.Input(shape=(input_dim,), name="frame_vector")
    x = inputs
    widths = [*DENSE_HIDDEN, bottleneck, *DENSE_HIDDEN]
    for index, width in enumerate(widths, start=1):
        x = layers.Dense(width, name=f"dense_{index}")(x)
        x = layers.BatchNormalization(momentum=momentum, name=f"dense_{index}_bn")(x)
        x = layers.ReLU(name=f"dense_{index}_relu")(x)
    outputs = layers.Dense(input_dim, name="reconstruction")(x)
    return keras.Model(inputs, outputs, name="dense_ae")


@keras.saving.register_keras_serializable(package="asd")
class GaussianSampling(layers.Layer):
    """Reparameterised sample ``z = mean + exp(log_var / 2) * eps``; adds the KL term as a loss.

    The KL divergence is divided by ``n_outputs`` (pixels of the reconstruction) so that it is
    on the same per-pixel scale as the binary cross-entropy Keras averages.
    """

    def __init__(self, n_outputs: int = 4096, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.n_outputs = n_outputs
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        mean, log_var = inputs
        kl = -0.5 * ops.mean(ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1))
        self.add_loss(kl / self.n_outputs)
        if not training:
            return mean
        epsilon = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * epsilon

    def get_config(self):
        return {**super().get_config(), "n_outputs": self.n_outputs, "seed": self.seed}


def build_conv_vae(
    *,
    input_shape: tuple[int, int, int] = IMAGE_SHAPE,
    latent_dim: int = 64,
    seed: int = 0,
    batchnorm_momentum: float = DEFAULT_BATCHNORM_MOMENTUM,
) -> keras.Model:
    """Conv VAE: conv AE encoder -> (mean, log variance) -> sample -> conv AE decoder -> sigmoid.

    Inputs must lie in [0, 1] (binary cross-entropy); at inference the latent mean is decoded.
    """
    momentum = _check_momentum(batchnorm_momentum)
    inputs = keras.Input(shape=input_shape, name="log_mel_image_01")
    encoded = layers.Flatten(name="encoder_flatten")(_encoder(inputs, momentum=momentum))
    mean = layers.Dense(latent_dim, name="latent_mean")(encoded)
    log_var = layers.Dense(latent_dim, name="latent_log_var")(encoded)
    z = GaussianSampling(n_outputs=int(input_shape[0] * input_shape[1] * input_shape[2]), seed=seed, name="sampling")(
        [mean, log_var]
    )
    side = input_shape[0] // 2 ** len(ENCODER_FILTERS)
    x = layers.Dense(side * side * ENCODER_FILTERS[-1], activation="relu", name="latent_to_grid")(z)
    x = layers.Reshape((side, side, ENCODER_FILTERS[-1]), name="grid")(x)
    for index, filters in enumerate(DECODER_FILTERS[:-1], start=1):
        x = _conv_block(x, filters, transpose=True, momentum=momentum, name=f"decoder_{index}")
    outputs = layers.Conv2DTranspose(
        input_shape[-1], kernel_size=3, strides=2, padding="same", activation="sigmoid", name="decoder_out"
    )(x)
    return keras.Model(inputs, outputs, name="conv_vae")


def _inverted_residual(x, *, expansion: int, filters: int, stride: int, momentum: float, name: str):
    """MobileNetV2 block: 1x1 expand -> 3x3 depthwise (stride) -> 1x1 linear projection (+ skip)."""
    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = layers.Conv2D(in_channels * expansion, 1, use_bias=False, name=f"{name}_expand")(y)
        y = layers.BatchNormalization(momentum=momentum, name=f"{name}_expand_bn")(y)
        y = layers.ReLU(6.0, name=f"{name}_expand_relu")(y)
    y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_depthwise")(y)
    y = layers.BatchNormalization(momentum=momentum, name=f"{name}_depthwise_bn")(y)
    y = layers.ReLU(6.0, name=f"{name}_depthwise_relu")(y)
    y = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(y)
    y = layers.BatchNormalization(momentum=momentum, name=f"{name}_project_bn")(y)
    if stride == 1 and in_channels == filters:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def build_id_classifier(
    *,
    input_shape: tuple[int, int, int] = IMAGE_SHAPE,
    n_classes: int = 4,
    blocks=ID_BLOCKS,
    batchnorm_momentum: float = 0.9,
    dropout: float = 0.2,
) -> keras.Model:
    """The MobileNetV2-style ID classifier; outputs logits, shape ``(batch, n_classes)``.

    Parameters
    ----------
    input_shape : (n_mels, n_frames, 1)
        Standardised log-mel patch.
    n_classes : int
        Number of machine IDs (>= 2).
    blocks : sequence of (expansion, channels, repeats, stride)
        The inverted residual stages.
    batchnorm_momentum : float
        Momentum of every BatchNormalization layer's running statistics, in [0, 1).
    dropout : float
        Dropout rate before the logits, in [0, 1).
    """
    if n_classes < 2:
        raise ValueError(f"an ID classifier needs at least 2 IDs, got {n_classes}")
    momentum = _check_momentum(batchnorm_momentum)
    inputs = keras.Input(shape=input_shape, name="log_mel_patch")
    x = layers.Conv2D(ID_STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(momentum=momentum, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    for stage, (expansion, filters, repeats, stride) in enumerate(blocks, start=1):
        for repeat in range(repeats):
            x = _inverted_residual(
                x,
                expansion=expansion,
                filters=filters,
                stride=stride if repeat == 0 else 1,
                momentum=momentum,
                name=f"block{stage}_{repeat + 1}",
            )
    x = layers.Conv2D(ID_HEAD_FILTERS, 1, use_bias=False, name="head_conv")(x)
    x = layers.BatchNormalization(momentum=momentum, name="head_bn")(x)
    x = layers.ReLU(6.0, name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(n_classes, name="id_logits")(x)
    return keras.Model(inputs, outputs, name="id_classifier")


def count_trainable_parameters(model: keras.Model) -> int:
    """Number of trainable scalars (BatchNormalization's gamma and beta count; its moving stats do not)."""
    return int(sum(int(ops.size(w)) for w in model.trainable_weights))


class _ThreadSeeds:
    """Keras' default seeds drawn from a generator of the thread that seeded, not from the process's.

    Keras draws the seed of every initializer and seed generator built without one from Python's
    process-wide :mod:`random` (``keras.src.random.seed_generator.python_random.randint``), which
    :func:`set_seed` seeds. Any other thread that draws from :mod:`random` between the seeding and the
    build (a Dask worker's event loop does) shifts every initial weight: on a Dask worker, one training in
    about four started from other weights. Installed in place of that module reference, this object
    answers ``randint`` from a :class:`random.Random` seeded by :func:`set_seed` in the calling thread
    (the same numbers as the seeded module, in the same order) and defers everything else, and threads
    that never seeded, to :mod:`random`.
    """

    def __init__(self):
        self._local = threading.local()

    def seed(self, seed: int) -> None:
        self._local.generator = random.Random(seed)

    def randint(self, low: int, high: int) -> int:
        return getattr(self._local, "generator", random).randint(low, high)

    def __getattr__(self, name: str):
        return getattr(random, name)


_THREAD_SEEDS = _ThreadSeeds()


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and the backend, and ask TensorFlow for deterministic ops.

    Keras' default seeds come from this thread's own generator (:class:`_ThreadSeeds`), so that
    other threads' use of :mod:`random` cannot change the initial weights.
    """
    keras.utils.set_random_seed(seed)
    try:
        from keras.src.random import seed_generator
    except ImportError:  # another Keras layout: tests/test_detectors_networks.py notices
        seed_generator = None
    if seed_generator is not None and getattr(seed_generator, "python_random", None) is not None:
        seed_generator.python_random = _THREAD_SEEDS
    _THREAD_SEEDS.seed(seed)
    try:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    except (ImportError, AttributeError):  # another Keras backend
        pass
