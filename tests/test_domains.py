"""asd.domains: per-domain IDs at training time, the smaller normalised score at test time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asd import domains
from asd.config import StudyConfig
from asd.detectors import get_detector


def _clips(n_source: int, n_target: int, section: str = "00") -> pd.DataFrame:
    rows = [{"machine_id": section, "section": section, "domain": "source"}] * n_source
    rows += [{"machine_id": section, "section": section, "domain": "target"}] * n_target
    return pd.DataFrame(rows)


def test_training_ids_per_domain_or_pooled():
    clips = pd.concat([_clips(5, 4, "00"), _clips(6, 4, "01")], ignore_index=True)
    assert (
        domains.training_ids(clips, rule="domains")
        == ["00_source"] * 5 + ["00_target"] * 4 + ["01_source"] * 6 + ["01_target"] * 4
    )
    assert domains.training_ids(clips, rule="pooled") == ["00"] * 9 + ["01"] * 10
    assert domains.training_ids(clips, rule=None) == clips["machine_id"].tolist()
    with pytest.raises(ValueError, match="domain rule"):
        domains.training_ids(clips, rule="mixed")


def test_a_domain_with_too_few_clips_pools_its_section():
    few = domains.MIN_DOMAIN_CLIPS - 1
    clips = pd.concat(
        [_clips(20, few, "00"), _clips(20, domains.MIN_DOMAIN_CLIPS, "01"), _clips(20, 0, "02")], ignore_index=True
    )
    ids = domains.training_ids(clips, rule="domains")
    assert set(ids[: 20 + few]) == {"00"}  # the section's clips keep one ID
    assert set(ids[20 + few : 40 + few + domains.MIN_DOMAIN_CLIPS]) == {"01_source", "01_target"}
    assert set(ids[40 + few + domains.MIN_DOMAIN_CLIPS :]) == {"02"}


def test_section_of_and_candidates():
    assert domains.section_of("x/fan/test/section_03_0012.wav") == "03"
    assert domains.section_of("x/fan/test/normal_id_02_00000001.wav", "02") == "02"
    assert domains.candidates("00", {"00_source", "00_target", "01_source"}) == ["00_source", "00_target"]
    assert domains.candidates("01", {"00_source", "00_target", "01_source"}) == ["01_source"]
    assert domains.candidates("00", {"00", "02"}) == []  # a DCASE 2020 or pooled run
    assert domains.candidates(None, {"00_source"}) == []


def test_normalise_uses_the_ids_training_scores():
    train = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    got = domains.normalise(np.array([3.0, 3.0 + np.std(train)]), train)
    np.testing.assert_allclose(got, [0.0, 1.0])
    # two identical training scores: the spread is floored, the result finite
    assert np.isfinite(domains.normalise(np.array([2.0]), np.array([1.0, 1.0]))).all()


class _Distance:
    """A stand-in detector: |x - centre of the ID| in units of the ID's normal spread (normalised per ID)."""

    name = "multistat"

    def __init__(self, centres: dict, spreads: dict):
        self.centres, self.spreads = centres, spreads
        self.calls = []

    def score(self, features, ids):
        self.calls.append(list(ids))
        return np.array([abs(float(x) - self.centres[m]) / self.spreads[m] for x, m in zip(features, ids)])


def test_min_over_the_sections_domain_ids_and_its_threshold_id():
    detector = _Distance(
        {"00_source": 0.0, "00_target": 10.0, "01_source": 100.0, "01_target": 200.0},
        {"00_source": 1.0, "00_target": 1.0, "01_source": 1.0, "01_target": 1.0},
    )
    features = [0.5, 10.2, 5.0, 199.0]
    scores, ids = domains.score_sections(
        lambda m: detector.score(features, m),
        ["00", "00", "00", "01"],
        known_ids=detector.centres,
        detector_name="multistat",
    )
    np.testing.assert_allclose(scores, [0.5, 0.2, 5.0, 1.0])
    assert ids == ["00_source", "00_target", "00_source", "01_target"]
    # each clip is scored only against its own section's IDs
    assert all(m.startswith(s) for call in detector.calls for m, s in zip(call, ["00", "00", "00", "01"]))


def test_pooled_run_scores_against_the_section():
    detector = _Distance({"00": 0.0}, {"00": 2.0})
    scores, ids = domains.score_sections(
        lambda m: detector.score([4.0], m), ["00"], known_ids={"00"}, detector_name="multistat"
    )
    np.testing.assert_allclose(scores, [2.0])
    assert ids == ["00"]


def test_other_detectors_are_compared_on_their_training_scores_scale():
    # raw distances: the target ID's are larger (few clips) although the clip is typical of the target
    raw = {"00_source": 3.0, "00_target": 8.0}
    train = pd.DataFrame(
        {"machine_id": ["00_source"] * 4 + ["00_target"] * 4, "score": [1.0, 1.2, 0.8, 1.0, 7.0, 9.0, 8.0, 8.0]}
    )
    scores, ids = domains.score_sections(
        lambda m: np.array([raw[i] for i in m]),
        ["00"],
        known_ids=set(raw),
        detector_name="embedding_knn",
        train_scores=train,
    )
    assert ids == ["00_target"] and scores[0] == 8.0  # the raw score of the chosen ID (its threshold applies)
    with pytest.raises(ValueError, match="training scores"):
        domains.score_sections(lambda m: np.zeros(1), ["00"], known_ids=set(raw), detector_name="embedding_knn")


def _log_mels(rng, n: int, shift_db: float) -> list[np.ndarray]:
    """Log-mel-like arrays (128 bands, 64 frames): a smooth spectrum, the upper bands raised by ``shift_db``."""
    base = np.linspace(-20.0, -60.0, 128)[:, None]
    base = base + np.where(np.arange(128) >= 64, shift_db, 0.0)[:, None]
    return [base + rng.normal(0.0, 1.0, (128, 64)) for _ in range(n)]


def test_target_test_clip_is_scored_against_the_target_statistics(rng):
    """multistat fitted per domain (30 source, 5 target clips): a normal target clip is judged by the target's
    statistics, a normal source clip by the source's, and an anomalous clip stays high against both."""
    source, target = _log_mels(rng, 30, 0.0), _log_mels(rng, 5, 12.0)
    detector = get_detector("multistat")(StudyConfig())
    detector.fit(source + target, domains.training_ids(_clips(30, 5), rule="domains"), progress=False)
    anomaly = _log_mels(rng, 1, 6.0)  # between the domains: normal for neither
    tests = _log_mels(rng, 3, 12.0) + _log_mels(rng, 3, 0.0) + anomaly
    scores, ids = domains.score_sections(
        lambda m: detector.score(tests, m), ["00"] * 7, known_ids=detector.ids, detector_name="multistat"
    )
    assert ids[:6] == ["00_target"] * 3 + ["00_source"] * 3
    against_source = detector.score(tests, ["00_source"] * 7)
    np.testing.assert_array_less(scores[:3], against_source[:3])
    np.testing.assert_allclose(scores[3:6], against_source[3:6])
    assert scores[6] > scores[:6].max()
