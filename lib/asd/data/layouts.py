"""Find the clips under a dataset folder and describe them in one table (the clip table).

The layouts, the rules that give each clip its machine type, ID, split and label, and the
columns of the table are described in the :mod:`asd.data` package docstring.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
from pathlib import Path

import pandas as pd

from ..errors import ConfigError, LayoutError

logger = logging.getLogger(__name__)

__all__ = [
    "COLUMNS",
    "LABELS",
    "LAYOUTS",
    "detect_layout",
    "discover_clips",
    "is_machine_folder",
    "mimii_split",
    "one_class_tests",
    "summarize_clips",
]

COLUMNS = ["path", "file_name", "machine_type", "machine_id", "split", "label"]
LABELS = ("normal", "anomaly", "unknown")
#: Layout names, as ``discover_clips(layout=...)`` takes them and ``table.attrs["layout"]`` gives them.
LAYOUTS = ("dcase", "mimii", "folders")

DCASE_LABELED = re.compile(r"^(?P<label>normal|anomaly)_id_(?P<id>\d{2})_(?P<index>\d{8})\.wav$")
DCASE_UNLABELED = re.compile(r"^id_(?P<id>\d{2})_(?P<index>\d{8})\.wav$")
MIMII_NAME = re.compile(r"^(?P<index>\d{8})\.wav$")
MIMII_ID_DIR = re.compile(r"^id_(?P<id>\d{2})$")
#: A folder naming the machine ID: ``id_3``, ``id_03``, ``ID_03``.
ID_DIR = re.compile(r"^id_(?P<id>\d{1,2})$", re.IGNORECASE)
SPLIT_DIRS = {"train": "train", "test": "test"}
LABEL_DIRS = {"normal": "normal", "anomaly": "anomaly", "abnormal": "anomaly"}
DEFAULT_MACHINE_ID = "00"

#: One line naming every layout read, for the error raised when none matches.
LAYOUT_HELP = (
    "DCASE 2020 (TYPE/train|test/normal_id_XX_NNNNNNNN.wav), MIMII (TYPE/id_XX/normal|abnormal/*.wav), "
    "one folder per machine (TYPE/*.wav, TYPE/train|test/*.wav, TYPE/id_XX/*.wav) "
    "or one machine's folder (*.wav, train|test/*.wav, id_XX/*.wav)"
)


# -- listing folders ---------------------------------------------------------------------------


def _skip(skipped: list[dict], path: Path, problem: str) -> None:
    skipped.append({"path": str(path), "problem": problem})


def _kind(path: Path) -> tuple[str | None, str | None]:
    """``("dir"|"file", None)`` or ``(None, why it cannot be read)`` for one directory entry."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return None, f"broken symbolic link (-> {os.readlink(path)}: target not found)"
        return None, "vanished while the folder was read"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, "symbolic link loop (the link leads back to itself)"
        return None, f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return "dir", None
    if stat.S_ISREG(mode):
        return "file", None
    return None, "not a regular file (device, FIFO or socket)"


def _scan(folder: Path, skipped: list[dict]) -> tuple[list[Path], list[Path]]:
    """The WAV files and the subfolders of ``folder``, sorted; hidden names are never read.

    Entries that cannot be clips although they look like ones (a folder named ``*.wav``, a
    broken or looping symbolic link, a special file) are added to ``skipped`` with the reason.
    """
    try:
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        _skip(skipped, folder, f"folder cannot be listed ({exc.strerror or exc})")
        return [], []
    files, dirs = [], []
    for path in entries:
        is_wav = path.suffix.lower() == ".wav"
        kind, problem = _kind(path)
        if kind == "file":
            if is_wav:
                files.append(path)
        elif kind == "dir":
            if is_wav:
                _skip(skipped, path, "a folder named like a WAV file, not a clip")
            else:
                dirs.append(path)
        elif is_wav or os.path.islink(path):
            _skip(skipped, path, problem)
    return files, dirs


def _structural(name: str) -> bool:
    """True for folder names that say split, label or machine ID (not a machine type)."""
    lower = name.lower()
    return lower in SPLIT_DIRS or lower in LABEL_DIRS or bool(ID_DIR.match(name))


