"""Faults of one character each, injected into real normal recordings.

Why
    Real anomalous recordings are few, and each real set has faults of a few characters only
    (the shared MIMII fan sample: stationary changes). To see which *characters* a detector
    sees on real machine sound, :func:`write_injected_set` takes real normal clips, keeps some
    for training, and adds to each held-out normal clip one generic fault per character, so
    that every anomalous clip differs from a normal test clip by that fault alone. The result
    is semi-synthetic (real background, generated faults): it shows blind spots, it does not
    measure real-world accuracy.

Characters (:data:`CHARACTERS`), each at a level fixed relative to the clip it goes into,
chosen once and never per data set:

``clicks``      :data:`N_CLICKS` short broadband bursts (2 ms of noise decaying with a
                0.5-ms time constant) at random times, each carrying the energy of one
                64-ms stretch of the clip: a transient (a valve's or a slider's knock).
``tone``        a steady sine at a random frequency (log-uniform, 300 to 3,000 Hz) with
                :data:`TONE_DB` of the clip's power: a stationary change (a bearing, an imbalance).
``level``       the whole clip :data:`LEVEL_DB` louder: a change of level alone.
``modulation``  the clip's amplitude modulated, depth :data:`MODULATION_DEPTH`, at a random
                rate of 2 to 8 Hz: a change of rhythm (a slipping belt, rubbing).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from ..atomic import atomic_path
from ..audio import read_clip

logger = logging.getLogger(__name__)

#: Clicks added to a clip (``clicks``).
N_CLICKS = 5
#: Power of the added tone relative to the clip's power, dB (``tone``).
TONE_DB = -15.0
#: Gain of the whole clip, dB (``level``).
LEVEL_DB = 3.0
#: Depth of the amplitude modulation (``modulation``): the envelope swings by this fraction.
MODULATION_DEPTH = 0.5
#: Seconds whose energy one click carries (``clicks``): one frame of the baseline's log-mel.
CLICK_ENERGY_SECONDS = 0.064


def _clicks(x: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    length = max(1, int(0.002 * sample_rate))
    shape = rng.standard_normal((N_CLICKS, length)) * np.exp(-np.arange(length) / (0.0005 * sample_rate))
    target = np.mean(x**2) * CLICK_ENERGY_SECONDS * sample_rate  # energy of one frame of the clip
    shape *= np.sqrt(target / np.maximum(np.sum(shape**2, axis=1, keepdims=True), 1e-20))
    out = x.copy()
    for burst, start in zip(shape, rng.integers(0, max(1, len(x) - length), N_CLICKS)):
        out[start : start + length] += burst[: len(x) - start]
    return out


def _tone(x: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    frequency = float(np.exp(rng.uniform(np.log(300.0), np.log(3000.0))))
    amplitude = np.sqrt(2.0 * np.mean(x**2) * 10 ** (TONE_DB / 10))
    t = np.arange(len(x)) / sample_rate
    return x + amplitude * np.sin(2 * np.pi * frequency * t + rng.uniform(0, 2 * np.pi))


def _level(x: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    return x * 10 ** (LEVEL_DB / 20)


def _modulation(x: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    rate = rng.uniform(2.0, 8.0)
    t = np.arange(len(x)) / sample_rate
    return x * (1.0 + MODULATION_DEPTH * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)))


#: Fault character -> function ``(samples, rng, sample_rate) -> samples`` adding it.
CHARACTERS: dict[str, Callable[[np.ndarray, np.random.Generator, int], np.ndarray]] = {
    "clicks": _clicks,
    "tone": _tone,
    "level": _level,
    "modulation": _modulation,
}


def inject(samples: np.ndarray, character: str, *, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """``samples`` with one fault of ``character`` added.

    Parameters
    ----------
    samples : np.ndarray, shape ``(n_samples,)``
        A mono clip, float.
    character : str
        A key of :data:`CHARACTERS`.
    rng : numpy.random.Generator
        Draws the fault's times, frequency or rate.
    sample_rate : int
        Hz.

    Returns
    -------
    np.ndarray, shape ``(n_samples,)``, float32
        The clip with the fault, clipped to [-1, 1] (16-bit WAV range).
    """
    if character not in CHARACTERS:
        raise ValueError(f"unknown fault character {character!r} (known: {', '.join(CHARACTERS)})")
    x = np.asarray(samples, dtype=np.float64)
    return np.clip(CHARACTERS[character](x, rng, sample_rate), -1.0, 1.0).astype(np.float32)


def write_injected_set(
    normals: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    n_train: int,
    machine_type: str,
    sample_rate: int = 16000,
    channel: int = 0,
    seed: int = 0,
    characters: Sequence[str] = tuple(CHARACTERS),
) -> Path:
    """A DCASE-layout set of real normal clips and, per character, the held-out ones with a fault.

    One machine type per character, ``<machine_type>.<character>/``: ``train/`` holds the first
    ``n_train`` clips of ``normals`` (sorted by path), ``test/`` the others as normal clips and,
    for each, the same clip with the fault (:func:`inject`) as an anomalous one; all machine ID 00.
    Per character, its machine type's AUC is then that detector's view of that fault on real sound.

    Parameters
    ----------
    normals : sequence of path-like
        Real normal recordings of one machine.
    out : path-like
        The set's folder (made; files written atomically).
    n_train : int
        Clips for training; at least 2, and at least 2 must remain for the test.
    machine_type : str
        The machine's type, the prefix of the set's machine types.
    sample_rate, channel : int
        How the clips are read (:func:`asd.audio.read_clip`) and written (16-bit PCM).
    seed : int
        Seeds every fault.
    characters : sequence of str
        Keys of :data:`CHARACTERS`.

    Returns
    -------
    Path
        ``out``.
    """
    paths = sorted(Path(p) for p in normals)
    if n_train < 2 or len(paths) - n_train < 2:
        raise ValueError(f"need at least 2 training and 2 test clips, got {len(paths)} clips with n_train={n_train}")
    out = Path(out)
    clips = [read_clip(path, sample_rate=sample_rate, channel=channel) for path in paths]
    for index, character in enumerate(characters):
        rng = np.random.default_rng([seed, index])
        folder = out / f"{machine_type}.{character}"
        for number, (_path, samples) in enumerate(zip(paths, clips)):
            if number < n_train:
                _write(folder / "train" / f"normal_id_00_{number:08d}.wav", samples, sample_rate)
                continue
            _write(folder / "test" / f"normal_id_00_{number:08d}.wav", samples, sample_rate)
            faulty = inject(samples, character, rng=rng, sample_rate=sample_rate)
            _write(folder / "test" / f"anomaly_id_00_{number:08d}.wav", faulty, sample_rate)
        logger.info(
            "%s: %d training clips, %d normal + %d with %s",
            folder,
            n_train,
            len(paths) - n_train,
            len(paths) - n_train,
            character,
        )
    return out


def _write(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        sf.write(tmp, samples, sample_rate, subtype="PCM_16", format="WAV")
