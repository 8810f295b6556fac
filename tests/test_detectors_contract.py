"""The detector contract, checked for every registered detector (as scikit-learn's estimator checks are).

Each detector of :data:`asd.detectors.DETECTORS` is fitted once per module on tiny features of
its own ``feature_kind`` (computed by that kind's entry of :data:`asd.features.kinds.KINDS`,
with small images and few epochs), then checked for: what it declares (its feature kind and
settings section), its training history and training scores, its scores (own, unknown and no
machine ID), a save and load round trip with identical scores, the same scores from a second
fit with the same seed, and a :class:`~asd.detectors.base.DetectorStateError` naming the file
for a missing or damaged saved state. A new detector is checked by adding it to the registry.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from asd.atomic import write_text_atomic
from asd.config import StudyConfig, knob
from asd.detectors import DETECTORS, Detector, register
from asd.detectors.base import STATE_FILE, DetectorStateError
from asd.errors import ConfigError
from asd.features.kinds import KINDS

SAMPLE_RATE = 16000
N_TRAIN_PER_ID = 6
IDS = ("00", "02")


def tiny_config() -> StudyConfig:
    """Small inputs and one or two epochs: the contract, not the quality, is under test."""
    config = StudyConfig()
    config.image.n_mels, config.image.n_frames, config.image.n_fft = 16, 16, 1024
    config.baseline.n_mels = 32
    config.training.epochs = {}
    config.training.default_epochs = 1
    config.training.validation_split = 0.0
    config.training.dense_batch_size = 64
    config.detectors.id_classifier.patch_frames = 16
    config.detectors.id_classifier.patch_hop = 8
    return config.validate()


def clips(machine_ids, rng) -> list[np.ndarray]:
    """2.5-s clips: noise plus a tone whose pitch depends on the machine ID (IDs are tellable apart)."""
    t = np.arange(int(2.5 * SAMPLE_RATE)) / SAMPLE_RATE
    tones = {m: 500.0 * (1 + i) for i, m in enumerate(sorted(set(machine_ids)))}
    return [
        (0.1 * np.sin(2 * np.pi * tones[m] * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
        for m in machine_ids
    ]


@pytest.fixture(scope="module", autouse=True)
def one_model_per_network():
    """Refits of a network retrain its compiled model (as ``asd train`` does over machine types):
    no second tracing. Scores are compared with the numbers kept, never with a live model."""
    from asd.detectors import reusing_compiled_models

    with reusing_compiled_models():
        yield


@pytest.fixture(scope="module")
def data():
    """Training and test signals, machine IDs (test: both known IDs and one unseen), and the config."""
    rng = np.random.default_rng(7)
    train_ids = [m for m in IDS for _ in range(N_TRAIN_PER_ID)]
    test_ids = ["00", "02", "04", "00"]
    return {
        "config": tiny_config(),
        "train_signals": clips(train_ids, rng),
        "train_ids": train_ids,
        "test_signals": clips(test_ids, rng),
        "test_ids": test_ids,
    }


def features_of(kind: str, signals, config) -> list[np.ndarray]:
    return KINDS[kind].compute(signals, config, None)


class Fitted:
    """A detector fitted on the module's data, with its features and results (computed once)."""

    def __init__(self, detector_class: type[Detector], data, folder):
        config = data["config"]
        self.detector_class = detector_class
        self.train = features_of(detector_class.feature_kind, data["train_signals"], config)
        self.test = features_of(detector_class.feature_kind, data["test_signals"], config)
        self.train_ids, self.test_ids = data["train_ids"], data["test_ids"]
        self.detector = detector_class(config)
        self.history = self.detector.fit(self.train, self.train_ids, progress=False)
        self.training_scores = self.detector.training_scores(self.train, self.train_ids)
        self.scores = self.detector.score(self.test, self.test_ids)
        self.folder = folder / "saved"
        self.detector.save(self.folder)


_FITTED: dict[str, Fitted] = {}


@pytest.fixture(params=list(DETECTORS), scope="module")
def fitted(request, data, tmp_path_factory) -> Fitted:
    name = request.param
    if name not in _FITTED:
        _FITTED[name] = Fitted(DETECTORS[name], data, tmp_path_factory.mktemp(name))
    return _FITTED[name]


# -- the checks (also used on a detector defined only in a test) -----------------------------------


def check_declarations(detector_class: type[Detector], config: StudyConfig) -> None:
    assert detector_class.feature_kind in KINDS, detector_class.feature_kind
    assert isinstance(detector_class.summary, str) and detector_class.summary
    if detector_class.settings_class is not None:
        assert dataclasses.is_dataclass(detector_class.settings_class)
        assert isinstance(detector_class.settings_of(config), detector_class.settings_class)
        section = detector_class.settings_section or detector_class.name
        assert section in config.to_dict()["detectors"]


