"""The file-name grammar of DCASE 2021-2025 Task 2 and the reading both of its layouts share.

Names (spec ``shared/specs/dcase-2021-2025.md`` §1 and §6), read in any case::

    section_SS_<source|target>_<train|test>_<normal|anomaly>_NNNN[_<attributes>].wav   labelled clips
    section_SS_NNNN.wav                          evaluation test clips, 2022-2025 (nothing but the section)
    section_SS_<source|target>_test_NNNN.wav     evaluation test clips, 2021 (the domain, not the label)

The index ``NNNN`` may start at 0 or 1 and is not checked; the attribute string is kept as it is
(``car_A2_spd_28V_mic_1_noise_1``, ``noAttribute`` where it is hidden, 2024+). A clip whose name
gives no attributes takes them from ``<machine_type>/attributes_SS.csv`` when that lists it.
A name that starts with ``section_`` but follows neither pattern is refused (:class:`LayoutError`
naming the file): such a folder is never read in another layout by accident.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ..errors import LayoutError
from .dcase2020 import ANOMALY_IN_TRAIN
from .registry import ReadContext, make_row
from .scan import child_dir, scan, skip

__all__ = [
    "LABELED",
    "PREFIX",
    "UNLABELED",
    "parse_name",
    "read_attribute_csvs",
    "read_machine",
    "read_split",
    "read_supplemental",
]

#: Spec §6; tolerates the missing ``test_`` of the 2024 RoboticArm list and a trailing ``_``.
LABELED = re.compile(
    r"^section_(?P<section>\d\d)_(?P<domain>source|target)_(?:(?P<split>train|test)_)?(?P<label>normal|anomaly)_"
    r"(?P<index>\d+)(?:_(?P<attributes>.*))?\.wav$",
    re.IGNORECASE,
)
#: Spec §6: evaluation test names (2021 keeps the domain in the name).
UNLABELED = re.compile(
    r"^section_(?P<section>\d\d)_(?:(?P<domain>source|target)_test_)?(?P<index>\d+)\.wav$", re.IGNORECASE
)
PREFIX = re.compile(r"^section_", re.IGNORECASE)
GRAMMAR = (
    "section_SS_<source|target>_<train|test>_<normal|anomaly>_NNNN[_attributes].wav, "
    "or section_SS_[<source|target>_test_]NNNN.wav for an evaluation test clip"
)


def parse_name(name: str) -> dict | None:
    """``section``, ``domain``, ``split``, ``label``, ``attributes`` of a DCASE 2021+ name, or None.

    An evaluation test name gives ``label`` ``"unknown"``, ``split`` ``"test"`` and, from 2022 on,
    ``domain`` ``"unknown"``; ``split`` is None where the name omits it (2024 RoboticArm list).
    """
    match = LABELED.match(name)
    if match:
        return {
            "section": match["section"],
            "domain": match["domain"].lower(),
            "split": match["split"].lower() if match["split"] else None,
            "label": match["label"].lower(),
            "attributes": match["attributes"] or "",
        }
    match = UNLABELED.match(name)
    if match:
        domain = match["domain"].lower() if match["domain"] else "unknown"
        return {"section": match["section"], "domain": domain, "split": "test", "label": "unknown", "attributes": ""}
    return None


def read_attribute_csvs(folder: Path) -> dict[str, str]:
    """Clip name -> attribute string from every ``attributes_SS.csv`` of a machine folder.

    The first column is a path whose base name is the clip; the next columns are pairs
    ``dXp,dXv`` (parameter, value), as many as the machine type has. The string is the pairs
    joined by ``_`` as a training clip's name writes them (``m-n_W``, ``vel_21_m-n_X``).

    Raises
    ------
    LayoutError
        Naming the file and line of a row that cannot be read.
    """
    table: dict[str, str] = {}
    for path in sorted(folder.glob("[aA][tT][tT][rR][iI][bB][uU][tT][eE][sS]_*.[cC][sS][vV]")):
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise LayoutError(f"{path}: cannot be read as an attribute list ({exc})") from None
        for number, fields in enumerate(csv.reader(lines), 1):
            if not fields or (number == 1 and fields[0].strip().lower() == "file_name"):
                continue
            name = Path(fields[0].strip().replace("\\", "/")).name
            if not name.lower().endswith(".wav"):
                raise LayoutError(f"{path}:{number}: expected a clip path in the first column, got {fields[0]!r}")
            table[name] = "_".join(value.strip() for value in fields[1:] if value.strip())
    return table


def _contradiction(path: Path, what: str, named: str, folder: str) -> LayoutError:
    return LayoutError(f"{path}: the name says {what} {named!r} but the clip is in {folder}/; move or rename it")


def read_split(
    sub: Path, machine_type: str, split: str, folder_domain: str | None, context: ReadContext, attributes: dict
) -> list[dict]:
    """The rows of one split folder (``train``, ``test``, ``source_test``, ``target_test``) of a machine folder.

    Names without ``section_`` are skipped (listed); ``section_`` names that do not parse, or
    that contradict the folder's split or domain, raise :class:`LayoutError` naming the file.
    """
    rows = []
    for path in scan(sub, context.skipped)[0]:
        if not PREFIX.match(path.name):
            skip(context.skipped, path, "file name does not follow the DCASE 2021-2025 layout of this folder")
            continue
        parsed = parse_name(path.name)
        if parsed is None:
            raise LayoutError(f"{path}: file name does not follow the DCASE 2021-2025 grammar ({GRAMMAR})")
        if split == "train" and parsed["label"] == "unknown":
            raise LayoutError(f"{path}: an evaluation test name in {sub.name}/ (training clips are named {GRAMMAR})")
        if parsed["split"] not in (None, split):
            raise _contradiction(path, "split", parsed["split"], sub.name)
        if folder_domain and parsed["domain"] not in ("unknown", folder_domain):
            raise _contradiction(path, "domain", parsed["domain"], sub.name)
        if split == "train" and parsed["label"] == "anomaly":
            skip(context.skipped, path, ANOMALY_IN_TRAIN)
            continue
        domain = folder_domain if parsed["domain"] == "unknown" and folder_domain else parsed["domain"]
        section = parsed["section"]
        text = parsed["attributes"] or attributes.get(path.name, "")
        rows.append(make_row(path, machine_type, section, split, parsed["label"], section, domain, text))
    return rows


def read_machine(folder: Path, machine_type: str, context: ReadContext, splits: dict) -> list[dict]:
    """The rows of a machine folder's split folders: ``splits`` maps a folder name to ``(split, domain or None)``."""
    attributes = read_attribute_csvs(folder)
    rows = []
    for name, (split, domain) in splits.items():
        sub = child_dir(folder, name)
        if sub is not None:
            rows += read_split(sub, machine_type, split, domain, context, attributes)
    return rows


