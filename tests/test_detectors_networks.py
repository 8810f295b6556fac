import numpy as np
import pytest

from asd.detectors.networks import build_conv_ae, build_conv_vae, build_dense_ae, count_trainable_parameters


def test_conv_ae_has_the_studys_parameter_count():
    model = build_conv_ae()
    assert count_trainable_parameters(model) == 259_971
    assert model.input_shape == (None, 64, 64, 1) and model.output_shape == (None, 64, 64, 1)


def test_conv_ae_layer_sequence():
    model = build_conv_ae()
    convs = [layer for layer in model.layers if "conv" in layer.name]
    assert [layer.filters for layer in convs] == [32, 64, 64, 128, 64, 64, 32, 1]
    assert all(layer.kernel_size == (3, 3) and layer.strides == (2, 2) and layer.padding == "same" for layer in convs)
    assert sum("bn" in layer.name for layer in model.layers) == 8
    bottleneck = model.get_layer("encoder_4_bn").output
    assert tuple(bottleneck.shape[1:]) == (4, 4, 128)


def test_dense_ae_is_the_dcase_baseline():
    model = build_dense_ae()
    dense = [layer.units for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert dense == [128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
    assert model.layers[-1].activation.__name__ == "linear"
    # 640*128+128 + 3*(128*128+128) + 128*8+8 + 8*128+128 + 3*(128*128+128) + 128*640+640, plus BN gamma/beta
    dense_params = 640 * 128 + 128 + 6 * (128 * 128 + 128) + 128 * 8 + 8 + 8 * 128 + 128 + 128 * 640 + 640
    bn_params = 2 * (8 * 128 + 8)
    assert count_trainable_parameters(model) == dense_params + bn_params


def test_conv_vae_outputs_probabilities(rng):
    model = build_conv_vae(latent_dim=8)
    out = np.asarray(model(rng.uniform(0, 1, (2, 64, 64, 1)).astype("float32"), training=False))
    assert out.shape == (2, 64, 64, 1)
    assert out.min() >= 0 and out.max() <= 1


def test_conv_vae_adds_kl_loss(rng):
    model = build_conv_vae(latent_dim=8)
    model(rng.uniform(0, 1, (2, 64, 64, 1)).astype("float32"), training=True)
    assert len(model.losses) == 1 and float(model.losses[0]) >= 0


def test_conv_vae_save_load_round_trip(tmp_path, rng):
    import keras

    model = build_conv_vae(latent_dim=8)
    x = rng.uniform(0, 1, (2, 64, 64, 1)).astype("float32")
    model.save(tmp_path / "vae.keras")
    loaded = keras.models.load_model(tmp_path / "vae.keras", compile=False)
    np.testing.assert_allclose(np.asarray(loaded(x, training=False)), np.asarray(model(x, training=False)), atol=1e-6)


def test_conv_ae_other_image_size():
    assert build_conv_ae(input_shape=(32, 32, 1)).output_shape == (None, 32, 32, 1)


def test_batchnorm_momentum_is_keras_default_and_configurable():
    def layers_of(model):
        return [layer for layer in model.layers if layer.__class__.__name__ == "BatchNormalization"]

    assert {layer.momentum for layer in layers_of(build_conv_ae())} == {0.99}
    for model in (
        build_conv_ae(batchnorm_momentum=0.9),
        build_dense_ae(batchnorm_momentum=0.9),
        build_conv_vae(batchnorm_momentum=0.9),
    ):
        assert {layer.momentum for layer in layers_of(model)} == {0.9}, model.name
    assert count_trainable_parameters(build_conv_ae(batchnorm_momentum=0.9)) == 259_971
    with pytest.raises(ValueError, match="batchnorm_momentum must be in"):
        build_conv_ae(batchnorm_momentum=1.0)


def test_lower_momentum_brings_running_statistics_closer_after_few_steps(rng):
    """The reason for the knob: after a few optimiser steps the running mean of the first
    BatchNormalization layer is far from its inputs' mean with 0.99, close with 0.9."""
    import keras

    images = (2.0 + rng.standard_normal((64, 64, 64, 1))).astype("float32")
    gaps = {}
    for momentum in (0.99, 0.9):
        keras.utils.set_random_seed(0)
        model = build_conv_ae(batchnorm_momentum=momentum)
        model.compile(optimizer="adam", loss="mse")
        model.fit(images, images, batch_size=8, epochs=2, verbose=0, shuffle=False)  # 16 steps
        conv_out = keras.Model(model.input, model.get_layer("encoder_1_conv").output).predict(images, verbose=0)
        true_mean = conv_out.mean(axis=(0, 1, 2))
        running = np.asarray(model.get_layer("encoder_1_bn").moving_mean)
        gaps[momentum] = float(np.abs(running - true_mean).mean() / (np.abs(true_mean).mean() + 1e-9))
    assert gaps[0.9] < 0.5 * gaps[0.99], gaps
    assert gaps[0.99] > 0.5, gaps  # 0.99 ** 16 = 85 % of the initial zeros left


def test_initial_weights_ignore_other_threads_use_of_random():
    """Keras draws default seeds from Python's random; another thread drawing from it (a Dask
    worker's event loop) between the seeding and the build must not change the weights."""
    import random
    import threading

    from asd.detectors.networks import set_seed

    def weights_after(interfere: bool) -> list[np.ndarray]:
        set_seed(0)
        if interfere:
            thread = threading.Thread(target=lambda: [random.random() for _ in range(10)])
            thread.start()
            thread.join()
        return [np.array(v) for v in build_dense_ae().variables]

    alone, disturbed = weights_after(False), weights_after(True)
    assert len(alone) == len(disturbed) and all(np.array_equal(a, b) for a, b in zip(alone, disturbed))
    set_seed(0)
    first = random.random()
    set_seed(0)
    assert random.random() == first  # the process's own random is still seeded, as keras.utils.set_random_seed does
