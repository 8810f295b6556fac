"""Export of the executed report notebook: one self-contained HTML page, printed to PDF.

The HTML page holds no code cells, no scripts and no external resources (images and audio are
embedded); its style is ``report.css`` next to this module. The PDF is printed by headless
Chromium (:func:`find_chromium`); builds without Chromium use ``pdf=False`` (``make report PDF=0``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..atomic import write_text_atomic
from ..errors import ASDError

CSS_FILE = Path(__file__).with_name("report.css")


class ReportError(ASDError):
    """The report cannot be built (missing data folder, failed notebook, failed export)."""


def report_css() -> str:
    """The style sheet of the exported report (``report.css``)."""
    return CSS_FILE.read_text(encoding="utf-8")


_HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""


def export_html(notebook: str | os.PathLike, html: str | os.PathLike, *, title: str) -> Path:
    """The executed report notebook as one self-contained HTML page: code cells, prompts and
    stderr output left out, images and audio embedded, no scripts."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import Preprocessor

    class DropStderr(Preprocessor):
        def preprocess_cell(self, cell, resources, index):
            if cell.get("cell_type") == "code":
                cell.outputs = [o for o in cell.get("outputs", []) if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
            return cell, resources

    nb = nbformat.read(str(notebook), as_version=4)
    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.register_preprocessor(DropStderr(), enabled=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    page = _HTML_PAGE.format(title=title, css=report_css(), body=body)
    return write_text_atomic(html, page)


def count_pdf_pages(path: str | os.PathLike) -> int:
    """Pages of a PDF: pypdf when installed, else the ``/Type /Page`` objects in the file."""
    try:
        from pypdf import PdfReader
    except ImportError:
        data = Path(path).read_bytes()
        return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))
    return len(PdfReader(str(path)).pages)


def find_chromium() -> str | None:
    """A Chromium/Chrome executable: ``$CHROMIUM`` or the first on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(html: Path, pdf: Path, *, timeout: float = 300) -> Path:
    """Print ``html`` to ``pdf`` with headless Chromium (A4, no header/footer, offline)."""
    chromium = find_chromium()
    if chromium is None:
        raise ReportError("Chromium not found (needed for the PDF): run `make setup` or `bash scripts/install_system_deps.sh`")
    with tempfile.TemporaryDirectory(prefix="asd-chromium-") as profile:
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            Path(html).resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ReportError(f"Chromium did not finish printing {html} within {timeout:.0f} s") from None
    if done.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        raise ReportError(f"Chromium failed to print {html} (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return pdf
