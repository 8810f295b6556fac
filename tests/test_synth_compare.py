"""Synthetic against real (asd.synth.compare): the clip statistics, and the generator held against the real clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asd.audio import write_clip
from asd.config import MACHINE_TYPES
from asd.synth import clip_rng, generate_clip
from asd.synth.compare import OCTAVE_CENTRES, clip_statistics, compare_folders, summarize

SR = 16000
SHARED_DEV_LITE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dcase2020-dev-lite"


def test_statistics_tell_tone_noise_and_clicks_apart(rng):
    t = np.arange(10 * SR) / SR
    tone = 0.1 * np.sin(2 * np.pi * 440.0 * t)
    noise = 0.1 * rng.standard_normal(t.size)
    clicks = 0.001 * rng.standard_normal(t.size)
    clicks[:: SR // 2] = 0.8  # two clicks a second on a quiet floor
    s_tone, s_noise, s_clicks = (clip_statistics(x, sample_rate=SR) for x in (tone, noise, clicks))
    assert s_tone["rms_dbfs"] == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.01)
    assert s_noise["rms_dbfs"] == pytest.approx(-20.0, abs=0.1)
    assert s_tone["flatness"] < 0.01 < 0.5 < s_noise["flatness"]
    assert s_tone["tonal_db"] > 20 > 3 > s_noise["tonal_db"]
    assert s_tone["band_500"] > -1.0 and s_tone["band_4000"] < -40.0
    assert s_noise["centroid_hz"] == pytest.approx(3775.0, rel=0.05)  # white: the middle of 50 Hz-7.5 kHz
    assert s_clicks["crest_db"] > 30 > s_noise["crest_db"]
    assert s_clicks["impulsive"] > 0.5 > s_noise["impulsive"]
    assert s_clicks["frame_sd_db"] > 5 > s_noise["frame_sd_db"]
    assert set(f"band_{c}" for c in OCTAVE_CENTRES) <= set(s_tone)


def test_compare_folders_and_summarize(tmp_path):
    for label in ("normal", "anomaly"):
        for index in range(3):
            x = generate_clip(
                "valve",
                "00",
                anomaly="extra_clicks" if label == "anomaly" else None,
                severity=1.0,
                rng=clip_rng(0, "valve", "00", "test", label, index),
            )
            write_clip(tmp_path / "a" / "valve" / "test" / f"{label}_id_00_{index:08d}.wav", x)
    stats = compare_folders({"a": tmp_path / "a", "b": tmp_path / "a"}, max_per_group=2)
    assert len(stats) == 8 and set(stats.source) == {"a", "b"}
    summary = summarize(stats)
    assert list(summary.index.names) == ["machine_type", "label", "source"] and len(summary) == 4
    assert summary.loc[("valve", "anomaly", "a"), "rms_dbfs"] == summary.loc[("valve", "anomaly", "b"), "rms_dbfs"]


@pytest.mark.skipif(not SHARED_DEV_LITE.is_dir(), reason=f"real DCASE 2020 clips not found at {SHARED_DEV_LITE}")
def test_synthetic_clips_resemble_the_real_ones():
    """Per machine type, synthetic normal clips (the real clip's machine ID) sit near the real normal clips
    in level, spectral centroid, tonality and temporal structure: what the generator was revised for."""
    real = compare_folders({"real": SHARED_DEV_LITE}, max_per_group=3)
    real = real[real.label == "normal"].groupby("machine_type").median(numeric_only=True)
    for machine_type in MACHINE_TYPES:
        ids = sorted(p.name.split("_")[2] for p in (SHARED_DEV_LITE / machine_type / "test").glob("normal_*.wav"))
        stats = [
            clip_statistics(
                generate_clip(machine_type, ids[0], rng=clip_rng(0, machine_type, ids[0], "test", "normal", i)),
                sample_rate=SR,
            )
            for i in range(2)
        ]
        mine = {k: float(np.median([s[k] for s in stats])) for k in stats[0]}
        ref = real.loc[machine_type]
        assert abs(mine["rms_dbfs"] - ref["rms_dbfs"]) < 4.0, (machine_type, mine["rms_dbfs"], ref["rms_dbfs"])
        assert 0.5 < mine["centroid_hz"] / ref["centroid_hz"] < 2.0, (
            machine_type,
            mine["centroid_hz"],
            ref["centroid_hz"],
        )
        assert abs(mine["crest_db"] - ref["crest_db"]) < 5.0, (machine_type, mine["crest_db"], ref["crest_db"])
        assert abs(mine["flatness"] - ref["flatness"]) < 0.3, (machine_type, mine["flatness"], ref["flatness"])


def test_real_clips_absent_or_listed(tmp_path):
    from asd.synth.compare import DEV_LITE, real_clips

    assert real_clips(tmp_path / "nowhere") is None
    if DEV_LITE.is_dir():
        table = real_clips()
        assert set(table.machine_type) == set(MACHINE_TYPES) and set(table.label) == {"normal", "anomaly"}
        assert (table.groupby(["machine_type", "label"]).size() == 3).all()
