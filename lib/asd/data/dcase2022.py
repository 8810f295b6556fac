"""The DCASE 2022-2025 Task 2 layout (MIMII DG, ToyADMOS2, the first-shot sets), development and evaluation::

    <root>/<machine_type>/train/section_SS_<source|target>_train_normal_NNNN_<attributes>.wav
    <root>/<machine_type>/test/section_SS_<source|target>_test_<normal|anomaly>_NNNN_<attributes>.wav
    <root>/<machine_type>/test/section_SS_NNNN.wav             (evaluation set: unlabelled, domain unknown)
    <root>/<machine_type>/attributes_SS.csv                    (optional: attributes of unlabelled names)
    <root>/<machine_type>/supplemental/*.wav                   (2025: left out unless asked for)

Names follow :mod:`asd.data.section_names`; the machine ID is the section. The four years share
the layout and the official score; the year is given (``dataset="dcase2023"``) or detected from
the clues :func:`detect_year` lists.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import LayoutError
from .registry import Layout, ReadContext, register_layout
from .scan import child_dir, scan
from .section_names import PREFIX, read_machine, read_supplemental

logger = logging.getLogger(__name__)

__all__ = ["EVAL_TYPES", "HIDDEN_ATTRIBUTES", "Dcase2022Layout", "detect_year"]

YEARS = ("dcase2022", "dcase2023", "dcase2024", "dcase2025")
#: Evaluation machine types new in each first-shot year (baseline ``machine_type_20XX_eval.yaml``, spec §2).
EVAL_TYPES = {
    "dcase2023": {"ToyDrone", "ToyNscale", "ToyTank", "Vacuum", "bandsaw", "grinder", "shaker"},
    "dcase2024": {
        "3DPrinter",
        "AirCompressor",
        "Scanner",
        "ToyCircuit",
        "HoveringDrone",
        "HairDryer",
        "ToothBrush",
        "RoboticArm",
        "BrushlessMotor",
    },
    "dcase2025": {
        "ToyRCCar",
        "ToyPet",
        "HomeCamera",
        "AutoTrash",
        "Polisher",
        "ScrewFeeder",
        "BandSealer",
        "CoffeeGrinder",
    },
}
#: Machine types named ``..._noAttribute`` in each year, development and evaluation (spec §2).
HIDDEN_ATTRIBUTES = {
    "dcase2024": {"gearbox", "slider", "ToyTrain", "AirCompressor", "BrushlessMotor", "HoveringDrone", "ToothBrush"},
    "dcase2025": {"bearing", "slider", "ToyTrain", "AutoTrash", "Polisher", "ScrewFeeder", "ToyPet"},
}


def detect_year(rows: list[dict], *, supplemental: bool) -> tuple[str, list[str]]:
    """The DCASE year (2022-2025) of rows read in this layout, and the clues that decided it.

    Each clue keeps the years it fits: sections other than ``00`` (2022 only; 2023+ have one
    section per type), section ``00`` alone (2023+), a first-shot evaluation machine type (its
    year), ``_noAttribute`` names (2024+; the year whose hidden types include the type),
    ``supplemental/`` clips (2025). The earliest year left wins.

    Raises
    ------
    LayoutError
        The clues contradict each other (no year fits them all): give the year.
    """
    candidates, clues = set(YEARS), []

    def narrow(years, clue):
        candidates.intersection_update(years)
        clues.append(f"{clue}: {'/'.join(y[-4:] for y in sorted(years))}")

    sections = sorted({r["section"] for r in rows})
    if sections != ["00"]:
        narrow({"dcase2022"}, f"sections {', '.join(sections)}")
    else:
        narrow(set(YEARS[1:]), "section 00 only")
    types = {r["machine_type"] for r in rows}
    for year, names in EVAL_TYPES.items():
        for name in sorted(types & names):
            narrow({year}, f"machine type {name}")
    for name in sorted({r["machine_type"] for r in rows if r["attributes"].lower() == "noattribute"}):
        years = {y for y, hidden in HIDDEN_ATTRIBUTES.items() if name in hidden} or set(HIDDEN_ATTRIBUTES)
        narrow(years, f"{name} _noAttribute")
    if supplemental:
        narrow({"dcase2025"}, "supplemental/ clips")
    if not candidates:
        raise LayoutError(
            f"the DCASE 2022-2025 clues contradict each other ({'; '.join(clues)}): give the year (--dataset)"
        )
    return min(candidates), clues


@register_layout
class Dcase2022Layout(Layout):
    """DCASE 2022-2025 Task 2: ``TYPE/train|test/section_SS_...`` names, optional attributes and supplemental."""

    name = "dcase2022"
    datasets = YEARS
    help = "DCASE 2022-2025 (TYPE/train|test/section_SS_<source|target>_<train|test>_<normal|anomaly>_NNNN_*.wav)"
    priority = 30
    structural = ("train", "test", "supplemental")
    train_dir = "train"

    @classmethod
    def matches(cls, folder: Path) -> bool:
        for name in ("train", "test"):
            sub = child_dir(folder, name)
            if sub is not None and any(PREFIX.match(p.name) for p in scan(sub, [])[0]):
                return True
        return False

    @classmethod
    def read(cls, folder: Path, machine_type: str, context: ReadContext) -> list[dict]:
        splits = {"train": ("train", None), "test": ("test", None)}
        return read_machine(folder, machine_type, context, splits) + read_supplemental(folder, machine_type, context)

    @classmethod
    def dataset(cls, rows: list[dict], context: ReadContext) -> str:
        if context.dataset:
            return context.dataset
        supplemental = bool(context.supplemental) or any(r["split"] == "supplemental" for r in rows)
        year, clues = detect_year([r for r in rows if r["split"] != "supplemental"] or rows, supplemental=supplemental)
        logger.info("DCASE year detected: %s (%s); give --dataset to name another", year, "; ".join(clues))
        return year
