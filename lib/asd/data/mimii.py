"""The original MIMII release (any file names; folder names read in any case)::

    <root>/<machine_type>/id_XX/normal/*.wav
    <root>/<machine_type>/id_XX/abnormal/*.wav

MIMII has no train/test split. :func:`mimii_split` makes a deterministic one per machine ID, as
the DCASE 2020 organisers did in spirit: the test split holds every abnormal clip plus as many
normal clips, but at most half of the normal clips; the normal clips are sorted by file name and
the *last* ones go to the test split. Everything else is training data.
"""

from __future__ import annotations

import re
from pathlib import Path

from .registry import Layout, ReadContext, make_row, register_layout
from .scan import child_dir, scan

__all__ = ["MIMII_ID_DIR", "MIMII_NAME", "MimiiLayout", "mimii_split"]

MIMII_NAME = re.compile(r"^(?P<index>\d{8})\.wav$", re.IGNORECASE)
MIMII_ID_DIR = re.compile(r"^id_(?P<id>\d{2})$", re.IGNORECASE)


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


def split_rows(pool: dict[str, list[Path]], machine_type: str, machine_id: str) -> list[dict]:
    """The rows of one machine ID's ``{"normal": [...], "anomaly": [...]}`` clips, split by :func:`mimii_split`."""
    train, test = mimii_split(pool["normal"], pool["anomaly"])
    return [make_row(p, machine_type, machine_id, "train", "normal") for p in train] + [
        make_row(p, machine_type, machine_id, "test", label) for p, label in test
    ]


@register_layout
class MimiiLayout(Layout):
    """MIMII: ``TYPE/id_XX/normal|abnormal/*.wav``, split per ID by :func:`mimii_split`."""

    name = "mimii"
    datasets = ("mimii",)
    help = "MIMII (TYPE/id_XX/normal|abnormal/*.wav)"
    priority = 10

    @classmethod
    def matches(cls, folder: Path) -> bool:
        return any(
            MIMII_ID_DIR.match(sub.name) and (child_dir(sub, "normal") or child_dir(sub, "abnormal"))
            for sub in scan(folder, [])[1]
        )

    @classmethod
    def read(cls, folder: Path, machine_type: str, context: ReadContext) -> list[dict]:
        rows = []
        for id_dir in scan(folder, context.skipped)[1]:
            match = MIMII_ID_DIR.match(id_dir.name)
            if not match:
                continue
            pool = {}
            for name, label in (("normal", "normal"), ("abnormal", "anomaly")):
                sub = child_dir(id_dir, name)
                pool[label] = scan(sub, context.skipped)[0] if sub is not None else []
            rows += split_rows(pool, machine_type, match["id"])
        return rows