def check_fit_and_scores(result: Fitted, config: StudyConfig) -> None:
    history = result.history
    assert isinstance(history, pd.DataFrame) and list(history.columns)[0] == "epoch" and len(history) >= 1
    if result.detector_class.trains_in_epochs and "mode" not in history:  # a fallback fits in one step
        assert history["epoch"].tolist() == list(range(1, config.training.epochs_for(result.detector_class.name) + 1))
    assert result.training_scores.shape == (len(result.train),) and np.isfinite(result.training_scores).all()
    assert result.scores.shape == (len(result.test),) and np.isfinite(result.scores).all()
    unknown = result.detector.score(result.test, None)
    assert unknown.shape == (len(result.test),) and np.isfinite(unknown).all()


def check_round_trip(result: Fitted, config: StudyConfig) -> None:
    assert (result.folder / STATE_FILE).is_file()
    assert all((result.folder / name).is_file() for name in result.detector_class.saved_files)
    loaded = result.detector_class.load(result.folder, config)
    np.testing.assert_array_equal(loaded.score(result.test, result.test_ids), result.scores)
    np.testing.assert_array_equal(loaded.training_scores(result.train, result.train_ids), result.training_scores)


def check_determinism(result: Fitted, config: StudyConfig) -> None:
    again = result.detector_class(config)
    again.fit(result.train, result.train_ids, progress=False)
    np.testing.assert_array_equal(again.score(result.test, result.test_ids), result.scores)


def check_bad_state(result: Fitted, config: StudyConfig, tmp_path) -> None:
    """Every saved file, missing or damaged, gives DetectorStateError naming that file."""
    saved = sorted(p.relative_to(result.folder) for p in result.folder.rglob("*") if p.is_file())
    assert saved, "nothing saved"
    with pytest.raises(DetectorStateError, match=STATE_FILE):
        result.detector_class.load(tmp_path / "nowhere", config)
    for relative in saved:
        for damage in ("missing", "damaged"):
            folder = tmp_path / f"{damage}-{relative.as_posix().replace('/', '-')}"
            shutil.copytree(result.folder, folder)
            if damage == "missing":
                (folder / relative).unlink()
            else:
                (folder / relative).write_bytes(b"\x00 not what was saved")
            with pytest.raises(DetectorStateError, match=relative.name.replace(".", r"\.")):
                result.detector_class.load(folder, config)


# -- every registered detector ------------------------------------------------------------------


def test_declarations(fitted, data):
    check_declarations(fitted.detector_class, data["config"])


def test_fit_training_scores_and_scores(fitted, data):
    check_fit_and_scores(fitted, data["config"])


def test_save_load_round_trip_gives_identical_scores(fitted, data):
    check_round_trip(fitted, data["config"])


def test_a_second_fit_with_the_same_seed_gives_the_same_scores(fitted, data):
    check_determinism(fitted, data["config"])


def test_a_missing_or_damaged_state_names_the_file(fitted, data, tmp_path):
    check_bad_state(fitted, data["config"], tmp_path)


# -- the recipe: a detector written only here, as a user would add one ---------------------------


@dataclasses.dataclass
class LevelSettings:
    """The knobs of :class:`EpochLevelDetector`: its config section ``detectors.test_epoch_level``."""

    step: float = knob(0.5, gt=0, le=1)  #: fraction of the way to the training mean moved per epoch


def band_levels(signals, config, sources):
    """A feature kind defined only here: per clip, the RMS level (dB) of 4 equal parts, ``(1, 4)``."""
    return [
        (10 * np.log10(np.mean(np.array_split(s**2, 4), axis=1) + 1e-10)).astype(np.float32)[None, :] for s in signals
    ]


