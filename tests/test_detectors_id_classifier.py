import json

import numpy as np
import pytest

from asd.config import StudyConfig
from asd.data import discover_clips
from asd.detectors import DETECTORS
from asd.detectors.embedding import EmbeddingKNNDetector
from asd.detectors.id_classifier import FALLBACK_MODE, IDClassifierDetector, cut_patches, pool_mels
from asd.detectors.networks import build_id_classifier
from asd.features import extract_features


@pytest.fixture
def one_epoch():
    config = StudyConfig()
    config.training.epochs["id_classifier"] = 1
    return config


@pytest.fixture(scope="module")
def fan_features(tiny_root):
    """Baseline log-mels of the tiny fan data: (train features, train IDs, test features, test IDs)."""
    config = StudyConfig()
    table = discover_clips(tiny_root, machine_types=["fan"])
    train, test = table[table.split == "train"], table[table.split == "test"]

    def extract(clips):
        return extract_features(clips.path.tolist(), kind="baseline", config=config, progress=False).features

    return extract(train), train.machine_id.tolist(), extract(test), test.machine_id.tolist()


@pytest.fixture(scope="module")
def trained(fan_features):
    """One classifier fitted for one epoch on the tiny fan data (4 IDs), and its history."""
    config = StudyConfig()
    config.training.epochs["id_classifier"] = 1
    detector = IDClassifierDetector(config)
    history = detector.fit(fan_features[0], fan_features[1], progress=False)
    return detector, history


def test_pool_mels_averages_adjacent_bands():
    log_mel = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_allclose(pool_mels(log_mel, 2), [[1.5, 2.5, 3.5], [7.5, 8.5, 9.5]])
    assert pool_mels(log_mel, 1) is not None and pool_mels(log_mel, 1).shape == (4, 3)


def test_cut_patches_covers_the_clip():
    log_mel = np.arange(2 * 313, dtype=np.float32).reshape(2, 313)
    patches = cut_patches(log_mel, frames=64, hop=32)
    assert patches.shape == (9, 2, 64)  # starts 0, 32, ..., 224, and 249 for the tail
    np.testing.assert_array_equal(patches[0], log_mel[:, :64])
    np.testing.assert_array_equal(patches[-1], log_mel[:, -64:])


def test_cut_patches_tiles_a_short_clip():
    log_mel = np.arange(20, dtype=np.float32).reshape(1, 20)
    patches = cut_patches(log_mel, frames=64, hop=32)
    assert patches.shape == (1, 1, 64)
    np.testing.assert_array_equal(patches[0, 0, 20:40], log_mel[0])


def test_network_shape_and_parameters():
    model = build_id_classifier(input_shape=(64, 64, 1), n_classes=3)
    assert model.output_shape == (None, 3)
    assert any("depthwise" in layer.name for layer in model.layers)
    assert any(layer.name.endswith("_add") for layer in model.layers)  # residual connections
    with pytest.raises(ValueError, match="at least 2 IDs"):
        build_id_classifier(n_classes=1)


def test_registered_with_its_parameter_count():
    assert DETECTORS["id_classifier"] is IDClassifierDetector
    assert IDClassifierDetector.feature_kind == "baseline"
    assert 10_000 < IDClassifierDetector.n_trainable_parameters() < 200_000


def test_fit_score_save_load(trained, fan_features, one_epoch, tmp_path):
    detector, history = trained
    train_features, train_ids, test_features, test_ids = fan_features
    assert list(history.epoch) == [1] and {"loss", "accuracy"} <= set(history.columns)
    assert detector.ids == sorted(set(train_ids)) and len(detector.ids) == 4
    scores = detector.score(test_features, test_ids)
    assert scores.shape == (len(test_ids),) and np.isfinite(scores).all() and (scores >= 0).all()
    # per clip: mean over patches of -log p(own ID)
    log_p = detector.log_probabilities(test_features[:1])[0]
    assert log_p.shape == (9, 4)
    np.testing.assert_allclose(np.exp(log_p).sum(axis=1), 1.0, rtol=1e-6)
    assert scores[0] == pytest.approx(-log_p[:, detector.ids.index(test_ids[0])].mean())
    np.testing.assert_array_equal(
        detector.training_scores(train_features, train_ids), detector.score(train_features, train_ids)
    )

    detector.save(tmp_path / "m")
    assert {"model.keras", "normalization.json", "detector.json"} <= {p.name for p in (tmp_path / "m").iterdir()}
    loaded = IDClassifierDetector.load(tmp_path / "m", one_epoch)
    np.testing.assert_array_equal(loaded.score(test_features, test_ids), scores)


