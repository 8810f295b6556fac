"""The detector interface, the registry, the saved-state check and the Keras fit loop.

What every detector must do is checked in tests/test_detectors_contract.py (with the recipe of a new detector)."""

import dataclasses
import os

import numpy as np
import pandas as pd
import pytest

from asd.config import StudyConfig
from asd.detectors import DETECTORS, Detector, DetectorStateError, get_detector, register
from asd.detectors.base import STATE_FILE, fit_keras
from asd.errors import ASDError, UnknownModelError


class MeanLevelDetector(Detector):
    """A detector written only here, as a user would add one: score = |clip mean level - its ID's training mean|
    (dB)."""

    name = "test_mean_level"
    feature_kind = "baseline"
    summary = "distance of the clip's mean level to its ID's training mean"

    def __init__(self, config):
        super().__init__(config)
        self.levels: dict[str, float] = {}

    def fit(self, features, machine_ids, *, progress=True):
        means = np.array([float(np.mean(f)) for f in features])
        ids = np.asarray([str(m) for m in machine_ids])
        self.levels = {m: float(means[ids == m].mean()) for m in sorted(set(ids))}
        return pd.DataFrame([{"epoch": 1, "n_clips": len(features)}])

    def score(self, features, machine_ids=None):
        ids = [None] * len(features) if machine_ids is None else [str(m) for m in machine_ids]
        fallback = float(np.mean(list(self.levels.values())))
        return np.array([abs(float(np.mean(f)) - self.levels.get(m, fallback)) for f, m in zip(features, ids)])

    def save(self, directory):
        os.makedirs(directory, exist_ok=True)
        self.write_state(directory, levels=self.levels)

    @classmethod
    def load(cls, directory, config):
        detector = cls(config)
        detector.levels = cls.read_state(directory)["levels"]
        return detector


def test_registry_lists_every_family_in_the_studys_order():
    """The study's models first; every other check is driven by the registry, so a new detector needs no edit here."""
    from asd.features.kinds import KINDS

    assert list(DETECTORS)[:3] == ["conv_ae", "dense_ae", "conv_vae"]
    assert {"embedding_knn", "embedding_mahalanobis", "id_classifier", "multistat"} <= set(DETECTORS)
    for name, detector_class in DETECTORS.items():
        assert detector_class.name == name and detector_class.feature_kind in KINDS and detector_class.summary
        if detector_class.reconstructs_input:  # a reconstruction error is learnt: such a model trains in epochs
            assert detector_class.trains_in_epochs


def test_unknown_model_lists_known_ones():
    with pytest.raises(UnknownModelError, match="unknown model 'resnet'.*conv_ae"):
        get_detector("resnet")


def test_register_refuses_a_nameless_class_or_a_taken_name():
    class Nameless(Detector):
        feature_kind = "baseline"

    with pytest.raises(ValueError, match="needs a `name`"):
        register(Nameless)

    class Impostor(Detector):
        name = "conv_ae"
        feature_kind = "image"

    with pytest.raises(ValueError, match="'conv_ae' is taken"):
        register(Impostor)

    class BadKind(Detector):
        name = "test_bad_kind"
        feature_kind = "waveform"

    with pytest.raises(ValueError, match="feature_kind 'waveform' is not a feature kind"):
        register(BadKind)
    assert "test_bad_kind" not in DETECTORS and DETECTORS["conv_ae"].__name__ == "ConvAEDetector"

    @dataclasses.dataclass
    class OtherKnobs:
        groups: int = 1

    class SectionThief(Detector):
        name = "test_section_thief"
        feature_kind = "baseline"
        settings_class = OtherKnobs
        settings_section = "multistat"

    with pytest.raises(ValueError, match=r"detectors\.multistat: the section is taken by asd\.config\.MultistatConfig"):
        register(SectionThief)
    assert (
        "test_section_thief" not in DETECTORS and type(StudyConfig().detectors.multistat).__name__ == "MultistatConfig"
    )


