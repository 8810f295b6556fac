"""Build the study's report with one command: ``asd report --data DIR`` (``make report``;
``python -m asd.report`` is the same command).

Steps (each notebook is executed with papermill into ``<out>/executed/``; the time of every
step is printed and recorded in ``build_info.json``)::

    data        DIR; the default data folder (data/synthetic) is (re)generated first by
                asd.synth (size "default") when missing, incomplete or from another generator
                version; any other missing folder is an error
    01-04       notebooks/01_data_exploration ... 04_reconstruction_figures, in two stages of
                two notebooks that run side by side (:data:`STAGES`: 01 needs only the
                data, so it runs beside the training in 02; 03 and 04 both need only
                02's runs); each step's time is that notebook's own wall time. They read
                DIR and what earlier stages wrote, and write into the work folder:
                    runs/<model>/       asd.pipeline.train output per model
                    results/<model>/    asd.pipeline.evaluate output per model
                    tables/*.csv        tables for the report
                    figures/*.png       figures (copied to the figures folder once the build succeeded)
                    build.json          what the report states: data, fingerprint, commit, config
    report      report/report.ipynb (the write-up) executed against the work folder
    export      exported to HTML without code cells (nbconvert), laid out by headless Chromium at
                the PDF's text width (the build fails if a table or figure is wider), and printed
                to PDF by it (skipped with ``pdf=False``, ``make report PDF=0``)

Where it goes (:func:`asd.report.study.report_folders`): the default synthetic data builds the
committed report (``report/``, ``figures/``, ``runs/report/``); any other data folder builds
``reports/<data-name>/`` and leaves the committed report alone.

Nothing visible changes until every step succeeded: a failing notebook stops the build with the
failing cell's error, so does a build that did not produce a committed figure (publishing would
delete it: :func:`check_figures_kept`), and ``report.html``, ``report.pdf``, ``build_info.json`` and the figures
keep their previous versions (everything is built into temporary files and renamed at the end).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from ..config import PROJECT_ROOT
from ..errors import ASDError
from .export import (
    ReportError,
    check_figures_kept,
    copy_figures,
    count_pdf_pages,
    export_html,
    html_to_pdf,
    overflowing_elements,
)
from .kernels import quiet_kernels, run_notebook
from .real_stats import REAL_STATS_DIR
from .record import build_record, cpu_seconds, git_commit, record_costs
from .study import (
    DEFAULT_DATA,
    QUICK_EPOCHS,
    RECONSTRUCTION_CASES,
    STUDY_MODEL,
    WorkDir,
    display_path,
    project_path,
    recommended_model,
    report_epochs,
    report_folders,
    resolve_models,
    study_config,
    trains_in_epochs,
)
from .years import build_year_report, year_of

logger = logging.getLogger(__name__)

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
#: The study's notebooks, in the order they run.
NOTEBOOKS = ("01_data_exploration", "02_training", "03_evaluation", "04_reconstruction_figures")
#: The notebooks in stages, the long one of each first: the notebooks of a stage depend only on
#: the data and on earlier stages, so they run at the same time (each in its own kernel), and
#: the cores do not idle while one of them waits on a single-threaded step.
STAGES: tuple[tuple[str, ...], ...] = (
    ("02_training", "01_data_exploration"),
    ("03_evaluation", "04_reconstruction_figures"),
)
#: The write-up, executed after the notebooks and exported.
REPORT_NOTEBOOK = PROJECT_ROOT / "report" / "report.ipynb"
#: The committed statistics of the real reference clips notebook 01 shows beside the build's data.
REAL_REFERENCE = REAL_STATS_DIR
TITLE = "Anomalous sound detection with autoencoders (DCASE 2020 Task 2)"

__all__ = [
    "NOTEBOOKS",
    "NOTEBOOKS_DIR",
    "REPORT_NOTEBOOK",
    "REAL_REFERENCE",
    "build",
    "ensure_data",
    "git_commit",
    "main",
    "run_notebook",
]


def _run_stage(
    names: Sequence[str], notebooks_dir: Path, executed: Path, parameters, *, steps: int, log=print
) -> dict[str, float]:
    """Run the notebooks ``names`` at the same time, each with its own kernel; their wall times.

    The first notebook of the stage (the long one) runs in this thread, so Ctrl-C stops it as
    it would stop a lone notebook and the build ends at once; the others run in daemon threads.
    When a notebook fails, the others are waited for (their kernels end cleanly) and the first
    failure in notebook order is raised.
    """
    first = min(NOTEBOOKS.index(name) for name in names) + 1
    ordered = sorted(names, key=NOTEBOOKS.index)
    labels = ", ".join(f"[{first + offset}/{steps}] {name}" for offset, name in enumerate(ordered))
    log(f"{labels} ..." + (" (side by side)" if len(names) > 1 else ""))
    outcomes: dict[str, float | Exception] = {}

    def execute(name: str) -> None:
        try:
            outcomes[name] = run_notebook(
                notebooks_dir / f"{name}.ipynb", executed / f"{name}.ipynb", parameters, log=log
            )
        except Exception as exc:  # noqa: BLE001 - handed to the main thread, raised there
            outcomes[name] = exc

    side = [threading.Thread(target=execute, args=(name,), name=f"notebook {name}", daemon=True) for name in names[1:]]
    for thread in side:
        thread.start()
    execute(names[0])
    for thread in side:
        thread.join()
    timings = {}
    for name in ordered:
        if isinstance(outcomes[name], Exception):
            raise outcomes[name]
        timings[name] = outcomes[name]
        log(f"  {name} done in {timings[name]:.1f} s")
    return timings


def ensure_data(data: str | os.PathLike, *, log=print) -> tuple[Path, str]:
    """The dataset root and its kind (``"synthetic"`` when it holds the generator's manifest,
    else ``"real"``).

    The default folder (:data:`DEFAULT_DATA`) is handed to :func:`asd.synth.generate_dataset`,
    which writes it when it is missing, incomplete or from another generator version and
    returns at once otherwise. Any other folder must exist.
    """
    root = project_path(data)
    is_default = root.resolve() == DEFAULT_DATA.resolve()
    from ..synth import MANIFEST_NAME

    if is_default:
        from ..synth import generate_dataset

        start = time.perf_counter()
        generate_dataset(root, size="default", progress=False)
        if time.perf_counter() - start > 5:
            log(
                f"  generated the default synthetic dataset into {display_path(root)} in "
                f"{time.perf_counter() - start:.0f} s"
            )
    if not root.is_dir():
        raise ReportError(
            f"{root}: dataset folder not found (only the default {display_path(DEFAULT_DATA)} is generated "
            "automatically)"
        )
    return root, ("synthetic" if (root / MANIFEST_NAME).is_file() else "real")


def build(
    data: str | os.PathLike = DEFAULT_DATA,
    *,
    out: str | os.PathLike | None = None,
    figures: str | os.PathLike | None = None,
    work: str | os.PathLike | None = None,
    quick: bool = False,
    models: str | Sequence[str] | None = None,
    epochs: Mapping[str, int] | None = None,
    config_file: str | os.PathLike | None = None,
    machine_types: Sequence[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    pdf: bool = True,
    real_root: str | os.PathLike | None = REAL_REFERENCE,
    notebooks_dir: str | os.PathLike = NOTEBOOKS_DIR,
    report_notebook: str | os.PathLike = REPORT_NOTEBOOK,
    log=print,
) -> dict:
    """Run notebooks 01-04 and the report notebook; export ``report.html`` (and ``report.pdf``).

    Parameters
    ----------
    data : path-like
        Dataset root (DCASE 2020 or MIMII layout); relative paths start at the project root.
    out, figures, work : path-like, optional
        Report folder (HTML, PDF, ``build_info.json``, ``executed/``), figures folder and work
        folder; default :func:`~asd.report.study.report_folders` of ``data``.
    quick : bool
        Every trainable model :data:`~asd.report.study.QUICK_EPOCHS` epoch(s): a smoke test.
    models : str or list of str, optional
        Detector names (default: every registered detector).
    machine_types : list of str, optional
        Only these machine types of the data.
    pdf : bool
        Print the PDF with headless Chromium; ``False`` builds the HTML only.
    real_root : path-like, optional
        The committed statistics of the real reference clips notebook 01 compares the data with
        (:mod:`asd.report.real_stats`; ``None``: no comparison).
    log : callable
        Receives the progress lines (one string each).

    Returns
    -------
    dict
        The content of ``<out>/build_info.json``, with ``step_seconds`` (wall seconds per step).
    """
    started = (time.perf_counter(), cpu_seconds(), os.getloadavg()[0])
    folders = report_folders(data)
    out = project_path(out) if out is not None else folders["out"]
    figures = project_path(figures) if figures is not None else folders["figures"]
    work = project_path(work) if work is not None else folders["work"]
    config = study_config(epochs=epochs, quick=quick, seed=seed, config_file=config_file)
    if (year := year_of(data)) is not None:  # DCASE 2021-2025: its own report (asd.report.years)
        cache = project_path(cache_dir) if cache_dir else None
        return build_year_report(data, dataset=year, out=out, work=work, models=models, machine_types=machine_types,
                                 config=config, cache_dir=cache, pdf=pdf, log=log)  # fmt: skip
    quiet_kernels()
    timings: dict[str, float] = {}
    data_root = _checked_data(data, timings, started[0], log)
    model_names = resolve_models(models)
    config.models = list(model_names)
    config.machine_types = list(machine_types) if machine_types else config.machine_types
    workdir = _fresh_workdir(work, model_names)
    parameters = _notebook_parameters(
        data_root, workdir, model_names, config, config_file=config_file, machine_types=machine_types,
        quick=quick, seed=seed, cache_dir=cache_dir, real_root=real_root,
    )  # fmt: skip
    notebooks, steps = project_path(notebooks_dir), len(NOTEBOOKS) + 2
    for stage in STAGES:  # the notebooks, each executed copy in <out>/executed
        timings.update(_run_stage(stage, notebooks, out / "executed", parameters, steps=steps, log=log))
    check_figures_kept(workdir.figures, figures)
    info = build_record(data_root, workdir, parameters, config, real_root=real_root, timings=timings)
    write_text_atomic(workdir.build_json, json.dumps(info, indent=2))
    _report_and_export(
        info, parameters, workdir, project_path(report_notebook), out, figures, pdf=pdf, timings=timings, log=log
    )
    _write_build_info(info, out, pdf=pdf, timings=timings, started=started, log=log)
    return info


def _write_build_info(info: dict, out: Path, *, pdf: bool, timings, started, log) -> None:
    """``info`` with the build's sizes and costs, written to ``<out>/build_info.json``; the time per step logged."""
    record_costs(info, out, pdf=pdf, timings=timings, started=started)
    write_text_atomic(out / "build_info.json", json.dumps(info, indent=2)).chmod(0o644)
    steps_text = ", ".join(f"{k} {v:.1f} s" for k, v in info["step_seconds"].items())
    log(f"time per step: {steps_text}; total {info['wall_seconds']:.1f} s")


