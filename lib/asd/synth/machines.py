"""One synthetic clip: the machine models, the per-ID signatures and the mix with the background.

:func:`generate_clip` renders a machine type's sound (:mod:`asd.synth.rotating`,
:mod:`asd.synth.actuators`, :mod:`asd.synth.toys`), adds the machine ID's background
(:mod:`asd.synth.background`) at its SNR, applies the recording chain (tilt, gain) and returns float32
samples. :func:`clip_rng` is the random generator of one dataset clip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ..config import DEV_MACHINE_IDS, MACHINE_TYPES
from ..errors import ConfigError
from .actuators import _render_slider, _render_valve, _sign_slider, _sign_valve
from .background import GAIN_JITTER_DB, SNR_LEVELS, TILT_DB_PER_DECADE, _background, _sign_site, _tilt_eq
from .rotating import _render_fan, _render_pump, _sign_fan, _sign_pump
from .signal import _Clip, _db, _stable_int
from .toys import _render_toycar, _render_toyconveyor, _sign_toycar, _sign_toyconveyor

if TYPE_CHECKING:  # pandas is imported where a table is built: worker processes start faster
    import pandas as pd

SAMPLE_RATE = 16000
#: Clip duration in seconds per machine type (ToyADMOS clips are 11 s, MIMII clips 10 s).
CLIP_SECONDS: dict[str, float] = {t: (11.0 if t == "ToyCar" else 10.0) for t in MACHINE_TYPES}

#: Fault models per machine type (see the module docstring for what each one mimics).
FAULTS: dict[str, list[str]] = {
    "fan": ["imbalance", "voltage_change", "clogging", "bearing_damage"],
    "pump": ["clogging", "leakage", "contamination"],
    "slider": ["rail_damage", "no_grease", "loose_belt"],
    "valve": ["contamination", "irregular_timing", "extra_clicks"],
    "ToyCar": ["bearing_damage", "shaft_damage", "gear_damage", "excessive_voltage"],
    "ToyConveyor": ["belt_damage", "pulley_damage", "voltage_change"],
}


def clip_rng(seed: int, machine_type: str, machine_id: str, split: str, label: str, index: int) -> np.random.Generator:
    """The random generator of one dataset clip (what :func:`generate_dataset` uses).

    ``generate_clip(t, i, anomaly=fault, rng=clip_rng(seed, t, i, split, label, index))``
    reproduces the samples of the file ``t/split/label_id_i_index.wav`` (before 16-bit rounding).
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    entropy = [
        int(seed),
        _stable_int("asd.synth.clip"),
        _stable_int(machine_type),
        int(machine_id),
        _stable_int(split),
        _stable_int(label),
        int(index),
    ]
    return np.random.default_rng(np.random.SeedSequence(entropy))


#: Centre of each development machine ID's fault severities, in [0, 1]: the knob that sets how hard
#: its anomalies are to detect. Chosen so that the DCASE 2020 baseline (``dense_ae`` with the report's
#: settings) scores about as on the real development set (:mod:`asd.synth.published`); other detectors
#: were not consulted. ``benchmarks/calibrate_synth.py`` measures it; docs/synthetic_data.md has the table.
SEVERITY: dict[str, dict[str, float]] = {
    "fan": {"00": 0.2, "02": 0.085, "04": 0.07, "06": 0.26},
    "pump": {"00": 0.53, "02": 0.31, "04": 0.75, "06": 0.35},
    "slider": {"00": 0.76, "02": 0.28, "04": 1.0, "06": 0.445},
    "valve": {"00": 0.77, "02": 0.75, "04": 0.7, "06": 0.465},
    "ToyCar": {"01": 0.29, "02": 0.35, "03": 0.105, "04": 0.375},
    "ToyConveyor": {"01": 0.4, "02": 0.0, "03": 0.22},
}
#: Width of the uniform spread of clip severities about the ID's centre (clipped to [0, 1]).
SEVERITY_SPREAD = 0.3
#: Severity centre of machine IDs outside :data:`SEVERITY`.
DEFAULT_SEVERITY = 0.5


def severity_centre(machine_type: str, machine_id: str) -> float:
    """The centre of a machine ID's fault severities (:data:`SEVERITY`, else :data:`DEFAULT_SEVERITY`)."""
    return SEVERITY.get(machine_type, {}).get(machine_id, DEFAULT_SEVERITY)


