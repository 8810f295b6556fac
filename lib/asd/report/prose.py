"""The report's sentences that depend on numbers, rendered from Jinja2 templates.

Static prose lives in the Markdown cells of ``report/report.ipynb``. Sentences whose words depend
on numbers (which detector wins, whether a model converged) are small templates in
``templates/*.md.j2``, filled from the tables the notebooks wrote, so the text cannot drift from
the numbers. The functions here only gather the numbers; the templates hold every word.

Template conventions: one sentence per line; consecutive lines are joined into one paragraph
(:func:`render`), a blank line starts a new paragraph and a line starting with ``- `` a new
list item. ``num`` formats a number with a given number of decimals (``n/a`` for missing
values) and ``code`` writes a list of names as inline code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import StudyConfig
from .display import fixed
from .study import STUDY_MODEL, display_path, reconstructs_input

TEMPLATES_DIR = Path(__file__).with_name("templates")


def _num(value: Any, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals; ``n/a`` for None and NaN."""
    return "n/a" if value is None or pd.isna(value) else fixed(value, digits)


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["num"] = _num
    env.filters["code"] = lambda names: ", ".join(f"`{n}`" for n in names)
    env.filters["thousands"] = lambda value: f"{int(value):,}"
    return env


_ENV = None


def render(name: str, **context: Any) -> str:
    """Render ``templates/<name>.md.j2`` with ``context`` into Markdown.

    Lines of a paragraph are joined with single spaces; blank lines separate paragraphs and
    lines starting with ``- `` start list items.
    """
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    text = _ENV.get_template(f"{name}.md.j2").render(**context)
    blocks: list[list[str]] = []
    for paragraph in text.split("\n\n"):
        lines: list[str] = []
        for line in paragraph.splitlines():
            line = line.strip()
            if not line:
                continue
            if lines and not line.startswith("- "):
                lines[-1] += " " + line
            else:
                lines.append(line)
        if lines:
            blocks.append(lines)
    return "\n\n".join("\n".join(lines) for lines in blocks)


def data_statement(info: Mapping[str, Any]) -> str:
    """Markdown: which data the numbers come from (relative to the project root), its
    fingerprint, the commit and the settings (``info``: the build's ``build.json``)."""
    from .study import recommended_model

    models = list(info.get("models", []))
    context = {
        "kind": info.get("data_kind", "real"),
        "data_root": display_path(info["data_root"]) if info.get("data_root") else "?",
        "n_clips": info.get("n_clips", "?"),
        "layout": info.get("layout", "?"),
        "data_fingerprint": info.get("data_fingerprint"),
        "commit": info.get("commit"),
        "dirty": bool(info.get("dirty")),
        "asd_version": info.get("asd_version"),
        "built": info.get("built"),
        "models": models,
        "epochs": dict(info.get("epochs", {})),
        "quick": bool(info.get("quick")),
        "recommended": info.get("recommended_model") or recommended_model(models or None),
        "config_fingerprint": info.get("config_fingerprint"),
        "seed": info.get("seed"),
    }
    return render("data_statement", **context)


def _reconstructing(models) -> list[str]:
    return [m for m in models if _known(m) and reconstructs_input(m)]


def _known(model: str) -> bool:
    from ..detectors import DETECTORS

    return model in DETECTORS


