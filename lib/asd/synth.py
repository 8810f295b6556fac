"""A deterministic, physically motivated synthetic machine-sound dataset (DCASE 2020 Task 2 layout).

:func:`generate_dataset` writes the development-set layout of DCASE 2020 Task 2::

    <out>/<machine_type>/train/normal_id_XX_NNNNNNNN.wav
    <out>/<machine_type>/test/normal_id_XX_NNNNNNNN.wav
    <out>/<machine_type>/test/anomaly_id_XX_NNNNNNNN.wav
    <out>/dataset.json                                   (manifest, written last)

for the six machine types and their development machine IDs (:data:`asd.config.DEV_MACHINE_IDS`):
16 kHz, mono, 16-bit PCM, 10 s clips (ToyCar 11 s, as in ToyADMOS). ``NNNNNNNN`` is a running
index per (machine type, machine ID, split, label), as DCASE numbers its files.

Every clip is drawn from its own random generator, seeded by ``numpy.random.SeedSequence`` from
(seed, machine type, machine ID, split, label, index) (:func:`clip_rng`), so the files do not
depend on the order in which clips are made or on the number of worker processes: the same
seed gives byte-identical files (on the same platform and NumPy version). Each machine ID has its
own sound "signature" (rotation speed, number of blades, resonances, click timing, background
site, SNR, ...) drawn from (machine type, machine ID) alone, so it is the same machine for every
seed; the seed changes the recordings.

How a clip is made
------------------
``machine`` (its normal parts scaled to unit RMS) + the fault's components at a level relative
to it + ``background`` (unit RMS, scaled to the machine ID's SNR +- 1.5 dB), then a gentle
spectral tilt (+-2 dB per decade about 1 kHz, the recording chain) and one gain (the ID's level,
-38..-28 dBFS RMS, +- 2 dB). The gain is computed from the expected RMS of a *normal* clip, so a
fault adds the energy it adds, which is small next to these variations: faults change the
spectral shape and the temporal pattern (shifted or extra harmonics, new narrow-band components,
changed impulse rates, altered click timing) far more than the loudness. Peaks are kept below
0.95 full scale.

The background is a factory ambience per machine ID: brown plus pink noise with a room
resonance (0.15-0.6 kHz) and a roll-off (3-7 kHz), a distant machine's hum (40-120 Hz, six
harmonics, slowly swelling), and transient events, 0.1-0.3 per second: band-noise bursts
(0.2-1.5 s, centred 0.15-5 kHz; an air blow-off, a passing cart) and distant impacts, each -14 to
-2 dB relative to the ambience. The events make every normal clip's time-frequency image
different in detail.

Each anomalous clip has one fault with a severity ``s`` drawn uniformly from [0, 1]; the fault's
strength grows linearly with it from hard to hear (0) to obvious (1). The fault of the ``i``-th
anomalous test clip of ID ``XX`` is ``FAULTS[type][(i + int(XX)) % len(FAULTS[type])]``.

Machine and fault models
------------------------
Levels in dB are RMS over the clip relative to the normal machine sound (unit RMS); ``s`` is the
severity; ``sd`` a per-clip standard deviation. The SNR (machine to background, dB) is fixed per
machine ID, using MIMII's three values.

=========== ================ ================== ================================================================
type        IDs (SNR dB)     model              [what it mimics] what is synthesised; strength vs severity s
=========== ================ ================== ================================================================
fan         00 (-6)          normal             Rotation 14-24 Hz, 4/5/6/7/9 blades: 25 blade-pass harmonics
            02 (0)                              (0.8-1.6 dB/harmonic, ID-specific ripple) 0..+4 dB over the
            04 (+6)                             airflow; airflow noise (pink-ish + duct resonance 0.5-1.8 kHz
            06 (-6)                             that scales with speed) chopped at blade-pass (AM 0.1-0.3);
                                                motor hum at twice the line frequency. Per clip: speed sd 0.6 %,
                                                drift 0.2 %, component levels sd 1 dB.
                             imbalance          [mass imbalance / loose mounting (MIMII fan: unbalanced)] AM at
                                                rotation rate (depth 0.05+0.3s); rotation harmonics 1x-8x plus a
                                                panel knock once per turn (0.3-1.2 kHz modes); -9+12s dB
                             voltage_change     [supply voltage change] speed x(1 +- (0.06+0.10s)): every
                                                harmonic and the duct resonance move; airflow +-(1.5+2.5s) dB;
                                                6-16 % speed
                             clogging           [clogged filter / inlet] duct resonance x(1.15+0.5s) and
                                                narrower; whistle tone 1.2-3.6 kHz with slow wander; -14+14s dB
                             bearing_damage     [outer-race bearing defect] 2.5-6 kHz resonance rung by impacts
                                                at 3-5.2x rotation (2 % jitter); -14+14s dB

pump        00 (+6)          normal             Induction motor (2 or 4 poles, 50/60 Hz, 2-5 % slip); impeller
            02 (-6)                             vane-pass harmonics (5-8 vanes, 2-3 dB/harmonic) -2..+3 dB;
            04 (0)                              motor hum at twice the line frequency; fluid noise (brown + flow
            06 (+6)                             resonance 0.2-0.8 kHz + hiss 1-4 kHz) with turbulent AM (+-20
                                                %). Per clip: speed sd 0.3 %, flow level sd 1.5 dB, tones sd 1
                                                dB.
                             clogging           [clogged impeller / suction] more load: speed -(1+3s) %, vane-
                                                pass harmonics +(3+8s) dB, rotation-rate roughness (AM
                                                0.05+0.3s); +3..+11 dB tones
                             leakage            [leaking seal] fluctuating jet hiss, band 2-6 kHz (30 % wide);
                                                -20+16s dB
                             contamination      [particles in the fluid] crackle: Poisson impacts 15-60 /s on
                                                1.5-5 kHz modes; -20+16s dB

slider      00 (0)           normal             Back-and-forth strokes (cycle 0.9-2.2 s, moving 50-80 % of each
            02 (+6)                             stroke, half-sine speed): servo whine 250-700 Hz proportional to
            04 (-6)                             speed, friction noise (0.8-3.5 kHz) proportional to speed, end-
            06 (0)                              stop clicks (two damped modes 0.8-4 kHz) at each reversal. Per
                                                clip: cycle sd 1.5 %, stroke jitter 1 %, levels sd 1 dB.
                             rail_damage        [damaged rail] an impact (3-6 kHz modes) and rattle each time
                                                the carriage passes the dent (same position every stroke);
                                                -18+16s dB
                             no_grease          [lack of grease] friction +(2+6s) dB and x(1.2+0.5s) higher;
                                                stick-slip squeal 1.5-4 kHz on (40+50s) % of strokes; -20+16s dB
                             loose_belt         [loose timing belt] stroke timing jitter 1 % -> (4+10s) %; whine
                                                wobble (1+4s) % at 6-12 Hz; belt slap (0.15-0.4 kHz modes) at
                                                reversals; -16+12s dB

valve       00 (-6)          normal             Solenoid valve cycling every 1.2-3 s, open 25-60 % of the cycle:
            02 (0)                              opening and closing clicks (three damped modes 1-6 kHz, 3-15
            04 (+6)                             ms), half the IDs with a pilot click; flow hiss (1-5 kHz) and
            06 (-6)                             100 Hz solenoid buzz while open. Per clip: cycle sd 1 %, click
                                                timing sd 3 ms, click level sd 1 dB.
                             contamination      [debris on the seat (leak, cushioned closing)] leak hiss while
                                                closed; closing click lower (modes x(0.85-0.15s)), weaker
                                                x(1-0.5s), longer; -26+18s dB
                             irregular_timing   [sticky valve] late actuation (spread (2+12s) % of the cycle),
                                                (5+30s) % missed and (5+30s) % repeated actuations; armature
                                                buzz after closing; -10+12s dB
                             extra_clicks       [chattering / debris knocking] spurious clicks (0.3+2.5s per s,
                                                modes x1.35) and bounces after each closing; -12+12s dB

ToyCar      01 (0)           normal             Toy DC motor whine: 140-260 Hz rotation, 40 harmonics (0.5-1
            02 (-6)                             dB/harmonic, every 6th +6-12 dB for the commutator, body
            03 (+6)                             resonance 1.5-4 kHz), speed wandering +-3 % over 2-5 s; gear
            04 (0)                              mesh (8-12 teeth) -10..-4 dB; rolling noise (0.3-1 kHz) with AM
                                                at wheel rate. Per clip: speed sd 1 %, levels sd 1 dB. 11 s
                                                clips.
                             bearing_damage     [bearing damage] noise band 4.5-7.5 kHz pulsed at 2.5-4.2x motor
                                                rotation; -18+16s dB
                             shaft_damage       [bent shaft / axle] speed wobble (1+3s) % and AM (0.1+0.4s) once
                                                per wheel turn; a knock per wheel turn (0.5-1.5 kHz); -14+12s dB
                             gear_damage        [chipped gear tooth] gear-mesh AM (0.3+0.6s) once per gear turn
                                                (sidebands); a click per gear turn (2-5 kHz); -15+14s dB
                             excessive_voltage  [over-voltage] speed x(1.05+0.2s): all harmonics, mesh and rates
                                                move up; 5-25 % speed

ToyConveyor 01 (-6)          normal             Geared motor hum (40-90 Hz, 40 harmonics), gear-mesh whine
            02 (+6)                             (10-19 teeth) -12..-6 dB, belt-seam thump once per belt turn
            03 (0)                              (0.6-1.6 s, 0.1-0.3 kHz), 2-4 rollers ticking at 2-8 Hz (2-5 kHz
                                                modes), belt friction noise (0.5-2 kHz). Per clip: speed sd 1 %,
                                                levels sd 1 dB.
                             belt_damage        [torn belt] a slap (band noise burst 1.5-4 kHz) once per belt
                                                turn plus scraping noise; -14+12s dB
                             pulley_damage      [damaged / eccentric pulley] hum AM (0.1+0.4s) at the pulley
                                                rate (3-7 Hz) and a metallic clank (3-6 kHz) per pulley turn;
                                                -16+14s dB
                             voltage_change     [supply voltage change] speed x(1 +- (0.08+0.14s)): hum, mesh,
                                                belt and roller rates move together; 8-22 % speed
=========== ================ ================== ================================================================

The generator was calibrated with the detectors of the study in mind (see
``docs/synthetic_data.md``, which also reports how they score on it): results on these sounds are
evidence about these sounds, not about the real recordings.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import multiprocessing
import os
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .atomic import write_text_atomic
from .audio import write_clip
from .config import DEV_MACHINE_IDS, MACHINE_TYPES
from .errors import ConfigError, LayoutError

if TYPE_CHECKING:  # pandas is imported where a table is built: worker processes start faster
    import pandas as pd

logger = logging.getLogger(__name__)

#: Bumped whenever a change alters any generated sample; recorded in the manifest.
GENERATOR_VERSION = "1.1.0"
SAMPLE_RATE = 16000
#: Clip duration in seconds per machine type (ToyADMOS clips are 11 s, MIMII clips 10 s).
CLIP_SECONDS: dict[str, float] = {t: (11.0 if t == "ToyCar" else 10.0) for t in MACHINE_TYPES}
MANIFEST_NAME = "dataset.json"
_INCOMPLETE_NAME = ".asd-synth-incomplete"
TABLE_COLUMNS = ["path", "machine_type", "machine_id", "split", "label", "fault", "severity"]
#: Machine-to-background SNRs (dB) handed out to the machine IDs, as in MIMII's three versions.
SNR_LEVELS = (6.0, 0.0, -6.0)

#: Fault models per machine type (see the module docstring for what each one mimics).
FAULTS: dict[str, list[str]] = {
    "fan": ["imbalance", "voltage_change", "clogging", "bearing_damage"],
    "pump": ["clogging", "leakage", "contamination"],
    "slider": ["rail_damage", "no_grease", "loose_belt"],
    "valve": ["contamination", "irregular_timing", "extra_clicks"],
    "ToyCar": ["bearing_damage", "shaft_damage", "gear_damage", "excessive_voltage"],
    "ToyConveyor": ["belt_damage", "pulley_damage", "voltage_change"],
}


@dataclass(frozen=True)
class SizeSpec:
    """Clips per machine ID: normal training clips, normal and anomalous test clips."""

    train_normal: int
    test_normal: int
    test_anomaly: int

    @property
    def per_id(self) -> int:
        return self.train_normal + self.test_normal + self.test_anomaly


#: Dataset sizes. ``tiny`` (230 clips) is for tests; ``default`` (2,070 clips, 23 machine IDs)
#: is the study's.
SIZES: dict[str, SizeSpec] = {
    "tiny": SizeSpec(train_normal=6, test_normal=2, test_anomaly=2),
    "default": SizeSpec(train_normal=50, test_normal=20, test_anomaly=20),
}


# ---------------------------------------------------------------------------------------------
# Seeding
# ---------------------------------------------------------------------------------------------
def _stable_int(text: str) -> int:
    """A 32-bit integer from a string, the same in every process and Python version."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "little")


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