def test_read_state_names_the_file_that_is_wrong(tmp_path):
    detector = MeanLevelDetector(StudyConfig())
    detector.levels = {"00": -40.0}
    with pytest.raises(DetectorStateError, match=r"nowhere.*detector\.json: no such folder"):
        MeanLevelDetector.read_state(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DetectorStateError, match=r"empty.detector\.json: missing"):
        MeanLevelDetector.load(tmp_path / "empty", StudyConfig())
    detector.save(tmp_path / "m")
    assert MeanLevelDetector.load(tmp_path / "m", StudyConfig()).levels == {"00": -40.0}
    with pytest.raises(DetectorStateError, match=r"holds a 'test_mean_level' detector, not 'embedding_knn'"):
        get_detector("embedding_knn").load(tmp_path / "m", StudyConfig())
    with pytest.raises(DetectorStateError, match=r"m.model\.keras: missing \(the test_mean_level detector saves it\)"):
        MeanLevelDetector.read_state(tmp_path / "m", files=["model.keras"])
    (tmp_path / "m" / STATE_FILE).write_text("{not json")
    with pytest.raises(DetectorStateError, match="detector.json: unreadable"):
        MeanLevelDetector.read_state(tmp_path / "m")
    assert issubclass(DetectorStateError, ASDError)


def test_fit_keras_is_seeded_and_returns_one_row_per_epoch(rng):
    import keras

    config = StudyConfig()
    config.training.epochs["tiny_net"] = 3
    x = rng.normal(size=(40, 4)).astype(np.float32)

    def build():
        inputs = keras.Input(shape=(4,))
        return keras.Model(inputs, keras.layers.Dense(4)(inputs))

    first, history = fit_keras(
        build, x, y=x, name="tiny_net", config=config, loss="mse", progress=False, batch_size=8, shuffle=False
    )
    second, _ = fit_keras(
        build, x, y=x, name="tiny_net", config=config, loss="mse", progress=False, batch_size=8, shuffle=False
    )
    assert list(history.columns) == ["epoch", "loss"] and list(history.epoch) == [1, 2, 3]
    assert history.loss.iloc[-1] < history.loss.iloc[0]
    np.testing.assert_array_equal(first.predict_on_batch(x), second.predict_on_batch(x))


def test_a_model_retrained_in_a_reuse_block_equals_a_new_one(rng):
    """reusing_compiled_models: the second fit of the same network retrains the same object from
    the state a new model would start from (weights, batch-norm statistics, a fresh Adam), so its
    history and predictions equal a new model's exactly; another network gets its own model."""
    import keras

    from asd.detectors.base import reusing_compiled_models

    config = StudyConfig()
    config.training.epochs["tiny_net"] = 2
    x = rng.normal(size=(40, 6)).astype(np.float32)

    def build(width=6):
        inputs = keras.Input(shape=(6,))
        hidden = keras.layers.BatchNormalization()(keras.layers.Dense(width, activation="relu")(inputs))
        return keras.Model(inputs, keras.layers.Dense(6)(hidden))

    def fit(data, make=build):
        model, history = fit_keras(
            make, data, y=data, name="tiny_net", config=config, loss="mse", progress=False, batch_size=8
        )
        return model, history, model.predict_on_batch(x)

    new_model, new_history, new_prediction = fit(x)
    with reusing_compiled_models():
        first, _, _ = fit(x[::-1] * 3.0)  # other data: the weights and optimiser state move far
        again, history, prediction = fit(x)
        assert again is first
        other, _, _ = fit(x, make=lambda: build(width=5))
        assert other is not first
    pd.testing.assert_frame_equal(history, new_history)
    np.testing.assert_array_equal(prediction, new_prediction)
    outside, _, _ = fit(x)
    assert outside is not first


def test_families_import_only_base_and_lower_layers():
    """No import cycle inside the package: a family module imports (even inside functions) only from
    base, networks, streaming, windows and modules outside the package; base never imports a family."""
    import ast
    from pathlib import Path

    import asd.detectors

    package = Path(asd.detectors.__file__).parent
    lower = {"base", "networks", "neighbors", "streaming", "windows"}
    allowed = {"base": {"networks"}, "networks": set(), "neighbors": set(), "windows": set(), "streaming": {"windows"}}
    for path in sorted(package.glob("*.py")):
        module = path.stem
        if module == "__init__":
            continue
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                imported |= {node.module} if node.module else {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("asd.detectors"):
                imported.add(node.module.split(".")[2] if node.module.count(".") >= 2 else "__init__")
        permitted = allowed.get(module, lower)
        assert imported <= permitted, f"{module} imports {sorted(imported - permitted)}"