def _has_wav(folder: Path, depth: int = 4) -> bool:
    try:
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    except OSError:
        return False
    if any(p.suffix.lower() == ".wav" and p.is_file() for p in entries):
        return True
    return depth > 0 and any(_has_wav(p, depth - 1) for p in entries if p.is_dir() and not p.is_symlink())


def _check_root(root: str | os.PathLike) -> Path:
    root = Path(root)
    if not root.exists():
        raise LayoutError(f"{root}: dataset folder not found")
    if not root.is_dir():
        raise LayoutError(f"{root}: a file, not a folder: give the folder that holds the recordings")
    return root


def is_machine_folder(root: str | os.PathLike) -> bool:
    """True if ``root`` is one machine's folder rather than a folder of machine folders.

    That is: it holds WAV files itself, or its subfolders all say split, label or machine ID
    (``train``, ``test``, ``normal``, ``anomaly``, ``abnormal``, ``id_XX``).
    """
    files, dirs = _scan(_check_root(root), [])
    return bool(files) or (bool(dirs) and all(_structural(d.name) for d in dirs))


def _machine_layout(folder: Path) -> str:
    """The layout of one machine's folder: ``dcase``, ``mimii`` or ``folders``."""
    for split in SPLIT_DIRS:
        sub = folder / split
        if sub.is_dir():
            try:
                if any(DCASE_LABELED.match(p.name) or DCASE_UNLABELED.match(p.name) for p in sub.iterdir()):
                    return "dcase"
            except OSError:
                pass
    for sub in _scan(folder, [])[1]:
        if MIMII_ID_DIR.match(sub.name) and ((sub / "normal").is_dir() or (sub / "abnormal").is_dir()):
            return "mimii"
    return "folders"


def detect_layout(root: str | os.PathLike) -> str:
    """The layout of a dataset folder: ``"dcase"``, ``"mimii"`` or ``"folders"``.

    A root whose machine folders follow different layouts gives the first by machine-type
    name; :func:`discover_clips` reads each machine folder in its own layout.

    Raises
    ------
    LayoutError
        The folder is missing, is a file, or holds no clips in any layout read (the message
        lists them).
    """
    root = _check_root(root)
    if is_machine_folder(root):
        return _machine_layout(root)
    for folder in _scan(root, [])[1]:
        if _has_wav(folder):
            return _machine_layout(folder)
    raise LayoutError(f"{root}: no clips found in a layout asd reads: {LAYOUT_HELP}")


# -- the clip table ----------------------------------------------------------------------------


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
        raise ConfigError(
            f"machine_type: expected letters, digits, '_', '.' or '-' (it names files), got {value!r}"
        )
    return text