def _checked_data(data, timings: dict[str, float], wall_start: float, log) -> Path:
    """:func:`ensure_data`, timed into ``timings["data"]`` and logged."""
    log(f"[data] checking {display_path(data)} ...")
    data_root, _ = ensure_data(data, log=log)
    timings["data"] = time.perf_counter() - wall_start
    log(f"  done in {timings['data']:.1f} s")
    return data_root


def _fresh_workdir(work: Path, model_names: Sequence[str]) -> WorkDir:
    """The work folder, emptied of an earlier build's runs, results, tables and figures."""
    workdir = WorkDir(work)
    for folder in (workdir.runs, workdir.results, workdir.tables, workdir.figures):
        shutil.rmtree(folder, ignore_errors=True)
    workdir.root.mkdir(parents=True, exist_ok=True)
    write_text_atomic(workdir.root / "models.json", json.dumps(list(model_names)))
    return workdir


def _report_and_export(info: dict, parameters, workdir: WorkDir, notebook: Path, out: Path, figures: Path, *,
                       pdf: bool, timings: dict[str, float], log) -> None:  # fmt: skip
    """The report notebook, then the export and publication (HTML, PDF, figures), timed; ``info`` gains the
    published figures and the PDF's page count."""
    steps = len(NOTEBOOKS) + 2
    executed = out / "executed"
    log(f"[{steps - 1}/{steps}] report ...")
    report_params = {**parameters, "build_json": str(workdir.build_json)}
    timings["report"] = run_notebook(notebook, executed / "report.ipynb", report_params, log=log)
    log(f"  done in {timings['report']:.1f} s")
    log(f"[{steps}/{steps}] export (HTML{', PDF' if pdf else ''}) ...")
    start = time.perf_counter()
    info["figures"], info["pdf_pages"] = _export_and_publish(
        executed / "report.ipynb", out, workdir.figures, figures, pdf=pdf
    )
    timings["export"] = time.perf_counter() - start
    pages = info["pdf_pages"]
    log(f"  done in {timings['export']:.1f} s" + (f" ({pages} PDF pages)" if pages else " (no PDF)" if not pdf else ""))


