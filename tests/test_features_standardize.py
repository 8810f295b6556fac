"""asd.features.standardize: training statistics, saved and loaded."""

import numpy as np
import pytest

from asd.features import Standardizer


def test_standardizer_uses_training_statistics(tmp_path, rng):
    train = rng.normal(5.0, 2.0, size=(20, 8, 8))
    standardizer = Standardizer.fit(train)
    out = standardizer.transform(train)
    assert abs(out.mean()) < 1e-5 and abs(out.std() - 1) < 1e-5
    standardizer.save(tmp_path / "n.json")
    assert Standardizer.load(tmp_path / "n.json") == standardizer
    np.testing.assert_allclose(standardizer.inverse_transform(out), train, rtol=1e-5)


def test_constant_input_and_no_data():
    standardizer = Standardizer.fit(np.full((3, 4), 7.0))
    assert standardizer.std == standardizer.min_std
    assert np.all(standardizer.transform(np.full((3, 4), 7.0)) == 0)
    with pytest.raises(ValueError, match="no data"):
        Standardizer.fit(np.zeros(0))
