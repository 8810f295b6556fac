"""Rotating machines: fan and pump (MIMII). A signature per machine ID, a renderer per machine type."""

from __future__ import annotations

import numpy as np

from .signal import (
    _Clip,
    _db,
    _decay_envelope,
    _extra,
    _harmonics,
    _mix,
    _oscillator,
    _peak,
    _periodic_times,
    _poisson_times,
    _pulses,
    _ring,
    _rolloff,
    _tilt,
    _unit,
)


def _sign_fan(rng: np.random.Generator) -> dict:
    return {
        "f_rot": rng.uniform(14.0, 24.0),
        "blades": int(rng.choice([4, 5, 6, 7, 9])),
        "bpf_amps": _harmonics(25, rng.uniform(0.8, 1.6), rng),
        "tone_db": rng.uniform(0.0, 4.0),
        "line_hz": float(rng.choice([50.0, 60.0])),
        "hum_db": rng.uniform(-20.0, -12.0),
        "air_slope": rng.uniform(0.6, 1.2),
        "air_centre": rng.uniform(500.0, 1800.0),
        "air_width": rng.uniform(0.8, 1.6),
        "am_depth": rng.uniform(0.1, 0.3),
        "loose_amps": _harmonics(8, rng.uniform(1.0, 3.0), rng),
        "panel_modes": rng.uniform(300.0, 1200.0, size=2),
        "whistle_hz": rng.uniform(1200.0, 3600.0),
        "bearing_ratio": rng.uniform(3.0, 5.2),
        "bearing_hz": rng.uniform(2500.0, 6000.0),
    }


def _render_fan(p: dict, c: _Clip, fault: str | None, s: float) -> np.ndarray:
    rng = c.rng
    speed, air_db = 1.0 + c.jitter(0.006), c.jitter(1.0)
    if fault == "voltage_change":
        direction = c.sign()
        speed *= 1.0 + direction * 0.16 * s
        air_db += direction * 4.0 * s  # airflow power grows steeply with blade speed
    f_rot = p["f_rot"] * speed * (1.0 + c.wander(0.002))
    rot_phase = c.phase(f_rot)
    bpf_phase = rot_phase * p["blades"]
    tones = _oscillator(bpf_phase, p["bpf_amps"], rng, f0_max=float(f_rot.max()) * p["blades"], sr=c.sr)
    hum = c.tone(2.0 * p["line_hz"], _db([0.0, -8.0, -14.0]))
    centre = p["air_centre"] * speed  # the airflow spectrum scales with blade speed
    width = p["air_width"] * centre
    if fault == "clogging":
        centre, width = centre * (1.0 + 0.65 * s), width * (1.0 - 0.5 * s)
    air = c.noise(
        lambda f: np.sqrt(0.3 * _tilt(f, p["air_slope"]) ** 2 + _peak(f, centre, width) ** 2) * _rolloff(f, 6000.0)
    )
    air *= 1.0 + p["am_depth"] * np.sin(2 * np.pi * bpf_phase)  # blades chop the airflow
    base = _mix((air_db, air), (p["tone_db"] + c.jitter(1.0), tones), (p["hum_db"], hum))
    if fault == "imbalance":
        base = _unit(base * (1.0 + 0.35 * s * np.sin(2 * np.pi * rot_phase)))
        shaking = _oscillator(rot_phase, p["loose_amps"], rng, f0_max=float(f_rot.max()), sr=c.sr)
        turns = _periodic_times(rng, c.duration, f_rot, jitter=0.01)  # a loose panel knocks once per turn
        rattle = _pulses(
            c.n,
            c.sr,
            turns,
            rng.uniform(0.5, 1.0, turns.size),
            _ring(c.sr, p["panel_modes"], [0.02, 0.012], [1.0, 0.7]),
        )
        base = _extra(base, _unit(shaking) + _unit(rattle), -27.0 + 30.0 * s)
    elif fault == "clogging":
        whistle = c.tone(p["whistle_hz"] * (1.0 + c.wander(0.01, period=(0.5, 2.0))), [1.0, 0.2])
        base = _extra(base, whistle, -30.0 + 30.0 * s)
    elif fault == "bearing_damage":
        impacts = _periodic_times(rng, c.duration, f_rot * p["bearing_ratio"], jitter=0.02)
        envelope = _decay_envelope(c.n, c.sr, impacts, rng.uniform(0.5, 1.0, impacts.size), 0.002)
        ringing = c.noise(lambda f: _peak(f, p["bearing_hz"], 0.25 * p["bearing_hz"])) * envelope
        base = _extra(base, ringing, -30.0 + 30.0 * s)
    return base


