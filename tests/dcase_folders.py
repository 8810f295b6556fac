"""Tiny DCASE 2021-2025 folders for the data-layer tests: every year's dev and eval names, and the evaluators' files.

:func:`build` writes one clip per name (160 samples) and returns what each clip must read as, so a
test compares :func:`asd.data.discover_clips` with an expectation built here from the naming rules
of the spec (``shared/specs/dcase-2021-2025.md`` §1-§2), not from the reader's code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from asd.audio import write_clip

#: Development and evaluation machine types used per year (a subset of the real ones), and their sections.
TYPES = {
    "dcase2021": {"dev": (["fan", "ToyCar"], ["00", "01"]), "eval": (["fan"], ["03", "04"])},
    "dcase2022": {"dev": (["bearing", "ToyTrain"], ["00", "02"]), "eval": (["bearing"], ["03", "05"])},
    "dcase2023": {"dev": (["fan", "valve"], ["00"]), "eval": (["ToyDrone", "bandsaw"], ["00"])},
    "dcase2024": {"dev": (["gearbox", "fan"], ["00"]), "eval": (["3DPrinter", "AirCompressor"], ["00"])},
    "dcase2025": {"dev": (["bearing", "valve"], ["00"]), "eval": (["ToyPet", "HomeCamera"], ["00"])},
}
#: Hidden attributes (``_noAttribute``) per year (spec §2).
HIDDEN = {"dcase2024": {"gearbox", "AirCompressor"}, "dcase2025": {"bearing", "ToyPet"}}
#: First index per year: 2024 counts from 1 (spec §1), the others from 0.
INDEX_BASE = {"dcase2024": 1}


def _attributes(year: str, machine_type: str, domain: str, index: int) -> str:
    if machine_type in HIDDEN.get(year, ()):
        return "noAttribute"
    return f"spd_{28 + (domain == 'target')}V_mic_{index % 2 + 1}"


def _touch(path: Path, seconds: float = 0.01) -> None:
    write_clip(path, np.zeros(max(int(16000 * seconds), 160)))


def _expect(rel: str, machine_type: str, section: str, split: str, label: str, domain: str, attributes: str) -> dict:
    return {
        "rel": rel,
        "machine_type": machine_type,
        "machine_id": section,
        "section": section,
        "split": split,
        "label": label,
        "domain": domain,
        "attributes": attributes,
    }


def names(year: str, kind: str = "dev", *, n_train: tuple[int, int] = (3, 1), n_test: int = 1):
    """``(expected row, hidden truth or None)`` per clip of a tiny ``year`` set (``kind`` ``"dev"`` or ``"eval"``).

    Eval test clips are named as the challenge hides them; the truth gives label, domain and
    attributes, and the labelled name, for the evaluator files.
    """
    types, sections = TYPES[year][kind]
    base = INDEX_BASE.get(year, 0)
    out = []
    for machine_type in types:
        for section in sections:
            for domain, count in zip(("source", "target"), n_train):
                for i in range(count):
                    attrs = _attributes(year, machine_type, domain, i)
                    rel = f"{machine_type}/train/section_{section}_{domain}_train_normal_{base + i:04d}_{attrs}.wav"
                    out.append((_expect(rel, machine_type, section, "train", "normal", domain, attrs), None))
            eval_index = base
            for domain in ("source", "target"):
                folder = f"{domain}_test" if year == "dcase2021" else "test"
                for label in ("normal", "anomaly"):
                    for i in range(n_test):
                        attrs = "" if year == "dcase2021" else _attributes(year, machine_type, domain, i)
                        stem = f"section_{section}_{domain}_test_{label}_{base + i:04d}" + (
                            f"_{attrs}" if attrs else ""
                        )
                        truth = {"label": label, "domain": domain, "attributes": attrs, "labelled": stem}
                        if kind == "dev":
                            rel = f"{machine_type}/{folder}/{stem}.wav"
                            out.append((_expect(rel, machine_type, section, "test", label, domain, attrs), None))
                            continue
                        hidden = (
                            f"section_{section}_{domain}_test_{eval_index:04d}.wav"
                            if year == "dcase2021"
                            else f"section_{section}_{eval_index:04d}.wav"
                        )
                        eval_index += 1
                        seen_domain = domain if year == "dcase2021" else "unknown"
                        row = _expect(
                            f"{machine_type}/{folder}/{hidden}",
                            machine_type,
                            section,
                            "test",
                            "unknown",
                            seen_domain,
                            "",
                        )
                        out.append((row, truth))
    return out


def build(root: Path, year: str, kind: str = "dev", **kwargs) -> list[tuple[dict, dict | None]]:
    """Write :func:`names`' clips under ``root``; return them."""
    rows = names(year, kind, **kwargs)
    for row, _ in rows:
        _touch(root / row["rel"])
    return rows


def write_evaluator_truth(folder: Path, year: str, rows, *, attributes: bool = True) -> Path:
    """The official evaluator's ``ground_truth_*`` folders for the eval clips of ``rows`` (spec §2)."""
    files: dict[Path, list[str]] = {}
    for row, truth in rows:
        if truth is None:
            continue
        name = Path(row["rel"]).name
        stem = f"ground_truth_{row['machine_type']}_section_{row['section']}"
        if year == "dcase2021":
            files.setdefault(folder / "ground_truth_data" / f"{stem}_{truth['domain']}_test.csv", []).append(
                f"{name},{int(truth['label'] == 'anomaly')}"
            )
            continue
        files.setdefault(folder / "ground_truth_data" / f"{stem}_test.csv", []).append(
            f"{name},{int(truth['label'] == 'anomaly')}"
        )
        files.setdefault(folder / "ground_truth_domain" / f"{stem}_test.csv", []).append(
            f"{name},{int(truth['domain'] == 'target')}"
        )
        if attributes:
            files.setdefault(folder / "ground_truth_attributes" / f"{stem}_test.csv", []).append(
                f"{name},{truth['labelled']}"
            )
    for path, lines in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    return folder


def write_baseline_list(path: Path, rows) -> Path:
    """The baseline's ``eval_data_list_20XX.csv`` (type line, then ``eval_name,labelled_name``) for ``rows``."""
    lines, current = [], None
    for row, truth in rows:
        if truth is None:
            continue
        if row["machine_type"] != current:
            current = row["machine_type"]
            lines.append(current)
        lines.append(f"{Path(row['rel']).name},{truth['labelled']}.wav")
    path.write_text("\n".join(lines) + "\n")
    return path


def table_rows(table, root: Path) -> list[dict]:
    """The clip table's rows in :func:`names`' form, sorted by path."""
    columns = ["machine_type", "machine_id", "section", "split", "label", "domain", "attributes"]
    return [
        {"rel": Path(r["path"]).relative_to(root).as_posix(), **{c: r[c] for c in columns}}
        for r in table.to_dict("records")
    ]


def expected(rows, *, labelled: bool = False, attributes: bool = True) -> list[dict]:
    """The expected rows sorted by path; ``labelled``: eval clips with the truth filled in (``attributes`` too)."""
    out = []
    for row, truth in rows:
        row = dict(row)
        if labelled and truth is not None:
            row.update(label=truth["label"], domain=truth["domain"])
            row["attributes"] = truth["attributes"] if attributes else row["attributes"]
        out.append(row)
    return sorted(out, key=lambda r: r["rel"])