def clip_severity(centre: float, u: float) -> float:
    """The severity of one anomalous clip: ``centre`` spread by ``u`` in [0, 1) over +-``SEVERITY_SPREAD``/2, in [0,
    1]."""
    return float(min(1.0, max(0.0, centre + SEVERITY_SPREAD * (u - 0.5))))


@dataclass(frozen=True)
class _Model:
    sign: Callable[[np.random.Generator], dict]
    render: Callable[[dict, _Clip, str | None, float], np.ndarray]


_MODELS: dict[str, _Model] = {
    "fan": _Model(_sign_fan, _render_fan),
    "pump": _Model(_sign_pump, _render_pump),
    "slider": _Model(_sign_slider, _render_slider),
    "valve": _Model(_sign_valve, _render_valve),
    "ToyCar": _Model(_sign_toycar, _render_toycar),
    "ToyConveyor": _Model(_sign_toyconveyor, _render_toyconveyor),
}


@dataclass(frozen=True)
class Condition:
    """An operating condition of a machine: what changes between the source and the target domain.

    ``speed`` scales the machine's rates (rotation, motor, stroke or actuation cycle: the
    parameters in :data:`SPEED_KEYS`); ``site`` ``"A"`` is the machine ID's own background and
    ``"B"`` another room (another ambience, the next SNR of :data:`asd.synth.background.SNR_LEVELS`).
    """

    speed: float = 1.0
    site: str = "A"


#: Per model, the signature parameters that are rates (scaled by ``speed``) and periods (divided by it).
SPEED_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fan": (("f_rot",), ()),
    "pump": (("f_rot",), ()),
    "slider": (("whine_hz",), ("cycle",)),
    "valve": ((), ("cycle",)),
    "ToyCar": (("f_motor",), ()),
    "ToyConveyor": (("f_motor", "pulley_rate", "roller_rates"), ("belt_period",)),
}


def _conditioned(machine_type: str, machine_id: str, condition: Condition) -> tuple[dict, dict]:
    """The signature of a machine ID under another operating condition (copies; the cache is untouched)."""
    machine, site = _signature(machine_type, machine_id)
    machine, site = dict(machine), dict(site)
    rates, periods = SPEED_KEYS[machine_type]
    for key in rates:
        machine[key] = machine[key] * condition.speed
    for key in periods:
        machine[key] = machine[key] / condition.speed
    if condition.site == "B":
        entropy = [_stable_int("asd.synth.site-B"), _stable_int(machine_type), int(machine_id)]
        other = _sign_site(np.random.default_rng(np.random.SeedSequence(entropy)), machine_type, machine_id)
        levels = list(SNR_LEVELS)
        site = {**other, "snr_db": levels[(levels.index(site["snr_db"]) + 1) % len(levels)]}
    elif condition.site != "A":
        raise ValueError(f"condition site must be 'A' or 'B', got {condition.site!r}")
    return machine, site


@lru_cache(maxsize=64)
def _signature(machine_type: str, machine_id: str) -> tuple[dict, dict]:
    """(machine parameters, background site) of one machine ID; the same for every seed."""
    entropy = [_stable_int("asd.synth.machine"), _stable_int(machine_type), int(machine_id)]
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    machine = _MODELS[machine_type].sign(rng)
    site = _sign_site(rng, machine_type, machine_id)
    return machine, site