def _sign_pump(rng: np.random.Generator) -> dict:
    line = float(rng.choice([50.0, 60.0]))
    poles = int(rng.choice([2, 4]))
    return {
        "line_hz": line,
        "f_rot": 2.0 * line / poles * (1.0 - rng.uniform(0.02, 0.05)),
        "vanes": int(rng.choice([5, 6, 7, 8])),
        "vane_amps": _harmonics(16, rng.uniform(2.0, 3.0), rng),
        "hum_amps": _harmonics(12, rng.uniform(2.0, 3.0), rng),
        "tone_db": rng.uniform(-9.0, -3.0),
        "hum_db": rng.uniform(-16.0, -10.0),
        "flow_centre": rng.uniform(200.0, 800.0),
        "flow_width": rng.uniform(0.8, 1.5),
        "flow_hiss_db": rng.uniform(-2.0, 4.0),
        "flow_hiss_hz": rng.uniform(1500.0, 3000.0),
        "leak_hz": rng.uniform(2000.0, 6000.0),
        "crackle_modes": rng.uniform(1500.0, 5000.0, size=3),
    }


def _render_pump(p: dict, c: _Clip, fault: str | None, s: float) -> np.ndarray:
    rng = c.rng
    speed, vane_boost, roughness = 1.0 + c.jitter(0.003), 0.0, 0.0
    if fault == "clogging":  # more load: more slip, stronger and rougher vane-pass pulsation
        speed *= 1.0 - 0.04 * s
        vane_boost, roughness = 11.0 * s, 0.35 * s
    f_rot = p["f_rot"] * speed * (1.0 + c.wander(0.001))
    rot_phase = c.phase(f_rot)
    vane = _oscillator(rot_phase * p["vanes"], p["vane_amps"], rng, f0_max=float(f_rot.max()) * p["vanes"], sr=c.sr)
    hum = c.tone(2.0 * p["line_hz"], p["hum_amps"])
    hiss = float(_db(p["flow_hiss_db"]))
    flow = c.noise(
        lambda f: np.sqrt(
            0.5 * _tilt(f, 2.0) ** 2
            + _peak(f, p["flow_centre"], p["flow_width"] * p["flow_centre"]) ** 2
            + hiss**2 * _peak(f, p["flow_hiss_hz"], p["flow_hiss_hz"]) ** 2
        )
    )
    flow *= c.up(1.0 + c.wander(0.2, period=(0.3, 2.0)))  # turbulence
    base = _mix(
        (c.jitter(1.5), flow), (p["tone_db"] + vane_boost + c.jitter(1.0), vane), (p["hum_db"] + c.jitter(1.0), hum)
    )
    if roughness:
        base = _unit(base * (1.0 + roughness * np.sin(2 * np.pi * rot_phase)))
    if fault == "leakage":
        jet = c.noise(lambda f: _peak(f, p["leak_hz"], 0.3 * p["leak_hz"])) * c.up(
            1.0 + c.wander(0.15, period=(0.2, 1.0))
        )
        base = _extra(base, jet, -34.0 + 30.0 * s)
    elif fault == "contamination":
        times = _poisson_times(rng, c.duration, rng.uniform(15.0, 60.0))
        kernel = _ring(c.sr, p["crackle_modes"], [0.002, 0.0015, 0.001], [1.0, 0.7, 0.5])
        amps = rng.lognormal(0.0, 0.6, times.size) * rng.choice([-1.0, 1.0], times.size)
        base = _extra(base, _pulses(c.n, c.sr, times, amps, kernel), -34.0 + 30.0 * s)
    return base
