"""Actuators: slider (linear slide rail) and solenoid valve (MIMII). A signature per machine ID, a renderer per type."""

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
    _poisson_times,
    _pulses,
    _ring,
    _rolloff,
    _unit,
)


def _sign_slider(rng: np.random.Generator) -> dict:
    return {
        "cycle": rng.uniform(0.9, 2.2),
        "moving": rng.uniform(0.7, 0.95),
        "drive_hz": rng.uniform(200.0, 600.0),
        "drive_amps": _harmonics(6, rng.uniform(3.0, 6.0), rng),
        "drive_db": rng.uniform(-3.0, 3.0),
        "whine_hz": rng.uniform(250.0, 700.0),
        "whine_amps": _harmonics(14, rng.uniform(2.0, 3.5), rng),
        "whine_db": rng.uniform(-6.0, 0.0),
        "friction_centre": rng.uniform(800.0, 3500.0),
        "friction_db": rng.uniform(-10.0, -4.0),
        "click_modes": rng.uniform(800.0, 4000.0, size=2),
        "click_decays": rng.uniform(0.01, 0.04, size=2),
        "click_db": rng.uniform(-18.0, -12.0),
        "end_ratio": rng.uniform(0.5, 1.0),
        "dent": rng.uniform(0.2, 0.8),
        "dent_modes": rng.uniform(3000.0, 6000.0, size=2),
        "squeal_hz": rng.uniform(1500.0, 4000.0),
        "slap_hz": rng.uniform(150.0, 400.0),
    }


def _strokes(c: _Clip, cycle: float, moving: float, jitter: float) -> tuple[np.ndarray, np.ndarray]:
    """Start times and move durations (s) of the back-and-forth strokes covering the clip."""
    half = 0.5 * cycle
    count = int(c.duration / half) + 3
    lengths = half * (1.0 + np.clip(c.rng.normal(0.0, jitter, count), -3 * jitter, 3 * jitter))
    starts = c.rng.uniform(-half, 0.0) + np.concatenate([[0.0], np.cumsum(lengths[:-1])])
    return starts, moving * lengths


def _stroke_index(starts: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(starts, t, side="right") - 1, 0, starts.size - 1)


def _render_slider(p: dict, c: _Clip, fault: str | None, s: float) -> np.ndarray:
    rng = c.rng
    jitter = 0.01 + (0.13 * s if fault == "loose_belt" else 0.0)
    starts, durations = _strokes(c, p["cycle"] * (1.0 + c.jitter(0.015)), p["moving"], jitter)
    k = _stroke_index(starts, c.ctrl_t)
    u = (c.ctrl_t - starts[k]) / durations[k]
    speed = np.where(u <= 1.0, np.sin(np.pi * np.clip(u, 0.0, 1.0)), 0.0)  # half-sine per stroke, (m,)
    whine_f = p["whine_hz"] * np.maximum(speed, 0.02)
    if fault == "loose_belt":  # the slipping belt makes the drive speed wobble
        whine_f = whine_f * (1.0 + 0.05 * s * np.sin(2 * np.pi * rng.uniform(6.0, 12.0) * c.ctrl_t))
    speed_n = c.up(speed)
    whine = _oscillator(c.phase(whine_f), p["whine_amps"], rng, f0_max=p["whine_hz"] * 1.06, sr=c.sr) * speed_n
    centre, friction_db = p["friction_centre"], p["friction_db"]
    if fault == "no_grease":
        centre, friction_db = centre * (1.0 + 0.7 * s), friction_db + 8.0 * s
    friction = c.noise(lambda f: _peak(f, centre, 0.8 * centre) * _rolloff(f, 7000.0)) * speed_n
    ends = starts + durations
    amps = np.where(np.arange(ends.size) % 2 == 0, 1.0, p["end_ratio"]) * _db(rng.normal(0.0, 1.0, ends.size))
    clicks = _pulses(c.n, c.sr, ends, amps, _ring(c.sr, p["click_modes"], p["click_decays"], [1.0, 0.6]))
    drive = c.tone(p["drive_hz"] * (1.0 + c.wander(0.002)), p["drive_amps"])  # servo amplifier: steady lines
    base = _mix(
        (p["drive_db"] + c.jitter(1.0), drive),
        (p["whine_db"] + c.jitter(1.0), whine),
        (friction_db + c.jitter(1.0), friction),
        (p["click_db"] + c.jitter(1.0), clicks),
    )
    if fault == "rail_damage":  # the carriage hits a dent at the same position on every stroke
        where = np.where(np.arange(starts.size) % 2 == 0, p["dent"], 1.0 - p["dent"])
        hits = starts + durations * np.arccos(1.0 - 2.0 * where) / np.pi
        impacts = _pulses(c.n, c.sr, hits, 1.0, _ring(c.sr, p["dent_modes"], [0.004, 0.003], [1.0, 0.8]))
        rattle = c.noise(lambda f: _peak(f, p["dent_modes"][0], 2000.0)) * _decay_envelope(c.n, c.sr, hits, 1.0, 0.03)
        base = _extra(base, _unit(impacts) + 0.5 * _unit(rattle), -28.0 + 30.0 * s)
    elif fault == "no_grease":  # stick-slip squeal on some strokes
        active = rng.uniform(size=starts.size) < 0.2 + 0.7 * s
        squeal = c.tone(p["squeal_hz"] * (1.0 + c.wander(0.02, period=(0.1, 0.5))), [1.0, 0.3, 0.1])
        base = _extra(base, squeal * c.up(speed * active[k]), -30.0 + 30.0 * s)
    elif fault == "loose_belt":  # belt slap at every reversal
        slap = _ring(c.sr, [p["slap_hz"], 2.3 * p["slap_hz"], 5.1 * p["slap_hz"]], [0.04, 0.02, 0.01], [1.0, 0.5, 0.3])
        base = _extra(base, _pulses(c.n, c.sr, ends, 1.0, slap), -30.0 + 30.0 * s)
    return base


