"""The ground truth of an unlabelled evaluation set: read it, find it, label the clip table.

The DCASE 2020 evaluation test clips are named ``id_XX_NNNNNNNN.wav`` without their condition;
``eval_data_list.csv`` (Zenodo record 3951620, put beside the machine-type folders by ``asd
download``) says which are anomalous. The DCASE 2021-2025 evaluation clips
(``section_SS_NNNN.wav``) are labelled by the baseline's lists in the same format
(``eval_data_list_20XX.csv``: ``eval_name,labelled_name``) or by the official evaluators' files
(:mod:`asd.data.evaluator_truth`), which also give the domain and attributes.
:func:`load_ground_truth` reads any of them, :func:`find_ground_truth` looks for one in a dataset
root, :func:`apply_ground_truth` fills the ``unknown`` labels (and domains) of a clip table.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from pathlib import Path

from .evaluator_truth import (
    EVALUATOR_FOLDERS,
    GroundTruthError,
    evaluator_files,
    load_evaluator_truth,
    parse_labelled,
)
from .section_names import parse_name

logger = logging.getLogger(__name__)

__all__ = [
    "GROUND_TRUTH_NAME",
    "GT_COLUMNS",
    "GroundTruthError",
    "apply_ground_truth",
    "find_ground_truth",
    "load_ground_truth",
]

#: The ground truth's file name, in the evaluation set's root.
GROUND_TRUTH_NAME = "eval_data_list.csv"


_GT_FILE = re.compile(r"^(?:(?:normal|anomaly)_)?id_(?P<id>\d{2})_\d+\.wav$", re.IGNORECASE)
_GT_ORIGINAL = re.compile(r"^(?P<label>normal|anomaly)_id_(?P<id>\d{2})_\d+\.wav$", re.IGNORECASE)
#: The columns of a DCASE 2021+ ground truth; a DCASE 2020 one has the first four.
GT_COLUMNS = ["machine_type", "machine_id", "file_name", "label", "section", "domain", "attributes"]
#: The baseline's 2022 list disagrees with the evaluator for ToyCar and ToyTrain (spec §1, errata).
_WRONG_LISTS = re.compile(r"^eval_data_list_2022\.csv$", re.IGNORECASE)


def load_ground_truth(path: str | os.PathLike):
    """Read the ground truth of a DCASE 2020-2025 evaluation set.

    ``path`` is one of:

    - a list in the DCASE format (``eval_data_list.csv`` of 2020, Zenodo 3951620, or the
      baseline's ``eval_data_list_20XX.csv`` of 2021-2025). No header; a line with one field
      names a machine type; the lines after it are ``file_name,original_name[,label]``::

          ToyCar
          id_05_00000000.wav,anomaly_id_05_00000111.wav,1
          section_03_0000.wav,section_03_source_test_normal_0012_car_A2.wav

      where ``file_name`` is the clip's name in the evaluation archive, ``original_name``
      carries the condition (and, 2021+, section, domain and attributes), and ``label`` is 1
      for anomaly, 0 for normal. Lines without the label take it from ``original_name``;
    - an official evaluator's file or folder (:mod:`asd.data.evaluator_truth`; 2021-2025).

    The baseline's 2022 list is refused: its ToyCar and ToyTrain labels and domains disagree
    with the official evaluator (spec §1, errata); give the evaluator's folders instead.

    Returns
    -------
    pandas.DataFrame
        Columns ``machine_type``, ``machine_id`` (two digits; the section for 2021+),
        ``file_name``, ``label`` (``"normal"``/``"anomaly"``), in file order; for 2021+ also
        ``section``, ``domain`` (``"source"``/``"target"``, ``"unknown"`` where not given) and
        ``attributes`` (:data:`GT_COLUMNS`).

    Raises
    ------
    GroundTruthError
        Naming the file and line of the first row that does not fit.
    """
    import pandas as pd

    path = Path(path)
    if path.is_dir() or (path.is_file() and path.parent.name in EVALUATOR_FOLDERS):
        if path.is_dir() and not evaluator_files(path):
            raise GroundTruthError(
                f"{path}: a folder, not a ground-truth file, and it holds no evaluator files "
                f"({', '.join(f'{name}/' for name in EVALUATOR_FOLDERS)})"
            )
        return pd.DataFrame(load_evaluator_truth(path), columns=GT_COLUMNS)
    if _WRONG_LISTS.match(path.name):
        raise GroundTruthError(
            f"{path}: the baseline's 2022 list disagrees with the official evaluator for ToyCar and ToyTrain; "
            "give the evaluator's ground_truth_data/ and ground_truth_domain/ folders (dcase2022_evaluator)"
        )
    rows = _load_list(path)
    sections = any(row["section"] for row in rows)
    return pd.DataFrame(rows, columns=GT_COLUMNS if sections else GT_COLUMNS[:4])


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GroundTruthError(f"{path}: ground-truth file not found") from None
    except IsADirectoryError:
        raise GroundTruthError(f"{path}: a folder, not a ground-truth file") from None
    except UnicodeDecodeError:
        raise GroundTruthError(f"{path}: not a text file") from None


def _load_list(path: Path) -> list[dict]:
    """The rows of a list in the DCASE format (2020, or the baseline's 2021-2025 lists)."""
    rows: list[dict] = []
    seen: set[tuple[str, str]] = set()
    machine_type: str | None = None
    for number, fields in enumerate(csv.reader(_read_text(path).splitlines()), 1):
        fields = [f.strip() for f in fields]
        while fields and not fields[-1]:
            fields.pop()
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) == 1:
            machine_type = fields[0]
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", machine_type):
                raise GroundTruthError(f"{where}: expected a machine type or 'file,original,label', got {fields[0]!r}")
            continue
        if machine_type is None:
            raise GroundTruthError(f"{where}: clip listed before any machine-type line")
        row = _list_row(fields, where)
        key = (machine_type, row["file_name"])
        if key in seen:
            raise GroundTruthError(f"{where}: {machine_type}/{row['file_name']} listed twice")
        seen.add(key)
        rows.append({"machine_type": machine_type, **row})
    if not rows:
        raise GroundTruthError(f"{path}: no clips listed")
    return rows


def _list_row(fields: list[str], where: str) -> dict:
    """``machine_id, file_name, label, section, domain, attributes`` of one ``file,original[,label]`` line."""
    file_name = fields[0]
    match = _GT_FILE.match(file_name)
    named = parse_name(file_name) if match is None else None
    if match is None and named is None:
        raise GroundTruthError(
            f"{where}: {file_name!r} is not a clip name like id_XX_NNNNNNNN.wav or section_SS_NNNN.wav"
        )
    original = None
    if len(fields) > 1:
        original = _GT_ORIGINAL.match(fields[1]) if match else parse_labelled(fields[1])
    name_label = (original["label"].lower() if match else original["label"]) if original else None
    if len(fields) >= 3:
        if fields[2] not in ("0", "1"):
            raise GroundTruthError(f"{where}: label must be 0 (normal) or 1 (anomaly), got {fields[2]!r}")
        label = "anomaly" if fields[2] == "1" else "normal"
        if name_label and name_label != label:
            raise GroundTruthError(f"{where}: label {fields[2]} contradicts {fields[1]!r}")
    elif name_label:
        label = name_label
    else:
        raise GroundTruthError(f"{where}: no label (expected 'file,original_name,0|1')")
    if match:
        return {
            "machine_id": match["id"],
            "file_name": file_name,
            "label": label,
            "section": "",
            "domain": "",
            "attributes": "",
        }
    section = named["section"]
    if original and original["section"] != section:
        raise GroundTruthError(f"{where}: section {section} of {file_name!r} contradicts {fields[1]!r}")
    domain = original["domain"] if original else named["domain"]
    return {
        "machine_id": section,
        "file_name": file_name,
        "label": label,
        "section": section,
        "domain": domain,
        "attributes": original["attributes"] if original else "",
    }


def find_ground_truth(root: str | os.PathLike) -> Path | None:
    """The ground truth in a dataset root, or None.

    In this order: ``root/eval_data_list.csv`` (where ``asd download`` puts 2020's), the one
    ``root/eval_data_list_20XX.csv`` (a baseline list), ``root`` or ``root/ground_truth`` when it
    holds the evaluator's folders (``ground_truth_data/`` ...). Several baseline lists: None
    (ambiguous; give one with ``--ground-truth``).
    """
    root = Path(root)
    path = root / GROUND_TRUTH_NAME
    if path.is_file():
        return path
    lists = sorted(p for p in root.glob("eval_data_list_*.csv") if p.is_file()) if root.is_dir() else []
    if len(lists) == 1:
        return lists[0]
    if lists:
        return None
    for folder in (root, root / "ground_truth"):  # asd generate --format dcase20XX writes ground_truth/
        if any((folder / name).is_dir() for name in EVALUATOR_FOLDERS):
            return folder
    return None


def apply_ground_truth(clips, ground_truth):
    """Fill in the labels of unlabelled clips (``label == "unknown"``) from a ground-truth table.

    Clips of DCASE 2021+ also get their domain (where ``"unknown"``) and attributes (where
    empty) from a ground truth that gives them (:data:`GT_COLUMNS`).

    Parameters
    ----------
    clips : pandas.DataFrame
        A clip table (:func:`asd.data.discover_clips`): ``machine_type``, ``file_name``, ``label``
        (and ``domain``, ``attributes``).
    ground_truth : pandas.DataFrame or path-like
        :func:`load_ground_truth`'s table, or the path of the file or evaluator folder.

    Returns
    -------
    pandas.DataFrame
        A copy of ``clips`` with labels filled in; clips the ground truth does not list stay
        ``"unknown"`` (logged as a warning).

    Raises
    ------
    GroundTruthError
        The ground truth gives a clip a domain that contradicts the one its folder or name gives.
    """
    if not hasattr(ground_truth, "columns"):
        ground_truth = load_ground_truth(ground_truth)
    keys = list(zip(ground_truth["machine_type"], ground_truth["file_name"]))
    out = clips.copy()
    unknown = out["label"] == "unknown"
    lookup = dict(zip(keys, ground_truth["label"]))
    pairs = zip(out.loc[unknown, "machine_type"], out.loc[unknown, "file_name"])
    labels = [lookup.get(pair, "unknown") for pair in pairs]
    out.loc[unknown, "label"] = labels
    missing = labels.count("unknown")
    if missing:
        logger.warning("%d unlabelled clip(s) are not in the ground truth and stay 'unknown'", missing)
    if "domain" in ground_truth.columns and "domain" in out.columns:
        _fill_domains(out, dict(zip(keys, zip(ground_truth["domain"], ground_truth["attributes"]))))
    return out


def _fill_domains(out, lookup: dict) -> None:
    """Domain (where unknown) and attributes (where empty) of ``out``'s rows from ``lookup``, in place."""
    for index, (machine_type, file_name, domain, attributes) in enumerate(
        zip(out["machine_type"], out["file_name"], out["domain"], out["attributes"])
    ):
        given = lookup.get((machine_type, file_name))
        if given is None or given[0] == "unknown":
            continue
        if domain not in ("unknown", "", given[0]):
            raise GroundTruthError(
                f"{machine_type}/{file_name}: the ground truth says {given[0]}, the clip's folder or name says {domain}"
            )
        out.iat[index, out.columns.get_loc("domain")] = given[0]
        if not attributes and given[1]:
            out.iat[index, out.columns.get_loc("attributes")] = given[1]
