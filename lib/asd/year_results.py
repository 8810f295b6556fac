"""The results folder of ``asd evaluate`` on a DCASE 2021-2025 layout (a contract: scripts read it).

::

    RESULTS_DIR/results.csv            one row per model, machine type and section: auc_source, auc_target, pauc,
                                       pauc_source, pauc_target, clip counts, precision/recall/F1 per domain
                                       (asd.official.section_results; 2021 scores within domains)
    RESULTS_DIR/official_score.csv     one row per model: model, dataset, official_score, ci95, hmean_source,
                                       hmean_target, hmean_pauc (asd.official.official_scores)
    RESULTS_DIR/anomaly_score_<type>_section_SS_test.csv     the DCASE submission files (asd.submission;
    RESULTS_DIR/decision_result_<type>_section_SS_test.csv    2021: ..._section_SS_<source|target>_test.csv)
    RESULTS_DIR/scores.csv             every scored clip: the clip table's columns (section, domain, attributes,
                                       dataset included), score, threshold, decision, and ``scored_as`` (the
                                       domain ID whose normal statistics gave the score, asd.domains)
    RESULTS_DIR/skipped.csv            clips that could not be read, and why (only if any)

DCASE 2020 (and MIMII, folders) results keep their own files (:func:`write_results`), and their
``scores.csv`` keeps its columns (:func:`drop_year_columns`)::

    anomaly_score_<machine_type>_id_XX.csv   DCASE format: file name, score (no header)
    result.csv                               DCASE format: AUC/pAUC per ID, averages
    results.csv                              tidy: model, machine_type, machine_id, auc, pauc, n_normal, n_anomaly,
                                             precision, recall, f1 (decisions at the thresholds.json thresholds)
    scores.csv                               every scored clip with its label, score, threshold and decision
    skipped.csv                              clips that could not be read, and why (only if any)
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from pathlib import Path

import pandas as pd

from .atomic import write_csv_atomic, write_text_atomic
from .metrics import dcase_result_rows
from .official import (
    OFFICIAL_DATASETS,
    SCORE_COLUMNS,
    OfficialScoreError,
    official_scores,
    section_results,
)
from .submission import write_submission

logger = logging.getLogger(__name__)

#: Columns the clip table has for DCASE 2021+ only; a DCASE 2020 ``scores.csv`` leaves them out.
YEAR_COLUMNS = ("section", "domain", "attributes", "dataset")
OFFICIAL_SCORE_FILE = "official_score.csv"


def is_year(dataset: str | None) -> bool:
    """Whether ``dataset`` (a clip table's ``attrs["dataset"]``) is scored the official 2021-2025 way."""
    return dataset in OFFICIAL_DATASETS


def drop_year_columns(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` without :data:`YEAR_COLUMNS` (and ``scored_as``): the DCASE 2020 ``scores.csv`` as it was."""
    return scores.drop(columns=[c for c in (*YEAR_COLUMNS, "scored_as") if c in scores])


def score_tables(scores: pd.DataFrame, *, dataset: str, max_fpr: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``results.csv`` and ``official_score.csv`` of a scores table.

    :func:`asd.official.official_scores`; when a term of the official score is undefined (a
    section whose test clips are of one class, e.g. a partly labelled evaluation set), the
    per-section table is kept and the official score is NaN, with a warning.
    """
    try:
        return official_scores(scores, dataset=dataset, max_fpr=max_fpr)
    except OfficialScoreError as exc:
        logger.warning("no official score: %s", exc)
        results = section_results(scores, dataset=dataset, max_fpr=max_fpr)
        rows = [
            {"model": m, "dataset": dataset, **{c: math.nan for c in SCORE_COLUMNS[2:]}}
            for m in results["model"].unique()
        ]
        return results, pd.DataFrame(rows, columns=SCORE_COLUMNS)


def write_year_results(
    out: str | os.PathLike, *, scores: pd.DataFrame, dataset: str, max_fpr: float, skipped: list[dict]
) -> pd.DataFrame:
    """Write the files of the module docstring; return ``results.csv``'s table.

    Parameters
    ----------
    out : path-like
        The results folder.
    scores : DataFrame
        One row per scored test clip of one model: the clip table's columns, ``model``,
        ``score``, ``threshold``, ``decision``.
    dataset : str
        ``dcase2021`` ... ``dcase2025``.
    max_fpr : float
        pAUC range (0.1 in every evaluator).
    skipped : list of dict
        ``{"path", "problem"}`` of clips that could not be scored.
    """
    out = Path(out)
    results, summary = score_tables(scores, dataset=dataset, max_fpr=max_fpr)
    write_submission(scores, out, dataset=dataset)
    write_csv_atomic(out / "results.csv", results)
    write_csv_atomic(out / OFFICIAL_SCORE_FILE, summary)
    write_csv_atomic(out / "scores.csv", scores)
    if skipped:
        write_csv_atomic(out / "skipped.csv", pd.DataFrame(skipped))
    elif (out / "skipped.csv").exists():
        (out / "skipped.csv").unlink()
    return results


def summary_text(results: pd.DataFrame, out: str | os.PathLike) -> str:
    """What ``asd evaluate`` prints for a 2021-2025 set: per-section AUCs and the official score."""
    shown = results[["model", "machine_type", "section", "auc_source", "auc_target", "pauc"]]
    lines = [shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"), ""]
    summary = pd.read_csv(Path(out) / OFFICIAL_SCORE_FILE)
    for row in summary.itertuples(index=False):
        ci = "" if pd.isna(row.ci95) else f" (ci95 +/- {row.ci95:.4f})"
        worst = min(results.loc[results.model == row.model, ["auc_source", "auc_target"]].min())
        lines.append(
            f"{row.model} on {row.dataset}: official score {row.official_score:.4f}{ci}; worst domain AUC {worst:.4f}"
        )
    return "\n".join(lines)


def write_results(out: str | os.PathLike, *, scores: pd.DataFrame, results: pd.DataFrame, skipped: list[dict]) -> None:
    """Write the DCASE score/result files, ``results.csv``, ``scores.csv`` and ``skipped.csv``."""
    out = Path(out)
    for (machine_type, machine_id), group in scores.groupby(["machine_type", "machine_id"], sort=True):
        write_csv_atomic(
            out / f"anomaly_score_{machine_type}_id_{machine_id}.csv", group[["file_name", "score"]], header=False
        )
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(dcase_result_rows(results))
    write_text_atomic(out / "result.csv", buffer.getvalue())
    write_csv_atomic(out / "results.csv", results)
    write_csv_atomic(out / "scores.csv", scores)
    if skipped:
        write_csv_atomic(out / "skipped.csv", pd.DataFrame(skipped))
    elif (out / "skipped.csv").exists():
        (out / "skipped.csv").unlink()
