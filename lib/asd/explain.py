"""Where a clip departs from normal: which mel bands and which seconds, against its machine ID's training clips.

A detector's score says *how* abnormal a clip is, not *where*. This module answers the second
question with the one representation every detector can be compared on, the DCASE baseline's
log-mel spectrogram (``config.baseline``: 128 bands, dB; :func:`asd.features.baseline_log_mel`):

1. At train time, :func:`fit_reference` stores, per machine ID and pooled over the machine
   type, the mean and standard deviation of each mel band's level (dB) over every frame of
   the normal training clips (``explain_reference.npz`` in the machine type's run folder,
   :func:`save` / :func:`load`).
2. For a scored clip, :func:`explain_clip` standardises its log-mel band by band against the
   reference of its ID (the pooled one for an unknown or new ID): the **deviation map**
   ``z[band, frame] = (level - mean[band]) / std[band]``. The bands whose root-mean-square
   deviation over time is largest are the **top bands** (reported by their centre frequency in
   Hz, neighbours within :data:`BAND_SEPARATION` bands of a chosen one skipped, so one tonal
   component is named once); the whole seconds whose root-mean-square deviation over bands is
   largest are the **top seconds** (``3`` = from 3 s to 4 s).
3. :func:`plot_departure` draws the clip's spectrogram above its deviation map (one PNG).

This locates a departure; it does not prove the detector flagged the clip for that reason (the
detectors score other representations). A standard deviation below :data:`MIN_STD_DB` is
raised to it, so a band that is nearly constant in training cannot dominate through a
division by almost zero.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .config import StudyConfig
from .errors import ASDError

logger = logging.getLogger(__name__)

#: File name of the reference statistics in a machine type's run folder.
REFERENCE_FILE = "explain_reference.npz"
#: Floor of a band's standard deviation, dB (guards near-constant bands).
MIN_STD_DB = 0.5
#: Top bands closer than this many mel bands to an already chosen one are skipped.
BAND_SEPARATION = 2
#: Key of the pooled (machine-type) statistics.
POOLED = "*"


@dataclass(frozen=True)
class Reference:
    """Per-ID band statistics of the normal training clips (see the module docstring).

    Attributes
    ----------
    band_hz : ndarray, shape ``(n_mels,)``
        Centre frequency of each mel band, Hz.
    frame_seconds : float
        Time between two frames (hop length / sample rate), s.
    ids : tuple of str
        The machine IDs, then :data:`POOLED`.
    mean, std : ndarray, shape ``(len(ids), n_mels)``
        Mean and standard deviation (floored at :data:`MIN_STD_DB`) of each band's level, dB.
    n_clips : ndarray of int, shape ``(len(ids),)``
        Training clips behind each row.
    """

    band_hz: np.ndarray
    frame_seconds: float
    ids: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    n_clips: np.ndarray

    def statistics(self, machine_id: str | None) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` of ``machine_id``, each ``(n_mels,)`` dB; the pooled ones for an unknown or new ID."""
        key = str(machine_id) if machine_id is not None and str(machine_id) in self.ids else POOLED
        row = self.ids.index(key)
        return self.mean[row], self.std[row]


@dataclass
class Departure:
    """Where one clip departs from its reference.

    Attributes
    ----------
    deviation : ndarray, shape ``(n_mels, n_frames)``
        The deviation map, in standard deviations of the training level.
    band_score : ndarray, shape ``(n_mels,)``
        Root-mean-square deviation of each band over time.
    second_score : ndarray, shape ``(n_seconds,)``
        Root-mean-square deviation over bands and the frames of each whole second.
    top_bands_hz : list of float
        Centre frequencies of the top bands, Hz, most deviant first.
    top_bands_db : list of float
        The clip's mean level minus the training mean in those bands, dB (negative: quieter).
    top_seconds : list of int
        Start of the top seconds, s, most deviant first.
    """

    deviation: np.ndarray
    band_score: np.ndarray
    second_score: np.ndarray
    top_bands_hz: list[float] = field(default_factory=list)
    top_bands_db: list[float] = field(default_factory=list)
    top_seconds: list[int] = field(default_factory=list)

    def text(self) -> str:
        """The top bands with the direction of each departure (:func:`departure_text`)."""
        return departure_text(self.top_bands_hz, self.top_bands_db)

    def columns(self) -> dict[str, str]:
        """The table columns ``top_bands_hz`` (e.g. ``"2188, 875"``) and ``top_seconds`` (e.g. ``"3-4, 7-8"``)."""
        return {
            "top_bands_hz": ", ".join(f"{hz:.0f}" for hz in self.top_bands_hz),
            "top_seconds": ", ".join(f"{s}-{s + 1}" for s in self.top_seconds),
        }


#: The minus sign of departures (U+2212, not a hyphen).
MINUS = "\u2212"


