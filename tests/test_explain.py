import numpy as np
import pytest

from asd import explain
from asd.config import StudyConfig
from asd.errors import ASDError

N_MELS = StudyConfig().baseline.n_mels


@pytest.fixture
def normal_mels(rng):
    """Log-mels of 'normal' clips: ID 00 at -40 dB, ID 02 at -20 dB, each band with 2 dB noise, ~10 s."""
    mels = [rng.normal(-40.0, 2.0, size=(N_MELS, 313)) for _ in range(6)]
    mels += [rng.normal(-20.0, 2.0, size=(N_MELS, 313)) for _ in range(4)]
    return mels, ["00"] * 6 + ["02"] * 4


def test_fit_reference_per_id_and_pooled(normal_mels):
    mels, ids = normal_mels
    reference = explain.fit_reference(mels, ids, config=StudyConfig())
    assert reference.ids == ("00", "02", explain.POOLED)
    assert reference.n_clips.tolist() == [6, 4, 10]
    for key, chosen in (("00", mels[:6]), ("02", mels[6:]), (None, mels)):
        frames = np.concatenate(chosen, axis=1)
        mean, std = reference.statistics(key)
        np.testing.assert_allclose(mean, frames.mean(axis=1), rtol=1e-9)
        np.testing.assert_allclose(std, frames.std(axis=1), rtol=1e-6)
    assert np.array_equal(reference.statistics("04")[0], reference.statistics(None)[0])  # unseen ID: pooled
    assert reference.band_hz.shape == (N_MELS,) and np.all(np.diff(reference.band_hz) > 0)
    assert 0 < reference.band_hz[0] < 100 and reference.band_hz[-1] < 8000
    assert reference.frame_seconds == pytest.approx(512 / 16000)


def test_constant_band_std_is_floored():
    mels = [np.full((N_MELS, 50), -30.0)] * 3
    reference = explain.fit_reference(mels, ["00"] * 3, config=StudyConfig())
    assert np.all(reference.std == explain.MIN_STD_DB)


def test_explain_clip_finds_the_band_and_the_second(normal_mels, rng):
    mels, ids = normal_mels
    reference = explain.fit_reference(mels, ids, config=StudyConfig())
    clip = rng.normal(-40.0, 2.0, size=(N_MELS, 313))
    clip[90, :] += 15.0  # a tone in band 90 all along
    frames_of_second_6 = (np.arange(313) * reference.frame_seconds).astype(int) == 6
    clip[10:30, frames_of_second_6] += 25.0  # a broadband knock in second 6
    departure = explain.explain_clip(clip, "00", reference, top_bands=2, top_seconds=1)
    assert departure.top_bands_hz[0] == pytest.approx(reference.band_hz[90])
    assert departure.top_bands_db[0] == pytest.approx(15.0, abs=1.0)
    assert departure.top_seconds == [6]
    assert departure.deviation.shape == clip.shape
    assert departure.columns()["top_seconds"] == "6-7"
    assert departure.columns()["top_bands_hz"].split(", ")[0] == f"{reference.band_hz[90]:.0f}"


def test_neighbouring_bands_are_named_once(normal_mels, rng):
    mels, ids = normal_mels
    reference = explain.fit_reference(mels, ids, config=StudyConfig())
    clip = rng.normal(-40.0, 2.0, size=(N_MELS, 313))
    clip[60:63, :] += 20.0  # one component spread over three bands
    clip[20, :] += 10.0
    departure = explain.explain_clip(clip, "00", reference, top_bands=2)
    bands = [int(np.argmin(np.abs(reference.band_hz - hz))) for hz in departure.top_bands_hz]
    assert bands[0] in (60, 61, 62) and bands[1] == 20


def test_a_normal_clip_of_another_id_departs_from_its_own_id_only(normal_mels, rng):
    mels, ids = normal_mels
    reference = explain.fit_reference(mels, ids, config=StudyConfig())
    clip = rng.normal(-20.0, 2.0, size=(N_MELS, 313))  # like ID 02
    assert explain.explain_clip(clip, "02", reference).band_score.max() < 1.5
    assert explain.explain_clip(clip, "00", reference).band_score.min() > 5.0


def test_save_load_round_trip(normal_mels, tmp_path):
    mels, ids = normal_mels
    reference = explain.fit_reference(mels, ids, config=StudyConfig())
    path = explain.save(tmp_path / "run" / explain.REFERENCE_FILE, reference)
    back = explain.load(path)
    assert back.ids == reference.ids and back.frame_seconds == reference.frame_seconds
    for name in ("band_hz", "mean", "std", "n_clips"):
        np.testing.assert_array_equal(getattr(back, name), getattr(reference, name))
    with pytest.raises(ASDError, match="no reference statistics"):
        explain.load(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    with pytest.raises(ASDError, match="not a reference"):
        explain.load(tmp_path / "bad.npz")


def test_bad_input_is_rejected(normal_mels):
    mels, ids = normal_mels
    with pytest.raises(ValueError, match="machine IDs"):
        explain.fit_reference(mels, ids[:-1], config=StudyConfig())
    with pytest.raises(ValueError, match="no clips"):
        explain.fit_reference([], [], config=StudyConfig())
    with pytest.raises(ValueError, match="log-mel"):
        explain.fit_reference([np.zeros((64, 10))], ["00"], config=StudyConfig())
    reference = explain.fit_reference(mels, ids, config=StudyConfig())
    with pytest.raises(ValueError, match="log-mel"):
        explain.explain_clip(np.zeros((64, 10)), "00", reference)


def test_plot_departure_writes_a_png(normal_mels, rng, tmp_path):
    mels, ids = normal_mels
    reference = explain.fit_reference(mels, ids, config=StudyConfig())
    clip = rng.normal(-40.0, 2.0, size=(N_MELS, 313))
    departure = explain.explain_clip(clip, "00", reference)
    path = explain.plot_departure(clip, departure, reference, tmp_path / "figs" / "clip.png", title="clip")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in (tmp_path / "figs").iterdir()] == ["clip.png"]  # no temporary file left


def test_departures_read_with_their_direction_and_machines_without_id_as_machine():
    assert explain.departure_text([912.4, 4875.0], [17.46, -11.0]) == "+17.5 dB at 912 Hz, \u221211.0 dB at 4.9 kHz"
    assert explain.departure_text([], []) == ""
    assert explain.frequency_text(999.4) == "999 Hz" and explain.frequency_text(1000.0) == "1.0 kHz"
    assert explain.machine_label("04") == "id 04"
    assert explain.machine_label("") == explain.machine_label(None) == explain.machine_label(float("nan")) == "machine"
    departure = explain.Departure(
        deviation=np.zeros((2, 2)),
        band_score=np.zeros(2),
        second_score=np.zeros(1),
        top_bands_hz=[500.0],
        top_bands_db=[-3.04],
    )
    assert departure.text() == "\u22123.0 dB at 500 Hz"