def results_paragraph(comparison: pd.DataFrame) -> str:
    """Markdown summary of the detector x machine type comparison (every number from the
    table of :func:`asd.tables.comparison_table`)."""
    if comparison.empty:
        return render("results", ranking=[])
    auc, pauc = comparison["AUC"], comparison["pAUC"]
    types = [c for c in auc.columns if c != "mean"]
    ranking = auc["mean"].sort_values(ascending=False)
    by_model: dict[str, list[dict]] = {}
    for machine_type, model in auc[types].idxmax().items():
        by_model.setdefault(model, []).append({"name": machine_type, "auc": auc.loc[model, machine_type]})
    recon = _reconstructing(auc.index)
    others = [m for m in auc.index if m not in recon]
    context: dict[str, Any] = {
        "types": types,
        "ranking": [{"model": m, "auc": v, "pauc": pauc.loc[m, "mean"]} for m, v in ranking.items()],
        "winners": [{"model": m, "types": ts} for m, ts in by_model.items()],
        "study": None,
        "best_recon": None,
        "best_other": None,
        "f1": None,
    }
    if STUDY_MODEL in auc.index:
        context["study"] = {
            "model": STUDY_MODEL,
            "auc": auc.loc[STUDY_MODEL, "mean"],
            "below": [t for t in types if auc.loc[STUDY_MODEL, t] < 0.5],
        }
    if recon and others:
        best_recon, best_other = auc.loc[recon, "mean"].idxmax(), auc.loc[others, "mean"].idxmax()
        context["best_recon"] = {"model": best_recon, "auc": auc.loc[best_recon, "mean"]}
        context["best_other"] = {"model": best_other, "auc": auc.loc[best_other, "mean"]}
    if "F1" in comparison.columns.get_level_values(0) and comparison["F1"]["mean"].notna().any():
        f1 = comparison["F1"]["mean"]
        context["f1"] = {"min": f1.min(), "max": f1.max(), "argmin": f1.idxmin(), "argmax": f1.idxmax()}
    return render("results", **context)


def closing_paragraph(comparison: pd.DataFrame) -> str:
    """Markdown: the mean AUC range of the detectors that reconstruct their input against the
    others."""
    if comparison.empty:
        return ""
    auc = comparison["AUC"]["mean"]
    recon = _reconstructing(auc.index)
    others = [m for m in auc.index if m not in recon]
    return render("closing", recon=[auc[m] for m in recon], others=[auc[m] for m in others])


def image_paragraph(resolution: pd.DataFrame) -> str:
    """Markdown: what the study's image keeps and loses, from :func:`asd.tables.image_resolution`."""
    table = resolution.set_index("property")

    def facts(column: str) -> dict:
        c = table[column]
        return {
            "hop": float(c["hop between frames (ms)"]),
            "window": float(c["FFT window (ms)"]),
            "bands": int(c["mel bands (0 to Nyquist)"]),
            "resolution": float(c["frequency resolution of the FFT (Hz)"]),
            "seconds": float(c["seconds covered"]),
            "n_values": int(c["values per clip"]),
        }

    return render("image", image=facts("64x64 image"), fine=facts("fine log-mel"))


def training_paragraph(config: StudyConfig) -> str:
    """Markdown: how the models were trained and evaluated (values from ``config``)."""
    return render("training", t=config.training, max_fpr=config.max_fpr)


def conclusion_paragraph(
    summary: pd.DataFrame, batchnorm: pd.DataFrame | None = None, *, momentum: float = 0.99
) -> str:
    """Markdown: what the reconstructions of this build show.

    Every number comes from ``summary`` (:func:`asd.reconstruction.reconstruction_summary` over
    every test clip of the shown machines) and ``batchnorm`` (rows of
    :func:`asd.reconstruction.batchnorm_check` per machine and group of clips, ``train normal`` /
    ``test normal`` / ``test anomaly``, with ``optimizer_steps``); an interpretation sentence
    appears only when the numbers support it (a factor of 2 between errors, or anomalous within
    25% of normal).
    """
    machines = []
    for (machine_type, machine_id), group in summary.groupby(["machine_type", "machine_id"], sort=False):
        by_label = group.set_index("label")
        if not {"normal", "anomaly"} <= set(by_label.index):
            continue
        item = {
            "name": f"{machine_type} id {machine_id}",
            "normal": by_label.loc["normal"].to_dict(),
            "anomaly": by_label.loc["anomaly"].to_dict(),
            "train": None,
        }
        if batchnorm is not None and not batchnorm.empty:
            rows = batchnorm[
                (batchnorm["machine_type"] == machine_type) & (batchnorm["machine_id"] == machine_id)
            ].set_index("clips")
            if {"train normal", "test normal", "test anomaly"} <= set(rows.index):
                item.update(
                    train=rows.loc["train normal"].to_dict(),
                    new=rows.loc["test normal"].to_dict(),
                    bad=rows.loc["test anomaly"].to_dict(),
                )
        machines.append(item)
    if summary.empty:
        return render("conclusion", machines=[], momentum=momentum)
    return render("conclusion", machines=machines, momentum=momentum)


