"""Toy machines: ToyCar and ToyConveyor (ToyADMOS). A signature per machine ID, a renderer per type."""

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
    _pulses,
    _ring,
    _rolloff,
    _tilt,
    _unit,
)


def _sign_toycar(rng: np.random.Generator) -> dict:
    n_harmonics, segments = 16, 3
    k = np.arange(1, n_harmonics + 1)
    commutator = np.where(k % (2 * segments) == 0, rng.uniform(3.0, 6.0), 0.0)
    return {
        "f_motor": rng.uniform(120.0, 220.0),
        "whine_amps": _harmonics(n_harmonics, rng.uniform(2.5, 4.0), rng, ripple_db=3.0) * _db(commutator),
        "whine_db": rng.uniform(-12.0, -6.0),
        "body_hz": rng.uniform(700.0, 1500.0),
        "teeth": int(rng.integers(8, 13)),
        "gear_ratio": rng.uniform(3.0, 5.0),
        "wheel_ratio": rng.uniform(20.0, 40.0),
        "mesh_db": rng.uniform(-18.0, -12.0),
        "roll_hz": rng.uniform(120.0, 320.0),
        "roll_corner": rng.uniform(1000.0, 2200.0),
        "knock_modes": rng.uniform(500.0, 1500.0, size=2),
        "bearing_hz": rng.uniform(4500.0, 7500.0),
        "bearing_ratio": rng.uniform(2.5, 4.2),
        "chip_modes": rng.uniform(2000.0, 5000.0, size=2),
    }


def _render_toycar(p: dict, c: _Clip, fault: str | None, s: float) -> np.ndarray:
    rng = c.rng
    speed = 1.0 + c.jitter(0.01)
    if fault == "excessive_voltage":
        speed *= 1.0 + 0.25 * s
    f_motor = p["f_motor"] * speed * (1.0 + c.wander(0.03, period=(2.0, 5.0)))
    wheel_phase = c.control_phase(f_motor / p["wheel_ratio"])
    if fault == "shaft_damage":  # a bent axle: speed and level wobble once per wheel turn
        f_motor = f_motor * (1.0 + 0.04 * s * np.sin(2 * np.pi * wheel_phase))
    motor_phase = c.phase(f_motor)
    f_max = float(f_motor.max())
    body = 0.5 + 1.0 * _peak(np.arange(1, p["whine_amps"].size + 1) * p["f_motor"], p["body_hz"], 800.0)
    whine = _oscillator(motor_phase, p["whine_amps"] * body, rng, f0_max=f_max, sr=c.sr)
    mesh = _oscillator(motor_phase * p["teeth"], [1.0, 0.4], rng, f0_max=f_max * p["teeth"], sr=c.sr)
    if fault == "gear_damage":  # a chipped tooth modulates the mesh once per gear turn: sidebands
        mesh *= 1.0 + 0.9 * s * np.sin(2 * np.pi * motor_phase / p["gear_ratio"])
    # wheels, gears and body shake: broadband, strongest at 0.1-0.3 kHz, falling above 1-2 kHz
    roll = c.noise(
        lambda f: (
            np.sqrt(_peak(f, p["roll_hz"], 1.5 * p["roll_hz"]) ** 2 + 0.3 * _tilt(f, 1.0) ** 2)
            * _rolloff(f, p["roll_corner"], 1.0)
        )
    )
    roll *= c.up(1.0 + 0.3 * np.sin(2 * np.pi * wheel_phase))
    base = _mix((p["whine_db"] + c.jitter(1.0), whine), (p["mesh_db"] + c.jitter(1.0), mesh), (c.jitter(1.0), roll))
    if fault == "shaft_damage":
        base = _unit(base * c.up(1.0 + 0.5 * s * np.sin(2 * np.pi * wheel_phase)))
        turns = _periodic_times(rng, c.duration, f_motor / p["wheel_ratio"], jitter=0.01)
        knock = _pulses(c.n, c.sr, turns, 1.0, _ring(c.sr, p["knock_modes"], [0.01, 0.006], [1.0, 0.6]))
        base = _extra(base, knock, -32.0 + 30.0 * s)
    elif fault == "bearing_damage":
        impacts = _periodic_times(rng, c.duration, f_motor * p["bearing_ratio"], jitter=0.03)
        envelope = _decay_envelope(c.n, c.sr, impacts, rng.uniform(0.3, 1.0, impacts.size), 0.0015)
        band = c.noise(lambda f: _peak(f, p["bearing_hz"], 1500.0)) * (0.3 + envelope)
        base = _extra(base, band, -32.0 + 30.0 * s)
    elif fault == "gear_damage":
        turns = _periodic_times(rng, c.duration, f_motor / p["gear_ratio"], jitter=0.01)
        kernel = _ring(c.sr, p["chip_modes"], [0.003, 0.002], [1.0, 0.7])
        base = _extra(base, _pulses(c.n, c.sr, turns, rng.uniform(0.6, 1.0, turns.size), kernel), -31.0 + 30.0 * s)
    return base


