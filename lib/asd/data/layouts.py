"""Find the clips under a dataset folder and describe them in one table (the clip table).

The layouts are registered in :mod:`asd.data.registry` (one module each); the rules that give
each clip its machine type, ID, section, domain, split and label, and the columns of the table,
are described in the :mod:`asd.data` package docstring.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from pathlib import Path

import pandas as pd

# isort: off
# the layout modules register themselves on import, in the order the "no clips found" line lists them
from . import dcase2020, mimii, folders, dcase2021, dcase2022  # noqa: F401

# isort: on
from ..errors import ConfigError, LayoutError
from .folders import ID_DIR
from .registry import (
    LAYOUTS,
    Layout,
    ReadContext,
    by_priority,
    get_layout,
    layout_for_dataset,
)
from .scan import check_root, has_wav, scan, skip

logger = logging.getLogger(__name__)

__all__ = [
    "COLUMNS",
    "LABELS",
    "LAYOUTS",
    "SECTION_LAYOUTS",
    "detect_layout",
    "discover_clips",
    "is_machine_folder",
    "layout_help",
    "one_class_tests",
    "summarize_clips",
]

COLUMNS = [
    "path",
    "file_name",
    "machine_type",
    "machine_id",
    "split",
    "label",
    "section",
    "domain",
    "attributes",
    "dataset",
]
LABELS = ("normal", "anomaly", "unknown")
#: Layouts whose names carry sections and domains (DCASE 2021-2025): never mixed with another in one table.
SECTION_LAYOUTS = ("dcase2021", "dcase2022")
DEFAULT_MACHINE_ID = "00"


def layout_help() -> str:
    """One line naming every registered layout, for the error raised when none matches."""
    return ", ".join(layout.help for layout in LAYOUTS.values())


#: The line as it reads with the layouts of the package (:func:`layout_help` includes layouts registered later).
LAYOUT_HELP = layout_help()


def _structural(name: str) -> bool:
    """True for folder names that say split, label or machine ID (not a machine type)."""
    lower = name.lower()
    return any(lower in layout.structural for layout in LAYOUTS.values()) or bool(ID_DIR.match(name))


def _looks_like_machine(folder: Path) -> bool:
    """True if ``folder`` is a machine folder in a layout with structure (split, ID or DCASE names)."""
    if any(layout.priority > 0 and layout.matches(folder) for layout in by_priority()):
        return True
    return any(_structural(sub.name) and has_wav(sub, 2) for sub in scan(folder, [])[1])


def _root_reading(root: Path) -> tuple[bool, list[Path], list[str]]:
    """(is one machine's folder, stray WAV files at the root, machine folders beside them)."""
    files, dirs = scan(root, [])
    if dirs and all(_structural(d.name) for d in dirs):
        return True, [], []
    if not files:
        return False, [], []
    machines = [d.name for d in dirs if not _structural(d.name) and _looks_like_machine(d)]
    return (False, files, machines) if machines else (True, [], [])


def is_machine_folder(root: str | os.PathLike) -> bool:
    """True if ``root`` is one machine's folder rather than a folder of machine folders.

    That is: its subfolders all say split, label or machine ID (``train``, ``test``,
    ``source_test``, ``normal``, ``abnormal``, ``id_XX``, ...), or it holds WAV files and no
    subfolder is a machine folder with such structure (WAV files beside ``fan/train/...`` and
    ``pump/train/...`` are strays at a root of machine folders, not one machine).
    """
    return _root_reading(check_root(root))[0]


def _machine_layout(folder: Path) -> type[Layout]:
    """The layout one machine's folder follows: the first registered layout, by priority, that matches."""
    return next(layout for layout in by_priority() if layout.matches(folder))


def detect_layout(root: str | os.PathLike) -> str:
    """The layout name of a dataset folder: ``"dcase"``, ``"dcase2021"``, ``"dcase2022"``, ``"mimii"``, ``"folders"``.

    A root whose machine folders follow different layouts gives the first by machine-type
    name; :func:`discover_clips` reads each machine folder in its own layout.

    Raises
    ------
    LayoutError
        The folder is missing, is a file, or holds no clips in any layout read (the message
        lists them).
    """
    root = check_root(root)
    if is_machine_folder(root):
        return _machine_layout(root).name
    for folder in scan(root, [])[1]:
        if has_wav(folder):
            return _machine_layout(folder).name
    raise LayoutError(f"{root}: no clips found in a layout asd reads: {layout_help()}")


# -- arguments ---------------------------------------------------------------------------------


def _normalise_id(value: str | int | None) -> str:
    if value is None:
        return DEFAULT_MACHINE_ID
    text = str(value).strip()
    match = ID_DIR.match(text) or re.fullmatch(r"(?P<id>\d{1,2})", text)
    if not match:
        raise ConfigError(f"machine_id: expected a number from 0 to 99 (like 3, 03 or id_03), got {value!r}")
    return match["id"].zfill(2)


def _check_type_name(value: str) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", text):
        raise ConfigError(f"machine_type: expected letters, digits, '_', '.' or '-' (it names files), got {value!r}")
    return text


def _forced_layout(layout: str, dataset: str | None) -> type[Layout] | None:
    """The layout every machine folder is read in, or None to detect it per folder."""
    named = None if layout == "auto" else get_layout(layout)
    if dataset is None:
        return named
    by_dataset = layout_for_dataset(dataset)
    if named is not None and named is not by_dataset:
        raise ConfigError(f"layout {layout!r} does not read dataset {dataset!r} (layout {by_dataset.name!r} does)")
    return by_dataset


# -- which folders are machines ----------------------------------------------------------------


def _machine_folders(root: Path, machine_types, machine_type: str | None, skipped: list[dict]) -> dict[str, Path]:
    """Machine type -> its folder; WAV files at a root of machine folders go to ``skipped``."""
    one_machine, strays, beside = _root_reading(root)
    if one_machine:
        name = machine_type or root.resolve().name or "machine"
        if machine_types is not None and list(machine_types) != [name]:
            raise LayoutError(
                f"{root}: no folder for machine type(s) {', '.join(t for t in machine_types if t != name) or 'none'} "
                f"(this is one machine's folder, read as machine type {name})"
            )
        return {name: root}
    for path in strays:
        skip(
            skipped,
            path,
            f"a WAV file at the dataset root beside the machine folders ({', '.join(beside)}): "
            "not read (put it in its machine's folder)",
        )
    subdirs = scan(root, skipped)[1]
    requested = [machine_type] if machine_type else None if machine_types is None else list(machine_types)
    if requested is None:
        folders = {p.name: p for p in subdirs if has_wav(p)}
        if not folders:
            raise LayoutError(f"{root}: no clips found in a layout asd reads: {layout_help()}")
        return folders
    available = {p.name: p for p in subdirs}
    missing = [t for t in requested if t not in available]
    if missing:
        raise LayoutError(
            f"{root}: no folder for machine type(s) {', '.join(missing)} (found: {', '.join(available) or 'none'})"
        )
    return {t: available[t] for t in requested}


def _skipped_note(skipped: list[dict], folder: Path) -> str:
    """``"; skipped N: why (M), ..."`` for the entries under ``folder`` (empty when none)."""
    inside = [item for item in skipped if Path(item["path"]).is_relative_to(folder)]
    if not inside:
        return ""
    reasons = Counter(item["problem"] for item in inside)
    return f"; {len(inside)} skipped: " + ", ".join(f"{why} ({n})" for why, n in reasons.most_common())


def _read_machine(
    folder: Path, name: str, layout: type[Layout], context: ReadContext, require_train: bool
) -> list[dict]:
    rows = layout.read(folder, name, context)
    note = _skipped_note(context.skipped, folder)  # says why, when what looked like clips was skipped
    if not rows and not note:
        raise LayoutError(f"{folder}: no clips found in a layout asd reads: {layout_help()}")
    if require_train and not any(r["split"] == "train" for r in rows):
        where = folder / layout.train_dir if layout.train_dir else folder
        raise LayoutError(
            f"{where}: missing or holds no training clips"
            + ("" if layout.train_dir else " (normal clips outside test/ and anomaly/ folders)")
            + note
        )
    if not rows:
        raise LayoutError(f"{folder}: no clips read{note}")
    return rows


def _dataset_names(rows_by_layout: dict[str, list[dict]], layouts: dict[str, str], context: ReadContext, root: Path):
    """Layout name -> dataset name; a DCASE 2021+ layout mixed with another is refused."""
    used = sorted(set(layouts.values()))
    if len(used) > 1 and set(used) & set(SECTION_LAYOUTS):
        listing = ", ".join(f"{t}: {name}" for t, name in sorted(layouts.items()))
        raise LayoutError(
            f"{root}: machine folders in different layouts ({listing}); a DCASE 2021-2025 set is scored as a whole: "
            "read the folders separately, or give the layout or dataset"
        )
    try:
        return {name: get_layout(name).dataset(rows_by_layout[name], context) for name in used}
    except LayoutError as exc:
        raise LayoutError(f"{root}: {exc}") from None


# -- the clip table ----------------------------------------------------------------------------


def discover_clips(
    root: str | os.PathLike,
    *,
    machine_types: list[str] | tuple[str, ...] | None = None,
    layout: str = "auto",
    require_train: bool = True,
    machine_type: str | None = None,
    machine_id: str | int | None = None,
    dataset: str | None = None,
    include_supplemental: bool = False,
) -> pd.DataFrame:
    """Table of every clip under ``root`` (columns :data:`COLUMNS`), sorted by path.

    Parameters
    ----------
    root : path-like
        A folder of machine folders (DCASE 2020-2025, MIMII, one folder per machine), or one
        machine's folder (WAV files directly in it, or under ``train``/``test``/``id_XX``/
        ``normal``/``anomaly`` folders). See :mod:`asd.data` for the rules.
    machine_types : list of str, optional
        Only these machine types; each must exist under ``root``. Default: every machine
        folder holding WAV files.
    layout : str
        ``"auto"`` reads each machine folder in the layout it follows; a registered layout name
        (``"dcase"``, ``"dcase2021"``, ``"dcase2022"``, ``"mimii"``, ``"folders"``, ...) reads
        every machine folder in that one.
    require_train : bool
        Raise :class:`LayoutError` for a machine type without training clips (needed by
        ``asd train``; scoring an evaluation set may pass ``False``).
    machine_type : str, optional
        The machine type of a root that is one machine's folder (default: the folder's name).
        For a folder of machine folders: read only that machine folder.
    machine_id : str or int, optional
        The ID (``3``, ``"03"`` or ``"id_03"``) of clips whose folders and file name give none
        (default ``"00"``).
    dataset : str, optional
        The dataset (``"dcase2020"`` ... ``"dcase2025"``, ``"mimii"``, ``"folders"``): read in its
        layout, the year named rather than detected. Default: detected.
    include_supplemental : bool
        DCASE 2025 ``supplemental/`` clips as rows (split ``"supplemental"``); by default they
        are left out and listed in ``attrs["supplemental"]``.

    Returns
    -------
    pandas.DataFrame
        One row per clip. ``attrs``: ``layout`` (the layout read, ``"a+b"`` when machine
        folders differ), ``layouts`` (per machine type), ``dataset`` (the dataset name, ``"a+b"``
        likewise), ``root``, ``skipped`` (a list of ``{"path", "problem"}`` for entries that look
        like clips but are not used), ``ignored`` (their paths) and ``supplemental`` (the paths
        of supplemental clips left out).

    Raises
    ------
    LayoutError
        The folder is missing or a file, holds no clips in a layout read (the message lists the
        layouts), lacks a requested machine type, a machine type has no training clips (the
        message counts what was skipped), a DCASE 2021+ name does not parse (the message names
        the file), or DCASE 2021+ machine folders are mixed with another layout.
    ConfigError
        ``layout``, ``dataset``, ``machine_type`` or ``machine_id`` is not a valid value.
    """
    root = check_root(root)
    forced = _forced_layout(layout, dataset)
    context = ReadContext(
        default_id=_normalise_id(machine_id), include_supplemental=include_supplemental, dataset=dataset
    )
    if machine_type is not None:
        machine_type = _check_type_name(machine_type)
    machine_folders = _machine_folders(root, machine_types, machine_type, context.skipped)
    rows_by_layout: dict[str, list[dict]] = {}
    layouts: dict[str, str] = {}
    for name, folder in machine_folders.items():
        used = forced or _machine_layout(folder)
        layouts[name] = used.name
        rows_by_layout.setdefault(used.name, []).extend(_read_machine(folder, name, used, context, require_train))
    datasets = _dataset_names(rows_by_layout, layouts, context, root)
    return _table(rows_by_layout, layouts, datasets, context, root)


def _table(rows_by_layout: dict, layouts: dict, datasets: dict, context: ReadContext, root: Path) -> pd.DataFrame:
    """The clip table of the rows read, sorted by path, with its ``attrs``; what was skipped logged."""
    rows = [{**row, "dataset": datasets[name]} for name, group in rows_by_layout.items() for row in group]
    for item in context.skipped:
        logger.warning("skipped %s: %s", item["path"], item["problem"])
    if context.supplemental:
        logger.info(
            "%d supplemental clip(s) left out (include_supplemental=True lists them)", len(context.supplemental)
        )
    table = pd.DataFrame(rows, columns=COLUMNS).sort_values("path", ignore_index=True)
    table.attrs.update(
        skipped=context.skipped,
        ignored=[item["path"] for item in context.skipped],
        layouts=layouts,
        layout="+".join(sorted(set(layouts.values()))),
        dataset="+".join(sorted(set(datasets.values()))),
        root=str(root),
        supplemental=list(context.supplemental),
    )
    return table


def one_class_tests(table: pd.DataFrame) -> list[str]:
    """One line per machine type and ID whose labelled test clips are all of one class.

    AUC and pAUC need normal and anomalous test clips; a test split holding one class (all
    normal recordings of your own machine, or a ground truth that lists one class) leaves them
    undefined. Each line names the machine type and ID, the class and the clip count, so the
    caller can warn before the metrics come out as NaN. Unlabelled (``unknown``) clips are not
    counted.

    Parameters
    ----------
    table : pandas.DataFrame
        A clip table (:func:`discover_clips`), labels filled in.

    Returns
    -------
    list of str
        Empty when every machine type and ID with labelled test clips has both classes.
    """
    test = table[(table["split"] == "test") & table["label"].isin(["normal", "anomaly"])]
    lines = []
    for (machine_type, machine_id), group in test.groupby(["machine_type", "machine_id"], sort=True):
        labels = sorted(set(group["label"]))
        if len(labels) == 1:
            lines.append(
                f"{machine_type} id {machine_id}: the test split holds only {labels[0]} clips ({len(group)}); "
                f"AUC and pAUC need both normal and anomalous clips and are undefined for it"
            )
    return lines


def summarize_clips(table: pd.DataFrame) -> pd.DataFrame:
    """Clip counts per machine type, machine ID, split and label (a pivot for reports)."""
    counts = table.groupby(["machine_type", "machine_id", "split", "label"]).size().rename("n_clips").reset_index()
    return counts.pivot_table(
        index=["machine_type", "machine_id"], columns=["split", "label"], values="n_clips", fill_value=0
    )