def _sign_valve(rng: np.random.Generator) -> dict:
    return {
        "cycle": rng.uniform(0.7, 1.8),
        "open": rng.uniform(0.05, 0.3),
        "pilot": bool(rng.uniform() < 0.5),
        "pilot_at": rng.uniform(0.1, 0.25),
        "open_modes": rng.uniform(1500.0, 6500.0, size=3),
        "close_modes": rng.uniform(1500.0, 6500.0, size=3),
        "decays": rng.uniform(0.001, 0.004, size=3),
        "close_ratio": float(_db(rng.uniform(0.0, 6.0))),
        "hiss_hz": rng.uniform(2000.0, 6000.0),
        "hiss_db": rng.uniform(-26.0, -18.0),
        "buzz_db": rng.uniform(-40.0, -34.0),
        "line_hz": rng.uniform(300.0, 1200.0),
        "line_db": rng.uniform(0.0, 4.0),
    }


def _render_valve(p: dict, c: _Clip, fault: str | None, s: float) -> np.ndarray:
    rng = c.rng
    cycle = p["cycle"] * (1.0 + c.jitter(0.01))
    count = int(c.duration / cycle) + 2
    opens = rng.uniform(-cycle, 0.0) + cycle * np.arange(count) + rng.normal(0.0, 0.003, count)
    closes = opens + p["open"] * cycle + rng.normal(0.0, 0.003, count)
    close_amps, close_modes, decays = np.full(count, p["close_ratio"]), p["close_modes"], p["decays"]
    reopen = np.empty(0)
    if fault == "irregular_timing":  # a sticky valve: late, missed and repeated actuations
        spread = 0.14 * s * cycle
        opens = opens + np.abs(rng.normal(0.0, spread, count))
        closes = np.maximum(closes + rng.normal(0.0, spread, count), opens + 0.01)
        kept = rng.uniform(size=count) >= 0.35 * s
        opens, closes, close_amps = opens[kept], closes[kept], close_amps[kept]
        repeated = rng.uniform(size=opens.size) < 0.35 * s
        reopen = opens[repeated] + rng.uniform(0.03, 0.12, int(repeated.sum()))
    elif fault == "contamination":  # debris on the seat cushions and lowers the closing click
        close_modes, close_amps, decays = (
            close_modes * (1.0 - 0.3 * s),
            close_amps * (1.0 - 0.5 * s),
            decays * (1.0 + 0.5 * s),
        )
    open_kernel = _ring(c.sr, p["open_modes"], p["decays"], [1.0, 0.7, 0.5])
    close_kernel = _ring(c.sr, close_modes, decays, [1.0, 0.8, 0.4])
    clicks = _pulses(
        c.n,
        c.sr,
        np.concatenate([opens, reopen]),
        np.concatenate([_db(rng.normal(0.0, 1.0, opens.size)), np.full(reopen.size, 0.7)]),
        open_kernel,
    )
    clicks += _pulses(c.n, c.sr, closes, close_amps * _db(rng.normal(0.0, 1.0, closes.size)), close_kernel)
    if p["pilot"]:
        clicks += _pulses(c.n, c.sr, opens + p["pilot_at"] * p["open"] * cycle, 0.3, open_kernel)
    gate = c.gate(opens, closes)
    hiss = c.noise(lambda f: _peak(f, p["hiss_hz"], 0.6 * p["hiss_hz"])) * gate
    buzz = c.tone(100.0, _db([0.0, -4.0, -10.0, -14.0, -20.0])) * gate
    line = c.noise(
        lambda f: np.sqrt(_peak(f, p["line_hz"], 2.0 * p["line_hz"]) ** 2 + 0.05) * _rolloff(f, 7000.0)
    )  # supply line
    base = _mix(
        (0.0, clicks), (p["line_db"] + c.jitter(1.0), line), (p["hiss_db"] + c.jitter(1.0), hiss), (p["buzz_db"], buzz)
    )
    if fault == "contamination":  # the seat does not seal: flow noise while closed
        leak = c.noise(lambda f: _peak(f, 1.5 * p["hiss_hz"], 0.4 * p["hiss_hz"])) * (1.0 - gate)
        base = _extra(base, leak, -38.0 + 30.0 * s)
    elif fault == "irregular_timing":  # the armature sticks half-way and buzzes after closing
        stuck = c.tone(100.0, _db([0.0, -2.0, -4.0, -8.0, -10.0, -14.0])) * c.gate(
            closes, closes + rng.uniform(0.1, 0.4)
        )
        base = _extra(base, stuck, -28.0 + 30.0 * s)
    elif fault == "extra_clicks":  # debris chatter between actuations and a bouncing closure
        times = _poisson_times(rng, c.duration, 2.8 * s)
        debris = _ring(c.sr, p["open_modes"] * 1.35, p["decays"] * 0.6, [1.0, 0.8, 0.6])
        chatter = _pulses(c.n, c.sr, times, rng.uniform(0.5, 1.0, times.size), debris)
        bounces = np.concatenate([closes + d for d in (0.018, 0.035, 0.05)])
        chatter += _pulses(c.n, c.sr, bounces, np.repeat([0.5, 0.3, 0.15], closes.size), close_kernel)
        base = _extra(base, chatter, -30.0 + 30.0 * s)
    return base
