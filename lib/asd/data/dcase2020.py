"""The DCASE 2020 Task 2 layout (development and evaluation sets), file names read in any case::

<root>/<machine_type>/train/normal_id_XX_NNNNNNNN.wav
<root>/<machine_type>/test/normal_id_XX_NNNNNNNN.wav
<root>/<machine_type>/test/anomaly_id_XX_NNNNNNNN.wav
<root>/<machine_type>/test/id_XX_NNNNNNNN.wav          (evaluation set: unlabelled)
"""

from __future__ import annotations

import re
from pathlib import Path

from .registry import Layout, ReadContext, make_row, register_layout
from .scan import child_dir, scan, skip

__all__ = ["DCASE_LABELED", "DCASE_UNLABELED", "SPLIT_DIRS", "Dcase2020Layout"]

#: ``normal_id_00_00000000.wav``; read in any case (``NORMAL_ID_02_00000000.WAV``): lower-case the groups.
DCASE_LABELED = re.compile(r"^(?P<label>normal|anomaly)_id_(?P<id>\d{2})_(?P<index>\d{8})\.wav$", re.IGNORECASE)
#: ``id_00_00000000.wav`` (an evaluation test clip), in any case.
DCASE_UNLABELED = re.compile(r"^id_(?P<id>\d{2})_(?P<index>\d{8})\.wav$", re.IGNORECASE)
SPLIT_DIRS = ("train", "test")
ANOMALY_IN_TRAIN = "an anomalous clip in train/ (training uses normal clips only)"


def _split_files(folder: Path, split: str, skipped: list[dict]) -> list[Path]:
    sub = child_dir(folder, split)
    return scan(sub, skipped)[0] if sub is not None else []


@register_layout
class Dcase2020Layout(Layout):
    """DCASE 2020 Task 2: ``TYPE/train|test/normal_id_XX_NNNNNNNN.wav``; machine ID from the name."""

    name = "dcase"
    datasets = ("dcase2020",)
    help = "DCASE 2020 (TYPE/train|test/normal_id_XX_NNNNNNNN.wav)"
    priority = 20
    structural = SPLIT_DIRS
    train_dir = "train"

    @classmethod
    def matches(cls, folder: Path) -> bool:
        for split in SPLIT_DIRS:
            sub = child_dir(folder, split)
            try:
                names = [p.name for p in sub.iterdir()] if sub is not None else []
                if any(DCASE_LABELED.match(name) or DCASE_UNLABELED.match(name) for name in names):
                    return True
            except OSError:
                pass
        return False

    @classmethod
    def read(cls, folder: Path, machine_type: str, context: ReadContext) -> list[dict]:
        rows = []
        for split in SPLIT_DIRS:
            for path in _split_files(folder, split, context.skipped):
                labeled = DCASE_LABELED.match(path.name)
                unlabeled = DCASE_UNLABELED.match(path.name) if split == "test" else None
                if labeled and split == "train" and labeled["label"].lower() == "anomaly":
                    skip(context.skipped, path, ANOMALY_IN_TRAIN)
                    continue
                if labeled:
                    label, machine_id = labeled["label"].lower(), labeled["id"]
                elif unlabeled:
                    label, machine_id = "unknown", unlabeled["id"]
                else:
                    skip(context.skipped, path, "file name does not follow the DCASE layout of this folder")
                    continue
                rows.append(make_row(path, machine_type, machine_id, split, label))
        return rows