def describe_machines(machine_types: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
    """One row per development machine ID: what the generator makes of it.

    Columns: ``machine_type``, ``machine_id``, ``snr_db`` (machine to background, dB),
    ``level_dbfs`` (RMS of a normal clip before the per-clip gain of +-``GAIN_JITTER_DB``),
    ``severity`` (the centre of its faults' severities, :data:`SEVERITY`),
    ``clip_seconds``, ``faults`` (comma-separated fault model names).
    """
    import pandas as pd

    rows = []
    for machine_type in machine_types or MACHINE_TYPES:
        for machine_id in DEV_MACHINE_IDS[machine_type]:
            _, site = _signature(machine_type, machine_id)
            rows.append(
                {
                    "machine_type": machine_type,
                    "machine_id": machine_id,
                    "snr_db": site["snr_db"],
                    "level_dbfs": round(float(site["level_dbfs"]), 1),
                    "severity": severity_centre(machine_type, machine_id),
                    "clip_seconds": CLIP_SECONDS[machine_type],
                    "faults": ", ".join(FAULTS[machine_type]),
                }
            )
    return pd.DataFrame(rows)


def generate_clip(
    machine_type: str,
    machine_id: str,
    *,
    anomaly: str | None = None,
    rng: np.random.Generator | int,
    severity: float | None = None,
    sample_rate: int = SAMPLE_RATE,
    condition: Condition | None = None,
    seconds: float | None = None,
) -> np.ndarray:
    """One synthetic clip of a machine, normal or with a fault.

    Parameters
    ----------
    machine_type : str
        One of :data:`asd.config.MACHINE_TYPES`.
    machine_id : str
        Two digits, e.g. ``"00"``; fixes the machine's signature and background site (any ID
        works; the development IDs are those in :data:`asd.config.DEV_MACHINE_IDS`).
    anomaly : str or None
        A fault name from ``FAULTS[machine_type]``, or ``None`` for a normal clip.
    rng : numpy.random.Generator or int
        Source of the clip's randomness (an int seeds a new generator).
    severity : float, optional
        Fault strength in [0, 1] (0: barely audible, 1: obvious); when omitted, drawn from
        ``rng`` about the machine ID's centre (:func:`clip_severity`). Ignored for normal clips.
    sample_rate : int
        Hz, at least 8000. Components above 0.48 ``sample_rate`` are left out.
    condition : Condition, optional
        Another operating condition (speed, background): a domain shift. ``None`` is the machine
        as in the DCASE 2020 layout (the same samples as before this option existed).
    seconds : float, optional
        Clip length in seconds (default :data:`CLIP_SECONDS` of the type), at least 1.

    Returns
    -------
    np.ndarray, shape ``(round(seconds * sample_rate),)``, float32
        Samples within +-0.95: by default 10 s (ToyCar 11 s) at ``sample_rate``.
    """
    if machine_type not in _MODELS:
        raise ValueError(f"unknown machine type {machine_type!r} (expected one of {', '.join(MACHINE_TYPES)})")
    if not (isinstance(machine_id, str) and len(machine_id) == 2 and machine_id.isdigit()):
        raise ValueError(f"machine_id must be two digits like '00', got {machine_id!r}")
    if anomaly is not None and anomaly not in FAULTS[machine_type]:
        raise ValueError(
            f"unknown fault {anomaly!r} for {machine_type} (expected one of {', '.join(FAULTS[machine_type])})"
        )
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be at least 8000 Hz, got {sample_rate}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    if anomaly is None:
        severity = 0.0
    elif severity is None:
        severity = clip_severity(severity_centre(machine_type, machine_id), float(rng.uniform()))
    elif not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity must lie in [0, 1], got {severity}")
    if seconds is not None and not seconds >= 1.0:
        raise ValueError(f"seconds must be at least 1, got {seconds}")
    machine, site = (
        _signature(machine_type, machine_id) if condition is None else _conditioned(machine_type, machine_id, condition)
    )
    duration = CLIP_SECONDS[machine_type] if seconds is None else float(seconds)
    clip = _Clip(rng=rng, n=int(round(duration * sample_rate)), sr=int(sample_rate))
    sound = _MODELS[machine_type].render(machine, clip, anomaly, float(severity))
    snr_db = site["snr_db"] + rng.uniform(-1.5, 1.5)
    background = _background(site, clip) * float(_db(-snr_db))
    normal_rms = np.sqrt(1.0 + 10.0 ** (-snr_db / 10.0))  # RMS of a normal clip's mix
    mix = _tilt_eq(sound + background, clip.sr, rng.uniform(-TILT_DB_PER_DECADE, TILT_DB_PER_DECADE))
    mix *= float(_db(site["level_dbfs"] + rng.uniform(-GAIN_JITTER_DB, GAIN_JITTER_DB))) / normal_rms
    peak = float(np.abs(mix).max())
    if peak > 0.95:
        mix *= 0.95 / peak
    return mix.astype(np.float32)