def synthetic_vs_real_paragraph(levels: pd.DataFrame, *, real_root, data_types, real_types) -> str:
    """Markdown: whether notebook 01 compared this build's data with the real reference clips
    (``real_root``: the folder of their committed statistics, :mod:`asd.report.real_stats`;
    ``real_types``: the machine types it has), and the median level of each source per machine
    type (``levels``: :func:`asd.tables.levels_and_spectra`, one row per clip with ``source``,
    ``machine_type`` and ``rms_dbfs``)."""
    from .real_stats import REAL_STATS_DIR, WRITE_COMMAND

    rows = []
    if not levels.empty:
        for machine_type, group in levels.groupby("machine_type", sort=False):
            medians = group.groupby("source")["rms_dbfs"].median()
            if {"data", "real"} <= set(medians.index):
                rows.append({"machine_type": machine_type, "data": medians["data"], "real": medians["real"]})
    real_types = set(real_types)
    return render(
        "synthetic_vs_real",
        stats_dir=display_path(real_root) if real_root else display_path(REAL_STATS_DIR),
        command=WRITE_COMMAND,
        real_types=[t for t in data_types if t in real_types],
        missing=[t for t in data_types if t not in real_types],
        n_data=int((levels["source"] == "data").sum()) if not levels.empty else 0,
        n_real=int((levels["source"] == "real").sum()) if not levels.empty else 0,
        levels=rows,
    )


def models_paragraph(
    models, *, recommended: str | None = None, fell_back: Mapping[str, list[str]] | None = None
) -> str:
    """Markdown: every detector in ``models``, described by its registered ``summary`` and
    ``feature_kind`` (:data:`asd.detectors.DETECTORS`), so a new detector cannot be left out;
    a detector with a ``fallback_detector`` says so, and ``fell_back`` (model to machine types)
    where it did in this build."""
    from ..detectors import get_detector

    rows = []
    for name in models:
        detector = get_detector(name)
        rows.append(
            {
                "name": name,
                "features": detector.feature_kind,
                "summary": detector.summary.rstrip("."),
                "study": name == STUDY_MODEL,
                "recommended": name == recommended,
                "fallback": getattr(detector, "fallback_detector", None),
                "fell_back": list((fell_back or {}).get(name, [])),
            }
        )
    return render("models", rows=rows)


def fell_back(run_dirs: Mapping[str, Path]) -> dict[str, list[str]]:
    """The machine types on which a detector of this build scored as its fallback: ``run_dirs``
    maps model to run folder; a saved detector state (``detector.json``) whose ``mode`` ends in
    ``_fallback`` names the machine type (the first folder below the run)."""
    import json

    found: dict[str, list[str]] = {}
    for model, run_dir in run_dirs.items():
        for state in sorted(Path(run_dir).glob("*/**/detector.json")):
            mode = str(json.loads(state.read_text()).get("mode", ""))
            if mode.endswith("_fallback"):
                found.setdefault(model, []).append(state.relative_to(run_dir).parts[0])
    return {model: sorted(set(types)) for model, types in found.items()}


