"""DCASE 2021-2025 Task 2 submission files: write them from a scores table, check them as the evaluators read them.

One pair of files per machine type and section (2021: per machine type, section and domain)::

    anomaly_score_<type>_section_<SS>_test.csv            rows  <file name>,<score>
    decision_result_<type>_section_<SS>_test.csv          rows  <file name>,<0|1>
    anomaly_score_<type>_section_<SS>_<source|target>_test.csv      (2021)

CSV without a header, one row per test clip, the clip's file name (no folder) first. The
evaluators read every row, sort the rows by file name and align them with the sorted ground truth
(``sorted(score_list)`` in ``read_score``), so a file must hold exactly the test clips' names,
each once: :func:`check_submission` checks that.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
from pathlib import Path

import pandas as pd

from .atomic import write_text_atomic
from .errors import ASDError
from .official import check_dataset, official_scores

logger = logging.getLogger(__name__)


class SubmissionError(ASDError, ValueError):
    """A submission file that is missing, malformed or does not list the expected clips."""


def submission_names(machine_type: str, section: str, *, dataset: str, domain: str | None = None) -> tuple[str, str]:
    """``(anomaly score file, decision result file)`` names of one machine type and section.

    ``domain`` (``source``/``target``) is required for ``dcase2021`` and refused otherwise.
    """
    check_dataset(dataset)
    stem = f"{machine_type}_section_{int(section):02d}"
    if dataset == "dcase2021":
        if domain not in ("source", "target"):
            raise SubmissionError(f"dcase2021 submission files are per domain; got domain {domain!r}")
        stem += f"_{domain}"
    elif domain is not None:
        raise SubmissionError(f"{dataset} submission files are per section, not per domain")
    return f"anomaly_score_{stem}_test.csv", f"decision_result_{stem}_test.csv"


def _file_names(scores: pd.DataFrame) -> pd.Series:
    if "file_name" in scores:
        return scores["file_name"].astype(str)
    if "path" in scores:
        return scores["path"].map(lambda p: os.path.basename(str(p)))
    raise SubmissionError("scores table lacks a 'file_name' or 'path' column")


def _decision_bits(values: pd.Series) -> list[int]:
    if values.dtype == object:
        bad = sorted(set(values) - {"anomaly", "normal"})
        if bad:
            raise SubmissionError(f"decision must be 'anomaly' or 'normal', got {', '.join(map(str, bad[:3]))}")
        return [int(v == "anomaly") for v in values]
    bits = [int(v) for v in values]
    if set(bits) - {0, 1}:
        raise SubmissionError("decision must be 0 or 1")
    return bits


def _groups(frame: pd.DataFrame, dataset: str):
    keys = ["machine_type", "section", "domain"] if dataset == "dcase2021" else ["machine_type", "section"]
    missing = [k for k in keys + ["score", "decision"] if k not in frame]
    if missing:
        raise SubmissionError(f"scores table lacks column(s) {', '.join(missing)}")
    for key, group in frame.groupby(keys, sort=True):
        machine_type, section, *domain = key
        yield submission_names(machine_type, section, dataset=dataset, domain=domain[0] if domain else None), group


def _csv_text(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def write_submission(scores: pd.DataFrame, out_dir: str | os.PathLike, *, dataset: str) -> list[Path]:
    """Write the anomaly-score and decision files of one model's test scores.

    Parameters
    ----------
    scores : DataFrame
        One row per test clip: ``file_name`` (or ``path``), ``machine_type``, ``section``,
        ``domain`` (2021 only), ``score`` (finite) and ``decision`` (``anomaly``/``normal`` or 1/0).
        Labels are not needed: eval clips are written as well.
    out_dir : path-like
        Folder of the submission; created if missing.
    dataset : str
        ``dcase2021`` ... ``dcase2025``.

    Returns
    -------
    list of Path
        The files written (atomically), two per group, rows sorted by file name.
    """
    check_dataset(dataset)
    frame = scores.assign(file_name=_file_names(scores))
    repeated = frame.duplicated([c for c in ("machine_type", "file_name") if c in frame])
    if repeated.any():
        dup = frame.loc[repeated, "file_name"].iloc[0]
        raise SubmissionError(f"clip {dup} appears more than once in the scores table")
    written = []
    for (score_name, decision_name), group in _groups(frame, dataset):
        group = group.sort_values("file_name")
        if not all(math.isfinite(float(s)) for s in group["score"]):
            raise SubmissionError(f"{score_name}: scores contain NaN or infinite values")
        names = group["file_name"].tolist()
        written.append(
            write_text_atomic(
                Path(out_dir) / score_name, _csv_text(zip(names, (repr(float(s)) for s in group["score"])))
            )
        )
        written.append(
            write_text_atomic(Path(out_dir) / decision_name, _csv_text(zip(names, _decision_bits(group["decision"]))))
        )
    logger.info("wrote %d submission files into %s", len(written), out_dir)
    return written


def _read_rows(path: Path, *, decision: bool) -> dict[str, float]:
    if not path.is_file():
        raise SubmissionError(f"{path}: missing")
    rows: dict[str, float] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if len(row) != 2:
                raise SubmissionError(f"{path}: line {number} has {len(row)} fields, expected 2 (name,value)")
            name, text = row
            try:
                value = float(text)
            except ValueError:
                raise SubmissionError(f"{path}: line {number}: {text!r} is not a number") from None
            if not math.isfinite(value) or (decision and value not in (0.0, 1.0)):
                raise SubmissionError(f"{path}: line {number}: {text!r} is not {'0 or 1' if decision else 'finite'}")
            if name in rows:
                raise SubmissionError(f"{path}: {name} listed twice")
            rows[name] = value
    return rows


def check_submission(folder: str | os.PathLike, expected: pd.DataFrame, *, dataset: str) -> pd.DataFrame:
    """Read a submission and check it against the test clips it must score.

    Parameters
    ----------
    folder : path-like
        Folder holding the submission files.
    expected : DataFrame
        The test clips: ``file_name`` (or ``path``), ``machine_type``, ``section`` and, for 2021,
        ``domain``.
    dataset : str
        ``dcase2021`` ... ``dcase2025``.

    Returns
    -------
    DataFrame
        ``expected``'s grouping columns plus ``file_name``, ``score`` and ``decision`` (0/1), rows
        sorted by group and file name (the order in which the evaluators align them).

    Raises
    ------
    SubmissionError
        A file is missing or malformed, or its names are not exactly the expected clips.
    """
    check_dataset(dataset)
    frame = expected.assign(file_name=_file_names(expected), score=0.0, decision=0)
    parts = []
    for (score_name, decision_name), group in _groups(frame, dataset):
        want = sorted(group["file_name"])
        found = {}
        for name, is_decision in ((score_name, False), (decision_name, True)):
            found[name] = rows = _read_rows(Path(folder) / name, decision=is_decision)
            extra, absent = sorted(set(rows) - set(want)), sorted(set(want) - set(rows))
            if extra or absent:
                raise SubmissionError(
                    f"{Path(folder) / name}: {len(absent)} expected clip(s) missing "
                    f"{absent[:2]}, {len(extra)} unexpected {extra[:2]}"
                )
        part = group.drop(columns=["score", "decision"]).sort_values("file_name")
        part["score"] = [found[score_name][n] for n in part["file_name"]]
        part["decision"] = [int(found[decision_name][n]) for n in part["file_name"]]
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else frame.iloc[:0]


_TRUTH_NAME = re.compile(
    r"^ground_truth_(?P<type>[^_]+)_section_(?P<section>\d\d)(?:_(?P<domain>source|target))?_test\.csv$"
)


def _truth_rows(path: Path) -> list[tuple[str, int]]:
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if len(row) < 2 or row[1].strip() not in ("0", "1"):
                raise SubmissionError(f"{path}: line {number}: expected 'name,0|1'")
            rows.append((row[0], int(row[1])))
    return rows


def read_ground_truth(folder: str | os.PathLike, *, dataset: str) -> pd.DataFrame:
    """The test clips of an evaluation set from the official evaluators' ground-truth files.

    Parameters
    ----------
    folder : path-like
        Holding ``ground_truth_data/`` (``ground_truth_<type>_section_SS_test.csv``, rows
        ``name,0|1``; 2021 ``..._section_SS_<source|target>_test.csv``) and, 2022 on,
        ``ground_truth_domain/`` (same names, rows ``name,0=source|1=target``), as in the
        evaluators' repositories and in ``asd generate --eval-names``.
    dataset : str
        ``dcase2021`` ... ``dcase2025``.

    Returns
    -------
    DataFrame
        Columns ``file_name``, ``machine_type``, ``section``, ``domain``, ``label`` (``normal``/``anomaly``).
    """
    check_dataset(dataset)
    folder = Path(folder)
    paths = sorted((folder / "ground_truth_data").glob("ground_truth_*.csv"))
    if not paths:
        raise SubmissionError(f"{folder / 'ground_truth_data'}: no ground_truth_*.csv files")
    rows = []
    for path in paths:
        match = _TRUTH_NAME.match(path.name)
        if match is None or (match["domain"] is None) == (dataset == "dcase2021"):
            raise SubmissionError(f"{path}: not a {dataset} ground-truth file name")
        domains = {}
        if dataset != "dcase2021":
            domain_path = folder / "ground_truth_domain" / path.name
            if not domain_path.is_file():
                raise SubmissionError(f"{domain_path}: missing (the domain of each clip, 2022 on)")
            domains = {name: "target" if flag else "source" for name, flag in _truth_rows(domain_path)}
        for name, flag in _truth_rows(path):
            domain = match["domain"] or domains.get(name)
            if domain is None:
                raise SubmissionError(f"{folder / 'ground_truth_domain' / path.name}: no domain for {name}")
            rows.append(
                {
                    "file_name": name,
                    "machine_type": match["type"],
                    "section": match["section"],
                    "domain": domain,
                    "label": "anomaly" if flag else "normal",
                }
            )
    return pd.DataFrame(rows)


def evaluate_submission(
    folder: str | os.PathLike,
    ground_truth: str | os.PathLike,
    *,
    dataset: str,
    model: str = "submission",
    ci: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score a submission folder against official ground truth, as the evaluators do.

    :func:`read_ground_truth`, then :func:`check_submission` (exactly the expected names), then
    :func:`asd.official.official_scores`. Returns its ``(results, summary)``.
    """
    truth = read_ground_truth(ground_truth, dataset=dataset)
    submitted = check_submission(folder, truth, dataset=dataset)  # keeps truth's domain and label columns
    return official_scores(submitted.assign(model=model), dataset=dataset, ci=ci)
