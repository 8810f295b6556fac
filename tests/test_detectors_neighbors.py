"""asd.detectors.neighbors: the one nearest-neighbour distance, band statistics, the per-ID rules."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from asd.detectors.neighbors import (
    BAND_STATISTICS,
    band_delta,
    best_over_ids,
    floored_scale,
    knn_distances,
    neighbor_index,
    rows_by_id,
)


def _oracle(queries, references, k, *, metric, leave_one_out):
    """The computation before the shared index, with scipy's cdist: every distance, the ``k`` smallest averaged."""
    distances = cdist(queries, references, metric)
    if leave_one_out:
        distances += np.diag(np.full(len(distances), np.inf))
    k = min(k, distances.shape[1] - (1 if leave_one_out else 0))
    return np.sort(distances, axis=1)[:, :k].mean(axis=1)


@pytest.mark.parametrize("metric", ["euclidean", "chebyshev"])
@pytest.mark.parametrize("k", [1, 3, 50])
def test_knn_distances_equal_cdist_within_round_off(rng, metric, k):
    references = rng.normal(size=(23, 40)) * rng.uniform(0.1, 5.0, 40)
    references[7] = references[3]  # an identical copy: its leave-one-out distance is 0, not itself
    queries = rng.normal(size=(31, 40))
    index = neighbor_index(references, chebyshev=metric == "chebyshev")
    np.testing.assert_allclose(
        knn_distances(index, queries, k), _oracle(queries, references, k, metric=metric, leave_one_out=False), rtol=1e-9
    )
    loo = knn_distances(index, None, k)
    np.testing.assert_allclose(
        loo, _oracle(references, references, k, metric=metric, leave_one_out=True), rtol=1e-9, atol=1e-12
    )
    if k == 1:
        assert loo[3] == loo[7] == 0.0


def test_a_single_reference_left_out_has_distance_zero(rng):
    index = neighbor_index(rng.normal(size=(1, 4)))
    np.testing.assert_array_equal(knn_distances(index, None, 2), [0.0])
    assert knn_distances(index, np.zeros((3, 4)), 2).shape == (3,)


def test_band_statistics_per_band():
    x = np.array([[0.0, 2.0, 4.0], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(BAND_STATISTICS["mean"](x), [2.0, 1.0])
    np.testing.assert_allclose(BAND_STATISTICS["max"](x), [4.0, 1.0])
    np.testing.assert_allclose(band_delta(x), [2.0, 0.0])
    np.testing.assert_array_equal(band_delta(x[:, :1]), [0.0, 0.0])


def test_rows_by_id_and_the_unknown_id_rule():
    rows = rows_by_id(["02", None, "00", "02", ""], 5)
    assert list(rows) == [None, "00", "02"] and rows["02"].tolist() == [0, 3] and rows[None].tolist() == [1, 4]
    with pytest.raises(ValueError, match="3 clips but 2 machine IDs"):
        rows_by_id(["00", "01"], 3)
    scores = {"00": np.array([1.0, 5.0]), "01": np.array([3.0, 2.0])}
    np.testing.assert_array_equal(best_over_ids(scores.__getitem__, ["00", "01"]), [1.0, 2.0])
    tables = {"00": np.array([[9.0, 1.0], [0.0, 5.0]]), "01": np.array([[0.0, 3.0], [9.0, 2.0]])}
    np.testing.assert_array_equal(best_over_ids(tables.__getitem__, ["00", "01"]), [[9.0, 1.0], [9.0, 2.0]])


def test_floored_scale():
    np.testing.assert_allclose(floored_scale(np.array([0.0, 1.0, 4.0]), median=1.0, relative=0.5), [0.5, 1.0, 4.0])
    np.testing.assert_allclose(floored_scale(np.zeros(2), median=0.0), [1e-6, 1e-6])
