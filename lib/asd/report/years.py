"""The report of a DCASE 2021-2025 data set: ``make report DATA=<a 2021-2025 folder>`` (``asd report``).

The study's notebooks (01-04) speak the DCASE 2020 dialect (machine IDs, one AUC per ID); a data
set of the later years is reported here instead, by :func:`build_year_report`, which
:func:`asd.report.builder.build` calls for such a folder. Steps::

    train, evaluate   asd.pipeline.train / evaluate of each detector (default: the toolkit's default),
                      into <work>/runs/<model> and <work>/results/<model> (asd.year_results' files:
                      results.csv per section, official_score.csv, the submission files)
    report            one notebook of Markdown cells (<out>/executed/report.ipynb): prose from
                      templates/years_*.md.j2 (asd.report.prose.render), the tables as HTML, one figure
    export            report.html (asd.report.export, the study's style sheet) and, unless pdf=False,
                      report.pdf; build_info.json

The report states the official score with its ci95 (2022 on) per detector, the mean AUC(source)
and AUC(target) side by side with the worse of the two, and per machine type and section
AUC(source), AUC(target) and pAUC as the year's evaluator defines them (docs/dcase_years.md).
Everything is built into a temporary folder and moved into place at the end, as the study does.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..atomic import write_text_atomic
from ..config import DEFAULT_MODEL, StudyConfig
from ..year_results import is_year
from .export import count_pdf_pages, export_html, html_to_pdf
from .prose import render
from .study import display_path, project_path, resolve_models

TITLE = "Anomalous sound detection on {dataset}"


def year_of(data: str | os.PathLike) -> str | None:
    """The DCASE year (``"dcase2021"`` ...) of a data folder, or None (DCASE 2020, MIMII, folders, missing)."""
    from ..data import discover_clips
    from ..errors import ASDError

    root = project_path(data)
    if not root.is_dir():
        return None
    try:
        dataset = discover_clips(root, require_train=False).attrs["dataset"]
    except ASDError:
        return None  # the study's path reports the problem in its own words
    return dataset if is_year(dataset) else None


def run_models(
    data_root: Path,
    work: Path,
    models: Sequence[str],
    *,
    config: StudyConfig,
    dataset: str,
    machine_types=None,
    cache_dir=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and evaluate each model; return the per-section results and the official scores, all models."""
    from ..pipeline import evaluate, train

    results, summaries = [], []
    for model in models:
        run, out = work / "runs" / model, work / "results" / model
        train(
            data_root,
            model=model,
            out=run,
            config=config,
            machine_types=machine_types,
            cache_dir=cache_dir,
            progress=False,
            dataset=dataset,
        )
        results.append(evaluate(data_root, run_dir=run, out=out, cache_dir=cache_dir, progress=False, dataset=dataset))
        summaries.append(pd.read_csv(out / "official_score.csv"))
    return pd.concat(results, ignore_index=True), pd.concat(summaries, ignore_index=True)


def domain_table(results: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """One row per model: official score, ci95, mean AUC(source), mean AUC(target), the worse of the two, pAUC."""
    means = results.groupby("model", sort=False)[["auc_source", "auc_target", "pauc"]].mean()
    means["worst_domain"] = means[["auc_source", "auc_target"]].min(axis=1)
    table = summary.set_index("model")[["official_score", "ci95"]].join(means)
    return table.reset_index()


def _html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="n/a", border=0)


def _figure(results: pd.DataFrame) -> str:
    """AUC(source) and AUC(target) per machine type (mean over sections) of each model, as a PNG data URI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = results.groupby(["machine_type", "model"])[["auc_source", "auc_target"]].mean().unstack("model")
    fig, ax = plt.subplots(figsize=(8, 3.2))
    means.plot.bar(ax=ax, width=0.8)
    ax.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    ax.set_ylim(0, 1)
    ax.set_ylabel("AUC")
    ax.set_xlabel("")
    ax.legend([f"{m} {d.split('_')[1]}" for d, m in means.columns], fontsize=7, ncol=2)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def report_notebook(dataset: str, data_root: Path, results: pd.DataFrame, summary: pd.DataFrame):
    """The report as an ``nbformat`` notebook of Markdown cells."""
    import nbformat

    per_domain = domain_table(results, summary)
    worst = per_domain.sort_values("worst_domain", ascending=False).iloc[0]
    sections = results[
        ["model", "machine_type", "section", "auc_source", "auc_target", "pauc"]
        + (["pauc_source", "pauc_target"] if dataset == "dcase2021" else [])
    ]
    cells = [
        f"# {TITLE.format(dataset=dataset)}\n\n"
        + render(
            "years_intro",
            dataset=dataset,
            data=display_path(data_root),
            models=list(per_domain.model),
            machine_types=sorted(results.machine_type.unique()),
            n_sections=len(results) // max(len(per_domain), 1),
        ),
        "## Official score and domains\n\n" + _html_table(per_domain),
        render("years_domains", dataset=dataset, best=worst, table=per_domain.to_dict("records")),
        f"![AUC(source) and AUC(target) per machine type]({_figure(results)})",
        "## Per machine type and section\n\n" + _html_table(sections),
    ]
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text) for text in cells])


def build_year_report(
    data: str | os.PathLike,
    *,
    dataset: str,
    out: Path,
    work: Path,
    models: Sequence[str] | None,
    config: StudyConfig,
    machine_types=None,
    cache_dir=None,
    pdf: bool = True,
    log=print,
) -> dict:
    """Train, evaluate and report a DCASE 2021-2025 folder (module docstring); the content of ``build_info.json``."""
    wall_start = time.perf_counter()
    data_root = project_path(data)
    models = resolve_models(models) if models else [DEFAULT_MODEL]
    for folder in (work / "runs", work / "results"):
        shutil.rmtree(folder, ignore_errors=True)
    log(f"[1/3] train and evaluate {', '.join(models)} on {display_path(data_root)} ({dataset}) ...")
    results, summary = run_models(
        data_root, work, models, config=config, dataset=dataset, machine_types=machine_types, cache_dir=cache_dir
    )
    log("[2/3] report ...")
    notebook = report_notebook(dataset, data_root, results, summary)
    log(f"[3/3] export (HTML{', PDF' if pdf else ''}) ...")
    out.mkdir(parents=True, exist_ok=True)
    pages = None
    with tempfile.TemporaryDirectory(prefix=".build-", dir=out) as staging:
        staging = Path(staging)
        import nbformat

        nbformat.write(notebook, staging / "report.ipynb")
        html = export_html(staging / "report.ipynb", staging / "report.html", title=TITLE.format(dataset=dataset))
        if pdf:
            html_to_pdf(html, staging / "report.pdf")
            pages = count_pdf_pages(staging / "report.pdf")
        (out / "executed").mkdir(exist_ok=True)
        os.replace(staging / "report.ipynb", out / "executed" / "report.ipynb")
        for name in ("report.html", "report.pdf") if pdf else ("report.html",):
            (staging / name).chmod(0o644)
            os.replace(staging / name, out / name)
    info = {
        "data_root": display_path(data_root),
        "dataset": dataset,
        "work_dir": display_path(work),
        "models": models,
        "official_score": summary.set_index("model")["official_score"].round(4).to_dict(),
        "config_fingerprint": config.fingerprint(),
        "pdf_pages": pages,
        "built": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(time.perf_counter() - wall_start, 1),
    }
    write_text_atomic(out / "build_info.json", json.dumps(info, indent=2)).chmod(0o644)
    return info