def machine_label(machine_id) -> str:
    """How figures and tables name a machine: ``"id 04"``, or ``"machine"`` when the clip has no
    machine ID (empty, None or NaN)."""
    missing = machine_id is None or (isinstance(machine_id, float) and np.isnan(machine_id))
    text = "" if missing else str(machine_id).strip()
    return f"id {text}" if text else "machine"


def frequency_text(hz: float) -> str:
    """A frequency as people read it: ``"912 Hz"``, ``"4.9 kHz"``."""
    return f"{hz:.0f} Hz" if hz < 1000 else f"{hz / 1000:.1f} kHz"


def departure_text(top_bands_hz: Sequence[float], top_bands_db: Sequence[float]) -> str:
    """The top bands with the direction of each departure, e.g. ``"+17.5 dB at 912 Hz, −11.0 dB at
    4.9 kHz"`` (the clip's mean level minus the training mean; a minus sign: quieter than normal)."""
    return ", ".join(
        f"{'+' if db >= 0 else MINUS}{abs(db):.1f} dB at {frequency_text(hz)}"
        for hz, db in zip(top_bands_hz, top_bands_db)
    )


def band_frequencies(config: StudyConfig) -> np.ndarray:
    """Centre frequencies (Hz) of the baseline log-mel's bands, shape ``(n_mels,)``."""
    import librosa

    n_mels = config.baseline.n_mels
    return librosa.mel_frequencies(n_mels=n_mels + 2, fmin=0.0, fmax=config.audio.sample_rate / 2.0)[1:-1]


def fit_reference(features: Sequence[np.ndarray], machine_ids: Sequence[str], *, config: StudyConfig) -> Reference:
    """Band statistics of normal training clips, per machine ID and pooled.

    Parameters
    ----------
    features : sequence of ndarray, each ``(n_mels, n_frames)``
        Baseline log-mels (dB) of the training clips (``kind="baseline"`` of
        :func:`asd.features.extract_features`; memory-mapped arrays are fine, each is read once).
    machine_ids : sequence of str, length ``len(features)``
        Machine ID of each clip.
    config : StudyConfig
        Sample rate and baseline log-mel settings the features were computed with.

    Returns
    -------
    Reference
    """
    if len(features) != len(machine_ids):
        raise ValueError(f"{len(features)} feature arrays but {len(machine_ids)} machine IDs")
    if len(features) == 0:
        raise ValueError("cannot fit a reference on no clips")
    n_mels = config.baseline.n_mels
    sums: dict[str, np.ndarray] = {}
    for log_mel, machine_id in zip(features, machine_ids):
        log_mel = np.asarray(log_mel, dtype=np.float64)
        if log_mel.ndim != 2 or log_mel.shape[0] != n_mels:
            raise ValueError(f"expected a ({n_mels}, n_frames) log-mel, got shape {log_mel.shape}")
        moments = np.stack(
            [np.full(n_mels, log_mel.shape[1], dtype=np.float64), log_mel.sum(axis=1), np.square(log_mel).sum(axis=1)]
        )
        for key in (str(machine_id), POOLED):
            if key not in sums:
                sums[key] = np.zeros((4, n_mels))
            sums[key][:3] += moments
            sums[key][3, 0] += 1
    ids = tuple(sorted(k for k in sums if k != POOLED)) + (POOLED,)
    means, stds = [], []
    for key in ids:
        count, total, squares = sums[key][0], sums[key][1], sums[key][2]
        mean = total / count
        variance = np.maximum(squares / count - mean**2, 0.0)
        means.append(mean)
        stds.append(np.maximum(np.sqrt(variance), MIN_STD_DB))
    return Reference(
        band_hz=band_frequencies(config),
        frame_seconds=config.baseline.hop_length / config.audio.sample_rate,
        ids=ids,
        mean=np.asarray(means),
        std=np.asarray(stds),
        n_clips=np.asarray([int(sums[key][3, 0]) for key in ids]),
    )