_SUPPLEMENTAL_SECTION = re.compile(r"^section_(?P<section>\d\d)_", re.IGNORECASE)
_SUPPLEMENTAL_DOMAIN = re.compile(r"_(?P<domain>source|target)_", re.IGNORECASE)


def read_supplemental(folder: Path, machine_type: str, context: ReadContext) -> list[dict]:
    """DCASE 2025 ``supplemental/*.wav`` (names not parsed strictly: spec §2): rows if asked for, else listed.

    The clips are neither training nor test data; asked for (``include_supplemental``) they are
    rows with split ``"supplemental"`` and label ``"unknown"``; else their paths go to
    ``context.supplemental``.
    """
    sub = child_dir(folder, "supplemental")
    if sub is None:
        return []
    files = scan(sub, context.skipped)[0]
    if not context.include_supplemental:
        context.supplemental.extend(str(p) for p in files)
        return []
    rows = []
    for path in files:
        section = _SUPPLEMENTAL_SECTION.match(path.name)
        domain = _SUPPLEMENTAL_DOMAIN.search(path.stem + "_")
        section_id = section["section"] if section else context.default_id
        rows.append(
            make_row(
                path,
                machine_type,
                section_id,
                "supplemental",
                "unknown",
                section_id,
                domain["domain"].lower() if domain else "unknown",
            )
        )
    return rows
