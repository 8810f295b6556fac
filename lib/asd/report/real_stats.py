"""The real reference clips as committed statistics: the report's comparison with real recordings
in every checkout, whether or not the clips themselves are on the machine.

The 36 real DCASE 2020 development clips (``../shared/data/dcase2020-dev-lite``) cannot be in the
repository; a few numbers derived from them can (:data:`REAL_STATS_DIR`, with ``SOURCE.md`` for
provenance and licence)::

    levels.csv    one row per clip: machine type, ID, label, file name, RMS and peak level (dBFS)
    spectra.csv   one row per clip: the long-term spectrum, mean level of each of the DCASE
                  baseline's 128 mel bands over the clip (dB), columns ``band_0`` ... ``band_127``
    log_mel.json  per machine type and label, the log-mel spectrogram of the first clip (by file
                  name), reduced (:data:`MEL_POOL`: mean over 2 bands x 4 frames, whole dB)
    clip_statistics.csv  one row per clip: :func:`asd.synth.compare.clip_statistics` (level, crest
                  factor, octave bands, tonality, temporal structure), which
                  ``benchmarks/synth_vs_real.py`` prints beside the synthetic clips' when the
                  clips themselves are absent

Written by :func:`write_real_stats` (``python benchmarks/synth_vs_real.py --write-stats`` when
the clips are present); read by :func:`load_real_stats`; :func:`beside_real` puts them beside
the test clips of a build's data, as notebook 01 shows them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import write_csv_atomic, write_text_atomic
from ..config import PROJECT_ROOT, StudyConfig
from ..errors import ASDError

#: The committed statistics of the real reference clips.
REAL_STATS_DIR = PROJECT_ROOT / "report" / "real_stats"
#: Where they are computed from (the clips are read in place, never copied).
REAL_CLIPS = PROJECT_ROOT.parent / "shared" / "data" / "dcase2020-dev-lite"
#: Pooling of the stored log-mel spectrograms: (mel bands, frames) averaged into one value.
MEL_POOL = (2, 4)
#: The command that rewrites :data:`REAL_STATS_DIR`.
WRITE_COMMAND = "python benchmarks/synth_vs_real.py --write-stats"
CLIP_COLUMNS = ["machine_type", "machine_id", "label", "file_name"]

__all__ = [
    "MEL_POOL",
    "REAL_CLIPS",
    "REAL_STATS_DIR",
    "RealStats",
    "beside_real",
    "load_real_stats",
    "write_real_stats",
]


@dataclass
class RealStats:
    """The statistics of the real reference clips (:func:`load_real_stats`).

    Attributes
    ----------
    levels : pandas.DataFrame
        One row per clip: :data:`CLIP_COLUMNS`, ``rms_dbfs``, ``peak_dbfs``.
    spectra : pandas.DataFrame
        One row per clip: :data:`CLIP_COLUMNS`, ``band_0`` ... (dB).
    log_mels : dict
        ``(machine_type, label)`` to a dict with ``machine_id``, ``file_name``, ``hop_s`` (seconds
        per stored frame), ``n_bands`` (mel bands before pooling) and ``values``
        (np.ndarray, shape ``(n_bands / MEL_POOL[0], n_frames)``, dB).
    source : str
        Where the statistics were computed from (the reference set's name).
    """

    levels: pd.DataFrame
    spectra: pd.DataFrame
    log_mels: dict = field(default_factory=dict)
    source: str = "dcase2020-dev-lite"

    @classmethod
    def empty(cls) -> RealStats:
        """No real clips (the comparison is left out)."""
        return cls(
            levels=pd.DataFrame(columns=[*CLIP_COLUMNS, "rms_dbfs", "peak_dbfs"]),
            spectra=pd.DataFrame(columns=CLIP_COLUMNS),
        )

    @property
    def machine_types(self) -> list[str]:
        return sorted(set(self.levels["machine_type"]))

    def clips(self) -> pd.DataFrame:
        """The clips as a clip table for :func:`asd.tables.comparison_clips` (test split; ``path``
        is the clip's place in the reference set, for ordering and provenance only)."""
        table = self.levels[CLIP_COLUMNS].copy()
        table["split"] = "test"
        table["path"] = self.source + "/" + table["machine_type"] + "/test/" + table["file_name"]
        return table


def _pool(mel: np.ndarray) -> np.ndarray:
    bands, frames = MEL_POOL
    n_b, n_f = mel.shape[0] // bands * bands, mel.shape[1] // frames * frames
    return mel[:n_b, :n_f].reshape(n_b // bands, bands, n_f // frames, frames).mean(axis=(1, 3))


def write_real_stats(
    root: str | os.PathLike = REAL_CLIPS, out: str | os.PathLike = REAL_STATS_DIR, *, config: StudyConfig | None = None
) -> Path:
    """Compute the statistics of the real test clips under ``root`` and write them to ``out``.

    Parameters
    ----------
    root : path-like
        A dataset root in the DCASE 2020 layout (test clips suffice).
    out : path-like
        Folder for ``levels.csv``, ``spectra.csv`` and ``log_mel.json`` (each written atomically;
        ``SOURCE.md`` beside them is kept).
    config : StudyConfig, optional
        Sample rate, channel and the baseline's log-mel settings (default: the study's).

    Returns
    -------
    Path
        ``out``.
    """
    from .. import tables
    from ..data import discover_clips
    from ..plots import fine_log_mel, read_samples
    from ..synth.compare import compare_folders

    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise ASDError(f"{root}: real reference clips not found (the statistics are computed from them)")
    config = config or StudyConfig()
    found = discover_clips(root, require_train=False)
    found = found[found["split"] == "test"].sort_values("path").reset_index(drop=True)
    clips = found.assign(source="real")[["source", *CLIP_COLUMNS, "path"]]
    levels, _ = tables.levels_and_spectra(clips, config)
    spectra, mels = [], {}
    for clip in clips.itertuples():
        mel = fine_log_mel(read_samples(clip.path, config), config)
        spectra.append(
            {
                **{c: getattr(clip, c) for c in CLIP_COLUMNS},
                **{f"band_{b}": float(v) for b, v in enumerate(mel.mean(axis=1))},
            }
        )
        key = f"{clip.machine_type}/{clip.label}"
        if key not in mels:
            hop_s = config.baseline.hop_length / config.audio.sample_rate * MEL_POOL[1]
            mels[key] = {
                "machine_id": clip.machine_id,
                "file_name": clip.file_name,
                "hop_s": hop_s,
                "n_bands": int(mel.shape[0]),
                "values": np.round(_pool(mel)).astype(int).tolist(),
            }
    out.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(out / "levels.csv", levels[[*CLIP_COLUMNS, "rms_dbfs", "peak_dbfs"]], index=False)
    write_csv_atomic(out / "spectra.csv", pd.DataFrame(spectra), index=False)
    statistics = compare_folders({"real": root}, max_per_group=len(clips)).drop(columns=["path"])
    write_csv_atomic(out / "clip_statistics.csv", statistics, index=False)
    write_text_atomic(
        out / "log_mel.json",
        json.dumps({"source": root.name, "pool": list(MEL_POOL), "clips": mels}, separators=(",", ":")),
    )
    return out


def load_real_stats(folder: str | os.PathLike = REAL_STATS_DIR) -> RealStats:
    """The statistics :func:`write_real_stats` wrote to ``folder``.

    Raises
    ------
    ASDError
        When a file is missing (rewrite them with ``python benchmarks/synth_vs_real.py --write-stats``).
    """
    folder = Path(folder)
    missing = [n for n in ("levels.csv", "spectra.csv", "log_mel.json") if not (folder / n).is_file()]
    if missing:
        raise ASDError(f"{folder}: {', '.join(missing)} missing (rewrite them with `{WRITE_COMMAND}`)")
    read = dict(dtype={"machine_id": str}, float_precision="round_trip")
    stored = json.loads((folder / "log_mel.json").read_text())
    log_mels = {}
    for key, entry in stored["clips"].items():
        machine_type, label = key.split("/")
        log_mels[(machine_type, label)] = {**entry, "values": np.asarray(entry["values"], dtype=float)}
    return RealStats(
        levels=pd.read_csv(folder / "levels.csv", **read),
        spectra=pd.read_csv(folder / "spectra.csv", **read),
        log_mels=log_mels,
        source=stored.get("source", "dcase2020-dev-lite"),
    )


def beside_real(
    table: pd.DataFrame, stats: RealStats, config: StudyConfig | None = None, *, per_label: int = 3, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """This build's test clips beside the real ones, for the machine types both have.

    Parameters
    ----------
    table : pandas.DataFrame
        The build's clip table (:func:`asd.data.discover_clips`).
    stats : RealStats
        The real clips' statistics (:func:`load_real_stats`).
    per_label, seed
        As :func:`asd.tables.comparison_clips`.

    Returns
    -------
    clips, levels, spectra : pandas.DataFrame
        As :func:`asd.tables.comparison_clips` and :func:`asd.tables.levels_and_spectra`; the rows
        of the real clips come from ``stats`` (no audio is read for them).
    """
    from .. import tables

    clips = tables.comparison_clips(table, stats.clips(), per_label=per_label, seed=seed)
    data = clips[clips["source"] == "data"]
    levels, spectra = tables.levels_and_spectra(data, config)
    real = clips[clips["source"] == "real"]
    real_levels = real.merge(stats.levels[["file_name", "rms_dbfs", "peak_dbfs"]], on="file_name", how="left")
    bands = [c for c in stats.spectra.columns if c.startswith("band_")]
    per_clip = stats.spectra.set_index("file_name")
    rows = []
    for (machine_type, label), group in real.groupby(["machine_type", "label"], sort=False):
        mean = per_clip.loc[group["file_name"], bands].to_numpy(dtype=float).mean(axis=0)
        rows += [
            {"source": "real", "machine_type": machine_type, "label": label, "band": b, "level_db": float(v)}
            for b, v in enumerate(mean)
        ]
    levels = pd.concat([levels, real_levels[levels.columns]], ignore_index=True) if len(real) else levels
    spectra = pd.concat([spectra, pd.DataFrame(rows, columns=spectra.columns)], ignore_index=True) if rows else spectra
    return clips, levels, spectra