def discover_clips(
    root: str | os.PathLike,
    *,
    machine_types: list[str] | tuple[str, ...] | None = None,
    layout: str = "auto",
    require_train: bool = True,
    machine_type: str | None = None,
    machine_id: str | int | None = None,
) -> pd.DataFrame:
    """Table of every clip under ``root`` (columns :data:`COLUMNS`), sorted by path.

    Parameters
    ----------
    root : path-like
        A folder of machine folders (DCASE 2020, MIMII, one folder per machine), or one
        machine's folder (WAV files directly in it, or under ``train``/``test``/``id_XX``/
        ``normal``/``anomaly`` folders). See :mod:`asd.data` for the rules.
    machine_types : list of str, optional
        Only these machine types; each must exist under ``root``. Default: every machine
        folder holding WAV files.
    layout : {"auto", "dcase", "mimii", "folders"}
        ``"auto"`` reads each machine folder in the layout it follows; a named layout reads
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

    Returns
    -------
    pandas.DataFrame
        One row per clip. ``attrs``: ``layout`` (the layout read, ``"a+b"`` when machine
        folders differ), ``layouts`` (per machine type), ``root``, ``skipped`` (a list of
        ``{"path", "problem"}`` for entries that look like clips but are not used: names that
        do not follow the DCASE layout in a DCASE folder, anomalous clips in ``train/``,
        folders named ``*.wav``, broken or looping links) and ``ignored`` (their paths).

    Raises
    ------
    LayoutError
        The folder is missing or a file, holds no clips in a layout read (the message lists the
        layouts), lacks a requested machine type, or a machine type has no training clips.
    ConfigError
        ``layout``, ``machine_type`` or ``machine_id`` is not a valid value.
    """
    root = _check_root(root)
    if layout not in ("auto", *LAYOUTS):
        raise LayoutError(f"unknown layout {layout!r} (expected 'auto', {', '.join(repr(x) for x in LAYOUTS)})")
    default_id = _normalise_id(machine_id)
    if machine_type is not None:
        machine_type = _check_type_name(machine_type)
    skipped: list[dict] = []
    if is_machine_folder(root):
        name = machine_type or root.resolve().name or "machine"
        if machine_types is not None and list(machine_types) != [name]:
            raise LayoutError(
                f"{root}: no folder for machine type(s) {', '.join(t for t in machine_types if t != name) or 'none'} "
                f"(this is one machine's folder, read as machine type {name})"
            )
        folders = {name: root}
    else:
        subdirs = _scan(root, skipped)[1]
        requested = [machine_type] if machine_type else None if machine_types is None else list(machine_types)
        if requested is None:
            folders = {p.name: p for p in subdirs if _has_wav(p)}
            if not folders:
                raise LayoutError(f"{root}: no clips found in a layout asd reads: {LAYOUT_HELP}")
        else:
            available = {p.name: p for p in subdirs}
            missing = [t for t in requested if t not in available]
            if missing:
                raise LayoutError(
                    f"{root}: no folder for machine type(s) {', '.join(missing)} "
                    f"(found: {', '.join(available) or 'none'})"
                )
            folders = {t: available[t] for t in requested}

    rows: list[dict] = []
    layouts: dict[str, str] = {}
    for name, folder in folders.items():
        used = _machine_layout(folder) if layout == "auto" else layout
        layouts[name] = used
        reader = {"dcase": _dcase_rows, "mimii": _mimii_rows, "folders": _folder_rows}[used]
        type_rows = reader(folder, name, default_id, skipped)
        if not type_rows:
            raise LayoutError(f"{folder}: no clips found in a layout asd reads: {LAYOUT_HELP}")
        if require_train and not any(r["split"] == "train" for r in type_rows):
            where = folder / "train" if used == "dcase" else folder
            raise LayoutError(
                f"{where}: missing or holds no training clips"
                + ("" if used == "dcase" else " (normal clips outside test/ and anomaly/ folders)")
            )
        rows.extend(type_rows)
    for item in skipped:
        logger.warning("skipped %s: %s", item["path"], item["problem"])
    table = pd.DataFrame(rows, columns=COLUMNS).sort_values("path", ignore_index=True)
    table.attrs["skipped"] = skipped
    table.attrs["ignored"] = [item["path"] for item in skipped]
    table.attrs["layouts"] = layouts
    table.attrs["layout"] = "+".join(sorted(set(layouts.values())))
    table.attrs["root"] = str(root)
    return table


def _row(path: Path, machine_type: str, machine_id: str, split: str, label: str) -> dict:
    return {
        "path": str(path),
        "file_name": path.name,
        "machine_type": machine_type,
        "machine_id": machine_id,
        "split": split,
        "label": label,
    }


def _dcase_rows(type_dir: Path, machine_type: str, default_id: str, skipped: list[dict]) -> list[dict]:
    rows = []
    for split in SPLIT_DIRS:
        files = _scan(type_dir / split, skipped)[0] if (type_dir / split).is_dir() else []
        for path in files:
            labeled = DCASE_LABELED.match(path.name)
            unlabeled = DCASE_UNLABELED.match(path.name) if split == "test" else None
            if labeled and split == "train" and labeled["label"] == "anomaly":
                _skip(skipped, path, "an anomalous clip in train/ (training uses normal clips only)")
                continue
            if labeled:
                label, machine_id = labeled["label"], labeled["id"]
            elif unlabeled:
                label, machine_id = "unknown", unlabeled["id"]
            else:
                _skip(skipped, path, "file name does not follow the DCASE layout of this folder")
                continue
            rows.append(_row(path, machine_type, machine_id, split, label))
    return rows


