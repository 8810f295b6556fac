"""What the report notebook displays: numbered figures and tables, audio players, HTML tables.

The exported report is one self-contained HTML page (then printed to PDF), so figures are
embedded as base64 PNG, audio as base64 WAV, and tables are plain HTML with the classes the
report's style sheet (``report.css``) formats.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from ..config import StudyConfig


def audio_player(path, config: StudyConfig | None = None, *, seconds: float | None = 4.0):
    """An embedded audio player (``IPython.display.Audio``; its WAV data is base64 in the HTML).

    Only the first ``seconds`` (``None``: the whole clip) of the study's channel, to keep the
    exported report small.
    """
    from IPython.display import Audio

    from ..audio import read_clip

    config = config or StudyConfig()
    samples = read_clip(path, sample_rate=config.audio.sample_rate, channel=config.audio.channel)
    if seconds is not None:
        samples = samples[: int(seconds * config.audio.sample_rate)]
    return Audio(samples, rate=config.audio.sample_rate, normalize=True, embed=True)


def fixed(value, digits: int = 3, *, thousands: bool = False) -> str:
    """``value`` with ``digits`` decimals, the one rounding path of every number the report shows.

    The value is first rounded to 9 decimals (so that two summation orders of the same mean,
    0.77749999999 and 0.77750000001, give one number) and then half away from zero; ``thousands``
    adds separators (``1,150.0``).
    """
    from decimal import ROUND_HALF_UP, Decimal

    exact = Decimal(repr(round(float(value), 9))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return format(exact, f"{',' if thousands else ''}.{digits}f")


class Captions:
    """Numbered figures and tables for the report notebook (displayed as embedded HTML)."""

    def __init__(self):
        self.n_figures = 0
        self.n_tables = 0

    def figure(self, path: str | os.PathLike, caption: str) -> None:
        """Embed a PNG (base64) with a numbered caption below it, or say that it is missing."""
        import base64
        import html

        from IPython.display import HTML, display

        path = Path(path)
        if not path.is_file():
            display(
                HTML(f'<p class="caption"><em>(Figure not available for this data: {html.escape(path.name)}.)</em></p>')
            )
            return
        self.n_figures += 1
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        display(
            HTML(
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}">'
                f'<figcaption class="caption"><b>Figure {self.n_figures}.</b> '
                f"{_inline_markdown(caption)}</figcaption></figure>"
            )
        )

    def table(
        self,
        frame: pd.DataFrame,
        caption: str,
        *,
        digits: int | None = 3,
        index: bool = True,
        highlight_max: bool = False,
    ) -> None:
        """A numbered caption above an HTML table (see :func:`table_html`); short tables are
        kept on one page with their caption."""
        from IPython.display import HTML, display

        self.n_tables += 1
        keep = " keep" if len(frame) <= 30 else ""
        display(
            HTML(
                f'<div class="table{keep}"><p class="caption"><b>Table {self.n_tables}.</b> '
                f"{_inline_markdown(caption)}</p>"
                + table_html(frame, digits=digits, index=index, highlight_max=highlight_max)
                + "</div>"
            )
        )

    def audio(
        self, path: str | os.PathLike, label: str, config: StudyConfig | None = None, *, seconds: float = 4.0
    ) -> None:
        """An embedded audio player with a label; both are hidden when printed (PDF)."""
        from IPython.display import HTML, display

        player = audio_player(path, config, seconds=seconds)._repr_html_()
        display(HTML(f'<div class="audio-item"><b>{_inline_markdown(label)}</b><br>{player}</div>'))


#: Tables with more columns than this are set in a smaller font (``table.wide`` in report.css).
WIDE_COLUMNS = 7


#: How the report names ``make eval-real``'s synthetic set, apart from the build's own synthetic data.
EVAL_REAL_SYNTHETIC = "synthetic (eval-real's small set)"


def eval_real_view(frame: pd.DataFrame, fallbacks: dict | None = None) -> pd.DataFrame:
    """A table of ``make eval-real`` (:func:`asd.tables.worst_case_table` or
    :func:`asd.tables.hindsight_ceiling`) as the report shows it: its set ``synthetic`` named
    :data:`EVAL_REAL_SYNTHETIC` (in columns, index and a ``set`` column), and with ``fallbacks``
    (:func:`asd.report.prose.eval_real_fallbacks`) a ``note`` column saying where a detector
    scored as its fallback."""
    names = {"synthetic": EVAL_REAL_SYNTHETIC}
    view = frame.rename(columns=names, index=names)
    if "set" in view.columns:
        view["set"] = view["set"].replace(names)
    if fallbacks:
        view["note"] = [
            f"scored as {fallbacks[m]['fallback']} (one machine ID per type) on " + ", ".join(fallbacks[m]["sets"])
            if m in fallbacks
            else ""
            for m in view.index
        ]
    return view


def table_html(frame: pd.DataFrame, *, digits: int | None = 3, index: bool = True, highlight_max: bool = False) -> str:
    """``frame`` as a plain HTML table: text left-aligned, numbers right-aligned.

    Floats get ``digits`` decimals (``None``: integral values without decimals, others two);
    integers get thousands separators; NaN shows as an en dash. ``highlight_max`` sets the
    largest value of every numeric column in bold. Column and index names are escaped, and text
    may break after an underscore (``<wbr>``), so that long names do not widen a table beyond the
    page; a table of more than :data:`WIDE_COLUMNS` columns gets the class ``wide`` (smaller font).
    """
    import html
    import numbers

    import numpy as np

    def words(text) -> str:  # long names may break after an underscore
        return html.escape(str(text)).replace("_", "_<wbr>")

    def fmt(value) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "&ndash;"
        if isinstance(value, (bool, np.bool_)):
            return str(value)
        if isinstance(value, numbers.Integral):
            return f"{int(value):,}"
        if isinstance(value, numbers.Real):
            if digits is None:
                return fixed(value, 0 if float(value).is_integer() else 2, thousands=True)
            return fixed(value, digits, thousands=True)
        return words(value)

    def is_number(value) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))

    frame = frame.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        frame.columns = [" ".join(str(p) for p in c if str(p)) for c in frame.columns]
    best = {}
    if highlight_max:
        for column in frame.columns:
            values = pd.to_numeric(frame[column], errors="coerce")
            if values.notna().any() and pd.api.types.is_numeric_dtype(frame[column]):
                best[column] = values.max()
    head = []
    if index:
        names = [n for n in (frame.index.names or []) if n is not None]
        head.append(f'<th class="text">{words(" / ".join(map(str, names)))}</th>')
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        head.append(f'<th class="{"num" if numeric else "text"}">{words(column)}</th>')
    rows = []
    values = {column: frame[column].tolist() for column in frame.columns}  # keeps ints ints
    for i, key in enumerate(frame.index):
        cells = []
        if index:
            label = " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)
            cells.append(f'<th class="text">{words(label)}</th>')
        for column in frame.columns:
            value = values[column][i]
            text = fmt(value)
            if column in best and is_number(value) and value == best[column]:
                text = f"<b>{text}</b>"
            cells.append(f'<td class="{"num" if is_number(value) else "text"}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    wide = " wide" if len(head) > WIDE_COLUMNS else ""
    return (
        f'<table class="report-table{wide}"><thead><tr>'
        + "".join(head)
        + "</tr></thead><tbody>\n"
        + "\n".join(rows)
        + "\n</tbody></table>"
    )


def _inline_markdown(text: str) -> str:
    """``code`` and **bold** of a caption as HTML (captions are HTML paragraphs)."""
    import html

    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
