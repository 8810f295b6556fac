"""The synthetic machines in the layouts of DCASE 2021-2025 Task 2, with a real domain shift.

What each year's layout holds (docs/dcase_years.md has the sources; the real sets' counts in
brackets are those of the ``default`` size)::

    dcase2021  <type>/train/section_SS_<source|target>_train_normal_NNNN_<attr>.wav   [1000 + 3 per section]
               <type>/source_test/section_SS_source_test_<normal|anomaly>_NNNN.wav    [100 + 100, no attributes]
               <type>/target_test/section_SS_target_test_<normal|anomaly>_NNNN.wav
    dcase2022  <type>/train/section_SS_<dom>_train_normal_NNNN_<attr>.wav             [990 + 10 per section]
               <type>/test/section_SS_<dom>_test_<normal|anomaly>_NNNN_<attr>.wav      [50 per domain x label]
               <type>/attributes_SS.csv
    dcase2023+ the same with one section (00) per type; 2024 numbers clips from 1; 2024 and 2025
               name some types' clips ``..._NNNN_noAttribute.wav`` (and write no attribute CSV for them)

Sections 00-02 (2021, 2022) or 00 (2023 on) of each year's development machine types. Each
(type, section) is one synthetic machine (:data:`MODELS`: a model of :mod:`asd.synth.machines` and an
ID); ToyTrain, gearbox and bearing borrow the ToyConveyor, pump and fan models with IDs of their own.

**Domain shift.** The source domain runs at speeds 1.00 and 0.94 (alternating clips; attribute
``spd``) in the machine ID's own room (``bkg_A``); the target domain at speed 1.18 in another room
(``bkg_B``: another ambience, another SNR): :class:`asd.synth.machines.Condition`. A detector
trained on the source sees the target's normal clips as shifted.

**Eval style** (``eval_style=True``): test clips are renamed as in the evaluation sets
(``section_SS_NNNN.wav``, 2021: ``section_SS_<dom>_test_NNNN.wav``), in a seeded random order,
and the ground truth is written as the official evaluators read it under ``<out>/ground_truth/``:
``ground_truth_data/ground_truth_<type>_section_SS_test.csv`` (``name,0|1``),
``ground_truth_domain/...`` (``name,0=source|1=target``, 2022 on) and, 2023 on,
``ground_truth_attributes/...`` (``name,labelled name without .wav``); 2021's files are per domain
(``..._section_SS_<source|target>_test.csv``).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..atomic import write_text_atomic
from ..audio import write_clip
from .machines import FAULTS, SAMPLE_RATE, Condition, clip_rng, clip_severity, generate_clip, severity_centre

#: The formats :func:`asd.synth.generate_dataset` writes besides ``dcase2020``.
YEAR_FORMATS = ("dcase2021", "dcase2022", "dcase2023", "dcase2024", "dcase2025")
#: Each development machine type: (synth model, IDs for its sections 00, 01, 02).
MODELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fan": ("fan", ("00", "02", "04")),
    "pump": ("pump", ("00", "02", "04")),
    "slider": ("slider", ("00", "02", "04")),
    "valve": ("valve", ("00", "02", "04")),
    "ToyCar": ("ToyCar", ("01", "02", "03")),
    "ToyTrain": ("ToyConveyor", ("01", "02", "03")),
    "gearbox": ("pump", ("11", "13", "15")),
    "bearing": ("fan", ("11", "13", "15")),
}
SOURCE_SPEEDS = (1.0, 0.94)
TARGET_SPEED = 1.18


@dataclass(frozen=True)
class YearLayout:
    """What differs between the years' development layouts."""

    machine_types: tuple[str, ...]
    sections: tuple[str, ...]
    index_base: int = 0
    no_attribute: tuple[str, ...] = ()

    def test_folder(self, year: str, domain: str) -> str:
        return f"{domain}_test" if year == "dcase2021" else "test"


