"""Export of the executed report notebook: one self-contained HTML page, printed to PDF; and the
publishing of the build's figures (never deleting a committed one).

The HTML page holds no code cells, no scripts and no external resources (images and audio are
embedded); its style is ``report.css`` next to this module. The PDF is printed by headless
Chromium (:func:`find_chromium`); builds without Chromium use ``pdf=False`` (``make report PDF=0``).
"""

from __future__ import annotations

import html as html_module
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..atomic import atomic_path, write_text_atomic
from ..config import PROJECT_ROOT
from ..errors import ASDError
from .study import display_path

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
                cell.outputs = [
                    o
                    for o in cell.get("outputs", [])
                    if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
                ]
            return cell, resources

    nb = nbformat.read(str(notebook), as_version=4)
    exporter = HTMLExporter(
        template_name="basic", exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
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


#: Width of the PDF page's text area: A4 (210 mm) less the left and right margins of report.css.
PAGE_TEXT_WIDTH_MM = 180
_MM_TO_PX = 96 / 25.4
_OVERFLOW_SCRIPT = """<script>
window.addEventListener("load", function () {
  var body = document.body, style = getComputedStyle(body);
  var right = body.getBoundingClientRect().right - parseFloat(style.paddingRight) + 1;
  var left = body.getBoundingClientRect().left + parseFloat(style.paddingLeft) - 1;
  var found = [];
  document.querySelectorAll("table, img, figure, pre, svg").forEach(function (el, i) {
    var box = el.getBoundingClientRect();
    if (box.right > right || box.left < left || el.scrollWidth > el.clientWidth + 1) {
      var caption = el.closest("div.table, figure");
      var text = caption ? caption.textContent.trim().slice(0, 80) : "";
      found.push(el.tagName.toLowerCase() + " #" + i + " " + Math.round(box.width) + " px wider than the "
                 + Math.round(right - left) + " px of the page: " + text);
    }
  });
  var marker = document.createElement("pre");
  marker.id = "overflow-result";
  marker.textContent = "OVERFLOW-BEGIN\\n" + found.join("\\n") + "\\nOVERFLOW-END";
  body.appendChild(marker);
});
</script>"""


def _chromium_command(chromium: str, profile: str) -> list[str]:
    return [
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
    ]


def overflowing_elements(
    html: str | os.PathLike, *, width_mm: float = PAGE_TEXT_WIDTH_MM, timeout: float = 120
) -> list[str]:
    """The tables, images, figures and preformatted blocks of an HTML page that are wider than the
    PDF's text area, as laid out by headless Chromium (the browser that prints the PDF) at that width.

    Parameters
    ----------
    html : path-like
        An exported report page (:func:`export_html`).
    width_mm : float
        The text width to lay it out at (default :data:`PAGE_TEXT_WIDTH_MM`, the PDF's).

    Returns
    -------
    list of str
        One line per overflowing element (tag, width, the start of its caption); empty: all fit.
    """
    chromium = find_chromium()
    if chromium is None:
        raise ReportError(
            "Chromium not found (needed to lay out the page): run `make setup` or `bash scripts/install_system_deps.sh`"
        )
    page = Path(html).read_text(encoding="utf-8").replace("</body>", _OVERFLOW_SCRIPT + "</body>")
    width_px = int(round(width_mm * _MM_TO_PX))
    with tempfile.TemporaryDirectory(prefix="asd-chromium-") as profile:
        probe = Path(profile) / "probe.html"
        # @media print rules do not apply on screen; print-only widths are the page's body width
        probe.write_text(page, encoding="utf-8")
        command = [
            *_chromium_command(chromium, profile),
            f"--window-size={width_px},1200",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probe.as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ReportError(f"Chromium did not lay out {html} within {timeout:.0f} s") from None
    found = re.search(r"OVERFLOW-BEGIN\n(.*?)\n?OVERFLOW-END", done.stdout, flags=re.S)
    if found is None:
        raise ReportError(f"Chromium did not lay out {html} (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return [html_module.unescape(line) for line in found.group(1).splitlines() if line.strip()]


def html_to_pdf(html: Path, pdf: Path, *, timeout: float = 300) -> Path:
    """Print ``html`` to ``pdf`` with headless Chromium (A4, no header/footer, offline)."""
    chromium = find_chromium()
    if chromium is None:
        raise ReportError(
            "Chromium not found (needed for the PDF): run `make setup` or `bash scripts/install_system_deps.sh`"
        )
    with tempfile.TemporaryDirectory(prefix="asd-chromium-") as profile:
        command = [
            *_chromium_command(chromium, profile),
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


# -- publishing the figures -----------------------------------------------------------------


def stale_figures(source: Path, target: Path) -> list[Path]:
    """The report figures (``NN_*.png``) in ``target`` that the build staged in ``source`` did not produce."""
    made = {p.name for p in source.glob("*.png")}
    return sorted(p for p in target.glob("[0-9][0-9]_*.png") if p.name not in made)


def committed_files(paths: Sequence[Path], root: Path = PROJECT_ROOT) -> list[Path]:
    """Those of ``paths`` that git tracks in the checkout at ``root`` (none outside a git checkout)."""
    if not paths:
        return []
    try:
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--", *map(str, paths)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    tracked = {(root / name).resolve() for name in listed.split("\0") if name}
    return [p for p in paths if p.resolve() in tracked]


def check_figures_kept(source: Path, target: Path, root: Path = PROJECT_ROOT) -> None:
    """Raise :class:`ReportError` when publishing the figures staged in ``source`` would delete
    a committed figure of ``target``: a rebuild must produce every figure the repository holds
    (a missing one means the build left out a section it used to have)."""
    lost = committed_files(stale_figures(source, target), root)
    if lost:
        raise ReportError(
            "this build did not produce the committed figure(s) "
            + ", ".join(display_path(p) for p in lost)
            + "; refusing to delete them (the report would lose their section). Nothing was published."
        )


def copy_figures(source: Path, target: Path) -> list[str]:
    """Copy the staged PNGs to ``target`` (atomically each); remove report figures there that
    this build did not produce (names ``NN_*.png``; :func:`check_figures_kept` has made sure
    that none of them is committed)."""
    target.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in source.glob("*.png"))
    for name in names:
        with atomic_path(target / name) as tmp:
            shutil.copyfile(source / name, tmp)
            tmp.chmod(0o644)
    for stale in stale_figures(source, target):
        stale.unlink()
    return names
