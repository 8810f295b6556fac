"""The autoencoders' own behaviour; what every detector must do (history, save and load, determinism) is
tests/test_detectors_contract.py."""

import numpy as np
import pytest

from asd.config import StudyConfig
from asd.detectors import DETECTORS, ConvAEDetector, ConvVAEDetector, DenseAEDetector


@pytest.fixture
def images(rng):
    return [rng.normal(-40, 10, (64, 64)).astype(np.float32) for _ in range(12)]


@pytest.fixture
def log_mels(rng):
    return [rng.normal(-40, 10, (128, 40)).astype(np.float32) for _ in range(6)]


def test_registry_has_the_studys_models():
    assert {"conv_ae", "dense_ae", "conv_vae"} <= set(DETECTORS)
    assert ConvAEDetector.n_trainable_parameters() == 259_971


def test_conv_ae_standardises_with_training_statistics_and_validates(images, quick_config):
    detector = ConvAEDetector(quick_config)
    history = detector.fit(images, ["00"] * len(images), progress=False)
    assert list(history.epoch) == [1, 2] and "loss" in history and "val_loss" in history
    stacked = np.stack(images)
    assert detector.standardizer.mean == pytest.approx(stacked.mean(), rel=1e-5)
    inputs, outputs = detector.reconstruct(images[:2])
    assert inputs.shape == outputs.shape == (2, 64, 64)


def test_dense_ae_fit_score(log_mels, quick_config, tmp_path):
    detector = DenseAEDetector(quick_config)
    history = detector.fit(log_mels, ["00"] * len(log_mels), progress=False)
    assert len(history) == 2
    scores = detector.score(log_mels)
    assert scores.shape == (6,)
    # the clip score is the mean over its 36 frame vectors of the per-vector MSE
    from asd.features import frame_vectors

    vectors = frame_vectors(log_mels[0])
    reconstruction = detector.model.predict(vectors, verbose=0)
    assert scores[0] == pytest.approx(np.mean((vectors - reconstruction) ** 2), rel=1e-4)
    detector.save(tmp_path / "d")
    np.testing.assert_allclose(DenseAEDetector.load(tmp_path / "d", quick_config).score(log_mels), scores, rtol=1e-5)


def test_config_batchnorm_momentum_reaches_every_autoencoder_and_survives_saving(tmp_path):
    config = StudyConfig()
    config.training.batchnorm_momentum = 0.9
    for detector_class in (ConvAEDetector, ConvVAEDetector, DenseAEDetector):
        model = detector_class.build(config)
        momenta = {layer.momentum for layer in model.layers if layer.__class__.__name__ == "BatchNormalization"}
        assert momenta == {0.9}, detector_class.name
    model = ConvAEDetector.build(config)
    model.save(tmp_path / "model.keras")
    import keras

    loaded = keras.models.load_model(tmp_path / "model.keras", compile=False)
    assert loaded.get_layer("decoder_4_bn").momentum == 0.9
    assert StudyConfig().training.batchnorm_momentum == 0.99  # the study's (Keras') default
