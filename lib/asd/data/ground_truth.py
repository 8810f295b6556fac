"""The ground truth of an unlabelled evaluation set: read it, find it, label the clip table.

The DCASE 2020 evaluation test clips are named ``id_XX_NNNNNNNN.wav`` without their condition;
``eval_data_list.csv`` (Zenodo record 3951620, put beside the machine-type folders by ``asd
download``) says which are anomalous. :func:`load_ground_truth` reads it,
:func:`find_ground_truth` looks for it in a dataset root, :func:`apply_ground_truth` fills the
``unknown`` labels of a clip table from it.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from pathlib import Path

from ..errors import ASDError

logger = logging.getLogger(__name__)

__all__ = ["GROUND_TRUTH_NAME", "GroundTruthError", "apply_ground_truth", "find_ground_truth", "load_ground_truth"]

#: The ground truth's file name, in the evaluation set's root.
GROUND_TRUTH_NAME = "eval_data_list.csv"


class GroundTruthError(ASDError):
    """A ground-truth list (``eval_data_list.csv``) does not follow the DCASE 2020 format."""


_GT_FILE = re.compile(r"^(?:(?:normal|anomaly)_)?id_(?P<id>\d{2})_\d+\.wav$")
_GT_ORIGINAL = re.compile(r"^(?P<label>normal|anomaly)_id_(?P<id>\d{2})_\d+\.wav$")


def load_ground_truth(path: str | os.PathLike):
    """Read the DCASE 2020 evaluation ground truth (``eval_data_list.csv``, Zenodo 3951620).

    The file has no header. A line with one field names a machine type; the lines after it
    describe that type's evaluation test clips as ``file_name,original_name,label``::

        ToyCar
        id_05_00000000.wav,anomaly_id_05_00000111.wav,1
        id_05_00000001.wav,normal_id_05_00000028.wav,0

    where ``file_name`` is the clip's name in ``eval_data_test_<type>.zip``, ``original_name``
    carries the condition, and ``label`` is 1 for anomaly, 0 for normal (the column the DCASE
    2020 evaluator reads). Lines with only the first two fields take the label from
    ``original_name``.

    Returns
    -------
    pandas.DataFrame
        Columns ``machine_type``, ``machine_id`` (two digits), ``file_name``, ``label``
        (``"normal"``/``"anomaly"``), in file order.

    Raises
    ------
    GroundTruthError
        Naming the file and line of the first row that does not fit.
    """
    import pandas as pd

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GroundTruthError(f"{path}: ground-truth file not found") from None
    except IsADirectoryError:
        raise GroundTruthError(f"{path}: a folder, not a ground-truth file") from None
    except UnicodeDecodeError:
        raise GroundTruthError(f"{path}: not a text file") from None
    rows: list[dict] = []
    seen: set[tuple[str, str]] = set()
    machine_type: str | None = None
    for number, fields in enumerate(csv.reader(text.splitlines()), 1):
        fields = [f.strip() for f in fields]
        while fields and not fields[-1]:
            fields.pop()
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) == 1:
            machine_type = fields[0]
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", machine_type):
                raise GroundTruthError(f"{where}: expected a machine type or 'file,original,label', got {fields[0]!r}")
            continue
        if machine_type is None:
            raise GroundTruthError(f"{where}: clip listed before any machine-type line")
        file_name = fields[0]
        match = _GT_FILE.match(file_name)
        if not match:
            raise GroundTruthError(f"{where}: {file_name!r} is not a clip name like id_XX_NNNNNNNN.wav")
        original = _GT_ORIGINAL.match(fields[1]) if len(fields) > 1 else None
        if len(fields) >= 3:
            if fields[2] not in ("0", "1"):
                raise GroundTruthError(f"{where}: label must be 0 (normal) or 1 (anomaly), got {fields[2]!r}")
            label = "anomaly" if fields[2] == "1" else "normal"
            if original and original["label"] != label:
                raise GroundTruthError(f"{where}: label {fields[2]} contradicts {fields[1]!r}")
        elif original:
            label = original["label"]
        else:
            raise GroundTruthError(f"{where}: no label (expected 'file,original_name,0|1')")
        key = (machine_type, file_name)
        if key in seen:
            raise GroundTruthError(f"{where}: {machine_type}/{file_name} listed twice")
        seen.add(key)
        rows.append({"machine_type": machine_type, "machine_id": match["id"], "file_name": file_name, "label": label})
    if not rows:
        raise GroundTruthError(f"{path}: no clips listed")
    return pd.DataFrame(rows, columns=["machine_type", "machine_id", "file_name", "label"])


def find_ground_truth(root: str | os.PathLike) -> Path | None:
    """``root/eval_data_list.csv`` (where ``asd download`` puts it) if it exists, else None."""
    path = Path(root) / GROUND_TRUTH_NAME
    return path if path.is_file() else None


def apply_ground_truth(clips, ground_truth):
    """Fill in the labels of unlabelled clips (``label == "unknown"``) from a ground-truth table.

    Parameters
    ----------
    clips : pandas.DataFrame
        A clip table (:func:`asd.data.discover_clips`): ``machine_type``, ``file_name``, ``label``.
    ground_truth : pandas.DataFrame or path-like
        :func:`load_ground_truth`'s table, or the path of the file.

    Returns
    -------
    pandas.DataFrame
        A copy of ``clips`` with labels filled in; clips the ground truth does not list stay
        ``"unknown"`` (logged as a warning).
    """
    if not hasattr(ground_truth, "columns"):
        ground_truth = load_ground_truth(ground_truth)
    lookup = {(t, f): lab for t, f, lab in zip(ground_truth["machine_type"], ground_truth["file_name"], ground_truth["label"])}
    out = clips.copy()
    unknown = out["label"] == "unknown"
    labels = [lookup.get((t, f), "unknown") for t, f in zip(out.loc[unknown, "machine_type"], out.loc[unknown, "file_name"])]
    out.loc[unknown, "label"] = labels
    missing = labels.count("unknown")
    if missing:
        logger.warning("%d unlabelled clip(s) are not in the ground truth and stay 'unknown'", missing)
    return out