class EpochLevelDetector(Detector):
    """Trains in epochs (each moves every ID's centre ``step`` of the way to its mean level), has
    settings and a feature kind of its own; score = distance of the clip's levels to its ID's centre."""

    name = "test_epoch_level"
    feature_kind = "test_levels"
    summary = "distance of the clip's part levels to its ID's centre, learnt in epochs"
    trains_in_epochs = True
    settings_class = LevelSettings
    saved_files = ("centres.json",)

    def __init__(self, config):
        super().__init__(config)
        self.step = self.settings_of(config).step
        self.centres: dict[str, list[float]] = {}

    def fit(self, features, machine_ids, *, progress=True):
        levels = np.stack([f[0] for f in features]).astype(np.float64)
        ids = np.asarray([str(m) for m in machine_ids])
        centres = {m: np.zeros(levels.shape[1]) for m in sorted(set(ids))}
        rows = []
        for epoch in range(1, self.config.training.epochs_for(self.name) + 1):
            for m in centres:
                centres[m] += self.step * (levels[ids == m].mean(axis=0) - centres[m])
            rows.append(
                {
                    "epoch": epoch,
                    "loss": float(np.mean([np.sum((levels[ids == m] - c) ** 2) for m, c in centres.items()])),
                }
            )
        self.centres = {m: c.tolist() for m, c in centres.items()}
        return pd.DataFrame(rows)

    def score(self, features, machine_ids=None):
        ids = [None] * len(features) if machine_ids is None else [str(m) for m in machine_ids]
        centres = {m: np.asarray(c) for m, c in self.centres.items()}
        distance = lambda f, c: float(np.linalg.norm(f[0] - c))  # noqa: E731
        return np.array(
            [
                distance(f, centres[m]) if m in centres else min(distance(f, c) for c in centres.values())
                for f, m in zip(features, ids)
            ]
        )

    def save(self, directory):
        directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(directory / "centres.json", json.dumps(self.centres))
        self.write_state(directory, step=self.step)

    @classmethod
    def load(cls, directory, config):
        state = cls.read_state(directory)
        detector = cls(config)
        detector.step = state["step"]
        try:
            detector.centres = json.loads((directory / "centres.json").read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DetectorStateError(f"{directory / 'centres.json'}: unreadable ({exc})") from None
        return detector


@pytest.fixture
def epoch_level(monkeypatch):
    """The feature kind and the detector of the recipe, added for one test, then removed again."""
    from asd.config import DETECTOR_SETTINGS
    from asd.features.kinds import FeatureKind

    monkeypatch.setitem(KINDS, "test_levels", FeatureKind("test_levels", ("audio",), band_levels))
    register(EpochLevelDetector)
    yield EpochLevelDetector
    DETECTORS.pop(EpochLevelDetector.name, None)
    DETECTOR_SETTINGS.pop(EpochLevelDetector.name, None)


def test_a_detector_defined_in_one_file_follows_the_contract_and_the_recipe(epoch_level, data, tiny_root, tmp_path):
    """docs/architecture.md, "Add a detector": one class (trains in epochs, own settings, own feature kind)
    passes the contract, reads its settings from a config file, trains and scores through the pipeline,
    and the report schedules it by default."""
    from asd.config import load_config
    from asd.pipeline import evaluate, train
    from asd.report import study
    from asd.report.training import _expected_cost

    config = data["config"]
    check_declarations(epoch_level, config)
    result = Fitted(epoch_level, data, tmp_path / "fitted")
    check_fit_and_scores(result, config)
    check_round_trip(result, config)
    check_determinism(result, config)
    check_bad_state(result, config, tmp_path / "bad")

    (tmp_path / "c.yaml").write_text(
        "training:\n  default_epochs: 3\ndetectors:\n  test_epoch_level:\n    step: 0.25\n"
    )
    config = load_config(tmp_path / "c.yaml")
    assert config.detectors.test_epoch_level == LevelSettings(step=0.25)
    (tmp_path / "bad.yaml").write_text("detectors:\n  test_epoch_level:\n    step: 2\n")
    with pytest.raises(ConfigError, match=r"detectors\.test_epoch_level\.step: must be > 0 and <= 1"):
        load_config(tmp_path / "bad.yaml")
    run = train(
        tiny_root,
        model=epoch_level.name,
        out=tmp_path / "run",
        config=config,
        machine_types=["fan"],
        cache_dir=False,
        progress=False,
    )
    assert run["model"] == epoch_level.name
    assert "step: 0.25" in (tmp_path / "run" / "config.yaml").read_text()
    assert pd.read_csv(tmp_path / "run" / "fan" / "history.csv")["epoch"].tolist() == [1, 2, 3]
    results = evaluate(tiny_root, run_dir=tmp_path / "run", cache_dir=False, progress=False)
    assert results.auc.between(0, 1).all() and (results.model == epoch_level.name).all()

    assert study.trains_in_epochs(epoch_level.name) and not study.reconstructs_input(epoch_level.name)
    assert study.report_schedule(epoch_level.name) == study.DEFAULT_SCHEDULE
    assert epoch_level.name not in study.report_epochs()  # the config's epochs
    assert _expected_cost(epoch_level.name, config) == 3 * study.DEFAULT_SCHEDULE.epoch_cost