# ---------------------------------------------------------------------------------------------
# Signal building blocks (float64, noise float32; a clip has ``n`` samples at ``sr`` Hz)
# ---------------------------------------------------------------------------------------------
#: Rate (Hz) of the control signals: speeds, frequencies and slow envelopes are computed on this
#: grid and interpolated to the audio rate, which is much cheaper than computing them per sample.
CONTROL_RATE = 1000


def _db(level_db):
    """Amplitude factor of a level in dB."""
    return 10.0 ** (np.asarray(level_db, dtype=np.float64) / 20.0)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def _unit(x: np.ndarray) -> np.ndarray:
    """``x`` scaled to unit RMS (unchanged if silent)."""
    r = _rms(x)
    return x / r if r > 0 else x


def _readonly(values: np.ndarray) -> np.ndarray:
    values.flags.writeable = False
    return values


@lru_cache(maxsize=8)
def _freqs(n: int, sr: int) -> np.ndarray:
    """rFFT bin frequencies (Hz) of ``n`` samples, shape ``(n // 2 + 1,)``; cached, read-only."""
    return _readonly(np.fft.rfftfreq(n, 1.0 / sr))


@lru_cache(maxsize=8)
def _times(n: int, sr: int) -> np.ndarray:
    """Sample times (s), shape ``(n,)``; cached, read-only."""
    return _readonly(np.arange(n) / sr)


@lru_cache(maxsize=8)
def _control_positions(n: int, sr: int) -> np.ndarray:
    """Fractional control-grid index of every sample, shape ``(n,)``; cached, read-only."""
    return _readonly(np.arange(n) * (CONTROL_RATE / sr))


