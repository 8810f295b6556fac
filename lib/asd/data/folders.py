"""The ``folders`` layout: your own recordings, any file names (the catch-all, tried last)::

    <root>/<machine_type>/*.wav                 one folder per machine
    <root>/<machine_type>/train/*.wav           ... with a split
    <root>/<machine_type>/id_03/*.wav           ... with several machines of one type
    <root>/*.wav                                one machine's folder (also with train/, id_XX/, ...)

Rules (the folder names along a clip's path, case-insensitive):

- machine ID: an ``id_XX`` folder; else a DCASE-style file name (``..._id_XX_...``, or the section
  of a DCASE 2021+ name ``section_SS_...``); else ``machine_id=`` (default ``"00"``).
- a ``train`` folder: a normal training clip (an anomalous one there is skipped);
- a ``test`` folder: a test clip, labelled by a ``normal``/``anomaly``/``abnormal`` folder or a
  DCASE-style name, else ``unknown`` (scored, not counted in the metrics);
- no ``train``/``test`` folder but ``normal``/``anomaly``/``abnormal``: split per machine ID
  as MIMII is (:func:`asd.data.mimii_split`);
- no such folder at all: a normal training clip. Other folder names (dates, microphones) do
  not matter.
"""

from __future__ import annotations

import re
from pathlib import Path

from .dcase2020 import ANOMALY_IN_TRAIN, DCASE_LABELED, DCASE_UNLABELED
from .mimii import split_rows
from .registry import Layout, ReadContext, make_row, register_layout
from .scan import skip, walk
from .section_names import parse_name

__all__ = ["ID_DIR", "LABEL_DIRS", "SPLIT_DIRS", "FoldersLayout"]

#: A folder naming the machine ID: ``id_3``, ``id_03``, ``ID_03``.
ID_DIR = re.compile(r"^id_(?P<id>\d{1,2})$", re.IGNORECASE)
SPLIT_DIRS = {"train": "train", "test": "test"}
LABEL_DIRS = {"normal": "normal", "anomaly": "anomaly", "abnormal": "anomaly"}


def _named(name: str) -> dict:
    """Machine ID, label, section, domain, attributes that a DCASE-style file name gives (empty dict: none)."""
    match = DCASE_LABELED.match(name) or DCASE_UNLABELED.match(name)
    if match:
        label = match.groupdict().get("label")
        return {"id": match["id"], "label": label.lower() if label else None}
    parsed = parse_name(name)
    if parsed:
        label = None if parsed["label"] == "unknown" else parsed["label"]
        return {
            "id": parsed["section"],
            "label": label,
            "section": parsed["section"],
            "domain": parsed["domain"],
            "attributes": parsed["attributes"],
        }
    return {}


def _folder_facts(parts: tuple[str, ...]) -> tuple[str | None, str | None, str | None]:
    split = label = folder_id = None
    for part in parts:
        lower = part.lower()
        split = SPLIT_DIRS.get(lower, split)
        label = LABEL_DIRS.get(lower, label)
        match = ID_DIR.match(part)
        folder_id = match["id"].zfill(2) if match else folder_id
    return split, label, folder_id


@register_layout
class FoldersLayout(Layout):
    """Any folder of recordings: folder names give split, label and ID (the rules above)."""

    name = "folders"
    datasets = ("folders",)
    help = (
        "one folder per machine (TYPE/*.wav, TYPE/train|test/*.wav, TYPE/id_XX/*.wav) "
        "or one machine's folder (*.wav, train|test/*.wav, id_XX/*.wav)"
    )
    priority = 0
    structural = ("train", "test", "normal", "anomaly", "abnormal")

    @classmethod
    def matches(cls, folder: Path) -> bool:
        return True

    @classmethod
    def read(cls, folder: Path, machine_type: str, context: ReadContext) -> list[dict]:
        rows = []
        pools: dict[str, dict[str, list[Path]]] = {}
        for path, parts in walk(folder, context.skipped):
            split, label, folder_id = _folder_facts(parts)
            named = _named(path.name)
            label = label or named.get("label")
            machine_id = folder_id or named.get("id") or context.default_id
            extra = (named.get("section", ""), named.get("domain", ""), named.get("attributes", ""))
            if split == "train":
                if label == "anomaly":
                    skip(context.skipped, path, ANOMALY_IN_TRAIN)
                    continue
                rows.append(make_row(path, machine_type, machine_id, "train", "normal", *extra))
            elif split == "test":
                rows.append(make_row(path, machine_type, machine_id, "test", label or "unknown", *extra))
            elif label is None:
                rows.append(make_row(path, machine_type, machine_id, "train", "normal", *extra))
            else:
                pools.setdefault(machine_id, {"normal": [], "anomaly": []})[label].append(path)
        for machine_id, pool in sorted(pools.items()):
            rows += split_rows(pool, machine_type, machine_id)
        return rows