def _sign_toyconveyor(rng: np.random.Generator) -> dict:
    n_rollers = int(rng.integers(2, 5))
    return {
        "f_motor": rng.uniform(80.0, 110.0),
        "hum_amps": _harmonics(24, rng.uniform(2.0, 3.5), rng),
        "teeth": int(rng.integers(10, 20)),
        "mesh_db": rng.uniform(-18.0, -12.0),
        "belt_period": rng.uniform(0.6, 1.6),
        "seam_hz": rng.uniform(100.0, 300.0),
        "seam_db": rng.uniform(-10.0, -4.0),
        "roller_rates": rng.uniform(2.0, 8.0, size=n_rollers),
        "roller_modes": rng.uniform(2000.0, 5000.0, size=n_rollers),
        "tick_db": rng.uniform(-24.0, -16.0),
        "friction_hz": rng.uniform(150.0, 400.0),
        "pulley_rate": rng.uniform(3.0, 7.0),
        "pulley_modes": rng.uniform(3000.0, 6000.0, size=2),
        "tear_hz": rng.uniform(1500.0, 4000.0),
    }


def _render_toyconveyor(p: dict, c: _Clip, fault: str | None, s: float) -> np.ndarray:
    rng = c.rng
    speed = 1.0 + c.jitter(0.01)
    if fault == "voltage_change":
        speed *= 1.0 + c.sign() * 0.22 * s
    f_motor = p["f_motor"] * speed * (1.0 + c.wander(0.004))
    motor_phase = c.phase(f_motor)
    f_max = float(f_motor.max())
    hum = _oscillator(motor_phase, p["hum_amps"], rng, f0_max=f_max, sr=c.sr)
    mesh = _oscillator(motor_phase * p["teeth"], [1.0, 0.5, 0.2], rng, f0_max=f_max * p["teeth"], sr=c.sr)
    belt_times = _periodic_times(rng, c.duration, speed / p["belt_period"], jitter=0.005)
    seam = _pulses(
        c.n, c.sr, belt_times, 1.0, _ring(c.sr, [p["seam_hz"], 2.7 * p["seam_hz"]], [0.03, 0.01], [1.0, 0.5])
    )
    ticks = np.zeros(c.n)
    for rate, mode in zip(p["roller_rates"], p["roller_modes"]):
        times = _periodic_times(rng, c.duration, rate * speed, jitter=0.01)
        kernel = _ring(c.sr, [mode, 1.6 * mode], [0.002, 0.0015], [1.0, 0.5])
        ticks += _pulses(c.n, c.sr, times, rng.uniform(0.7, 1.0, times.size), kernel)
    friction = c.noise(
        lambda f: (
            np.sqrt(_peak(f, p["friction_hz"], p["friction_hz"]) ** 2 + 0.3 * _tilt(f, 1.0) ** 2)
            * _rolloff(f, 1500.0, 1.5)
        )
    )
    if fault == "pulley_damage":  # an eccentric pulley modulates the drive load
        hum = hum * c.up(1.0 + 0.5 * s * np.sin(2 * np.pi * c.control_phase(p["pulley_rate"] * speed)))
    base = _mix(
        (c.jitter(1.0), hum),
        (p["mesh_db"] + c.jitter(1.0), mesh),
        (p["seam_db"] + c.jitter(1.0), seam),
        (p["tick_db"] + c.jitter(1.0), ticks),
        (c.jitter(1.0) - 3.0, friction),
    )
    if fault == "belt_damage":  # a tear slaps once per belt turn and scrapes
        tear = belt_times + rng.uniform(0.0, p["belt_period"])
        burst = c.noise(lambda f: _peak(f, p["tear_hz"], 2.0 * p["tear_hz"])) * _decay_envelope(
            c.n, c.sr, tear, 1.0, 0.02
        )
        scrape = c.noise(lambda f: _peak(f, 1.5 * p["tear_hz"], p["tear_hz"])) * (
            1.0 + np.sin(2 * np.pi * c.t * speed / p["belt_period"])
        )
        base = _extra(base, _unit(burst) + 0.5 * _unit(scrape), -32.0 + 30.0 * s)
    elif fault == "pulley_damage":
        times = _periodic_times(rng, c.duration, p["pulley_rate"] * speed, jitter=0.005)
        clank = _pulses(c.n, c.sr, times, 1.0, _ring(c.sr, p["pulley_modes"], [0.006, 0.004], [1.0, 0.7]))
        base = _extra(base, clank, -32.0 + 30.0 * s)
    return base
