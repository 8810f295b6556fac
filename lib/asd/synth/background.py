"""The background of a synthetic clip (a factory ambience per machine ID) and the recording chain's tilt."""

from __future__ import annotations

import numpy as np

from ..config import MACHINE_TYPES
from .signal import _Clip, _db, _freqs, _harmonics, _mix, _noise, _peak, _poisson_times, _ring, _rolloff, _tilt

#: Machine-to-background SNRs (dB) handed out to the machine IDs, as in MIMII's three versions.
SNR_LEVELS = (6.0, 0.0, -6.0)


#: Range (dB full scale) of the machine IDs' RMS levels per machine type, about where the real DCASE 2020
#: clips of each type lie (docs/synthetic_data.md compares them).
LEVEL_DBFS: dict[str, tuple[float, float]] = {
    "fan": (-42.0, -36.0),
    "pump": (-42.0, -36.0),
    "slider": (-42.0, -36.0),
    "valve": (-42.0, -36.0),
    "ToyCar": (-37.0, -31.0),
    "ToyConveyor": (-27.0, -21.0),
}


def _sign_site(rng: np.random.Generator, machine_type: str, machine_id: str) -> dict:
    type_index = MACHINE_TYPES.index(machine_type)
    return {
        "snr_db": SNR_LEVELS[(type_index + int(machine_id)) % len(SNR_LEVELS)],
        "level_dbfs": rng.uniform(*LEVEL_DBFS[machine_type]),
        "pink": rng.uniform(0.1, 0.3),
        "room_hz": rng.uniform(150.0, 600.0),
        "room": rng.uniform(0.1, 0.4),
        "rolloff_hz": rng.uniform(3000.0, 7000.0),
        "hum_hz": rng.uniform(40.0, 120.0),
        "hum_amps": _harmonics(6, rng.uniform(3.0, 6.0), rng),
        "hum_db": rng.uniform(-6.0, 0.0),
        "event_rate": rng.uniform(0.1, 0.3),
    }


def _background(site: dict, c: _Clip) -> np.ndarray:
    """Factory ambience of one clip: stationary part at unit RMS plus transient events."""
    rng = c.rng
    bed = c.noise(
        lambda f: (
            np.sqrt(
                _tilt(f, 2.0) ** 2
                + site["pink"] * _tilt(f, 1.0) ** 2
                + site["room"] * _peak(f, site["room_hz"], site["room_hz"]) ** 2
            )
            * _rolloff(f, site["rolloff_hz"])
        )
    )
    hum = c.tone(site["hum_hz"] * (1.0 + c.wander(0.005)), site["hum_amps"]) * c.up(
        1.0 + c.wander(0.3, period=(3.0, 8.0))
    )
    out = _mix((0.0, bed), (site["hum_db"], hum))
    for when in _poisson_times(rng, c.duration, site["event_rate"]):
        level = float(_db(rng.uniform(-14.0, -2.0)))  # RMS over the event, relative to the bed
        if rng.uniform() < 0.6:  # a burst of band noise: air blow-off, a passing cart
            length = int(rng.uniform(0.2, 1.5) * c.sr)
            centre = float(np.exp(rng.uniform(np.log(150.0), np.log(5000.0))))
            width = centre * rng.uniform(0.3, 1.0)
            event = (
                _noise(rng, length, c.sr, lambda f, centre=centre, width=width: _peak(f, centre, width))
                * np.hanning(length)
                * level
            )
        else:  # a distant impact
            modes = np.exp(rng.uniform(np.log(300.0), np.log(3000.0), size=3))
            event = _ring(c.sr, modes, rng.uniform(0.02, 0.12, size=3), [1.0, 0.6, 0.4]) * level * 4.0
        start = int(when * c.sr)
        end = min(c.n, start + event.size)
        out[start:end] += event[: end - start]
    return out


#: Per-clip spectral tilt (dB per decade, pivot 1 kHz) and gain (dB) ranges of the recording
#: chain: microphone placement and gain differ a little between recording sessions.
TILT_DB_PER_DECADE = 2.0
GAIN_JITTER_DB = 2.0


def _tilt_eq(x: np.ndarray, sr: int, db_per_decade: float) -> np.ndarray:
    """``x`` through a gentle tilt filter: ``db_per_decade`` dB per decade about 1 kHz (flat below 20 Hz)."""
    f = _freqs(x.size, sr)
    gain = (np.maximum(f, 20.0) / 1000.0) ** (db_per_decade / 20.0)
    return np.fft.irfft(np.fft.rfft(x) * gain, x.size)
