"""Find clips on disk and describe them in one table.

Two layouts are read:

``dcase`` (DCASE 2020 Task 2 development and evaluation sets)::

    <root>/<machine_type>/train/normal_id_XX_NNNNNNNN.wav
    <root>/<machine_type>/test/normal_id_XX_NNNNNNNN.wav
    <root>/<machine_type>/test/anomaly_id_XX_NNNNNNNN.wav
    <root>/<machine_type>/test/id_XX_NNNNNNNN.wav          (evaluation set: unlabeled)

``mimii`` (the original MIMII release, 8-channel files)::

    <root>/<machine_type>/id_XX/normal/NNNNNNNN.wav
    <root>/<machine_type>/id_XX/abnormal/NNNNNNNN.wav

MIMII has no train/test split. :func:`mimii_split` makes a deterministic one per machine ID, as
the DCASE 2020 organisers did in spirit: the test split holds every abnormal clip plus as many
normal clips, but at most half of the normal clips; the normal clips are sorted by file name and
the *last* ones go to the test split. Everything else is training data.

The clip table (:func:`discover_clips`) has one row per clip and the columns ``path``,
``file_name``, ``machine_type``, ``machine_id`` (two digits), ``split`` (``train``/``test``) and
``label`` (``normal``, ``anomaly``, or ``unknown`` for unlabeled evaluation clips).
Files that do not fit the layout's naming (for example ``notes.wav``) are skipped with a warning
and listed in ``table.attrs["ignored"]``; hidden files (a leading ``.``) are never read.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pandas as pd

from .errors import LayoutError

logger = logging.getLogger(__name__)

COLUMNS = ["path", "file_name", "machine_type", "machine_id", "split", "label"]
LABELS = ("normal", "anomaly", "unknown")

DCASE_LABELED = re.compile(r"^(?P<label>normal|anomaly)_id_(?P<id>\d{2})_(?P<index>\d{8})\.wav$")
DCASE_UNLABELED = re.compile(r"^id_(?P<id>\d{2})_(?P<index>\d{8})\.wav$")
MIMII_NAME = re.compile(r"^(?P<index>\d{8})\.wav$")
MIMII_ID_DIR = re.compile(r"^id_(?P<id>\d{2})$")


def detect_layout(root: str | os.PathLike) -> str:
    """Return ``"dcase"`` or ``"mimii"`` for a dataset root; raise :class:`LayoutError` otherwise."""
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: dataset folder not found")
    for type_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (type_dir / "train").is_dir() or (type_dir / "test").is_dir():
            return "dcase"
        if any(MIMII_ID_DIR.match(p.name) for p in type_dir.iterdir() if p.is_dir()):
            return "mimii"
    raise LayoutError(
        f"{root}: no machine-type folder with train/ and test/ (DCASE 2020 layout) or id_XX/ "
        f"(MIMII layout) inside"
    )


def discover_clips(
    root: str | os.PathLike,
    *,
    machine_types: list[str] | tuple[str, ...] | None = None,
    layout: str = "auto",
    require_train: bool = True,
) -> pd.DataFrame:
    """Table of every clip under ``root`` (columns :data:`COLUMNS`), sorted by path.

    Parameters
    ----------
    root : path-like
        Dataset root holding one folder per machine type.
    machine_types : list of str, optional
        Only these machine types; each must exist under ``root``. Default: every folder found.
    layout : {"auto", "dcase", "mimii"}
        Folder layout; ``"auto"`` detects it.
    require_train : bool
        Raise :class:`LayoutError` for a machine type without training clips (needed by
        ``asd train``; scoring an evaluation set may pass ``False``).
    """
    root = Path(root)
    if layout == "auto":
        layout = detect_layout(root)
    if layout not in ("dcase", "mimii"):
        raise LayoutError(f"unknown layout {layout!r} (expected 'dcase', 'mimii' or 'auto')")
    if not root.is_dir():
        raise LayoutError(f"{root}: dataset folder not found")
    available = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if machine_types is None:
        machine_types = available
    missing = [t for t in machine_types if t not in available]
    if missing:
        raise LayoutError(
            f"{root}: no folder for machine type(s) {', '.join(missing)} (found: {', '.join(available) or 'none'})"
        )
    rows: list[dict] = []
    ignored: list[str] = []
    for machine_type in machine_types:
        reader = _dcase_rows if layout == "dcase" else _mimii_rows
        type_rows = reader(root / machine_type, machine_type, ignored)
        if not type_rows:
            raise LayoutError(f"{root / machine_type}: no clips found (empty folder or wrong layout)")
        if require_train and not any(r["split"] == "train" for r in type_rows):
            raise LayoutError(f"{root / machine_type / 'train'}: missing or holds no training clips")
        rows.extend(type_rows)
    for name in ignored:
        logger.warning("ignored %s: file name does not follow the %s layout", name, layout)
    table = pd.DataFrame(rows, columns=COLUMNS).sort_values("path", ignore_index=True)
    table.attrs["ignored"] = ignored
    table.attrs["layout"] = layout
    table.attrs["root"] = str(root)
    return table


def _wav_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() == ".wav"
    )


def _dcase_rows(type_dir: Path, machine_type: str, ignored: list[str]) -> list[dict]:
    rows = []
    for split in ("train", "test"):
        for path in _wav_files(type_dir / split):
            labeled = DCASE_LABELED.match(path.name)
            unlabeled = DCASE_UNLABELED.match(path.name) if split == "test" else None
            if labeled and not (split == "train" and labeled["label"] == "anomaly"):
                label, machine_id = labeled["label"], labeled["id"]
            elif unlabeled:
                label, machine_id = "unknown", unlabeled["id"]
            else:
                ignored.append(str(path))
                continue
            rows.append(_row(path, machine_type, machine_id, split, label))
    return rows


def _mimii_rows(type_dir: Path, machine_type: str, ignored: list[str]) -> list[dict]:
    rows = []
    for id_dir in sorted(p for p in type_dir.iterdir() if p.is_dir()):
        match = MIMII_ID_DIR.match(id_dir.name)
        if not match:
            continue
        files = {}
        for folder, label in (("normal", "normal"), ("abnormal", "anomaly")):
            files[label] = []
            for path in _wav_files(id_dir / folder):
                if MIMII_NAME.match(path.name):
                    files[label].append(path)
                else:
                    ignored.append(str(path))
        train, test = mimii_split(files["normal"], files["anomaly"])
        rows += [_row(p, machine_type, match["id"], "train", "normal") for p in train]
        rows += [_row(p, machine_type, match["id"], "test", label) for p, label in test]
    return rows


def mimii_split(normal: list[Path], anomaly: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Deterministic train/test split of one MIMII machine ID.

    Test: every abnormal clip, plus ``min(len(anomaly), len(normal) // 2)`` normal clips — the
    last ones by file name. Train: the remaining normal clips.

    Returns
    -------
    train : list of Path
    test : list of (Path, label)
    """
    normal = sorted(normal)
    n_test_normal = min(len(anomaly), len(normal) // 2)
    cut = len(normal) - n_test_normal
    train = normal[:cut]
    test = [(p, "normal") for p in normal[cut:]] + [(p, "anomaly") for p in sorted(anomaly)]
    return train, test


def _row(path: Path, machine_type: str, machine_id: str, split: str, label: str) -> dict:
    return {
        "path": str(path),
        "file_name": path.name,
        "machine_type": machine_type,
        "machine_id": machine_id,
        "split": split,
        "label": label,
    }


def summarize_clips(table: pd.DataFrame) -> pd.DataFrame:
    """Clip counts per machine type, machine ID, split and label (a pivot for reports)."""
    counts = (
        table.groupby(["machine_type", "machine_id", "split", "label"]).size().rename("n_clips").reset_index()
    )
    return counts.pivot_table(
        index=["machine_type", "machine_id"], columns=["split", "label"], values="n_clips", fill_value=0
    )