def _mimii_rows(type_dir: Path, machine_type: str, default_id: str, skipped: list[dict]) -> list[dict]:
    rows = []
    for id_dir in _scan(type_dir, skipped)[1]:
        match = MIMII_ID_DIR.match(id_dir.name)
        if not match:
            continue
        files = {}
        for folder, label in (("normal", "normal"), ("abnormal", "anomaly")):
            files[label] = _scan(id_dir / folder, skipped)[0] if (id_dir / folder).is_dir() else []
        train, test = mimii_split(files["normal"], files["anomaly"])
        rows += [_row(p, machine_type, match["id"], "train", "normal") for p in train]
        rows += [_row(p, machine_type, match["id"], "test", label) for p, label in test]
    return rows


def _walk(folder: Path, parts: tuple[str, ...], ancestors: tuple[str, ...], seen: set[str], skipped: list[dict], out: list):
    real = os.path.realpath(folder)
    if real in ancestors:
        _skip(skipped, folder, f"symbolic link loop (leads back to {real})")
        return
    if real in seen:
        _skip(skipped, folder, f"a second path to a folder already read ({real})")
        return
    seen.add(real)
    files, dirs = _scan(folder, skipped)
    out += [(path, parts) for path in files]
    for sub in sorted(dirs, key=lambda d: (d.is_symlink(), d.name)):  # real folders before links to them
        _walk(sub, parts + (sub.name,), ancestors + (real,), seen, skipped, out)


def _folder_rows(type_dir: Path, machine_type: str, default_id: str, skipped: list[dict]) -> list[dict]:
    found: list[tuple[Path, tuple[str, ...]]] = []
    _walk(type_dir, (), (), set(), skipped, found)
    rows = []
    pools: dict[str, dict[str, list[Path]]] = {}
    for path, parts in found:
        split = label = folder_id = None
        for part in parts:
            lower = part.lower()
            split = SPLIT_DIRS.get(lower, split)
            label = LABEL_DIRS.get(lower, label)
            match = ID_DIR.match(part)
            folder_id = match["id"].zfill(2) if match else folder_id
        named = DCASE_LABELED.match(path.name) or DCASE_UNLABELED.match(path.name)
        if label is None and named is not None and "label" in named.groupdict():
            label = named["label"]
        machine_id = folder_id or (named["id"] if named else default_id)
        if split == "train":
            if label == "anomaly":
                _skip(skipped, path, "an anomalous clip in train/ (training uses normal clips only)")
                continue
            rows.append(_row(path, machine_type, machine_id, "train", "normal"))
        elif split == "test":
            rows.append(_row(path, machine_type, machine_id, "test", label or "unknown"))
        elif label is None:
            rows.append(_row(path, machine_type, machine_id, "train", "normal"))
        else:
            pools.setdefault(machine_id, {"normal": [], "anomaly": []})[label].append(path)
    for machine_id, pool in sorted(pools.items()):
        train, test = mimii_split(pool["normal"], pool["anomaly"])
        rows += [_row(p, machine_type, machine_id, "train", "normal") for p in train]
        rows += [_row(p, machine_type, machine_id, "test", label) for p, label in test]
    return rows


def mimii_split(normal: list[Path], anomaly: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Deterministic train/test split of one MIMII machine ID.

    Test: every abnormal clip, plus ``min(len(anomaly), len(normal) // 2)`` normal clips — the
    last ones by file name. Train: the remaining normal clips.

    Returns
    -------
    train : list of Path
    test : list of (Path, label)
    """
    normal = sorted(normal)
    n_test_normal = min(len(anomaly), len(normal) // 2)
    cut = len(normal) - n_test_normal
    train = normal[:cut]
    test = [(p, "normal") for p in normal[cut:]] + [(p, "anomaly") for p in sorted(anomaly)]
    return train, test


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
    counts = (
        table.groupby(["machine_type", "machine_id", "split", "label"]).size().rename("n_clips").reset_index()
    )
    return counts.pivot_table(
        index=["machine_type", "machine_id"], columns=["split", "label"], values="n_clips", fill_value=0
    )
