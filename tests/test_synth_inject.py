"""asd.synth.inject: one fault character each, at levels fixed relative to the clip; the injected set's layout."""

import numpy as np
import pytest
import soundfile as sf

from asd.data import discover_clips
from asd.synth import inject as inj

SR = 16000


@pytest.fixture()
def clip():
    rng = np.random.default_rng(3)
    return (0.05 * rng.standard_normal(SR * 2)).astype(np.float32)


def energy(x):
    return float(np.sum(np.asarray(x, dtype=np.float64) ** 2))


def test_level_is_the_set_gain(clip):
    out = inj.inject(clip, "level", rng=np.random.default_rng(0), sample_rate=SR)
    assert 10 * np.log10(energy(out) / energy(clip)) == pytest.approx(inj.LEVEL_DB, abs=0.01)


def test_tone_is_one_steady_line_at_its_set_power(clip):
    out = inj.inject(clip, "tone", rng=np.random.default_rng(0), sample_rate=SR)
    added = out.astype(np.float64) - clip
    spectrum = np.abs(np.fft.rfft(added)) ** 2
    peak_hz = np.argmax(spectrum) * SR / len(added)
    assert 300 <= peak_hz <= 3000
    assert spectrum.max() / spectrum.sum() > 0.9  # one line
    assert 10 * np.log10(energy(added) / energy(clip)) == pytest.approx(inj.TONE_DB, abs=0.2)


def test_clicks_are_short_and_carry_one_frame_of_energy_each(clip):
    out = inj.inject(clip, "clicks", rng=np.random.default_rng(0), sample_rate=SR)
    added = out.astype(np.float64) - clip
    changed = np.flatnonzero(np.abs(added) > 1e-6)
    assert 0 < len(changed) <= inj.N_CLICKS * int(0.002 * SR)  # a few ms in all
    frame_energy = np.mean(clip.astype(np.float64) ** 2) * inj.CLICK_ENERGY_SECONDS * SR
    assert energy(added) == pytest.approx(inj.N_CLICKS * frame_energy, rel=0.05)


def test_modulation_swings_the_envelope_at_a_few_hertz(clip):
    out = inj.inject(clip, "modulation", rng=np.random.default_rng(0), sample_rate=SR)
    ratio = out.astype(np.float64) / np.where(np.abs(clip) > 1e-4, clip, np.nan)
    assert np.nanmin(ratio) == pytest.approx(1 - inj.MODULATION_DEPTH, abs=0.02)
    assert np.nanmax(ratio) == pytest.approx(1 + inj.MODULATION_DEPTH, abs=0.02)


def test_seeded_and_known_characters_only(clip):
    a = inj.inject(clip, "clicks", rng=np.random.default_rng(5), sample_rate=SR)
    b = inj.inject(clip, "clicks", rng=np.random.default_rng(5), sample_rate=SR)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == clip.shape
    with pytest.raises(ValueError, match="unknown fault character 'hum'.*clicks"):
        inj.inject(clip, "hum", rng=np.random.default_rng(0), sample_rate=SR)


def test_injected_set_pairs_each_test_clip_with_its_faulty_copy(tmp_path, clip):
    rng = np.random.default_rng(1)
    normals = []
    for i in range(6):
        path = tmp_path / "src" / f"clip{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, (clip * rng.uniform(0.5, 1.5)).astype(np.float32), SR, subtype="PCM_16")
        normals.append(path)
    root = inj.write_injected_set(normals, tmp_path / "set", n_train=4, machine_type="fan", seed=0)
    table = discover_clips(root)
    assert sorted(table.machine_type.unique()) == [f"fan.{c}" for c in sorted(inj.CHARACTERS)]
    counts = table.groupby(["machine_type", "split", "label"]).size()
    assert (counts.xs(("train", "normal"), level=("split", "label")) == 4).all()
    assert (counts.xs(("test", "normal"), level=("split", "label")) == 2).all()
    assert (counts.xs(("test", "anomaly"), level=("split", "label")) == 2).all()
    normal, _ = sf.read(root / "fan.level" / "test" / "normal_id_00_00000004.wav")
    faulty, _ = sf.read(root / "fan.level" / "test" / "anomaly_id_00_00000004.wav")
    assert 10 * np.log10(energy(faulty) / energy(normal)) == pytest.approx(inj.LEVEL_DB, abs=0.05)
    with pytest.raises(ValueError, match="at least 2 training and 2 test clips"):
        inj.write_injected_set(normals, tmp_path / "too-few", n_train=5, machine_type="fan")
