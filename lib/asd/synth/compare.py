"""Synthetic against real: the statistics that say whether a synthetic clip sounds like its machine type.

:func:`clip_statistics` measures one clip (level, crest factor, long-term spectrum in octave
bands, tonality, temporal structure); :func:`compare_folders` measures every clip of two dataset
folders (for example the generated data and the real DCASE 2020 clips of
``../shared/data/dcase2020-dev-lite``) and returns one table, with a ``source`` column, that
:func:`summarize` reduces to medians per source, machine type and label for side-by-side reading.
``benchmarks/synth_vs_real.py`` prints that table. :func:`real_clips` lists the real dev-lite clips
when ``../shared`` is present (notebook 01 shows them beside synthetic ones).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from ..config import PROJECT_ROOT

if TYPE_CHECKING:
    import pandas as pd

#: The 36 real DCASE 2020 development test clips (3 normal + 3 anomalous of one ID per machine type),
#: beside the project when the shared data folder is present (read in place, never copied).
DEV_LITE = PROJECT_ROOT.parent / "shared" / "data" / "dcase2020-dev-lite"
#: Octave band centres (Hz) of the long-term spectrum.
OCTAVE_CENTRES = (63, 125, 250, 500, 1000, 2000, 4000, 7000)
#: Frame length (s) of the temporal statistics.
FRAME_SECONDS = 0.02


def real_clips(root: str | os.PathLike | None = None) -> pd.DataFrame | None:
    """The real clips to hold synthetic ones against, or ``None`` when the folder is absent.

    Parameters
    ----------
    root : path-like, optional
        A dataset root in the DCASE 2020 layout (test clips suffice); default :data:`DEV_LITE`.

    Returns
    -------
    pandas.DataFrame or None
        :func:`asd.data.discover_clips`'s table (``path``, ``machine_type``, ``machine_id``,
        ``split``, ``label``, ...), or ``None`` if ``root`` does not exist.
    """
    from pathlib import Path

    from ..data import discover_clips

    root = Path(root) if root is not None else DEV_LITE
    if not root.is_dir():
        return None
    return discover_clips(root, require_train=False)


def clip_statistics(samples: np.ndarray, *, sample_rate: int) -> dict:
    """Level, spectrum and temporal structure of one clip.

    Parameters
    ----------
    samples : np.ndarray, shape ``(n,)``
        Mono samples in [-1, 1].
    sample_rate : int
        Hz.

    Returns
    -------
    dict
        ``rms_dbfs`` (RMS level, dB full scale), ``crest_db`` (peak over RMS, dB),
        ``centroid_hz`` (spectral centroid of the long-term spectrum), ``flatness`` (geometric
        over arithmetic mean of the long-term power spectrum, 50 Hz-7.5 kHz: near 0 tonal, near 1
        noise-like), ``tonal_db`` (how far the strongest line of the long-term spectrum stands above
        the spectrum's 1/3-octave running median, dB: noise gives a few dB, clear lines tens), ``frame_sd_db``
        (standard deviation of the 20 ms frame levels, dB: steady sounds are small, clicks and
        on/off patterns large), ``impulsive`` (fraction of the energy in the loudest 5 % of the
        frames) and ``band_<f>`` (octave band levels relative to the total, dB, for each of
        :data:`OCTAVE_CENTRES`).
    """
    from scipy.signal import welch

    x = np.asarray(samples, dtype=np.float64)
    rms = float(np.sqrt(np.mean(x**2))) + 1e-12
    f, psd = welch(x, fs=sample_rate, nperseg=4096)
    band = (f >= 50) & (f <= 7500)
    p = psd[band] + 1e-20
    total = psd[band].sum() + 1e-20
    log_p = 10 * np.log10(p)
    fb = f[band]
    # how far the spectrum stands above its 1/3-octave running median: lines stand out
    smooth = np.array([np.median(log_p[(fb >= v / 2 ** (1 / 6)) & (fb <= v * 2 ** (1 / 6))]) for v in fb])
    frame = max(1, int(FRAME_SECONDS * sample_rate))
    frames = x[: x.size // frame * frame].reshape(-1, frame)
    energy = np.mean(frames**2, axis=1) + 1e-20
    top = np.sort(energy)[::-1][: max(1, int(0.05 * energy.size))]
    stats = {
        "rms_dbfs": 20 * np.log10(rms),
        "crest_db": 20 * np.log10(np.abs(x).max() / rms + 1e-12),
        "centroid_hz": float((fb * p).sum() / p.sum()),
        "flatness": float(np.exp(np.mean(np.log(p))) / np.mean(p)),
        "tonal_db": float(np.max(log_p - smooth)),
        "frame_sd_db": float(np.std(10 * np.log10(energy))),
        "impulsive": float(top.sum() / energy.sum()),
    }
    for centre in OCTAVE_CENTRES:
        inside = (f >= centre / np.sqrt(2)) & (f < min(centre * np.sqrt(2), sample_rate / 2))
        stats[f"band_{centre}"] = float(10 * np.log10(psd[inside].sum() / total + 1e-20))
    return stats


def compare_folders(sources: dict[str, str | os.PathLike], *, max_per_group: int = 6) -> pd.DataFrame:
    """:func:`clip_statistics` of the test clips in several dataset folders.

    Parameters
    ----------
    sources : dict
        Source name (e.g. ``"real"``, ``"synthetic"``) to a dataset root in the DCASE 2020 or
        MIMII layout (:func:`asd.data.discover_clips`).
    max_per_group : int
        At most this many clips per (source, machine type, machine ID, label), the first by path.

    Returns
    -------
    pandas.DataFrame
        One row per clip: ``source``, ``machine_type``, ``machine_id``, ``label``, ``path`` and the
        statistics.
    """
    import pandas as pd

    from ..audio import read_clip
    from ..data import discover_clips

    rows = []
    for source, root in sources.items():
        table = discover_clips(root, require_train=False)
        table = table[table.split == "test"].sort_values("path")
        table = table.groupby(["machine_type", "machine_id", "label"], group_keys=False).head(max_per_group)
        for clip in table.itertuples():
            samples = read_clip(clip.path, sample_rate=16000)
            rows.append(
                {
                    "source": source,
                    "machine_type": clip.machine_type,
                    "machine_id": clip.machine_id,
                    "label": clip.label,
                    "path": clip.path,
                    **clip_statistics(samples, sample_rate=16000),
                }
            )
    return pd.DataFrame(rows)


def summarize(stats: pd.DataFrame) -> pd.DataFrame:
    """Median of every statistic per machine type, label and source (sources side by side)."""
    numeric = [c for c in stats.columns if c not in ("source", "machine_type", "machine_id", "label", "path")]
    medians = stats.groupby(["machine_type", "label", "source"])[numeric].median()
    return medians.round(2)