def _lookup(values: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``values`` at fractional indices ``position`` in [0, len - 1]."""
    index = np.minimum(position.astype(np.int64), values.size - 2)
    frac = position - index
    left = values[index]
    return left + frac * (values[index + 1] - left)


def _tilt(f: np.ndarray, exponent: float, f_ref: float = 100.0) -> np.ndarray:
    """Amplitude response of a power spectrum falling as ``f**-exponent`` (1: pink, 2: brown)."""
    ratio = np.maximum(f, 20.0) / f_ref
    if exponent == 2.0:
        return 1.0 / ratio
    if exponent == 1.0:
        return 1.0 / np.sqrt(ratio)
    return ratio ** (-exponent / 2.0)


def _peak(f: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Amplitude response of a resonance (Lorentzian power) at ``centre`` Hz, -3 dB ``width`` Hz."""
    return 1.0 / np.sqrt(1.0 + ((f - centre) / (0.5 * width)) ** 2)


def _rolloff(f: np.ndarray, corner: float, order: float = 2.0) -> np.ndarray:
    """Amplitude response of a gentle low-pass with the given corner (Hz)."""
    return 1.0 / np.sqrt(1.0 + (f / corner) ** (2 * order))


def _noise(rng: np.random.Generator, n: int, sr: int, shape: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Gaussian noise with amplitude spectrum ``shape(f)`` (f in Hz), unit RMS, shape ``(n,)``.

    Single precision (float32) throughout: plenty for 16-bit output, and twice as fast.
    """
    f = _freqs(n, sr) if n >= 16384 else np.fft.rfftfreq(n, 1.0 / sr)
    white = rng.standard_normal((2, f.size), dtype=np.float32)
    spectrum = np.empty(f.size, dtype=np.complex64)
    spectrum.real, spectrum.imag = white
    spectrum *= shape(f).astype(np.float32)
    spectrum[0] = 0.0
    return _unit(np.fft.irfft(spectrum, n))


_TABLE_SIZE = 4096


def _oscillator(phase: np.ndarray, amps, rng: np.random.Generator, *, f0_max: float, sr: int) -> np.ndarray:
    """Harmonic tone ``sum_k amps[k-1] sin(2 pi k phase + phi_k)`` with random phases, shape ``(n,)``.

    ``phase`` is in cycles of the fundamental. Harmonics at or above 0.48 ``sr`` for the highest
    fundamental ``f0_max`` (Hz) are dropped, so nothing aliases. A one-period wavetable is built
    with an inverse FFT and read with linear interpolation.
    """
    amps = np.asarray(amps, dtype=np.float64)[: _TABLE_SIZE // 2 - 1]
    k = np.arange(1, amps.size + 1)
    phis = rng.uniform(0.0, 2 * np.pi, size=amps.size)
    amps = np.where(k * f0_max < 0.48 * sr, amps, 0.0)
    spectrum = np.zeros(_TABLE_SIZE // 2 + 1, dtype=np.complex128)
    spectrum[1 : amps.size + 1] = 0.5 * _TABLE_SIZE * amps * np.exp(1j * (phis - np.pi / 2))
    table = np.fft.irfft(spectrum, _TABLE_SIZE)
    steps = np.diff(np.append(table, table[0]))
    position = phase - np.floor(phase)
    position *= _TABLE_SIZE
    index = position.astype(np.intp)
    position -= index  # now the fraction between table entries
    out = table[index]
    out += position * steps[index]
    return out


def _harmonics(n_harmonics: int, tilt_db: float, rng: np.random.Generator, *, ripple_db: float = 3.0) -> np.ndarray:
    """Harmonic amplitudes falling ``tilt_db`` per harmonic with random ``ripple_db`` (the ID's colour)."""
    return _db(-tilt_db * np.arange(n_harmonics) + rng.normal(0.0, ripple_db, n_harmonics))


def _ring(sr: int, freqs, decays, amps) -> np.ndarray:
    """Impulse response of damped modes (Hz; decay time constants in s), peak 1, shape ``(L,)``."""
    freqs, decays, amps = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (freqs, decays, amps))
    t = np.arange(max(int(5.0 * decays.max() * sr), 2)) / sr
    keep = freqs < 0.48 * sr
    kernel = (amps[keep, None] * np.exp(-t / decays[keep, None]) * np.sin(2 * np.pi * freqs[keep, None] * t)).sum(0)
    peak = np.abs(kernel).max() if kernel.size else 0.0
    return kernel / peak if peak > 0 else kernel


def _pulses(n: int, sr: int, times, amps, kernel: np.ndarray) -> np.ndarray:
    """``kernel`` added at each time (s) with its amplitude, shape ``(n,)``; times outside are dropped."""
    times = np.asarray(times, dtype=np.float64)
    amps = np.broadcast_to(np.asarray(amps, dtype=np.float64), times.shape)
    index = np.round(times * sr).astype(np.int64)
    inside = (index >= 0) & (index < n)
    index, amps = index[inside], amps[inside]
    out = np.zeros(n)
    if index.size <= 48:  # few events: add the kernel in place
        for i, a in zip(index, amps):
            end = min(n, i + kernel.size)
            out[i:end] += a * kernel[: end - i]
        return out
    np.add.at(out, index, amps)
    size = -(-(n + kernel.size - 1) // 4096) * 4096  # a multiple of 4096: a fast FFT length
    return np.fft.irfft(np.fft.rfft(out, size) * np.fft.rfft(kernel, size), size)[:n]


def _decay_envelope(n: int, sr: int, times, amps, decay: float) -> np.ndarray:
    """Sum of exponential decays (time constant ``decay`` s) starting at ``times``, shape ``(n,)``."""
    kernel = np.exp(-np.arange(int(5 * decay * sr) + 1) / (decay * sr))
    return _pulses(n, sr, times, amps, kernel)


def _periodic_times(rng: np.random.Generator, duration: float, rate, *, jitter: float = 0.0) -> np.ndarray:
    """Event times (s) at the mean of ``rate`` (Hz), random start, relative timing ``jitter``."""
    period = 1.0 / float(np.mean(rate))
    count = int(duration / period) + 2
    times = rng.uniform(-period, 0.0) + period * np.arange(count)
    if jitter > 0:
        times = times + rng.normal(0.0, jitter * period, count)
    return times[(times >= 0.0) & (times < duration)]


def _poisson_times(rng: np.random.Generator, duration: float, rate: float) -> np.ndarray:
    """Sorted event times (s) of a Poisson process with ``rate`` events per second."""
    return np.sort(rng.uniform(0.0, duration, rng.poisson(rate * duration)))


@dataclass
class _Clip:
    """What a renderer needs: the clip's generator, its length (samples) and rate (Hz).

    Control signals (``c.wander``, frequencies passed to ``c.phase``) live on a grid of
    ``CONTROL_RATE`` Hz, shape ``(c.m,)``; ``c.up`` interpolates them to the audio rate.
    """

    rng: np.random.Generator
    n: int
    sr: int

    @property
    def duration(self) -> float:
        return self.n / self.sr

    @property
    def m(self) -> int:
        return int(np.ceil((self.n - 1) * CONTROL_RATE / self.sr)) + 2

    @property
    def ctrl_t(self) -> np.ndarray:
        return np.arange(self.m) / CONTROL_RATE

    @property
    def t(self) -> np.ndarray:
        return _times(self.n, self.sr)

    def up(self, control: np.ndarray) -> np.ndarray:
        """A control signal, shape ``(m,)``, linearly interpolated to the audio rate, shape ``(n,)``."""
        control = np.asarray(control, dtype=np.float64)
        if self.sr % CONTROL_RATE:
            return _lookup(control, _control_positions(self.n, self.sr))
        weights = np.arange(self.sr // CONTROL_RATE) / (self.sr // CONTROL_RATE)
        return (control[:-1, None] + np.diff(control)[:, None] * weights).ravel()[: self.n]

    def control_phase(self, freq) -> np.ndarray:
        """Running phase (cycles) on the control grid of a frequency (Hz, scalar or ``(m,)``)."""
        freq = np.broadcast_to(np.asarray(freq, dtype=np.float64), (self.m,))
        steps = 0.5 * (freq[1:] + freq[:-1]) / CONTROL_RATE
        return self.rng.uniform() + np.concatenate([[0.0], np.cumsum(steps)])

    def phase(self, freq) -> np.ndarray:
        """Running phase (cycles) at the audio rate, shape ``(n,)``, random start."""
        if np.ndim(freq) == 0:
            return self.rng.uniform() + float(freq) * self.t
        return self.up(self.control_phase(freq))

    def tone(self, freq, amps) -> np.ndarray:
        """Harmonic tone with fundamental ``freq`` (Hz, scalar or control signal), shape ``(n,)``."""
        return _oscillator(self.phase(freq), amps, self.rng, f0_max=float(np.max(freq)), sr=self.sr)

    def noise(self, shape) -> np.ndarray:
        return _noise(self.rng, self.n, self.sr, shape)

    def wander(self, depth: float, period=(1.5, 6.0)) -> np.ndarray:
        """Smooth random control signal in [-depth, depth], shape ``(m,)`` (three slow sinusoids)."""
        periods = self.rng.uniform(*period, size=3)
        phases = self.rng.uniform(0.0, 2 * np.pi, size=3)
        t = self.ctrl_t
        return depth * sum(np.sin(2 * np.pi * t / p + ph) for p, ph in zip(periods, phases)) / 3.0

    def gate(self, starts, ends, *, ramp: float = 0.02) -> np.ndarray:
        """0/1 envelope, shape ``(n,)``: 1 between each start and end (s), linear ramps of ``ramp`` s."""
        t = self.ctrl_t
        coarse = np.zeros(self.m)
        for a, b in zip(starts, ends):
            coarse = np.maximum(coarse, np.clip(np.minimum(t - a, b - t) / ramp + 0.5, 0.0, 1.0))
        return self.up(coarse)

    def jitter(self, sd: float, limit: float = 2.5) -> float:
        """A per-clip deviation: normal(0, sd) clipped to +- ``limit`` sd."""
        return float(np.clip(self.rng.normal(0.0, sd), -limit * sd, limit * sd))

    def sign(self) -> float:
        return float(self.rng.choice([-1.0, 1.0]))


def _mix(*parts: tuple[float, np.ndarray]) -> np.ndarray:
    """Sum of unit-RMS parts at the given levels (dB), scaled to unit RMS."""
    return _unit(sum(float(_db(level)) * _unit(part) for level, part in parts))


def _extra(base: np.ndarray, component: np.ndarray, level_db: float) -> np.ndarray:
    """Add ``component`` at ``level_db`` (RMS) relative to the unit-RMS ``base``."""
    return base + _unit(component) * float(_db(level_db))


# ---------------------------------------------------------------------------------------------
# Machine models: a signature per machine ID and a renderer per machine type.
# A renderer returns the machine sound with the normal parts at unit RMS and the fault's own
# components added at their level on top (``_extra``); ``s`` is the severity in [0, 1].
# ---------------------------------------------------------------------------------------------
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
        speed *= 1.0 + direction * (0.06 + 0.10 * s)
        air_db += direction * (1.5 + 2.5 * s)  # airflow power grows steeply with blade speed
    f_rot = p["f_rot"] * speed * (1.0 + c.wander(0.002))
    rot_phase = c.phase(f_rot)
    bpf_phase = rot_phase * p["blades"]
    tones = _oscillator(bpf_phase, p["bpf_amps"], rng, f0_max=float(f_rot.max()) * p["blades"], sr=c.sr)
    hum = c.tone(2.0 * p["line_hz"], _db([0.0, -8.0, -14.0]))
    centre = p["air_centre"] * speed  # the airflow spectrum scales with blade speed
    width = p["air_width"] * centre
    if fault == "clogging":
        centre, width = centre * (1.15 + 0.5 * s), width * (1.0 - 0.5 * s)
    air = c.noise(lambda f: np.sqrt(0.3 * _tilt(f, p["air_slope"]) ** 2 + _peak(f, centre, width) ** 2) * _rolloff(f, 6000.0))
    air *= 1.0 + p["am_depth"] * np.sin(2 * np.pi * bpf_phase)  # blades chop the airflow
    base = _mix((air_db, air), (p["tone_db"] + c.jitter(1.0), tones), (p["hum_db"], hum))
    if fault == "imbalance":
        base = _unit(base * (1.0 + (0.05 + 0.3 * s) * np.sin(2 * np.pi * rot_phase)))
        shaking = _oscillator(rot_phase, p["loose_amps"], rng, f0_max=float(f_rot.max()), sr=c.sr)
        turns = _periodic_times(rng, c.duration, f_rot, jitter=0.01)  # a loose panel knocks once per turn
        rattle = _pulses(c.n, c.sr, turns, rng.uniform(0.5, 1.0, turns.size), _ring(c.sr, p["panel_modes"], [0.02, 0.012], [1.0, 0.7]))
        base = _extra(base, _unit(shaking) + _unit(rattle), -9.0 + 12.0 * s)
    elif fault == "clogging":
        whistle = c.tone(p["whistle_hz"] * (1.0 + c.wander(0.01, period=(0.5, 2.0))), [1.0, 0.2])
        base = _extra(base, whistle, -14.0 + 14.0 * s)
    elif fault == "bearing_damage":
        impacts = _periodic_times(rng, c.duration, f_rot * p["bearing_ratio"], jitter=0.02)
        envelope = _decay_envelope(c.n, c.sr, impacts, rng.uniform(0.5, 1.0, impacts.size), 0.002)
        ringing = c.noise(lambda f: _peak(f, p["bearing_hz"], 0.25 * p["bearing_hz"])) * envelope
        base = _extra(base, ringing, -14.0 + 14.0 * s)
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
        "tone_db": rng.uniform(-2.0, 3.0),
        "hum_db": rng.uniform(-10.0, -4.0),
        "flow_centre": rng.uniform(200.0, 800.0),
        "flow_width": rng.uniform(0.8, 1.5),
        "flow_hiss_db": rng.uniform(-22.0, -14.0),
        "flow_hiss_hz": rng.uniform(1000.0, 4000.0),
        "leak_hz": rng.uniform(2000.0, 6000.0),
        "crackle_modes": rng.uniform(1500.0, 5000.0, size=3),
    }


def _render_pump(p: dict, c: _Clip, fault: str | None, s: float) -> np.ndarray:
    rng = c.rng
    speed, vane_boost, roughness = 1.0 + c.jitter(0.003), 0.0, 0.0
    if fault == "clogging":  # more load: more slip, stronger and rougher vane-pass pulsation
        speed *= 1.0 - (0.01 + 0.03 * s)
        vane_boost, roughness = 3.0 + 8.0 * s, 0.05 + 0.3 * s
    f_rot = p["f_rot"] * speed * (1.0 + c.wander(0.001))
    rot_phase = c.phase(f_rot)
    vane = _oscillator(rot_phase * p["vanes"], p["vane_amps"], rng, f0_max=float(f_rot.max()) * p["vanes"], sr=c.sr)
    hum = c.tone(2.0 * p["line_hz"], p["hum_amps"])
    hiss = float(_db(p["flow_hiss_db"]))
    flow = c.noise(lambda f: np.sqrt(
        0.5 * _tilt(f, 2.0) ** 2
        + _peak(f, p["flow_centre"], p["flow_width"] * p["flow_centre"]) ** 2
        + hiss**2 * _peak(f, p["flow_hiss_hz"], p["flow_hiss_hz"]) ** 2
    ))
    flow *= c.up(1.0 + c.wander(0.2, period=(0.3, 2.0)))  # turbulence
    base = _mix((c.jitter(1.5), flow), (p["tone_db"] + vane_boost + c.jitter(1.0), vane), (p["hum_db"] + c.jitter(1.0), hum))
    if roughness:
        base = _unit(base * (1.0 + roughness * np.sin(2 * np.pi * rot_phase)))
    if fault == "leakage":
        jet = c.noise(lambda f: _peak(f, p["leak_hz"], 0.3 * p["leak_hz"])) * c.up(1.0 + c.wander(0.15, period=(0.2, 1.0)))
        base = _extra(base, jet, -20.0 + 16.0 * s)
    elif fault == "contamination":
        times = _poisson_times(rng, c.duration, rng.uniform(15.0, 60.0))
        kernel = _ring(c.sr, p["crackle_modes"], [0.002, 0.0015, 0.001], [1.0, 0.7, 0.5])
        amps = rng.lognormal(0.0, 0.6, times.size) * rng.choice([-1.0, 1.0], times.size)
        base = _extra(base, _pulses(c.n, c.sr, times, amps, kernel), -20.0 + 16.0 * s)
    return base


def _sign_slider(rng: np.random.Generator) -> dict:
    return {
        "cycle": rng.uniform(0.9, 2.2),
        "moving": rng.uniform(0.5, 0.8),
        "whine_hz": rng.uniform(250.0, 700.0),
        "whine_amps": _harmonics(14, rng.uniform(2.0, 3.5), rng),
        "whine_db": rng.uniform(-6.0, 0.0),
        "friction_centre": rng.uniform(800.0, 3500.0),
        "friction_db": rng.uniform(-4.0, 2.0),
        "click_modes": rng.uniform(800.0, 4000.0, size=2),
        "click_decays": rng.uniform(0.01, 0.04, size=2),
        "click_db": rng.uniform(-6.0, 0.0),
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
    jitter = 0.01 + (0.03 + 0.10 * s if fault == "loose_belt" else 0.0)
    starts, durations = _strokes(c, p["cycle"] * (1.0 + c.jitter(0.015)), p["moving"], jitter)
    k = _stroke_index(starts, c.ctrl_t)
    u = (c.ctrl_t - starts[k]) / durations[k]
    speed = np.where(u <= 1.0, np.sin(np.pi * np.clip(u, 0.0, 1.0)), 0.0)  # half-sine per stroke, (m,)
    whine_f = p["whine_hz"] * np.maximum(speed, 0.02)
    if fault == "loose_belt":  # the slipping belt makes the drive speed wobble
        whine_f = whine_f * (1.0 + (0.01 + 0.04 * s) * np.sin(2 * np.pi * rng.uniform(6.0, 12.0) * c.ctrl_t))
    speed_n = c.up(speed)
    whine = _oscillator(c.phase(whine_f), p["whine_amps"], rng, f0_max=p["whine_hz"] * 1.06, sr=c.sr) * speed_n
    centre, friction_db = p["friction_centre"], p["friction_db"]
    if fault == "no_grease":
        centre, friction_db = centre * (1.2 + 0.5 * s), friction_db + 2.0 + 6.0 * s
    friction = c.noise(lambda f: _peak(f, centre, 0.8 * centre) * _rolloff(f, 7000.0)) * speed_n
    ends = starts + durations
    amps = np.where(np.arange(ends.size) % 2 == 0, 1.0, p["end_ratio"]) * _db(rng.normal(0.0, 1.0, ends.size))
    clicks = _pulses(c.n, c.sr, ends, amps, _ring(c.sr, p["click_modes"], p["click_decays"], [1.0, 0.6]))
    base = _mix(
        (p["whine_db"] + c.jitter(1.0), whine),
        (friction_db + c.jitter(1.0), friction),
        (p["click_db"] + c.jitter(1.0), clicks),
    )
    if fault == "rail_damage":  # the carriage hits a dent at the same position on every stroke
        where = np.where(np.arange(starts.size) % 2 == 0, p["dent"], 1.0 - p["dent"])
        hits = starts + durations * np.arccos(1.0 - 2.0 * where) / np.pi
        impacts = _pulses(c.n, c.sr, hits, 1.0, _ring(c.sr, p["dent_modes"], [0.004, 0.003], [1.0, 0.8]))
        rattle = c.noise(lambda f: _peak(f, p["dent_modes"][0], 2000.0)) * _decay_envelope(c.n, c.sr, hits, 1.0, 0.03)
        base = _extra(base, _unit(impacts) + 0.5 * _unit(rattle), -18.0 + 16.0 * s)
    elif fault == "no_grease":  # stick-slip squeal on some strokes
        active = rng.uniform(size=starts.size) < 0.4 + 0.5 * s
        squeal = c.tone(p["squeal_hz"] * (1.0 + c.wander(0.02, period=(0.1, 0.5))), [1.0, 0.3, 0.1])
        base = _extra(base, squeal * c.up(speed * active[k]), -20.0 + 16.0 * s)
    elif fault == "loose_belt":  # belt slap at every reversal
        slap = _ring(c.sr, [p["slap_hz"], 2.3 * p["slap_hz"], 5.1 * p["slap_hz"]], [0.04, 0.02, 0.01], [1.0, 0.5, 0.3])
        base = _extra(base, _pulses(c.n, c.sr, ends, 1.0, slap), -16.0 + 12.0 * s)
    return base


def _sign_valve(rng: np.random.Generator) -> dict:
    return {
        "cycle": rng.uniform(1.2, 3.0),
        "open": rng.uniform(0.25, 0.6),
        "pilot": bool(rng.uniform() < 0.5),
        "pilot_at": rng.uniform(0.1, 0.25),
        "open_modes": rng.uniform(1000.0, 6000.0, size=3),
        "close_modes": rng.uniform(1000.0, 6000.0, size=3),
        "decays": rng.uniform(0.003, 0.015, size=3),
        "close_ratio": float(_db(rng.uniform(0.0, 6.0))),
        "hiss_hz": rng.uniform(1000.0, 5000.0),
        "hiss_db": rng.uniform(-16.0, -8.0),
        "buzz_db": rng.uniform(-28.0, -20.0),
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
        spread = (0.02 + 0.12 * s) * cycle
        opens = opens + np.abs(rng.normal(0.0, spread, count))
        closes = np.maximum(closes + rng.normal(0.0, spread, count), opens + 0.05)
        kept = rng.uniform(size=count) >= 0.05 + 0.3 * s
        opens, closes, close_amps = opens[kept], closes[kept], close_amps[kept]
        repeated = rng.uniform(size=opens.size) < 0.05 + 0.3 * s
        reopen = opens[repeated] + rng.uniform(0.03, 0.12, int(repeated.sum()))
    elif fault == "contamination":  # debris on the seat cushions and lowers the closing click
        close_modes, close_amps, decays = close_modes * (0.85 - 0.15 * s), close_amps * (1.0 - 0.5 * s), decays * (1.0 + 0.5 * s)
    open_kernel = _ring(c.sr, p["open_modes"], p["decays"], [1.0, 0.7, 0.5])
    close_kernel = _ring(c.sr, close_modes, decays, [1.0, 0.8, 0.4])
    clicks = _pulses(c.n, c.sr, np.concatenate([opens, reopen]),
                     np.concatenate([_db(rng.normal(0.0, 1.0, opens.size)), np.full(reopen.size, 0.7)]), open_kernel)
    clicks += _pulses(c.n, c.sr, closes, close_amps * _db(rng.normal(0.0, 1.0, closes.size)), close_kernel)
    if p["pilot"]:
        clicks += _pulses(c.n, c.sr, opens + p["pilot_at"] * p["open"] * cycle, 0.3, open_kernel)
    gate = c.gate(opens, closes)
    hiss = c.noise(lambda f: _peak(f, p["hiss_hz"], 0.6 * p["hiss_hz"])) * gate
    buzz = c.tone(100.0, _db([0.0, -4.0, -10.0, -14.0, -20.0])) * gate
    base = _mix((0.0, clicks), (p["hiss_db"] + c.jitter(1.0), hiss), (p["buzz_db"], buzz))
    if fault == "contamination":  # the seat does not seal: flow noise while closed
        leak = c.noise(lambda f: _peak(f, 1.5 * p["hiss_hz"], 0.4 * p["hiss_hz"])) * (1.0 - gate)
        base = _extra(base, leak, -26.0 + 18.0 * s)
    elif fault == "irregular_timing":  # the armature sticks half-way and buzzes after closing
        stuck = c.tone(100.0, _db([0.0, -2.0, -4.0, -8.0, -10.0, -14.0])) * c.gate(closes, closes + rng.uniform(0.1, 0.4))
        base = _extra(base, stuck, -10.0 + 12.0 * s)
    elif fault == "extra_clicks":  # debris chatter between actuations and a bouncing closure
        times = _poisson_times(rng, c.duration, 0.3 + 2.5 * s)
        debris = _ring(c.sr, p["open_modes"] * 1.35, p["decays"] * 0.6, [1.0, 0.8, 0.6])
        chatter = _pulses(c.n, c.sr, times, rng.uniform(0.5, 1.0, times.size), debris)
        bounces = np.concatenate([closes + d for d in (0.018, 0.035, 0.05)])
        chatter += _pulses(c.n, c.sr, bounces, np.repeat([0.5, 0.3, 0.15], closes.size), close_kernel)
        base = _extra(base, chatter, -12.0 + 12.0 * s)
    return base


def _sign_toycar(rng: np.random.Generator) -> dict:
    n_harmonics, segments = 40, 3
    k = np.arange(1, n_harmonics + 1)
    commutator = np.where(k % (2 * segments) == 0, rng.uniform(6.0, 12.0), 0.0)
    return {
        "f_motor": rng.uniform(140.0, 260.0),
        "whine_amps": _harmonics(n_harmonics, rng.uniform(0.5, 1.0), rng, ripple_db=4.0) * _db(commutator),
        "body_hz": rng.uniform(1500.0, 4000.0),
        "teeth": int(rng.integers(8, 13)),
        "gear_ratio": rng.uniform(3.0, 5.0),
        "wheel_ratio": rng.uniform(20.0, 40.0),
        "mesh_db": rng.uniform(-10.0, -4.0),
        "roll_hz": rng.uniform(300.0, 1000.0),
        "roll_db": rng.uniform(-6.0, -2.0),
        "knock_modes": rng.uniform(500.0, 1500.0, size=2),
        "bearing_hz": rng.uniform(4500.0, 7500.0),
        "bearing_ratio": rng.uniform(2.5, 4.2),
        "chip_modes": rng.uniform(2000.0, 5000.0, size=2),
    }


def _render_toycar(p: dict, c: _Clip, fault: str | None, s: float) -> np.ndarray:
    rng = c.rng
    speed = 1.0 + c.jitter(0.01)
    if fault == "excessive_voltage":
        speed *= 1.05 + 0.2 * s
    f_motor = p["f_motor"] * speed * (1.0 + c.wander(0.03, period=(2.0, 5.0)))
    wheel_phase = c.control_phase(f_motor / p["wheel_ratio"])
    if fault == "shaft_damage":  # a bent axle: speed and level wobble once per wheel turn
        f_motor = f_motor * (1.0 + (0.01 + 0.03 * s) * np.sin(2 * np.pi * wheel_phase))
    motor_phase = c.phase(f_motor)
    f_max = float(f_motor.max())
    body = 0.5 + 2.0 * _peak(np.arange(1, p["whine_amps"].size + 1) * p["f_motor"], p["body_hz"], 2000.0)
    whine = _oscillator(motor_phase, p["whine_amps"] * body, rng, f0_max=f_max, sr=c.sr)
    mesh = _oscillator(motor_phase * p["teeth"], [1.0, 0.4], rng, f0_max=f_max * p["teeth"], sr=c.sr)
    if fault == "gear_damage":  # a chipped tooth modulates the mesh once per gear turn: sidebands
        mesh *= 1.0 + (0.3 + 0.6 * s) * np.sin(2 * np.pi * motor_phase / p["gear_ratio"])
    roll = c.noise(lambda f: np.sqrt(_peak(f, p["roll_hz"], p["roll_hz"]) ** 2 + 0.2 * _tilt(f, 1.0) ** 2))
    roll *= c.up(1.0 + 0.3 * np.sin(2 * np.pi * wheel_phase))
    base = _mix((c.jitter(1.0), whine), (p["mesh_db"] + c.jitter(1.0), mesh), (p["roll_db"] + c.jitter(1.0), roll))
    if fault == "shaft_damage":
        base = _unit(base * c.up(1.0 + (0.1 + 0.4 * s) * np.sin(2 * np.pi * wheel_phase)))
        turns = _periodic_times(rng, c.duration, f_motor / p["wheel_ratio"], jitter=0.01)
        knock = _pulses(c.n, c.sr, turns, 1.0, _ring(c.sr, p["knock_modes"], [0.01, 0.006], [1.0, 0.6]))
        base = _extra(base, knock, -14.0 + 12.0 * s)
    elif fault == "bearing_damage":
        impacts = _periodic_times(rng, c.duration, f_motor * p["bearing_ratio"], jitter=0.03)
        envelope = _decay_envelope(c.n, c.sr, impacts, rng.uniform(0.3, 1.0, impacts.size), 0.0015)
        band = c.noise(lambda f: _peak(f, p["bearing_hz"], 1500.0)) * (0.3 + envelope)
        base = _extra(base, band, -18.0 + 16.0 * s)
    elif fault == "gear_damage":
        turns = _periodic_times(rng, c.duration, f_motor / p["gear_ratio"], jitter=0.01)
        kernel = _ring(c.sr, p["chip_modes"], [0.003, 0.002], [1.0, 0.7])
        base = _extra(base, _pulses(c.n, c.sr, turns, rng.uniform(0.6, 1.0, turns.size), kernel), -15.0 + 14.0 * s)
    return base


def _sign_toyconveyor(rng: np.random.Generator) -> dict:
    n_rollers = int(rng.integers(2, 5))
    return {
        "f_motor": rng.uniform(40.0, 90.0),
        "hum_amps": _harmonics(40, rng.uniform(0.8, 1.5), rng),
        "teeth": int(rng.integers(10, 20)),
        "mesh_db": rng.uniform(-12.0, -6.0),
        "belt_period": rng.uniform(0.6, 1.6),
        "seam_hz": rng.uniform(100.0, 300.0),
        "seam_db": rng.uniform(-10.0, -4.0),
        "roller_rates": rng.uniform(2.0, 8.0, size=n_rollers),
        "roller_modes": rng.uniform(2000.0, 5000.0, size=n_rollers),
        "tick_db": rng.uniform(-14.0, -8.0),
        "friction_hz": rng.uniform(500.0, 2000.0),
        "pulley_rate": rng.uniform(3.0, 7.0),
        "pulley_modes": rng.uniform(3000.0, 6000.0, size=2),
        "tear_hz": rng.uniform(1500.0, 4000.0),
    }


def _render_toyconveyor(p: dict, c: _Clip, fault: str | None, s: float) -> np.ndarray:
    rng = c.rng
    speed = 1.0 + c.jitter(0.01)
    if fault == "voltage_change":
        speed *= 1.0 + c.sign() * (0.08 + 0.14 * s)
    f_motor = p["f_motor"] * speed * (1.0 + c.wander(0.004))
    motor_phase = c.phase(f_motor)
    f_max = float(f_motor.max())
    hum = _oscillator(motor_phase, p["hum_amps"], rng, f0_max=f_max, sr=c.sr)
    mesh = _oscillator(motor_phase * p["teeth"], [1.0, 0.5, 0.2], rng, f0_max=f_max * p["teeth"], sr=c.sr)
    belt_times = _periodic_times(rng, c.duration, speed / p["belt_period"], jitter=0.005)
    seam = _pulses(c.n, c.sr, belt_times, 1.0, _ring(c.sr, [p["seam_hz"], 2.7 * p["seam_hz"]], [0.03, 0.01], [1.0, 0.5]))
    ticks = np.zeros(c.n)
    for rate, mode in zip(p["roller_rates"], p["roller_modes"]):
        times = _periodic_times(rng, c.duration, rate * speed, jitter=0.01)
        kernel = _ring(c.sr, [mode, 1.6 * mode], [0.002, 0.0015], [1.0, 0.5])
        ticks += _pulses(c.n, c.sr, times, rng.uniform(0.7, 1.0, times.size), kernel)
    friction = c.noise(lambda f: np.sqrt(_peak(f, p["friction_hz"], p["friction_hz"]) ** 2 + 0.3 * _tilt(f, 1.0) ** 2))
    if fault == "pulley_damage":  # an eccentric pulley modulates the drive load
        hum = hum * c.up(1.0 + (0.1 + 0.4 * s) * np.sin(2 * np.pi * c.control_phase(p["pulley_rate"] * speed)))
    base = _mix(
        (c.jitter(1.0), hum),
        (p["mesh_db"] + c.jitter(1.0), mesh),
        (p["seam_db"] + c.jitter(1.0), seam),
        (p["tick_db"] + c.jitter(1.0), ticks),
        (c.jitter(1.0) - 3.0, friction),
    )
    if fault == "belt_damage":  # a tear slaps once per belt turn and scrapes
        tear = belt_times + rng.uniform(0.0, p["belt_period"])
        burst = c.noise(lambda f: _peak(f, p["tear_hz"], 2.0 * p["tear_hz"])) * _decay_envelope(c.n, c.sr, tear, 1.0, 0.02)
        scrape = c.noise(lambda f: _peak(f, 1.5 * p["tear_hz"], p["tear_hz"])) * (1.0 + np.sin(2 * np.pi * c.t * speed / p["belt_period"]))
        base = _extra(base, _unit(burst) + 0.5 * _unit(scrape), -14.0 + 12.0 * s)
    elif fault == "pulley_damage":
        times = _periodic_times(rng, c.duration, p["pulley_rate"] * speed, jitter=0.005)
        clank = _pulses(c.n, c.sr, times, 1.0, _ring(c.sr, p["pulley_modes"], [0.006, 0.004], [1.0, 0.7]))
        base = _extra(base, clank, -16.0 + 14.0 * s)
    return base


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


# ---------------------------------------------------------------------------------------------
# Background and mixing
# ---------------------------------------------------------------------------------------------
def _sign_site(rng: np.random.Generator, machine_type: str, machine_id: str) -> dict:
    type_index = MACHINE_TYPES.index(machine_type)
    return {
        "snr_db": SNR_LEVELS[(type_index + int(machine_id)) % len(SNR_LEVELS)],
        "level_dbfs": rng.uniform(-38.0, -28.0),
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
    bed = c.noise(lambda f: np.sqrt(
        _tilt(f, 2.0) ** 2 + site["pink"] * _tilt(f, 1.0) ** 2 + site["room"] * _peak(f, site["room_hz"], site["room_hz"]) ** 2
    ) * _rolloff(f, site["rolloff_hz"]))
    hum = c.tone(site["hum_hz"] * (1.0 + c.wander(0.005)), site["hum_amps"]) * c.up(1.0 + c.wander(0.3, period=(3.0, 8.0)))
    out = _mix((0.0, bed), (site["hum_db"], hum))
    for when in _poisson_times(rng, c.duration, site["event_rate"]):
        level = float(_db(rng.uniform(-14.0, -2.0)))  # RMS over the event, relative to the bed
        if rng.uniform() < 0.6:  # a burst of band noise: air blow-off, a passing cart
            length = int(rng.uniform(0.2, 1.5) * c.sr)
            centre = float(np.exp(rng.uniform(np.log(150.0), np.log(5000.0))))
            width = centre * rng.uniform(0.3, 1.0)
            event = _noise(rng, length, c.sr, lambda f: _peak(f, centre, width)) * np.hanning(length) * level
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
    ``clip_seconds``, ``faults`` (comma-separated fault model names).
    """
    import pandas as pd

    rows = []
    for machine_type in machine_types or MACHINE_TYPES:
        for machine_id in DEV_MACHINE_IDS[machine_type]:
            _, site = _signature(machine_type, machine_id)
            rows.append({
                "machine_type": machine_type,
                "machine_id": machine_id,
                "snr_db": site["snr_db"],
                "level_dbfs": round(float(site["level_dbfs"]), 1),
                "clip_seconds": CLIP_SECONDS[machine_type],
                "faults": ", ".join(FAULTS[machine_type]),
            })
    return pd.DataFrame(rows)


def generate_clip(
    machine_type: str,
    machine_id: str,
    *,
    anomaly: str | None = None,
    rng: np.random.Generator | int,
    severity: float | None = None,
    sample_rate: int = SAMPLE_RATE,
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
        Fault strength in [0, 1] (0: barely audible, 1: obvious); drawn uniformly from ``rng``
        when omitted. Ignored for normal clips.
    sample_rate : int
        Hz, at least 8000. Components above 0.48 ``sample_rate`` are left out.

    Returns
    -------
    np.ndarray, shape ``(round(CLIP_SECONDS[machine_type] * sample_rate),)``, float32
        Samples within +-0.95: 10 s (ToyCar 11 s) at ``sample_rate``.
    """
    if machine_type not in _MODELS:
        raise ValueError(f"unknown machine type {machine_type!r} (expected one of {', '.join(MACHINE_TYPES)})")
    if not (isinstance(machine_id, str) and len(machine_id) == 2 and machine_id.isdigit()):
        raise ValueError(f"machine_id must be two digits like '00', got {machine_id!r}")
    if anomaly is not None and anomaly not in FAULTS[machine_type]:
        raise ValueError(f"unknown fault {anomaly!r} for {machine_type} (expected one of {', '.join(FAULTS[machine_type])})")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be at least 8000 Hz, got {sample_rate}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    if anomaly is None:
        severity = 0.0
    elif severity is None:
        severity = float(rng.uniform())
    elif not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity must lie in [0, 1], got {severity}")
    machine, site = _signature(machine_type, machine_id)
    clip = _Clip(rng=rng, n=int(round(CLIP_SECONDS[machine_type] * sample_rate)), sr=int(sample_rate))
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


# ---------------------------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Job:
    relpath: str
    machine_type: str
    machine_id: str
    split: str
    label: str
    index: int
    fault: str
    seed: int


def _plan(spec: SizeSpec, machine_types: list[str], seed: int) -> list[_Job]:
    jobs = []
    for machine_type in machine_types:
        faults = FAULTS[machine_type]
        for machine_id in DEV_MACHINE_IDS[machine_type]:
            groups = (("train", "normal", spec.train_normal), ("test", "normal", spec.test_normal), ("test", "anomaly", spec.test_anomaly))
            for split, label, count in groups:
                for index in range(count):
                    fault = faults[(index + int(machine_id)) % len(faults)] if label == "anomaly" else ""
                    relpath = f"{machine_type}/{split}/{label}_id_{machine_id}_{index:08d}.wav"
                    jobs.append(_Job(relpath, machine_type, machine_id, split, label, index, fault, seed))
    return jobs


def _make_clip(job: _Job, out_dir: str) -> dict:
    """Generate and write one clip; return its table row (and the file's SHA-256)."""
    rng = clip_rng(job.seed, job.machine_type, job.machine_id, job.split, job.label, job.index)
    severity = float(rng.uniform()) if job.fault else 0.0
    samples = generate_clip(job.machine_type, job.machine_id, anomaly=job.fault or None, rng=rng, severity=severity)
    path = Path(out_dir) / job.relpath
    write_clip(path, samples, sample_rate=SAMPLE_RATE)
    return {
        "relpath": job.relpath,
        "machine_type": job.machine_type,
        "machine_id": job.machine_id,
        "split": job.split,
        "label": job.label,
        "fault": job.fault,
        "severity": round(severity, 6),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _table(rows: list[dict], out_dir: Path) -> pd.DataFrame:
    import pandas as pd

    table = pd.DataFrame(
        [{**{k: r[k] for k in TABLE_COLUMNS if k != "path"}, "path": str(out_dir / r["relpath"])} for r in rows],
        columns=TABLE_COLUMNS,
    )
    return table.sort_values("path", ignore_index=True)


def _fingerprint(rows: list[dict]) -> str:
    digest = hashlib.sha256()
    for row in sorted(rows, key=lambda r: r["relpath"]):
        digest.update(f"{row['relpath']} {row['sha256']}\n".encode())
    return digest.hexdigest()


@lru_cache(maxsize=1)
def _code_digest() -> str:
    """SHA-256 (16 hex digits) of this module's source: any edit invalidates earlier datasets."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def _read_manifest(out_dir: Path) -> dict | None:
    try:
        manifest = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("generator") == "asd.synth" else None


def read_manifest(out_dir: str | os.PathLike) -> dict | None:
    """The manifest of a complete generated dataset (``dataset.json``), or ``None``.

    Keys: ``generator``, ``version``, ``code`` (digest of the generator's source), ``size``, ``counts`` (clips per machine ID), ``seed``,
    ``sample_rate``, ``machine_types``, ``n_clips``, ``fingerprint`` (SHA-256 over every
    file's path and SHA-256), ``seconds`` (generation time) and ``clips`` (one row per file).
    """
    return _read_manifest(Path(out_dir))


def _manifest_matches(manifest: dict | None, size: str, spec: SizeSpec, seed: int, machine_types: list[str], out_dir: Path) -> bool:
    if manifest is None:
        return False
    same = (
        manifest.get("version") == GENERATOR_VERSION
        and manifest.get("code") == _code_digest()
        and manifest.get("size") == size
        and manifest.get("counts") == asdict(spec)
        and manifest.get("seed") == seed
        and manifest.get("sample_rate") == SAMPLE_RATE
        and set(machine_types) <= set(manifest.get("machine_types", []))
    )
    if not same:
        return False
    wanted = [r for r in manifest.get("clips", []) if r["machine_type"] in machine_types]
    expected = {j.relpath for j in _plan(spec, machine_types, seed)}
    return {r["relpath"] for r in wanted} == expected and all((out_dir / r["relpath"]).is_file() for r in wanted)


def _clear_stale(out_dir: Path, keep: set[str]) -> None:
    """Remove WAV files (and leftover temporary files) of an earlier generation that are not in ``keep``.

    Only runs in a folder this module wrote (manifest or unfinished-run marker present); a folder
    holding clips of unknown origin is refused rather than overwritten.
    """
    ours = _read_manifest(out_dir) is not None or (out_dir / _INCOMPLETE_NAME).exists()
    present = [
        p for t in MACHINE_TYPES for split in ("train", "test")
        for p in sorted((out_dir / t / split).glob("*.wav")) if (out_dir / t / split).is_dir()
    ]
    if present and not ours:
        raise LayoutError(
            f"{out_dir}: holds {len(present)} WAV file(s) that asd.synth did not write; choose an empty or new folder"
        )
    for path in present:
        rel = path.relative_to(out_dir).as_posix()
        if rel not in keep or path.name.startswith("."):
            path.unlink()


def generate_dataset(
    out_dir: str | os.PathLike,
    *,
    size: str = "default",
    seed: int = 0,
    machine_types: list[str] | tuple[str, ...] | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> pd.DataFrame:
    """Write the synthetic dataset in the DCASE 2020 Task 2 development layout.

    Parameters
    ----------
    out_dir : path-like
        Dataset root; created if missing. It must be empty, new, or a folder this function
        wrote before (a :class:`LayoutError` is raised for a folder with other WAV files).
    size : str
        A key of :data:`SIZES`: ``"tiny"`` (6 + 2 + 2 clips per machine ID) or ``"default"``
        (50 + 20 + 20).
    seed : int
        Non-negative; the same seed gives byte-identical files.
    machine_types : list of str, optional
        Only these machine types (default: all six).
    progress : bool
        Show a tqdm progress bar.
    workers : int, optional
        Worker processes (default: every available core); the files do not depend on it.

    Returns
    -------
    pandas.DataFrame
        One row per clip, sorted by path, columns :data:`TABLE_COLUMNS`: ``path`` (str),
        ``machine_type``, ``machine_id`` (two digits), ``split`` (train/test), ``label``
        (normal/anomaly), ``fault`` (fault model name, ``""`` for normal clips) and ``severity``
        (in [0, 1], 0 for normal clips). ``table.attrs`` holds ``root``, ``size``, ``seed``,
        ``version`` and ``fingerprint``.

    Notes
    -----
    Every file is written atomically; ``dataset.json`` is written last. When it already
    describes a complete dataset with the same size, seed, generator version and generator source (and the
    requested machine types), nothing is regenerated and the table is returned at once.
    Otherwise the manifest is removed first, files of an earlier generation that the new plan
    does not contain are deleted, and everything is written anew.
    """
    if size not in SIZES:
        raise ConfigError(f"unknown dataset size {size!r} (expected one of {', '.join(SIZES)})")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    machine_types = list(MACHINE_TYPES) if machine_types is None else list(machine_types)
    unknown = [t for t in machine_types if t not in MACHINE_TYPES]
    if unknown or not machine_types:
        raise ConfigError(f"unknown machine type(s) {', '.join(unknown) or '(none given)'} (expected some of {', '.join(MACHINE_TYPES)})")
    machine_types = [t for t in MACHINE_TYPES if t in machine_types]  # canonical order, no repeats
    spec = SIZES[size]
    out_dir = Path(out_dir)

    manifest = _read_manifest(out_dir)
    if _manifest_matches(manifest, size, spec, seed, machine_types, out_dir):
        logger.info("%s: complete synthetic dataset (size %s, seed %d, version %s) found; not regenerating",
                    out_dir, size, seed, GENERATOR_VERSION)
        rows = [r for r in manifest["clips"] if r["machine_type"] in machine_types]
        return _attach(_table(rows, out_dir), out_dir, manifest)

    jobs = _plan(spec, machine_types, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear_stale(out_dir, {j.relpath for j in jobs})
    write_text_atomic(out_dir / _INCOMPLETE_NAME, "asd.synth generation in progress or interrupted\n")
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    n_workers = max(1, min(workers or _default_workers(), len(jobs)))
    logger.info("generating %d synthetic clips (size %s, seed %d) into %s with %d worker(s)",
                len(jobs), size, seed, out_dir, n_workers)
    started = time.perf_counter()
    rows = _run_jobs(jobs, out_dir, n_workers, progress, desc=f"synth {size}")
    seconds = time.perf_counter() - started
    manifest = {
        "generator": "asd.synth",
        "version": GENERATOR_VERSION,
        "code": _code_digest(),
        "size": size,
        "counts": asdict(spec),
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "clip_seconds": {t: CLIP_SECONDS[t] for t in machine_types},
        "machine_types": machine_types,
        "machine_ids": {t: list(DEV_MACHINE_IDS[t]) for t in machine_types},
        "faults": {t: FAULTS[t] for t in machine_types},
        "n_clips": len(rows),
        "fingerprint": _fingerprint(rows),
        "seconds": round(seconds, 2),
        "clips": sorted(rows, key=lambda r: r["relpath"]),
    }
    write_text_atomic(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")
    (out_dir / _INCOMPLETE_NAME).unlink(missing_ok=True)
    logger.info("wrote %d clips in %.1f s; fingerprint %s", len(rows), seconds, manifest["fingerprint"][:12])
    return _attach(_table(rows, out_dir), out_dir, manifest)


def _attach(table: pd.DataFrame, out_dir: Path, manifest: dict) -> pd.DataFrame:
    table.attrs.update(
        root=str(out_dir), size=manifest["size"], seed=manifest["seed"],
        version=manifest["version"], fingerprint=manifest["fingerprint"],
    )
    return table


def _run_jobs(jobs: list[_Job], out_dir: Path, n_workers: int, progress: bool, *, desc: str) -> list[dict]:
    from tqdm.auto import tqdm

    rows = []
    with tqdm(total=len(jobs), desc=desc, unit="clip", disable=not progress) as bar:
        if n_workers == 1:
            for job in jobs:
                rows.append(_make_clip(job, str(out_dir)))
                bar.update()
            return rows
        # "spawn": safe even when the caller has started threads (TensorFlow, BLAS).
        context = multiprocessing.get_context("spawn")
        chunk = max(1, min(32, len(jobs) // (n_workers * 4)))
        with concurrent.futures.ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
            futures = [pool.submit(_make_chunk, jobs[i : i + chunk], str(out_dir)) for i in range(0, len(jobs), chunk)]
            for future in concurrent.futures.as_completed(futures):
                done = future.result()
                rows.extend(done)
                bar.update(len(done))
    return rows


def _make_chunk(jobs: list[_Job], out_dir: str) -> list[dict]:
    return [_make_clip(job, out_dir) for job in jobs]
