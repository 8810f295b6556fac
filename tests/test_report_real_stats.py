"""asd.report.real_stats: the report's comparison with real recordings from the committed
statistics alone (no ../shared), and the statistics rewritten from the clips when they are there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asd import audio, plots, report, tables
from asd.data import discover_clips
from asd.errors import ASDError
from asd.report import real_stats
from asd.report.real_stats import (
    REAL_CLIPS,
    REAL_STATS_DIR,
    beside_real,
    load_real_stats,
    write_real_stats,
)


def test_committed_statistics_cover_every_machine_type_with_provenance():
    stats = load_real_stats()
    assert stats.machine_types == ["ToyCar", "ToyConveyor", "fan", "pump", "slider", "valve"]
    assert len(stats.levels) == 36 and set(stats.levels["label"]) == {"normal", "anomaly"}
    assert stats.levels["rms_dbfs"].between(-80, 0).all() and len(stats.spectra) == 36
    assert len([c for c in stats.spectra.columns if c.startswith("band_")]) == 128
    assert set(stats.log_mels) == {(t, lab) for t in stats.machine_types for lab in ("normal", "anomaly")}
    mel = stats.log_mels[("fan", "normal")]
    assert mel["values"].shape[0] == mel["n_bands"] // real_stats.MEL_POOL[0] and mel["values"].shape[1] > 50
    source = (REAL_STATS_DIR / "SOURCE.md").read_text()
    assert "CC BY-NC-SA 4.0" in source and "--write-stats" in source
    assert not list(REAL_STATS_DIR.glob("*.wav")) and not list(REAL_STATS_DIR.glob("*.np*"))


def test_the_real_comparison_is_built_from_the_committed_statistics_alone(tiny_root, monkeypatch):
    """No real clip is read: every audio file opened lies in the build's own data."""
    opened = []
    read_clip = audio.read_clip

    def only_the_build_data(path, *args, **kwargs):
        opened.append(Path(path))
        assert Path(path).resolve().is_relative_to(Path(tiny_root).resolve()), path
        return read_clip(path, *args, **kwargs)

    monkeypatch.setattr(audio, "read_clip", only_the_build_data)
    monkeypatch.setattr(real_stats, "REAL_CLIPS", Path("/nonexistent/shared"))
    table = discover_clips(tiny_root, machine_types=["pump", "ToyCar"], require_train=False)
    stats = load_real_stats()
    clips, levels, spectra = beside_real(table, stats, per_label=1, seed=0)
    assert set(clips["source"]) == {"data", "real"} and opened
    real = levels[levels["source"] == "real"]
    assert set(real["machine_type"]) == {"pump", "ToyCar"} and real["rms_dbfs"].notna().all()
    summary = tables.level_summary(levels)
    assert list(summary.columns) == ["machine_type", "data normal", "data anomaly", "real normal", "real anomaly"]
    assert set(spectra.groupby(["source", "machine_type", "label"]).size()) == {128}
    text = report.synthetic_vs_real_paragraph(
        levels, real_root=REAL_STATS_DIR, data_types=["pump", "ToyCar"], real_types=stats.machine_types
    )
    assert "beside 4 real test clips" in text and "`report/real_stats`" in text and "pump" in text
    fig = plots.plot_comparison_log_mels(clips, real_mels=stats.log_mels)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 8 and any("pump id 04" in t and "real" in t for t in titles)
    plots.plot_levels(levels)
    plots.plot_long_term_spectra(spectra)


def test_no_statistics_means_no_comparison(tiny_root):
    table = discover_clips(tiny_root, machine_types=["fan"], require_train=False)
    clips, levels, spectra = beside_real(table, real_stats.RealStats.empty())
    assert clips.empty and levels.empty and spectra.empty


def test_missing_statistics_name_the_command(tmp_path):
    with pytest.raises(ASDError, match="--write-stats"):
        load_real_stats(tmp_path)


@pytest.mark.skipif(not REAL_CLIPS.is_dir(), reason="the real reference clips are not beside the project")
def test_rewriting_the_statistics_from_the_clips_gives_the_committed_ones(tmp_path):
    write_real_stats(REAL_CLIPS, tmp_path)
    for name in ("levels.csv", "spectra.csv", "clip_statistics.csv"):
        written = pd.read_csv(tmp_path / name, dtype={"machine_id": str})
        committed = pd.read_csv(REAL_STATS_DIR / name, dtype={"machine_id": str})
        pd.testing.assert_frame_equal(written, committed, atol=1e-9)
    assert (tmp_path / "log_mel.json").read_text() == (REAL_STATS_DIR / "log_mel.json").read_text()


def test_comparison_matches_reading_the_clips(tiny_root):
    """Drawn from the statistics, the levels and spectra equal those computed from the audio."""
    if not REAL_CLIPS.is_dir():
        pytest.skip("the real reference clips are not beside the project")
    table = discover_clips(tiny_root, machine_types=["valve"], require_train=False)
    _, levels, spectra = beside_real(table, load_real_stats(), per_label=3, seed=0)
    real = discover_clips(REAL_CLIPS, machine_types=["valve"], require_train=False)
    direct_levels, direct_spectra = tables.levels_and_spectra(tables.comparison_clips(table, real, per_label=3, seed=0))
    key = ["source", "file_name"]
    np.testing.assert_allclose(levels.sort_values(key)["rms_dbfs"], direct_levels.sort_values(key)["rms_dbfs"])
    merged = spectra.merge(direct_spectra, on=["source", "machine_type", "label", "band"])
    assert len(merged) == len(spectra) and np.allclose(merged["level_db_x"], merged["level_db_y"], atol=1e-4)
