import numpy as np
import pytest

from asd.audio import write_clip
from asd.cache import FeatureCache
from asd.config import StudyConfig
from asd.errors import AudioError
from asd.extraction import extract_features, feature_namespace


@pytest.fixture
def clips(tmp_path, rng):
    paths = []
    for index in range(3):
        paths.append(str(write_clip(tmp_path / f"normal_id_00_{index:08d}.wav", 0.1 * rng.standard_normal(160000))))
    bad = tmp_path / "normal_id_00_00000099.wav"
    bad.write_bytes(b"")
    return paths, str(bad)


def test_image_features_stack(clips):
    paths, _ = clips
    extracted = extract_features(paths, kind="image", config=StudyConfig(), progress=False)
    assert extracted.stacked().shape == (3, 64, 64)
    assert extracted.paths == paths and extracted.failed == []


def test_baseline_features(clips):
    paths, _ = clips
    extracted = extract_features(paths[:1], kind="baseline", config=StudyConfig(), progress=False)
    assert extracted.features[0].shape == (128, 313)


def test_bad_clip_raises_or_is_skipped(clips):
    paths, bad = clips
    with pytest.raises(AudioError, match="00000099.wav: empty file"):
        extract_features([*paths, bad], kind="image", config=StudyConfig(), progress=False)
    extracted = extract_features([paths[0], bad, paths[1]], kind="image", config=StudyConfig(), on_error="skip", progress=False)
    assert extracted.paths == [paths[0], paths[1]]
    assert extracted.failed == [(bad, "empty file (0 bytes)")]


def test_cache_hits_give_same_features(clips, tmp_path):
    paths, _ = clips
    cache = FeatureCache(tmp_path / "cache")
    config = StudyConfig()
    cold = extract_features(paths, kind="image", config=config, cache=cache, progress=False).stacked()
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 3
    warm = extract_features(paths, kind="image", config=config, cache=cache, progress=False).stacked()
    np.testing.assert_array_equal(cold, warm)


def test_namespace_follows_config():
    config = StudyConfig()
    before = feature_namespace("image", config)
    assert before == feature_namespace("image", StudyConfig())
    config.image.n_mels = 32
    assert feature_namespace("image", config) != before
    assert feature_namespace("baseline", config) == feature_namespace("baseline", StudyConfig())
    with pytest.raises(ValueError, match="unknown feature kind"):
        feature_namespace("mfcc", config)
