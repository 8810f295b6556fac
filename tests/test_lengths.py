"""asd.lengths: how a clip of another length than the training clips is scored."""

from __future__ import annotations

import numpy as np
import pytest

from asd.config import StudyConfig
from asd.detectors import get_detector
from asd.lengths import MIN_FRACTION, frame_range, length_matcher, length_plan, score_by_length

LENGTHS = {"min": 300, "median": 313, "max": 313}


def test_frame_range_and_the_plan_of_each_length():
    assert frame_range([np.zeros((4, 300)), np.zeros((4, 313)), np.zeros((4, 313))]) == LENGTHS
    assert length_plan(313, LENGTHS) == ("as is", "")
    assert length_plan(296, LENGTHS) == ("as is", "")  # within the tolerance
    assert length_plan(1000, LENGTHS)[0] == "windows"
    assert length_plan(150, LENGTHS, can_match=True)[0] == "matched"
    assert length_plan(250, LENGTHS)[0] == "as is" and "less confidence" in length_plan(250, LENGTHS)[1]
    assert length_plan(int(MIN_FRACTION * 300) - 1, LENGTHS)[0] == "refuse"
    assert length_plan(20, LENGTHS, can_match=True)[0] == "refuse"  # below MIN_MATCHED_FRACTION
    assert length_plan(5, None) == ("as is", "")  # a run without recorded lengths


@pytest.fixture(scope="module")
def fitted():
    """multistat on 12 stationary random clips of two IDs (band levels differ by ID), and those clips."""
    rng = np.random.default_rng(7)
    config = StudyConfig()
    features = [rng.normal(-30 - 5 * (i % 2), 3.0, size=(128, 313)).astype(np.float32) for i in range(12)]
    ids = ["00" if i % 2 == 0 else "02" for i in range(12)]
    detector = get_detector("multistat")(config)
    detector.fit(features, ids, progress=False)
    return config, detector, features, ids, np.asarray(detector.training_scores(features, ids))


def test_training_length_clips_score_exactly_as_the_detector(fitted):
    config, detector, features, ids, _ = fitted
    scores, notes, problems = score_by_length(detector, features[:4], ids[:4], LENGTHS)
    np.testing.assert_array_equal(scores, detector.score(features[:4], ids[:4]))
    assert notes == [""] * 4 and problems == [""] * 4


def test_matched_short_clips_score_as_fresh_clips_of_the_training_length(fitted):
    config, detector, features, ids, train_scores = fitted
    rng = np.random.default_rng(8)
    fresh = [rng.normal(-30 - 5 * (i % 2), 3.0, size=(128, 313)).astype(np.float32) for i in range(16)]
    fresh_ids = ["00" if i % 2 == 0 else "02" for i in range(16)]
    full = detector.score(fresh, fresh_ids)  # what new normal clips of the training length score
    short = [f[:, :120] for f in fresh]
    matcher = length_matcher(type(detector), config, features, ids, train_scores)
    scores, notes, problems = score_by_length(detector, short, fresh_ids, LENGTHS, matcher=matcher)
    as_is = detector.score(short, fresh_ids)
    assert problems == [""] * 16 and all("cut to its length" in n for n in notes)
    # Unmatched, short normal clips score above every new clip of the training length; matched, among them.
    assert np.median(as_is) > full.max()
    assert full.min() <= np.median(scores) <= full.max()
    louder = [f + 6.0 for f in short]  # a level change stays an anomaly at any length
    assert np.all(score_by_length(detector, louder, fresh_ids, LENGTHS, matcher=matcher)[0] > full.max())
