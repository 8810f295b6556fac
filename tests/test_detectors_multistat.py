"""Tests of asd.detectors.multistat: statistics, robustness across fault characters, LOO, save/load, unknown IDs."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from asd.config import StudyConfig
from asd.detectors import DETECTORS, get_detector
from asd.detectors.base import DetectorStateError
from asd.detectors.multistat import (
    GROUPS,
    RHYTHM_BANDS,
    RHYTHM_BINS,
    MultiStatDetector,
    clip_statistics,
    stack_statistics,
)
from asd.errors import ASDError
from asd.features import baseline_log_mel

SR = 16000
SECONDS = 4.0
N_TRAIN, N_TEST = 24, 16
#: Statistic groups that do not change when a whole clip gets louder (dB differences, spreads,
#: mean-removed envelopes): a detector built on them alone is blind to levels.
LEVEL_BLIND = ("delta", "spread", "rhythm")


# -- a small machine: a steady tone in noise ------------------------------------------------
def machine(rng, *, tone_hz=1000.0):
    """One clip of a steady tone in white noise, samples ``(SR * SECONDS,)``, before its gain."""
    n = int(SR * SECONDS)
    t = np.arange(n) / SR
    f0 = tone_hz * (1.0 + rng.normal(0.0, 0.002))
    return 0.1 * np.sin(2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi)) + 0.02 * rng.standard_normal(n)


def add_clicks(rng, x, *, n_clicks=3):
    """Three short broadband clicks (2 ms decaying noise bursts): a few frames of a 4-s clip."""
    x = x.copy()
    length = int(0.002 * SR)
    decay = np.exp(-np.arange(length) / (0.0005 * SR))
    for start in rng.uniform(0.2, SECONDS - 0.2, n_clicks):
        i = int(start * SR)
        x[i : i + length] += 0.6 * rng.standard_normal(length) * decay
    return x


def log_mel(x, gain_db):
    return baseline_log_mel((x * 10 ** (gain_db / 20)).astype(np.float32), sample_rate=SR)


@pytest.fixture(scope="module")
def cases():
    """Training clips and three test sets of the same normal clips: as they are, with clicks
    added (transients; the band means hardly move), and 6 dB louder (a level change, no transient).
    Every normal clip has its own gain (sd 1 dB), as recordings do."""
    rng = np.random.default_rng(11)
    train = [log_mel(machine(rng), rng.normal(0.0, 1.0)) for _ in range(N_TRAIN)]
    raw = [(machine(rng), rng.normal(0.0, 1.0)) for _ in range(N_TEST)]
    return {
        "train": train,
        "normal": [log_mel(x, g) for x, g in raw],
        "clicks": [log_mel(add_clicks(rng, x), g) for x, g in raw],
        "louder": [log_mel(x, g + 6.0) for x, g in raw],
    }


def case_auc(detector, cases, anomaly):
    ids = ["00"] * N_TEST
    normal = detector.score(cases["normal"], ids)
    anomalous = detector.score(cases[anomaly], ids)
    return roc_auc_score([0] * N_TEST + [1] * N_TEST, np.concatenate([normal, anomalous]))


def fitted(cases, groups=None):
    detector = MultiStatDetector(StudyConfig(), groups=groups)
    detector.fit(cases["train"], ["00"] * N_TRAIN, progress=False)
    return detector


# -- statistics ------------------------------------------------------------------------------
def test_statistic_shapes_and_values():
    x = np.array([[0.0, 2.0, 4.0] * 30, [1.0] * 90])
    stats = clip_statistics(x)
    assert set(stats) == set(GROUPS)
    np.testing.assert_allclose(stats["mean"], [2.0, 1.0])
    np.testing.assert_allclose(stats["peak"], [4.0, 1.0])
    np.testing.assert_allclose(stats["delta"], [(8 * 29 + 4) / 89, 0.0])
    np.testing.assert_allclose(stats["spread"], [np.std([0, 2, 4]), 0.0])
    assert stats["rhythm"].shape == (2 * RHYTHM_BINS,)  # two bands: fewer mels than RHYTHM_BANDS
    np.testing.assert_allclose(stats["level"], [2.0, 1.0])  # one mel per coarse band here
    assert clip_statistics(np.zeros((128, 200)))["rhythm"].shape == (RHYTHM_BANDS * RHYTHM_BINS,)
    ramp = np.repeat(np.arange(128.0)[:, None], 10, axis=1)  # band b at b dB
    np.testing.assert_allclose(clip_statistics(ramp)["level"], np.arange(RHYTHM_BANDS) * 16 + 7.5)
    stacked = stack_statistics([x, x, x], groups=("mean", "rhythm"))
    assert stacked["mean"].shape == (3, 2) and stacked["rhythm"].shape == (3, 2 * RHYTHM_BINS)


def test_rhythm_sees_a_changed_cycle():
    frames = np.arange(300)
    slow = np.where((frames // 30) % 2 == 0, 0.0, 10.0)[None, :].repeat(16, axis=0)
    fast = np.where((frames // 20) % 2 == 0, 0.0, 10.0)[None, :].repeat(16, axis=0)
    a, b = clip_statistics(slow)["rhythm"], clip_statistics(fast)["rhythm"]
    assert np.argmax(a[:RHYTHM_BINS]) < np.argmax(b[:RHYTHM_BINS])  # a slower cycle peaks at a lower modulation bin
    np.testing.assert_allclose(clip_statistics(slow + 7.0)["rhythm"], a, atol=1e-9)  # the level does not matter


@pytest.mark.parametrize("bad", [np.zeros((4,)), np.zeros((4, 0))])
def test_bad_shapes_are_rejected(bad):
    with pytest.raises(ValueError, match="n_mels, n_frames"):
        clip_statistics(bad)


def test_unknown_group_and_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="unknown or no statistic group"):
        MultiStatDetector(StudyConfig(), groups=("kurtosis",))
    with pytest.raises(ValueError, match="combine"):
        MultiStatDetector(StudyConfig(), combine="median")
    with pytest.raises(ValueError, match="n_neighbors"):
        MultiStatDetector(StudyConfig(), n_neighbors=0)


def test_level_blind_groups_do_not_change_with_gain(cases):
    x = cases["train"][0].astype(np.float64)  # float32 + 6 dB would round by more than the tolerance
    for group, value in clip_statistics(x).items():
        moved = clip_statistics(x + 6.0)[group]
        if group in LEVEL_BLIND:
            np.testing.assert_allclose(moved, value, atol=1e-6)
        else:
            np.testing.assert_allclose(moved, value + 6.0, atol=1e-6)


def test_registered():
    assert DETECTORS["multistat"] is MultiStatDetector
    assert get_detector("multistat") is MultiStatDetector
    assert MultiStatDetector.feature_kind == "baseline"
    assert MultiStatDetector.n_trainable_parameters() == 0
    assert not MultiStatDetector.trains_in_epochs and not MultiStatDetector.reconstructs_input


# -- robustness across fault characters ------------------------------------------------------
def test_a_detector_blind_to_transients_misses_clicks(cases):
    mean_only = fitted(cases, groups=("mean",))  # the clip's band means, nothing else
    assert case_auc(mean_only, cases, "clicks") <= 0.7
    assert case_auc(mean_only, cases, "louder") >= 0.9  # it does see levels


def test_a_detector_blind_to_levels_misses_a_louder_machine(cases):
    level_blind = fitted(cases, groups=LEVEL_BLIND)
    assert case_auc(level_blind, cases, "louder") <= 0.7
    assert case_auc(level_blind, cases, "clicks") >= 0.9  # it does see transients


def test_multistat_sees_both(cases):
    detector = fitted(cases)
    assert case_auc(detector, cases, "clicks") >= 0.9
    assert case_auc(detector, cases, "louder") >= 0.9


def _shape_varied_case(change):
    """AUC of a detector's groups on clips that differ in fine spectral shape (sd 3 dB per mel
    band, same overall level): 24 training and 40 test clips normal, 40 test clips changed by
    ``change(spectrum, rng)`` (their mean dB per band). Returns ``auc(groups)``."""
    rng = np.random.default_rng(0)
    base = rng.normal(-40.0, 5.0, 128)

    def clip(anomalous=False):
        shape = rng.normal(0.0, 3.0, 128)
        spectrum = base + shape - shape.mean()
        if anomalous:
            spectrum = change(spectrum, rng)
        return spectrum[:, None] + rng.normal(0.0, 1.0, (128, 150))

    train = [clip() for _ in range(24)]
    test = [clip() for _ in range(40)] + [clip(anomalous=True) for _ in range(40)]
    labels = [0] * 40 + [1] * 40

    def auc(groups):
        detector = MultiStatDetector(StudyConfig(), groups=groups)
        detector.fit(train, ["00"] * len(train), progress=False)
        return roc_auc_score(labels, detector.score(test, ["00"] * len(test)))

    return auc


def test_a_small_broadband_level_change_needs_the_level_group():
    """The anomalous clips are 1.5 dB louder in every band. In the 128 band means the rise is
    diluted among the clip-to-clip shape differences; the coarse ``level`` bands average those out."""
    auc = _shape_varied_case(lambda spectrum, rng: spectrum + 1.5)
    without_level = auc(tuple(g for g in GROUPS if g != "level"))
    assert auc(("level",)) >= 0.95
    assert auc(None) >= 0.95  # the default has it
    assert without_level <= 0.9 and without_level <= auc(None) - 0.1


def test_a_change_confined_to_one_band_needs_the_chebyshev_narrow_group():
    """Each anomalous clip has one band (a different one per clip) 20 dB up: a new tone, about 7
    standard deviations out in its band, as -15 dB tones added to real fan clips were. The
    Euclidean distance over 128 bands dilutes it; the ``narrow`` group's Chebyshev distance is
    that one band."""

    def tone(spectrum, rng):
        spectrum = spectrum.copy()
        spectrum[rng.integers(128)] += 20.0
        return spectrum

    auc = _shape_varied_case(tone)
    narrow, mean = auc(("narrow",)), auc(("mean",))
    assert narrow >= 0.95 and narrow >= mean + 0.05


def test_scores_equal_an_independent_cdist_computation(cases):
    """The scores from the shared nearest-neighbour index equal, within float round-off, those
    computed directly from the saved state with scipy's cdist (the computation before the index:
    every distance, the k smallest averaged; leave-one-out without the diagonal)."""
    from scipy.spatial.distance import cdist

    from asd.detectors.multistat import CHEBYSHEV_GROUPS

    detector = MultiStatDetector(StudyConfig(), groups=("mean", "peak", "narrow"), n_neighbors=2)
    detector.fit(cases["train"], ["00"] * N_TRAIN, progress=False)
    clips = cases["clicks"][:5] + cases["normal"][:5]
    stats = stack_statistics(clips, groups=detector.groups)
    train_stats = {g: detector.state[("00", g)]["reference"] for g in detector.groups}

    def oracle(queries_of, leave_one_out):
        per_group = []
        for g in detector.groups:
            s = detector.state[("00", g)]
            metric = "chebyshev" if g in CHEBYSHEV_GROUPS else "euclidean"
            distances = cdist(queries_of(g, s), s["reference"], metric)
            if leave_one_out:
                distances += np.diag(np.full(len(distances), np.inf))
            nearest = np.sort(distances, axis=1)[:, :2].mean(axis=1)
            per_group.append(np.log(nearest / s["median"]) / s["spread"])
        return np.max(per_group, axis=0)

    expected = oracle(lambda g, s: (stats[g] - s["center"]) / s["scale"], False)
    np.testing.assert_allclose(detector.score(clips, ["00"] * 10), expected, rtol=1e-9)
    n_train = len(train_stats["mean"])
    loo = detector.training_scores(cases["train"], ["00"] * n_train)
    np.testing.assert_allclose(loo, oracle(lambda g, s: train_stats[g], True), rtol=1e-9)


def test_group_scores_name_the_character(cases):
    detector = fitted(cases)
    ids = ["00"] * N_TEST
    clicks = detector.group_scores(cases["clicks"], ids).median()
    louder = detector.group_scores(cases["louder"], ids).median()
    normal = detector.group_scores(cases["normal"], ids).median()
    assert (
        clicks["peak"] > normal["peak"] + 3 and abs(clicks["mean"] - normal["mean"]) < clicks["peak"] - normal["peak"]
    )
    assert louder["mean"] > normal["mean"] + 3
    assert louder["delta"] == pytest.approx(normal["delta"], abs=0.5)
    scores = detector.group_scores(cases["clicks"], ids)
    np.testing.assert_allclose(scores["score"], scores[list(GROUPS)].max(axis=1))  # combined by the maximum


def test_deterministic(cases):
    a, b = fitted(cases), fitted(cases)
    np.testing.assert_array_equal(a.score(cases["clicks"], ["00"] * N_TEST), b.score(cases["clicks"], ["00"] * N_TEST))


# -- training scores -----------------------------------------------------------------------
def test_training_scores_are_leave_one_out(cases):
    detector = fitted(cases)
    ids = ["00"] * N_TRAIN
    loo = detector.training_scores(cases["train"], ids)
    in_sample = detector.score(cases["train"], ids)
    new_normal = detector.score(cases["normal"], ["00"] * N_TEST)
    assert np.all(np.isfinite(loo))
    assert np.all(in_sample < loo)  # in sample, every clip is its own nearest neighbour
    # leave-one-out scores look like those of new normal clips: same median within one spread unit
    assert abs(np.median(loo) - np.median(new_normal)) < 1.0
    # and each group's scores centre on 0 by construction (log distance over its normal median):
    # half of the training clips at or above, half at or below
    groups = detector.group_scores(cases["train"], ids, exclude_self=True)[list(GROUPS)]
    assert ((groups >= 0).sum() >= N_TRAIN // 2).all() and ((groups <= 0).sum() >= N_TRAIN // 2).all()


def test_training_scores_need_the_training_clips(cases):
    detector = fitted(cases)
    with pytest.raises(ValueError, match="leave-one-out"):
        detector.training_scores(cases["train"][:5], ["00"] * 5)


def test_fit_history(cases):
    detector = MultiStatDetector(StudyConfig())
    history = detector.fit(cases["train"], ["00"] * N_TRAIN, progress=False)
    assert len(history) == 1 and history.loc[0, "n_clips"] == N_TRAIN and history.loc[0, "n_ids"] == 1
    assert all(history.loc[0, f"median_{g}"] > 0 for g in GROUPS)


def test_not_fitted():
    with pytest.raises(RuntimeError, match="fit"):
        MultiStatDetector(StudyConfig()).score([np.zeros((8, 80))])


# -- machine IDs ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_machines(cases):
    """ID 00 is the 1 kHz machine of ``cases``; ID 01 hums at 2.5 kHz."""
    rng = np.random.default_rng(5)
    other = [log_mel(machine(rng, tone_hz=2500.0), rng.normal(0.0, 1.0)) for _ in range(N_TRAIN + 4)]
    detector = MultiStatDetector(StudyConfig())
    detector.fit(cases["train"] + other[:N_TRAIN], ["00"] * N_TRAIN + ["01"] * N_TRAIN, progress=False)
    return detector, other[N_TRAIN:]


def test_unknown_id_gets_its_smallest_score(cases, two_machines):
    detector, new_01 = two_machines
    clips = cases["normal"][:4] + new_01
    as_00 = detector.score(clips, ["00"] * 8)
    as_01 = detector.score(clips, ["01"] * 8)
    np.testing.assert_allclose(detector.score(clips), np.minimum(as_00, as_01))
    np.testing.assert_allclose(detector.score(clips, ["07"] * 8), np.minimum(as_00, as_01))
    assert np.all(as_00[:4] < as_01[:4]) and np.all(as_01[4:] < as_00[4:])  # each machine is nearest to itself


def test_each_id_is_standardised_on_its_own(cases, two_machines):
    detector, _ = two_machines
    ids = ["00"] * N_TRAIN + ["01"] * N_TRAIN
    assert detector.ids == ["00", "01"]
    assert not np.allclose(detector.state[("00", "mean")]["center"], detector.state[("01", "mean")]["center"])
    with pytest.raises(ValueError, match="machine IDs"):
        detector.score(cases["normal"][:3], ["00"])
    assert len(ids) == 2 * N_TRAIN


def test_a_single_training_clip_warns_and_scores(cases, caplog):
    detector = MultiStatDetector(StudyConfig())
    with caplog.at_level("WARNING"):
        detector.fit(cases["train"][:1], ["00"], progress=False)
    assert "single training clip" in caplog.text
    assert np.all(np.isfinite(detector.score(cases["normal"][:3], ["00"] * 3)))
    assert np.all(np.isfinite(detector.training_scores(cases["train"][:1], ["00"])))


# -- persistence ---------------------------------------------------------------------------
def test_save_load_round_trip(cases, two_machines, tmp_path):
    detector, new_01 = two_machines
    detector.save(tmp_path / "run")
    assert json.loads((tmp_path / "run" / "detector.json").read_text())["name"] == "multistat"
    assert not list((tmp_path / "run").glob(".*tmp*"))  # atomic writes leave no temporary file
    loaded = MultiStatDetector.load(tmp_path / "run", StudyConfig())
    assert loaded.ids == detector.ids and loaded.groups == detector.groups and loaded.combine == detector.combine
    clips = cases["clicks"][:4] + new_01
    np.testing.assert_array_equal(loaded.score(clips), detector.score(clips))
    np.testing.assert_array_equal(
        loaded.group_scores(clips, ["00"] * 4 + ["01"] * 4).to_numpy(),
        detector.group_scores(clips, ["00"] * 4 + ["01"] * 4).to_numpy(),
    )


def test_load_refuses_other_folders(cases, tmp_path):
    detector = fitted(cases, groups=("mean", "peak"))
    detector.save(tmp_path / "run")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "detector.json").write_text(json.dumps({"name": "embedding_knn"}))
    with pytest.raises(ASDError, match="not 'multistat'"):
        MultiStatDetector.load(tmp_path / "other", StudyConfig())
    with pytest.raises(ASDError, match="detector.json"):
        MultiStatDetector.load(tmp_path / "missing", StudyConfig())
    (tmp_path / "other" / "multistat.npz").write_bytes((tmp_path / "run" / "multistat.npz").read_bytes())
    (tmp_path / "other" / "detector.json").write_text(json.dumps({"name": "multistat", "groups": ["mean"]}))
    with pytest.raises(DetectorStateError, match="incomplete or invalid"):
        MultiStatDetector.load(tmp_path / "other", StudyConfig())
    (tmp_path / "run" / "multistat.npz").write_bytes(b"not an npz")
    with pytest.raises(DetectorStateError, match="multistat.npz: unreadable"):
        MultiStatDetector.load(tmp_path / "run", StudyConfig())
    (tmp_path / "run" / "multistat.npz").unlink()
    with pytest.raises(DetectorStateError, match="multistat.npz: missing"):
        MultiStatDetector.load(tmp_path / "run", StudyConfig())


# -- through the pipeline ------------------------------------------------------------------
def test_pipeline_train_and_evaluate(tiny_root, tmp_path):
    from asd.pipeline import evaluate, train

    run = train(
        tiny_root,
        model="multistat",
        out=tmp_path / "run",
        machine_types=["valve", "fan"],
        cache_dir=False,
        progress=False,
    )
    assert run["model"] == "multistat"
    train_scores = pd.read_csv(tmp_path / "run" / "valve" / "train_scores.csv")
    assert np.all(np.isfinite(train_scores["score"]))
    results = evaluate(tiny_root, run_dir=tmp_path / "run", cache_dir=False, progress=False)
    assert set(results.machine_type) == {"valve", "fan"}
    assert results.auc.between(0.0, 1.0).all()
