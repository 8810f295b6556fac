"""asd.features.parallel: workers, single-threaded BLAS, the ordered map."""

import time
from concurrent.futures import ThreadPoolExecutor

from threadpoolctl import threadpool_info

from asd.features import default_workers, single_threaded_blas
from asd.features.parallel import ordered_map


def test_default_workers_is_at_least_one():
    assert default_workers() >= 1


def test_single_threaded_blas_limits_blas():
    with single_threaded_blas():
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")


def test_ordered_map_keeps_order_and_stops_early():
    started = []

    def slow_square(x):
        started.append(x)
        time.sleep(0.01 * (5 - x % 5))
        return x * x

    with ThreadPoolExecutor(max_workers=3) as pool:
        assert list(ordered_map(pool, slow_square, list(range(12)), ahead=4)) == [x * x for x in range(12)]
        started.clear()
        results = ordered_map(pool, slow_square, list(range(100)), ahead=4)
        assert next(results) == 0
        results.close()
    assert len(started) <= 6  # at most `ahead` (plus the one refill) were submitted