def _notebook_parameters(
    data_root: Path,
    workdir: WorkDir,
    model_names: Sequence[str],
    config,
    *,
    config_file,
    machine_types,
    quick: bool,
    seed: int,
    cache_dir,
    real_root,
) -> dict[str, Any]:
    """The parameters every notebook gets (each takes those it declares)."""
    return {
        "data_root": str(data_root),
        "work_dir": str(workdir.root),
        "figures_dir": str(workdir.figures),
        "models": model_names,
        "epochs": {name: config.training.epochs_for(name) for name in model_names if trains_in_epochs(name)},
        "config_file": str(project_path(config_file)) if config_file else "",
        "machine_types": list(machine_types or []),
        "quick": bool(quick),
        "seed": int(seed),
        "cache_dir": str(project_path(cache_dir)) if cache_dir else "",
        "cases": [list(case) for case in RECONSTRUCTION_CASES],
        "model": STUDY_MODEL,
        "real_stats": str(project_path(real_root)) if real_root else "",
        "recommended_model": recommended_model(model_names),
        "score_in_training": True,
    }


def _export_and_publish(
    notebook: Path, out: Path, staged_figures: Path, figures: Path, *, pdf: bool
) -> tuple[list[str], int | None]:
    """Export the executed report notebook to HTML (and PDF) in a staging folder; once all of it
    succeeded, publish the figures and the report files. The figure names and the PDF's pages."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=out) as staging:
        staging = Path(staging)
        html = export_html(notebook, staging / "report.html", title=TITLE)
        pages = None
        if pdf:
            too_wide = overflowing_elements(html)
            if too_wide:
                lines = "\n  ".join(too_wide)
                raise ReportError(f"wider than the PDF page (report.css, asd.report.display.table_html):\n  {lines}")
            html_to_pdf(html, staging / "report.pdf")
            pages = count_pdf_pages(staging / "report.pdf")
        # Everything succeeded: publish.
        names = copy_figures(staged_figures, figures)
        for name in ("report.html", "report.pdf") if pdf else ("report.html",):
            (staging / name).chmod(0o644)
            os.replace(staging / name, out / name)
    return names, pages


def _parse_epochs(text: str | None) -> dict[str, int]:
    if not text:
        return {}
    result = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if not value.strip().isdigit() or int(value) < 1:
            raise ReportError(f"--epochs expects NAME=N[,NAME=N...] with N >= 1, got {part!r}")
        result[name.strip()] = int(value)
    return result


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The report's options (shared by ``asd report`` and ``python -m asd.report``)."""
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        metavar="DIR",
        help=f"dataset root (DCASE 2020-2025 or MIMII layout); the default {display_path(DEFAULT_DATA)} is "
        "generated if missing",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_EPOCHS} epoch per model (a smoke test; numbers not meaningful)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="report folder (default: report/ for the default data, reports/<data-name>/ for any other)",
    )
    parser.add_argument(
        "--figures", type=Path, metavar="DIR", help="where the figures go (default: figures/ beside the report)"
    )
    parser.add_argument(
        "--work",
        type=Path,
        metavar="DIR",
        help="runs, results and tables (default: runs/report/ or reports/<data-name>/runs/)",
    )
    parser.add_argument(
        "--models", metavar="A,B", help="comma-separated model names (default: every registered detector)"
    )
    parser.add_argument(
        "--epochs",
        metavar="NAME=N,...",
        help=f"epochs per model, e.g. conv_ae=50,dense_ae=20 (default {report_epochs()})",
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="YAML config (then the study's epochs apply, not the report's)"
    )
    parser.add_argument("--machine-types", nargs="+", metavar="TYPE", help="only these machine types")
    parser.add_argument("--cache", type=Path, metavar="DIR", help="feature cache folder (default ./cache)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-pdf", action="store_true", help="HTML only: no Chromium needed (make report PDF=0)")
    return parser


def run(args: argparse.Namespace, *, prog: str = "asd report") -> int:
    """Build the report from parsed :func:`add_arguments` options; the exit status."""
    try:
        info = build(
            args.data,
            out=args.out,
            figures=args.figures,
            work=args.work,
            quick=args.quick,
            models=args.models,
            epochs=_parse_epochs(args.epochs),
            config_file=args.config,
            machine_types=args.machine_types,
            cache_dir=args.cache,
            seed=args.seed,
            pdf=not args.no_pdf,
        )
    except ASDError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    out = project_path(args.out) if args.out else report_folders(args.data)["out"]
    print(
        f"report built in {info['wall_seconds']:.0f} s: {display_path(out / 'report.html')}"
        + (f", {display_path(out / 'report.pdf')} ({info['pdf_pages']} pages)" if info.get("pdf_pages") else "")
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m asd.report``: the same command as ``asd report``."""
    parser = add_arguments(
        argparse.ArgumentParser(
            prog="python -m asd.report",
            description="Run the study's notebooks (01-04) on a dataset with papermill and export the report "
            "(report.html, report.pdf, build_info.json).",
        )
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run(args, prog="asd.report")
