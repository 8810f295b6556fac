"""asd.report.export: the PDF is a document, not a screenshot. The exported page is laid out by
headless Chromium (the browser that prints the PDF) at the PDF's text width, and no table or
figure may be wider than it.

The page tested holds the report's widest tables built with every registered detector (so a new
detector that widens them fails here) and every committed figure. CI sets ASD_REQUIRE_CHROMIUM=1
after installing Chromium (.ci/run): there a missing Chromium fails these tests."""

from __future__ import annotations

import base64
import os

import nbformat
import numpy as np
import pandas as pd
import pytest

from asd import report, tables
from asd.config import PROJECT_ROOT
from asd.detectors import DETECTORS
from asd.report import export
from asd.report.display import table_html

needs_chromium = pytest.mark.skipif(
    export.find_chromium() is None and not os.environ.get("ASD_REQUIRE_CHROMIUM"),
    reason="Chromium not found (install it with scripts/install_system_deps.sh); CI requires it",
)
MACHINE_TYPES = ["ToyCar", "ToyConveyor", "fan", "pump", "slider", "valve"]


def _page(tmp_path, blocks: list[str]):
    """``blocks`` (HTML) exported as the report is: one display output per block."""
    cells = []
    for block in blocks:
        cell = nbformat.v4.new_code_cell("")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": block})]
        cells.append(cell)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "page.ipynb")
    return export.export_html(tmp_path / "page.ipynb", tmp_path / "page.html", title="layout")


def _widest_tables() -> list[str]:
    """The report's widest tables, with every registered detector as a column."""
    rng = np.random.default_rng(0)
    models = sorted(DETECTORS)
    rows = [
        {"model": m, "machine_type": t, "machine_id": f"{i:02d}", "auc": rng.uniform(), "pauc": rng.uniform()}
        for m in models
        for t in MACHINE_TYPES
        for i in range(4)
    ]
    per_id = tables.per_id_table(pd.DataFrame(rows), "auc", models=models).reset_index()
    comparison = pd.DataFrame(
        rng.uniform(size=(len(models), len(MACHINE_TYPES) + 1)), index=models, columns=[*MACHINE_TYPES, "mean"]
    )
    comparison.index.name = "model"
    worst = tables.worst_case_table(PROJECT_ROOT / "benchmarks" / "eval_real.csv")
    per_type = PROJECT_ROOT / "benchmarks" / "eval_real_per_type.csv"
    if worst is not None and per_type.is_file():  # as the report shows it: with its note column
        worst = report.eval_real_view(worst, report.eval_real_fallbacks(pd.read_csv(per_type), list(worst.index)))
    timings = pd.DataFrame(
        {
            "model": models,
            "train clips": 1150,
            "epochs": "-",
            "seconds": 1.5,
            "cpu seconds": 1.5,
            "scoring seconds": 1.5,
            "scoring cpu seconds": 1.5,
        }
    )
    blocks = [
        table_html(per_id, index=False),
        table_html(comparison, highlight_max=True),
        table_html(timings, index=False),
    ]
    if worst is not None:
        blocks.append(table_html(worst, highlight_max=True))
    return blocks


def _figures() -> list[str]:
    figures = sorted((PROJECT_ROOT / "figures").glob("*.png"))
    return [
        f'<figure><img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}" alt="{p.stem}"></figure>'
        for p in figures
    ]


def test_wide_tables_get_the_small_print_and_break_opportunities():
    html = table_html(pd.DataFrame({f"embedding_{i}": [0.5] for i in range(9)}), index=False)
    assert 'class="report-table wide"' in html and "embedding_<wbr>0" in html
    assert 'class="report-table"' in table_html(pd.DataFrame({"a": [1]}))


@needs_chromium
def test_every_table_and_figure_fits_the_pdf_page(tmp_path):
    page = _page(tmp_path, [*_widest_tables(), *_figures()])
    assert export.overflowing_elements(page) == []


@needs_chromium
def test_the_published_reports_tables_fit_under_the_current_style_sheet(tmp_path):
    """Every table of the committed report/report.html, as it was built, on a page with today's
    report.css (the appendix tables per machine ID were cut at the right edge before)."""
    import re

    published = (PROJECT_ROOT / "report" / "report.html").read_text(encoding="utf-8")
    found = re.findall(r'<table class="report-table[^"]*">.*?</table>', published, flags=re.S)
    assert len(found) >= 10
    assert export.overflowing_elements(_page(tmp_path, found)) == []


@needs_chromium
def test_the_check_sees_an_overflowing_table(tmp_path):
    """Without the page's rules a long unbreakable row is wider than the page: the check says so."""
    wide = pd.DataFrame({f"c{i}": ["x" * 30] for i in range(8)})
    page = _page(
        tmp_path, [table_html(wide, index=False).replace('class="text"', 'class="text" style="white-space: nowrap"')]
    )
    found = export.overflowing_elements(page)
    assert len(found) == 1 and found[0].startswith("table")