def test_unknown_id_is_scored_against_the_most_likely_id(trained, fan_features):
    detector, _ = trained
    test_features = fan_features[2]
    unknown = detector.score(test_features[:3], None)
    log_p = detector.log_probabilities(test_features[:3])
    np.testing.assert_allclose(unknown, [-lp.max(axis=1).mean() for lp in log_p])
    np.testing.assert_allclose(detector.score(test_features[:3], ["05"] * 3), unknown)


def test_single_id_falls_back_to_embedding_knn(fan_features, one_epoch, tmp_path, caplog):
    train_features, train_ids, test_features, test_ids = fan_features
    only = [i for i, m in enumerate(train_ids) if m == "00"]
    features, ids = [train_features[i] for i in only], [train_ids[i] for i in only]
    detector = IDClassifierDetector(one_epoch)
    with caplog.at_level("WARNING"):
        history = detector.fit(features, ids, progress=False)
    assert "only one machine ID" in caplog.text
    assert detector.mode == FALLBACK_MODE and history["mode"].iloc[0] == FALLBACK_MODE

    knn = EmbeddingKNNDetector(one_epoch)
    knn.fit(features, ids, progress=False)
    test = [f for f, m in zip(test_features, test_ids) if m == "00"]
    np.testing.assert_array_equal(detector.score(test, ["00"] * len(test)), knn.score(test, ["00"] * len(test)))
    np.testing.assert_array_equal(detector.training_scores(features, ids), knn.training_scores(features, ids))

    detector.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "detector.json").read_text())["mode"] == FALLBACK_MODE
    loaded = IDClassifierDetector.load(tmp_path / "m", one_epoch)
    np.testing.assert_array_equal(loaded.score(test, ["00"] * len(test)), detector.score(test, ["00"] * len(test)))


def test_mimii_single_id_through_the_pipeline(mimii_root, tmp_path, one_epoch):
    from asd.pipeline import evaluate, train

    train(
        mimii_root,
        model="id_classifier",
        out=tmp_path / "run",
        config=one_epoch,
        machine_types=["fan"],
        cache_dir=False,
        progress=False,
    )
    assert json.loads((tmp_path / "run" / "fan" / "detector.json").read_text())["mode"] == FALLBACK_MODE
    results = evaluate(mimii_root, run_dir=tmp_path / "run", cache_dir=False, progress=False)
    assert results.auc.between(0, 1).all() and len(results) == 1


def test_config_knobs_reach_the_network_and_the_patches(fan_features, tmp_path):
    config = StudyConfig.from_dict(
        {
            "detectors": {
                "id_classifier": {
                    "batchnorm_momentum": 0.8,
                    "dropout": 0.1,
                    "patch_frames": 32,
                    "patch_hop": 16,
                    "mel_pool": 4,
                }
            }
        }
    )
    config.training.epochs["id_classifier"] = 1
    model = IDClassifierDetector._build(config, n_classes=3)
    assert {layer.momentum for layer in model.layers if layer.__class__.__name__ == "BatchNormalization"} == {0.8}
    assert model.get_layer("dropout").rate == 0.1 and model.input_shape == (None, 32, 32, 1)
    default = IDClassifierDetector._build(StudyConfig(), n_classes=3)
    assert {layer.momentum for layer in default.layers if layer.__class__.__name__ == "BatchNormalization"} == {0.9}
    train_features, train_ids, test_features, test_ids = fan_features
    some = [i for m in sorted(set(train_ids)) for i in [j for j, k in enumerate(train_ids) if k == m][:2]]
    detector = IDClassifierDetector(config)
    detector.fit([train_features[i] for i in some], [train_ids[i] for i in some], progress=False)
    assert detector.mode == "classifier"
    assert detector.log_probabilities(test_features[:1])[0].shape[0] == len(range(0, 313 - 32 + 1, 16)) + 1
    detector.save(tmp_path / "m")
    loaded = IDClassifierDetector.load(tmp_path / "m", StudyConfig())  # patch settings come from the saved state
    assert (loaded.patch_frames, loaded.patch_hop, loaded.mel_pool) == (32, 16, 4)
    np.testing.assert_array_equal(
        loaded.score(test_features[:3], test_ids[:3]), detector.score(test_features[:3], test_ids[:3])
    )