_FIRST_SHOT = ("ToyCar", "ToyTrain", "bearing", "fan", "gearbox", "slider", "valve")
LAYOUTS: dict[str, YearLayout] = {
    "dcase2021": YearLayout(("ToyCar", "ToyTrain", "fan", "gearbox", "pump", "slider", "valve"), ("00", "01", "02")),
    "dcase2022": YearLayout(("ToyCar", "ToyTrain", "bearing", "fan", "gearbox", "slider", "valve"), ("00", "01", "02")),
    "dcase2023": YearLayout(_FIRST_SHOT, ("00",)),
    "dcase2024": YearLayout(_FIRST_SHOT, ("00",), index_base=1, no_attribute=("ToyTrain", "gearbox", "slider")),
    "dcase2025": YearLayout(_FIRST_SHOT, ("00",), no_attribute=("ToyTrain", "bearing", "slider")),
}


@dataclass(frozen=True)
class YearSize:
    """Clips per section: source and target training clips, test clips per domain and label; clip length."""

    train_source: int
    train_target: int
    test_each: int
    seconds: float | None  # None: the model's full length (10 s, ToyCar 11 s)


#: Sizes of the year layouts: ``tiny`` for tests, ``small`` for measurements on two cores (the
#: default's 99:1 source:target ratio, 10 target clips, 4 s clips), ``default`` the real sets' counts.
YEAR_SIZES = ("tiny", "small", "default")


def year_size(year: str, size: str) -> YearSize:
    """The counts of one size (:data:`YEAR_SIZES`) in one year's layout."""
    if size == "tiny":
        return YearSize(train_source=4, train_target=2, test_each=2, seconds=2.0)
    if size == "small":
        return YearSize(
            train_source=300 if year == "dcase2021" else 297,
            train_target=3 if year == "dcase2021" else 10,
            test_each=12,
            seconds=4.0,
        )
    if year == "dcase2021":
        return YearSize(train_source=1000, train_target=3, test_each=100, seconds=None)
    return YearSize(train_source=990, train_target=10, test_each=50, seconds=None)


@dataclass(frozen=True)
class YearJob:
    """One clip of a year layout: where it goes, what it is, and how it is made."""

    relpath: str
    machine_type: str
    section: str
    domain: str
    split: str
    label: str
    index: int
    attributes: str
    fault: str
    seed: int
    model: str
    model_id: str
    speed: float
    site: str
    seconds: float | None
    stream: str  # names the clip's random stream (year, domain, split)
    labelled: str = ""  # the development-style relative path when ``relpath`` is an eval-style name


def _attributes(year: str, layout: YearLayout, machine_type: str, domain: str, index: int) -> tuple[float, str, str]:
    speed = SOURCE_SPEEDS[index % len(SOURCE_SPEEDS)] if domain == "source" else TARGET_SPEED
    site = "A" if domain == "source" else "B"
    if machine_type in layout.no_attribute:
        return speed, site, "noAttribute"
    return speed, site, f"spd_{round(speed * 100):03d}_bkg_{site}"


def plan_year(year: str, size: str, seed: int, machine_types: list[str]) -> list[YearJob]:
    """Every clip of one year's development layout for the given machine types, in a fixed order."""
    layout, counts = LAYOUTS[year], year_size(year, size)
    jobs = []
    for machine_type in machine_types:
        model, ids = MODELS[machine_type]
        for section, model_id in zip(layout.sections, ids):
            groups = [
                ("train", "source", "normal", counts.train_source),
                ("train", "target", "normal", counts.train_target),
            ]
            groups += [
                ("test", d, lab, counts.test_each) for d in ("source", "target") for lab in ("normal", "anomaly")
            ]
            for split, domain, label, count in groups:
                folder = "train" if split == "train" else layout.test_folder(year, domain)
                for index in range(count):
                    speed, site, attributes = _attributes(year, layout, machine_type, domain, index)
                    shown = "" if (year == "dcase2021" and split == "test") else f"_{attributes}"
                    name = f"section_{section}_{domain}_{split}_{label}_{index + layout.index_base:04d}{shown}.wav"
                    faults = FAULTS[model]
                    fault = faults[(index + int(model_id)) % len(faults)] if label == "anomaly" else ""
                    jobs.append(
                        YearJob(
                            f"{machine_type}/{folder}/{name}",
                            machine_type,
                            section,
                            domain,
                            split,
                            label,
                            index,
                            attributes,
                            fault,
                            seed,
                            model,
                            model_id,
                            speed,
                            site,
                            counts.seconds,
                            f"{year}/{domain}/{split}",
                        )
                    )
    return jobs


