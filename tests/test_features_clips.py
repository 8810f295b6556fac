"""asd.features.clips: the mono check and the short-clip tiling rule."""

import logging

import numpy as np
import pytest

from asd.features import check_mono, tile_to_length


def test_check_mono():
    out = check_mono([0.0, 0.5])
    assert out.dtype == np.float32 and out.shape == (2,)
    with pytest.raises(ValueError, match=r"mono samples of shape \(n_samples,\), got shape \(2, 3\)"):
        check_mono(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="empty clip"):
        check_mono(np.zeros(0))


def test_tiling_repeats_short_clips_and_names_the_file(caplog):
    samples = np.arange(5, dtype=np.float32)
    long_enough = np.arange(8, dtype=np.float32)
    assert tile_to_length(long_enough, 8, sample_rate=4) is long_enough
    with caplog.at_level(logging.WARNING, logger="asd.features"):
        tiled = tile_to_length(samples, 12, sample_rate=4, source="a/b.wav")
    np.testing.assert_array_equal(tiled, [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1])
    assert "a/b.wav: clip of 1.25 s is shorter than the 3.00 s" in caplog.text
