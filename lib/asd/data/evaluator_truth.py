"""The official evaluators' ground truth of DCASE 2021-2025 evaluation sets (spec §2, §3, §5).

The evaluation test clips of 2022-2025 are named ``section_SS_NNNN.wav`` (2021:
``section_SS_<domain>_test_NNNN.wav``): label and domain come from the evaluator repositories'
files, which the user gives (a folder holding them, or one of them)::

    ground_truth_data/ground_truth_<type>_section_SS_test.csv              name,0|1      (1 = anomaly)
    ground_truth_data/ground_truth_<type>_section_SS_<domain>_test.csv     name,0|1      (2021)
    ground_truth_domain/ground_truth_<type>_section_SS_test.csv            name,0|1      (1 = target)
    ground_truth_attributes/ground_truth_<type>_section_SS_test.csv        name,labelled name (2023+)

:func:`load_evaluator_truth` merges them into one row per machine type and clip.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ..errors import ASDError
from .section_names import parse_name

__all__ = ["EVALUATOR_FOLDERS", "GroundTruthError", "evaluator_files", "load_evaluator_truth", "parse_labelled"]

#: The evaluators' folder names, and the column each file's second field fills.
EVALUATOR_FOLDERS = {"ground_truth_data": "label", "ground_truth_domain": "domain", "ground_truth_attributes": "named"}
_FILE = re.compile(r"^ground_truth_(?P<type>.+?)_section_(?P<section>\d\d)(?:_(?P<domain>source|target))?_test\.csv$")


class GroundTruthError(ASDError):
    """A ground-truth file does not follow the format of the DCASE list or evaluator it claims to be."""


def parse_labelled(name: str) -> dict | None:
    """A DCASE 2021+ labelled name (``.wav`` optional, as the evaluators' attribute files write it) parsed."""
    parsed = parse_name(name if name.lower().endswith(".wav") else f"{name}.wav")
    return parsed if parsed and parsed["label"] != "unknown" else None


def evaluator_files(path: Path) -> list[tuple[Path, str]]:
    """``(file, kind)`` for every evaluator ground-truth CSV in ``path`` (a file, an evaluator folder,
    or a folder holding them up to two levels down)."""
    if path.is_file():
        kind = EVALUATOR_FOLDERS.get(path.parent.name, "label")
        return [(path, kind)]
    folders = [path] if path.name in EVALUATOR_FOLDERS else []
    for depth in ("*", "*/*"):
        folders = folders or [p for p in sorted(path.glob(depth)) if p.is_dir() and p.name in EVALUATOR_FOLDERS]
    return [(file, EVALUATOR_FOLDERS[f.name]) for f in folders for file in sorted(f.glob("ground_truth_*.csv"))]


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GroundTruthError(f"{path}: cannot be read as a ground-truth file ({exc})") from None
    rows = [(n, [f.strip() for f in fields]) for n, fields in enumerate(csv.reader(text.splitlines()), 1)]
    return [(n, fields) for n, fields in rows if any(fields)]


def _entry(table: dict, machine_type: str, name: str) -> dict:
    return table.setdefault((machine_type, name), {"machine_type": machine_type, "file_name": name})


def _set(entry: dict, key: str, value: str, where: str) -> None:
    if entry.get(key, value) != value:
        raise GroundTruthError(
            f"{where}: {entry['file_name']}: {key} {value!r} contradicts {entry[key]!r} from another file"
        )
    entry[key] = value


def _read_file(path: Path, kind: str, table: dict) -> None:
    match = _FILE.match(path.name)
    if not match:
        raise GroundTruthError(
            f"{path}: not an evaluator file name (ground_truth_<type>_section_SS[_<domain>]_test.csv)"
        )
    machine_type = match["type"]
    for number, fields in _read_rows(path):
        where = f"{path}:{number}"
        if len(fields) < 2 or not fields[0].lower().endswith(".wav"):
            raise GroundTruthError(f"{where}: expected 'clip.wav,value', got {','.join(fields)!r}")
        entry = _entry(table, machine_type, fields[0])
        _set(entry, "section", match["section"], where)
        if match["domain"]:
            _set(entry, "domain", match["domain"], where)
        if kind == "named":
            parsed = parse_labelled(fields[1])
            if parsed is None:
                raise GroundTruthError(f"{where}: {fields[1]!r} is not a labelled DCASE 2021+ name")
            for key in ("label", "domain", "attributes"):
                _set(entry, key, parsed[key], where)
        elif fields[1] not in ("0", "1"):
            raise GroundTruthError(f"{where}: expected 0 or 1 in the second column, got {fields[1]!r}")
        elif kind == "label":
            _set(entry, "label", "anomaly" if fields[1] == "1" else "normal", where)
        else:
            _set(entry, "domain", "target" if fields[1] == "1" else "source", where)


def load_evaluator_truth(path: Path) -> list[dict]:
    """Rows ``machine_type, machine_id, file_name, label, section, domain, attributes`` from evaluator files.

    Raises
    ------
    GroundTruthError
        No evaluator file under ``path``, a file or line that does not fit (named), two files that
        disagree on a clip, or a clip with a domain but no label (``ground_truth_data/`` missing).
    """
    files = evaluator_files(path)
    if not files:
        raise GroundTruthError(f"{path}: no evaluator ground-truth files (ground_truth_data/ground_truth_*.csv) found")
    table: dict = {}
    for file, kind in files:
        _read_file(file, kind, table)
    rows = []
    for entry in table.values():
        if "label" not in entry:
            raise GroundTruthError(
                f"{path}: {entry['machine_type']}/{entry['file_name']} has no label "
                "(give the evaluator's ground_truth_data/ too)"
            )
        section = entry["section"]
        rows.append(
            {
                "machine_type": entry["machine_type"],
                "machine_id": section,
                "file_name": entry["file_name"],
                "label": entry["label"],
                "section": section,
                "domain": entry.get("domain", "unknown"),
                "attributes": entry.get("attributes", ""),
            }
        )
    return rows
