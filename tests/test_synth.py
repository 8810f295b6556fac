"""Single synthetic clips (asd.synth.machines and the family modules): shapes, determinism, fault models."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from asd import synth
from asd.config import DEV_MACHINE_IDS, MACHINE_TYPES


def _band_levels(x: np.ndarray, sr: int = synth.SAMPLE_RATE) -> np.ndarray:
    """Log power (dB) in 40 log-spaced bands between 30 Hz and 7.5 kHz, shape ``(40,)``."""
    f, psd = welch(x, fs=sr, nperseg=4096)
    edges = np.geomspace(30.0, 7500.0, 41)
    return np.array([10 * np.log10(psd[(f >= a) & (f < b)].sum() + 1e-20) for a, b in zip(edges[:-1], edges[1:])])


# -- the tables ------------------------------------------------------------------------------


def test_sizes_faults_and_machine_types():
    assert synth.SIZES["tiny"] == synth.SizeSpec(train_normal=6, test_normal=2, test_anomaly=2)
    default = synth.SIZES["default"]
    assert default.train_normal >= 50 and default.test_normal >= 20 and default.test_anomaly >= 20
    assert set(synth.FAULTS) == set(MACHINE_TYPES) == set(synth.CLIP_SECONDS)
    for machine_type, faults in synth.FAULTS.items():
        assert len(faults) >= 3 and len(set(faults)) == len(faults), machine_type
    assert synth.CLIP_SECONDS["ToyCar"] == 11.0
    assert all(synth.CLIP_SECONDS[t] == 10.0 for t in MACHINE_TYPES if t != "ToyCar")


def test_describe_machines_covers_every_dev_id():
    table = synth.describe_machines()
    assert len(table) == sum(len(ids) for ids in DEV_MACHINE_IDS.values())
    assert set(table.snr_db) <= set(synth.SNR_LEVELS)
    assert set(table.columns) >= {"machine_type", "machine_id", "snr_db", "level_dbfs", "faults"}


# -- single clips ----------------------------------------------------------------------------


@pytest.mark.parametrize("machine_type", MACHINE_TYPES)
def test_generate_clip_shape_range_and_determinism(machine_type):
    machine_id = DEV_MACHINE_IDS[machine_type][0]
    x = synth.generate_clip(machine_type, machine_id, anomaly=None, rng=np.random.default_rng(7))
    assert x.dtype == np.float32
    assert x.shape == (int(synth.CLIP_SECONDS[machine_type] * 16000),)
    assert np.isfinite(x).all()
    assert np.abs(x).max() <= 0.95 + 1e-6
    assert np.sqrt(np.mean(x.astype(np.float64) ** 2)) > 1e-3  # not silent
    again = synth.generate_clip(machine_type, machine_id, anomaly=None, rng=np.random.default_rng(7))
    other = synth.generate_clip(machine_type, machine_id, anomaly=None, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(x, again)
    assert not np.array_equal(x, other)


@pytest.mark.parametrize("machine_type", MACHINE_TYPES)
def test_every_fault_changes_the_spectrum(machine_type):
    """At full severity every fault changes some band of the spectrum by more than 1 dB against
    the normal clip of the same machine drawn from the same random numbers. (Faults are meant to
    be changes of spectral shape, some subtle, not loudness: they need not lie further from the
    normal clips' mean than normal clips lie from each other.)"""
    machine_id = DEV_MACHINE_IDS[machine_type][1]
    normal = _band_levels(synth.generate_clip(machine_type, machine_id, rng=np.random.default_rng(99)))
    for fault in synth.FAULTS[machine_type]:
        x = synth.generate_clip(machine_type, machine_id, anomaly=fault, severity=1.0, rng=np.random.default_rng(99))
        assert np.isfinite(x).all() and np.abs(x).max() <= 0.95 + 1e-6
        change = np.abs(_band_levels(x) - normal).max()
        assert change > 1.0, (fault, change)


def test_normal_and_anomalous_clips_differ():
    normal = synth.generate_clip("fan", "00", anomaly=None, rng=np.random.default_rng(1))
    faulty = synth.generate_clip("fan", "00", anomaly="bearing_damage", severity=0.5, rng=np.random.default_rng(1))
    assert normal.shape == faulty.shape
    assert not np.allclose(normal, faulty)


def test_machine_ids_have_their_own_sound():
    a = _band_levels(synth.generate_clip("pump", "00", rng=np.random.default_rng(3)))
    b = _band_levels(synth.generate_clip("pump", "02", rng=np.random.default_rng(3)))
    assert np.abs(a - b).mean() > 1.0  # dB


def test_generate_clip_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown machine type"):
        synth.generate_clip("drill", "00", rng=rng)
    with pytest.raises(ValueError, match="unknown fault"):
        synth.generate_clip("fan", "00", anomaly="leakage", rng=rng)
    with pytest.raises(ValueError, match="two digits"):
        synth.generate_clip("fan", "0", rng=rng)
    with pytest.raises(ValueError, match="severity"):
        synth.generate_clip("fan", "00", anomaly="imbalance", severity=1.5, rng=rng)
    with pytest.raises(ValueError, match="sample_rate"):
        synth.generate_clip("fan", "00", rng=rng, sample_rate=4000)


def test_generate_clip_other_sample_rate():
    x = synth.generate_clip("slider", "00", rng=np.random.default_rng(0), sample_rate=22050)
    assert x.shape == (220500,) and np.isfinite(x).all()


# -- difficulty: the per-ID severity table and the published profile ---------------------------


def test_severity_table_covers_every_dev_id_and_spreads_clips():
    from asd.synth import machines

    for machine_type, ids in DEV_MACHINE_IDS.items():
        assert set(synth.SEVERITY[machine_type]) == set(ids), machine_type
        assert all(0.0 <= c <= 1.0 for c in synth.SEVERITY[machine_type].values())
    assert synth.severity_centre("fan", "99") == machines.DEFAULT_SEVERITY
    assert synth.clip_severity(0.5, 0.0) == pytest.approx(0.5 - machines.SEVERITY_SPREAD / 2)
    assert synth.clip_severity(0.5, 0.999) == pytest.approx(0.5 + machines.SEVERITY_SPREAD / 2, abs=1e-3)
    assert synth.clip_severity(0.0, 0.0) == 0.0 and synth.clip_severity(1.0, 0.999) == 1.0


def test_omitted_severity_is_drawn_about_the_ids_centre():
    """Without ``severity``, the first number of the clip's generator places it in the ID's range."""
    rng = np.random.default_rng(5)
    u = float(np.random.default_rng(5).uniform())
    centre = synth.severity_centre("pump", "02")
    drawn = synth.generate_clip("pump", "02", anomaly="leakage", rng=rng)
    again = np.random.default_rng(5)
    again.uniform()
    explicit = synth.generate_clip("pump", "02", anomaly="leakage", rng=again, severity=synth.clip_severity(centre, u))
    np.testing.assert_array_equal(drawn, explicit)


def test_published_baseline_table_is_consistent():
    from asd.synth import published

    assert set(published.BASELINE_AUC) == set(published.BASELINE_AUC_PER_ID) == set(MACHINE_TYPES)
    for machine_type, per_id in published.BASELINE_AUC_PER_ID.items():
        assert set(per_id) == set(DEV_MACHINE_IDS[machine_type]), machine_type
        assert np.mean(list(per_id.values())) == pytest.approx(published.BASELINE_AUC[machine_type], abs=1e-5)
    assert "y-kawagu/dcase2020_task2_baseline" in published.SOURCE