def test_bad_knobs_name_the_option():
    from asd.errors import ConfigError

    with pytest.raises(ConfigError, match="detectors.id_classifier.batchnorm_momentum: must be >= 0 and < 1"):
        IDClassifierDetector(StudyConfig.from_dict({"detectors": {"id_classifier": {"batchnorm_momentum": 1.5}}}))
    with pytest.raises(ConfigError, match="detectors.id_classifier.patch_hop: must be >= 1"):
        IDClassifierDetector(StudyConfig.from_dict({"detectors": {"id_classifier": {"patch_hop": 0}}}))


def test_patch_batches_are_the_cut_patches_with_labels_and_weights(rng):
    from asd.detectors.streaming import PatchBatches

    log_mels = [rng.normal(size=(8, n)).astype(np.float32) for n in (100, 70, 40, 100)]  # a short clip is tiled
    batches = PatchBatches(
        log_mels, prepare=lambda m: pool_mels(m, 2) * 2.0, frames=64, hop=32, labels=np.array([0, 1, 1, 0]),
        class_weights=np.array([0.5, 2.0]), batch_size=5, shuffle_seed=None,
    )  # fmt: skip
    expected = [cut_patches(pool_mels(m, 2) * 2.0, frames=64, hop=32) for m in log_mels]
    assert list(batches.patch_counts()) == [len(p) for p in expected] == [3, 2, 1, 3]
    x, y, w = zip(*(batches[i] for i in range(len(batches))))
    np.testing.assert_array_equal(np.concatenate(x)[..., 0], np.concatenate(expected))
    np.testing.assert_array_equal(np.concatenate(y), [0, 0, 0, 1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(np.concatenate(w), [0.5, 0.5, 0.5, 2.0, 2.0, 2.0, 0.5, 0.5, 0.5])
    assert x[0].shape == (5, 4, 64, 1) and x[0].dtype == np.float32
    shuffled = PatchBatches(
        log_mels, prepare=lambda m: pool_mels(m, 2) * 2.0, frames=64, hop=32, labels=np.array([0, 1, 1, 0]),
        class_weights=np.array([0.5, 2.0]), batch_size=4, shuffle_seed=7,
    )  # fmt: skip
    seen = np.concatenate([shuffled[i][0] for i in range(len(shuffled))])[..., 0]
    np.testing.assert_array_equal(seen, np.concatenate(expected)[shuffled.order])
    first = shuffled.order.copy()
    shuffled.on_epoch_end()
    assert sorted(shuffled.order) == sorted(first) and not np.array_equal(shuffled.order, first)


def test_streamed_mean_std_is_that_of_the_stack(rng):
    from asd.detectors.streaming import streamed_mean_std

    log_mels = [rng.normal(-40, 10, (8, n)).astype(np.float32) for n in (30, 30, 30)]
    mean, std = streamed_mean_std(log_mels, lambda m: pool_mels(m, 2))
    stacked = np.stack([pool_mels(m, 2) for m in log_mels]).astype(np.float64)
    assert mean == pytest.approx(stacked.mean(), rel=1e-12) and std == pytest.approx(stacked.std(), rel=1e-12)