def eval_real_fallbacks(per_type: pd.DataFrame, models) -> dict[str, dict]:
    """The sets of ``make eval-real``'s per-type table (``set``, ``model``, ``machine_type``,
    ``auc``, ``pauc``) on which a detector with a ``fallback_detector`` scored as it: its AUC and
    pAUC equal the fallback's on every machine type of the set (the same scores). Model to
    ``{"fallback": name, "sets": [...]}``."""
    from ..detectors import get_detector

    found = {}
    for model in models:
        fallback = getattr(get_detector(model), "fallback_detector", None)
        if fallback is None:
            continue
        key = ["set", "machine_type"]
        own = per_type[per_type["model"] == model].set_index(key)[["auc", "pauc"]]
        other = per_type[per_type["model"] == fallback].set_index(key)[["auc", "pauc"]]
        same = own.join(other, rsuffix="_fallback", how="inner")
        equal = (same["auc"] == same["auc_fallback"]) & (same["pauc"] == same["pauc_fallback"])
        sets = [name for name, group in equal.groupby(level="set", sort=False) if group.all()]
        if sets:
            found[model] = {"fallback": fallback, "sets": sets}
    return found


def fallback_note(fell_back: Mapping[str, list[str]]) -> str:
    """A sentence for the captions of the tables with this build's numbers: which detector scored
    as its ``fallback_detector`` on which machine types (``fell_back``: :func:`fell_back`); empty
    when none did."""
    from ..detectors import get_detector

    rows = [
        {"model": m, "fallback": getattr(get_detector(m), "fallback_detector", None) or "its fallback", "types": types}
        for m, types in fell_back.items()
        if types
    ]
    return render("fallback_note", rows=rows)


def threshold_paragraph(*, false_alarm_rate: float, n_train: int | None) -> str:
    """Markdown: the false-alarm rate the F1 thresholds were fitted for, and what ``n_train``
    (the fewest normal training clips of any machine ID) can resolve: rates below 1/N cannot."""
    floor = 1.0 / n_train if n_train else 0.0
    return render(
        "threshold",
        rate=false_alarm_rate,
        rate_percent=f"{100 * false_alarm_rate:g} %",
        n_train=int(n_train) if n_train else 0,
        floor=floor,
        floor_percent=f"1/{int(n_train)} = {fixed(100 * floor, 1)} %" if n_train else "",
    )


def calibration_paragraph(calibration: pd.DataFrame, *, synthetic: bool = True) -> str:
    """Markdown: how many machine types and IDs land within tolerance of the published AUCs.

    ``calibration`` is :func:`asd.tables.calibration_table` of the build's results (its
    ``attrs["model"]`` names the baseline model compared).
    """
    types = calibration[calibration["machine_id"] == "mean"]
    ids = calibration[calibration["machine_id"] != "mean"]
    return render(
        "calibration",
        model=calibration.attrs.get("model", "the baseline"),
        types=types.to_dict("records"),
        within_types=int(types["within"].sum()),
        outside=types[~types["within"]].to_dict("records"),
        type_tolerance=float(types["tolerance"].iloc[0]) if len(types) else 0.0,
        within_ids=int(ids["within"].sum()),
        n_ids=len(ids),
        id_tolerance=float(ids["tolerance"].iloc[0]) if len(ids) else 0.0,
        synthetic=synthetic,
    )


def ceiling_paragraph(ceiling: pd.DataFrame, *, model: str, target: float = 0.90) -> str:
    """Markdown: the sets whose ceiling with hindsight stays below ``target`` (mean AUC), and
    those on which ``model``'s mean lies below ``chance_upper`` (cannot be told from luck).

    ``ceiling`` is :func:`asd.tables.hindsight_ceiling` of ``make eval-real``'s per-type table,
    indexed by set, with ``model``'s mean as a column when it was run; empty when neither applies.
    """
    below = [{"set": name, "ceiling": row["ceiling"]} for name, row in ceiling.iterrows() if row["ceiling"] < target]
    lucky = []
    if model in ceiling and "chance_upper" in ceiling:
        lucky = [
            {"set": name, "mean": row[model], "chance_upper": row["chance_upper"]}
            for name, row in ceiling.iterrows()
            if row[model] < row["chance_upper"]
        ]
    return render("ceiling", below=below, lucky=lucky, model=model, target=target)