def explain_clip(
    log_mel: np.ndarray,
    machine_id: str | None,
    reference: Reference,
    *,
    top_bands: int = 3,
    top_seconds: int = 2,
) -> Departure:
    """Where one clip departs from the training statistics of its machine ID.

    Parameters
    ----------
    log_mel : ndarray, shape ``(n_mels, n_frames)``
        The clip's baseline log-mel, dB.
    machine_id : str or None
        Its machine ID (``None`` or an ID the reference lacks: the pooled statistics).
    reference : Reference
        From :func:`fit_reference` or :func:`load`.
    top_bands, top_seconds : int
        How many bands and seconds to name.

    Returns
    -------
    Departure
    """
    log_mel = np.asarray(log_mel, dtype=np.float64)
    mean, std = reference.statistics(machine_id)
    if log_mel.ndim != 2 or log_mel.shape[0] != mean.shape[0]:
        raise ValueError(f"expected a ({mean.shape[0]}, n_frames) log-mel, got shape {log_mel.shape}")
    deviation = (log_mel - mean[:, None]) / std[:, None]
    band_score = np.sqrt(np.mean(np.square(deviation), axis=1))
    frame_score = np.mean(np.square(deviation), axis=0)
    second_of_frame = np.floor(np.arange(log_mel.shape[1]) * reference.frame_seconds).astype(int)
    n_seconds = int(second_of_frame[-1]) + 1
    counts = np.bincount(second_of_frame, minlength=n_seconds)
    second_score = np.sqrt(
        np.bincount(second_of_frame, weights=frame_score, minlength=n_seconds) / np.maximum(counts, 1)
    )
    chosen: list[int] = []
    for band in np.argsort(-band_score, kind="stable"):
        if len(chosen) == top_bands:
            break
        if all(abs(int(band) - other) > BAND_SEPARATION for other in chosen):
            chosen.append(int(band))
    level_change = (log_mel - mean[:, None]).mean(axis=1)
    return Departure(
        deviation=deviation.astype(np.float32),
        band_score=band_score,
        second_score=second_score,
        top_bands_hz=[float(reference.band_hz[b]) for b in chosen],
        top_bands_db=[float(level_change[b]) for b in chosen],
        top_seconds=[int(s) for s in np.argsort(-second_score, kind="stable")[:top_seconds]],
    )


def save(path: str | os.PathLike, reference: Reference) -> Path:
    """Write a :class:`Reference` to ``path`` (``.npz``) atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(
            tmp,
            band_hz=reference.band_hz,
            frame_seconds=np.float64(reference.frame_seconds),
            ids=np.asarray(reference.ids, dtype=str),
            mean=reference.mean,
            std=reference.std,
            n_clips=reference.n_clips,
        )
    return Path(path)


def load(path: str | os.PathLike) -> Reference:
    """Read a :class:`Reference` written by :func:`save`.

    Raises
    ------
    ASDError
        The file is missing or not a reference.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return Reference(
                band_hz=data["band_hz"],
                frame_seconds=float(data["frame_seconds"]),
                ids=tuple(str(i) for i in data["ids"]),
                mean=data["mean"],
                std=data["std"],
                n_clips=data["n_clips"],
            )
    except FileNotFoundError:
        raise ASDError(
            f"{path}: no reference statistics (a run trained before explanations existed; retrain it)"
        ) from None
    except (KeyError, ValueError, OSError) as exc:
        raise ASDError(f"{path}: not a reference statistics file ({exc})") from None


def plot_departure(
    log_mel: np.ndarray, departure: Departure, reference: Reference, path: str | os.PathLike, *, title: str = ""
) -> Path:
    """Save the clip's log-mel spectrogram above its deviation map as a PNG (matplotlib, Agg).

    Parameters
    ----------
    log_mel : ndarray, shape ``(n_mels, n_frames)``
        The clip's baseline log-mel, dB.
    departure : Departure
        From :func:`explain_clip` on the same log-mel.
    reference : Reference
        Gives the band frequencies and frame duration of the axes.
    path : path-like
        PNG file to write (atomically; the folder is created).
    title : str
        Figure title, e.g. the file name and its score.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    n_mels, n_frames = np.shape(log_mel)
    extent = (0.0, n_frames * reference.frame_seconds, 0, n_mels)
    ticks = np.linspace(0, n_mels - 1, 6).round().astype(int)
    figure = Figure(figsize=(8, 6), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    image = top.imshow(log_mel, origin="lower", aspect="auto", extent=extent, cmap="magma")
    figure.colorbar(image, ax=top, label="level (dB)")
    top.set_title(title or "clip")
    limit = max(3.0, float(np.percentile(np.abs(departure.deviation), 99)))
    image = bottom.imshow(
        departure.deviation, origin="lower", aspect="auto", extent=extent, cmap="RdBu_r", vmin=-limit, vmax=limit
    )
    figure.colorbar(image, ax=bottom, label="deviation (training std)")
    bottom.set_title("deviation from the normal training clips of its machine ID")
    bottom.set_xlabel("time (s)")
    for axis in (top, bottom):
        axis.set_yticks(ticks + 0.5, [f"{reference.band_hz[t]:.0f}" for t in ticks])
        axis.set_ylabel("mel band centre (Hz)")
    for hz in departure.top_bands_hz:
        band = int(np.argmin(np.abs(reference.band_hz - hz)))
        bottom.axhline(band + 0.5, color="k", lw=0.6, ls=":")
    for second in departure.top_seconds:
        bottom.axvspan(second, second + 1, color="k", alpha=0.08, lw=0)
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=100)
    return Path(path)