def make_year_clip(job: YearJob, out_dir: str) -> dict:
    """Generate and write one clip of a year layout; return its manifest row."""
    rng = clip_rng(job.seed, job.model, job.model_id, job.stream, job.label, job.index)
    severity = clip_severity(severity_centre(job.model, job.model_id), float(rng.uniform())) if job.fault else 0.0
    samples = generate_clip(
        job.model,
        job.model_id,
        anomaly=job.fault or None,
        rng=rng,
        severity=severity,
        condition=Condition(speed=job.speed, site=job.site),
        seconds=job.seconds,
    )
    path = Path(out_dir) / job.relpath
    write_clip(path, samples, sample_rate=SAMPLE_RATE)
    return {
        "relpath": job.relpath,
        "machine_type": job.machine_type,
        "section": job.section,
        "domain": job.domain,
        "split": job.split,
        "label": job.label,
        "attributes": job.attributes,
        "fault": job.fault,
        "severity": round(severity, 6),
        "labelled": job.labelled or job.relpath,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def _csv(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def write_attribute_csvs(out_dir: Path, year: str, rows: list[dict]) -> list[Path]:
    """``<type>/attributes_SS.csv`` (2022 on) for the types whose attributes are shown.

    Columns ``file_name,d1p,d1v,d2p,d2v``: the clip's path relative to the root, then the speed and the
    room; one row per clip whose name carries attributes (train clips, and dev test clips).
    """
    if year == "dcase2021":
        return []
    written = []
    groups: dict[tuple[str, str], list[list[str]]] = {}
    for row in sorted(rows, key=lambda r: r["relpath"]):
        if row["attributes"] == "noAttribute" or row["attributes"] not in Path(row["relpath"]).stem:
            continue
        _, speed, _, room = row["attributes"].split("_")
        groups.setdefault((row["machine_type"], row["section"]), []).append([row["relpath"], "spd", speed, "bkg", room])
    for (machine_type, section), lines in sorted(groups.items()):
        text = _csv([["file_name", "d1p", "d1v", "d2p", "d2v"], *lines])
        written.append(write_text_atomic(out_dir / machine_type / f"attributes_{section}.csv", text))
    return written


def eval_style(year: str, jobs: list[YearJob], seed: int) -> list[YearJob]:
    """The jobs with their test clips renamed as in the evaluation sets (a seeded shuffle per group)."""
    renamed = {}
    groups: dict[tuple, list[YearJob]] = {}
    for job in jobs:
        if job.split == "test":
            key = (job.machine_type, job.section) + ((job.domain,) if year == "dcase2021" else ())
            groups.setdefault(key, []).append(job)
    for key, members in sorted(groups.items()):
        members = sorted(members, key=lambda j: j.relpath)
        order = np.random.default_rng([seed, len(members), *map(ord, "/".join(key))]).permutation(len(members))
        for number, position in enumerate(order):
            job = members[position]
            folder = Path(job.relpath).parent.as_posix()
            infix = f"{job.domain}_test_" if year == "dcase2021" else ""
            renamed[job.relpath] = f"{folder}/section_{job.section}_{infix}{number + LAYOUTS[year].index_base:04d}.wav"
    return [replace(j, relpath=renamed[j.relpath], labelled=j.relpath) if j.relpath in renamed else j for j in jobs]


def write_ground_truth(out_dir: Path, year: str, rows: list[dict]) -> list[Path]:
    """The evaluators' ground-truth files of the eval-style test clips, under ``<out>/ground_truth/``."""
    tables: dict[Path, list[list]] = {}
    for row in sorted(rows, key=lambda r: r["relpath"]):
        if row["labelled"] == row["relpath"]:
            continue
        name = Path(row["relpath"]).name
        stem = f"ground_truth_{row['machine_type']}_section_{row['section']}"
        stem += f"_{row['domain']}_test.csv" if year == "dcase2021" else "_test.csv"
        tables.setdefault(Path("ground_truth_data") / stem, []).append([name, int(row["label"] == "anomaly")])
        if year != "dcase2021":
            tables.setdefault(Path("ground_truth_domain") / stem, []).append([name, int(row["domain"] == "target")])
        if year not in ("dcase2021", "dcase2022"):
            tables.setdefault(Path("ground_truth_attributes") / stem, []).append([name, Path(row["labelled"]).stem])
    return [write_text_atomic(out_dir / "ground_truth" / rel, _csv(lines)) for rel, lines in sorted(tables.items())]
