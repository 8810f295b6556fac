"""Signal building blocks of the synthetic machine sounds: shaped noise, harmonic tones, damped modes.

Everything works on one clip of ``n`` samples at ``sr`` Hz, float64 (noise float32). Control signals
(speeds, frequencies, slow envelopes) live on a coarse grid of :data:`CONTROL_RATE` Hz and are
interpolated to the audio rate, which is much cheaper than computing them per sample. Levels are
handled as unit-RMS parts mixed at levels in dB (:func:`_mix`, :func:`_extra`).

The names start with an underscore: they are the package's internals, shared by the machine-family
modules, not an API for other code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def _stable_int(text: str) -> int:
    """A 32-bit integer from a string, the same in every process and Python version."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "little")


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
