"""The tables of DCASE Task 2 files on Zenodo (2020-2025), where each lands, and which to fetch.

One row per file (:data:`ARCHIVES` for 2020, :data:`CATALOGUES` for every year): name, set, machine type, md5 as
published on the Zenodo records, size in bytes. :func:`plan_downloads` picks the rows for a choice of sets and machine
types, :func:`archive_url` says where to fetch each one (Zenodo or a flat mirror), and
:func:`read_md5sums` reads an ``md5sum``-style file that overrides or adds sums.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..config import MACHINE_TYPES
from ..data import GROUND_TRUTH_NAME
from ..errors import ASDError, ConfigError

__all__ = [
    "ARCHIVES",
    "CATALOGUES",
    "YEARS",
    "YEAR_RECORDS",
    "YEAR_TYPES",
    "Archive",
    "ArchiveError",
    "DownloadError",
    "ENV_BASE_URL",
    "LICENSE",
    "RECORDS",
    "SETS",
    "archive_url",
    "fmt_bytes",
    "help_text",
    "normalise_md5",
    "parse_sets",
    "plan_downloads",
    "read_md5sums",
    "set_sizes",
]


class DownloadError(ASDError):
    """A file could not be fetched or verified (HTTP error, broken transfer, wrong checksum, disk full)."""


class ArchiveError(ASDError):
    """An archive is unsafe or malformed (path traversal, links, unexpected layout, CRC error)."""


#: Zenodo records of DCASE 2020 Task 2.
RECORDS: dict[str, str] = {
    "dev": "3678171",  # development dataset
    "additional": "3727685",  # additional training dataset (normal clips of the evaluation IDs)
    "eval": "3841772",  # evaluation dataset (unlabelled test clips)
    "ground_truth": "3951620",  # evaluation ground truth (eval_data_list.csv)
}
SETS: tuple[str, ...] = ("dev", "additional", "eval")
#: Where each set lands under ``--to DIR``.
SET_DIRS: dict[str, str] = {"dev": "dev", "additional": "eval", "eval": "eval"}
#: The splits (folders under ``<type>/``) each set's archives hold.
SET_SPLITS: dict[str, tuple[str, ...]] = {"dev": ("train", "test"), "additional": ("train",), "eval": ("test",)}
ENV_BASE_URL = "ASD_DOWNLOAD_BASE_URL"
LICENSE = "CC BY-NC-SA 4.0 (Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International)"

# One row per file: (name, set, machine type, md5, size in bytes, size exact?).
# md5 sums: as published on the Zenodo records; they agree with the sums in the soundata loader
# for DCASE 2020 Task 2 (soundata/datasets/dcase2020task2.py) and, for fan/pump/slider/ToyCar
# and eval_data_train_ToyCar, with the sums and byte counts other public download scripts
# recorded from the Zenodo API. Sizes marked False are estimates (clip counts x 320 kB x 0.77)
# used only for the free-space check; a server's Content-Length takes precedence when it sends one.
# The ground truth's md5 is not published anywhere we could check: None, so it is fetched only
# with allow_unverified=True (--allow-unverified) or a sum given through `checksums`.
_TABLE: tuple[tuple[str, str, str | None, str | None, int, bool], ...] = (
    ("dev_data_ToyCar.zip", "dev", "ToyCar", "4dec75ca8d9f666aa9e4c1894a740501", 1_816_443_231, True),
    ("dev_data_ToyConveyor.zip", "dev", "ToyConveyor", "03b6aa1bfd09a39d53af0ba39f71fa91", 1_150_000_000, False),
    ("dev_data_fan.zip", "dev", "fan", "649bdfc06263ae7a838963f43b6641e6", 1_354_774_772, True),
    ("dev_data_pump.zip", "dev", "pump", "90e7091ef722b7238a7f1009365779cd", 1_031_279_015, True),
    ("dev_data_slider.zip", "dev", "slider", "da24a757719f0d94d5aa2d646bbfdc86", 1_002_998_966, True),
    ("dev_data_valve.zip", "dev", "valve", "34d2672f55bb041589ef79c10dc89934", 1_100_000_000, False),
    ("eval_data_train_ToyCar.zip", "additional", "ToyCar", "a5d4ccd498af70b04dd74b644b820006", 861_354_584, True),
    (
        "eval_data_train_ToyConveyor.zip",
        "additional",
        "ToyConveyor",
        "0e808ac0b761e9fb13d5e0c65caff00d",
        750_000_000,
        False,
    ),
    ("eval_data_train_fan.zip", "additional", "fan", "567798854130c8019df8b664c095ed1e", 750_000_000, False),
    ("eval_data_train_pump.zip", "additional", "pump", "4e33ae9c0db5cc88437675f5e317caee", 750_000_000, False),
    ("eval_data_train_slider.zip", "additional", "slider", "f84f186f4295fc23754abcdd1b0580a7", 750_000_000, False),
    ("eval_data_train_valve.zip", "additional", "valve", "057cdd560caffb8305449541afd28c6d", 750_000_000, False),
    ("eval_data_test_ToyCar.zip", "eval", "ToyCar", "bea2bdd612f616be8f2b8eb087b32c7c", 340_000_000, False),
    ("eval_data_test_ToyConveyor.zip", "eval", "ToyConveyor", "ccfcc9847c7d3404d7ee9d6d9e0b2ba2", 300_000_000, False),
    ("eval_data_test_fan.zip", "eval", "fan", "1eb9356a768cadfd0f2e59a5c57e578b", 300_000_000, False),
    ("eval_data_test_pump.zip", "eval", "pump", "23a8f8f924be218c69df67fe07360348", 300_000_000, False),
    ("eval_data_test_slider.zip", "eval", "slider", "0193c769073840332ce3aad84b1ccaa2", 300_000_000, False),
    ("eval_data_test_valve.zip", "eval", "valve", "f69c551d2088691050d20cccca9d631c", 300_000_000, False),
    (GROUND_TRUTH_NAME, "eval", None, None, 400_000, False),
)


@dataclass(frozen=True)
class Archive:
    """One file of the DCASE Task 2 Zenodo records."""

    name: str  #: file name on Zenodo (and on a mirror)
    set: str  #: "dev", "additional" or "eval"
    machine_type: str | None  #: None for the ground-truth list
    md5: str | None  #: published md5, None if unknown (2021-2025: checked against the record at download time)
    size: int  #: bytes (exact or estimated, see ``size_exact``)
    size_exact: bool
    year: str = "dcase2020"  #: the challenge year whose records hold it
    year_splits: tuple[str, ...] | None = None  #: folders under ``<type>/`` it must hold (None: the 2020 sets')
    optional: tuple[str, ...] = ()  #: glob patterns under ``<type>/`` installed too when present

    @property
    def record(self) -> str:
        if self.year != "dcase2020":
            return YEAR_RECORDS[self.year][self.set]
        return RECORDS["ground_truth"] if self.machine_type is None else RECORDS[self.set]

    @property
    def is_zip(self) -> bool:
        return self.name.endswith(".zip")

    @property
    def set_dir(self) -> str:
        """Folder under ``--to DIR`` this file ends up in (``dev``, ``eval``; later years under ``<year>/``)."""
        return SET_DIRS[self.set] if self.year == "dcase2020" else f"{self.year}/{SET_DIRS[self.set]}"

    @property
    def splits(self) -> tuple[str, ...]:
        if not self.is_zip:
            return ()
        return SET_SPLITS[self.set] if self.year_splits is None else self.year_splits


#: Every known file of DCASE 2020 by name.
ARCHIVES: dict[str, Archive] = {row[0]: Archive(*row) for row in _TABLE}

#: The years with a catalogue.
YEARS: tuple[str, ...] = ("dcase2020", "dcase2021", "dcase2022", "dcase2023", "dcase2024", "dcase2025")
#: Zenodo records of DCASE 2021-2025 Task 2: development set, additional training (eval machines), eval test clips.
#: From the official baseline's download scripts (nttcslab/dcase2023_task2_baseline_ae, tools/data_download_20XX.sh).
YEAR_RECORDS: dict[str, dict[str, str]] = {
    "dcase2021": {"dev": "4562016", "additional": "4660992", "eval": "4884786"},
    "dcase2022": {"dev": "6355122", "additional": "6462969", "eval": "6586456"},
    "dcase2023": {"dev": "7882613", "additional": "7830345", "eval": "7860847"},
    "dcase2024": {"dev": "10902294", "additional": "11259435", "eval": "11363076"},
    "dcase2025": {"dev": "15097779", "additional": "15392814", "eval": "15519362"},
}
_DEV_21 = ("ToyCar", "ToyTrain", "fan", "gearbox", "pump", "slider", "valve")
_DEV_22 = ("ToyCar", "ToyTrain", "bearing", "fan", "gearbox", "slider", "valve")
#: Machine types per year: those of the development set (``dev``) and of the evaluation set
#: (``additional`` and ``eval``); disjoint from 2023 on (first-shot).
YEAR_TYPES: dict[str, dict[str, tuple[str, ...]]] = {
    "dcase2021": {"dev": _DEV_21, "eval": _DEV_21},
    "dcase2022": {"dev": _DEV_22, "eval": _DEV_22},
    "dcase2023": {
        "dev": _DEV_22,
        "eval": ("ToyDrone", "ToyNscale", "ToyTank", "Vacuum", "bandsaw", "grinder", "shaker"),
    },
    "dcase2024": {
        "dev": _DEV_22,
        "eval": (
            "3DPrinter",
            "AirCompressor",
            "BrushlessMotor",
            "HairDryer",
            "HoveringDrone",
            "RoboticArm",
            "Scanner",
            "ToothBrush",
            "ToyCircuit",
        ),
    },
    "dcase2025": {
        "dev": _DEV_22,
        "eval": (
            "AutoTrash",
            "BandSealer",
            "CoffeeGrinder",
            "HomeCamera",
            "Polisher",
            "ScrewFeeder",
            "ToyPet",
            "ToyRCCar",
        ),
    },
}
#: 2024's re-issued additional-training archives (``eval_data_<type>_train_r2.zip``).
_R2 = {("dcase2024", "3DPrinter"), ("dcase2024", "RoboticArm")}
#: Estimated archive bytes per machine type (WAV clips x 320 kB x 0.77): per set, 2021-2022 (three sections) and
#: 2023 on (one section). Estimates only, for the free-space check; a server's Content-Length comes first.
_EST_CLIP = 246_000
_CLIPS = {
    "three": {"dev": 3 * 1200, "additional": 3 * 1000, "eval": 3 * 400},
    "one": {"dev": 1200, "additional": 1000, "eval": 200},
}


def _year_archive(year: str, set_name: str, machine_type: str) -> Archive:
    """One 2021-2025 archive: names and folders as the official baseline's download scripts use them."""
    if set_name == "dev":
        name = f"dev_data_{machine_type}.zip" if year == "dcase2021" else f"dev_{machine_type}.zip"
    elif set_name == "additional":
        name = f"eval_data_{machine_type}_train{'_r2' if (year, machine_type) in _R2 else ''}.zip"
    else:
        name = f"eval_data_{machine_type}_test.zip"
    test_folders = ("source_test", "target_test") if year == "dcase2021" else ("test",)
    splits = {"dev": ("train", *test_folders), "additional": ("train",), "eval": test_folders}[set_name]
    optional = ("attributes_*.csv", "supplemental") if year != "dcase2021" else ()
    clips = _CLIPS["three" if year in ("dcase2021", "dcase2022") else "one"][set_name]
    return Archive(
        name, set_name, machine_type, None, clips * _EST_CLIP, False, year=year, year_splits=splits, optional=optional
    )


def _catalogue(year: str) -> dict[str, Archive]:
    archives = [_year_archive(year, s, t) for s in SETS for t in YEAR_TYPES[year]["dev" if s == "dev" else "eval"]]
    return {a.name: a for a in archives}


#: Every known file by year and name; ``CATALOGUES["dcase2020"] is ARCHIVES``.
CATALOGUES: dict[str, dict[str, Archive]] = {"dcase2020": ARCHIVES, **{y: _catalogue(y) for y in YEAR_RECORDS}}


def check_year(year: str) -> str:
    """``year`` if it has a catalogue, else :class:`ConfigError` naming the choices."""
    if year not in CATALOGUES:
        raise ConfigError(f"unknown data set year {year!r} (expected one of: {', '.join(YEARS)})")
    return year


def parse_sets(sets: str | Iterable[str]) -> tuple[str, ...]:
    """``"dev,eval"`` or ``["dev", "eval"]`` -> ``("dev", "eval")`` (validated, de-duplicated)."""
    items = sets.split(",") if isinstance(sets, str) else list(sets)
    out: list[str] = []
    for item in items:
        for name in str(item).split(","):
            name = name.strip()
            if not name:
                continue
            if name not in SETS:
                raise ConfigError(f"unknown set {name!r} (expected some of: {', '.join(SETS)})")
            if name not in out:
                out.append(name)
    if not out:
        raise ConfigError(f"no set given (expected some of: {', '.join(SETS)})")
    return tuple(out)


def plan_downloads(
    *, machine_types: Iterable[str] | None = None, sets: str | Iterable[str] = ("dev",), year: str = "dcase2020"
) -> list[Archive]:
    """The files to fetch for these machine types and sets of one year, in table order.

    2020: the ``eval`` set includes the ground-truth list (one file for every machine type).
    2021-2025: ``dev`` holds the development machine types, ``additional`` and ``eval`` the
    evaluation set's (other types from 2023 on); ``machine_types`` may mix both, and each set
    takes the ones it has (at least one type must be known to the year).
    """
    sets = parse_sets(sets)
    catalogue = CATALOGUES[check_year(year)]
    known = (
        list(MACHINE_TYPES)
        if year == "dcase2020"
        else list(dict.fromkeys(YEAR_TYPES[year]["dev"] + YEAR_TYPES[year]["eval"]))
    )
    types = known if machine_types is None else list(dict.fromkeys(machine_types))
    unknown = [t for t in types if t not in known]
    if unknown:
        raise ConfigError(
            f"unknown machine type(s) {', '.join(unknown)} for {year} (expected some of: {', '.join(known)})"
        )
    if not types:
        raise ConfigError("no machine type given")
    plan = [a for a in catalogue.values() if a.set in sets and (a.machine_type is None or a.machine_type in types)]
    if not plan:
        raise ConfigError(f"{year}: no archive of set(s) {', '.join(sets)} for machine type(s) {', '.join(types)}")
    return plan


def archive_url(archive: Archive | str, *, base_url: str | None = None) -> str:
    """Where to fetch a file: ``BASE_URL/<name>`` on a flat mirror, else its Zenodo record.

    ``base_url=None`` falls back to the ``ASD_DOWNLOAD_BASE_URL`` environment variable, then to
    ``https://zenodo.org/records/<record>/files/<name>?download=1``.
    """
    if isinstance(archive, str):
        archive = ARCHIVES[archive]
    if base_url is None:
        base_url = os.environ.get(ENV_BASE_URL) or None
    if base_url:
        return f"{base_url.rstrip('/')}/{archive.name}"
    return f"https://zenodo.org/records/{archive.record}/files/{archive.name}?download=1"


def read_md5sums(path: str | os.PathLike) -> dict[str, str]:
    """Read an ``md5sum``-style file (``<32 hex>  <name>`` per line) into ``{name: md5}``."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"{path}: checksum file not found") from None
    except (IsADirectoryError, UnicodeDecodeError):
        raise ConfigError(f"{path}: not a text file of '<md5>  <file name>' lines") from None
    sums: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([0-9a-fA-F]{32})\s+\*?(.+)", line)
        if not match:
            raise ConfigError(f"{path}:{number}: expected '<md5>  <file name>', got {line!r}")
        sums[PurePosixPath(match[2].strip()).name] = match[1].lower()
    return sums


def normalise_md5(name: str, value: str | None) -> str | None:
    """``"MD5:ABC..."`` or ``"abc..."`` -> ``"abc..."``; :class:`ConfigError` unless 32 hex digits."""
    if value is None:
        return None
    value = str(value).strip().lower()
    if value.startswith("md5:"):
        value = value[4:]
    if not re.fullmatch(r"[0-9a-f]{32}", value):
        raise ConfigError(f"checksum for {name}: expected 32 hex digits (md5), got {value!r}")
    return value


def fmt_bytes(n: float) -> str:
    """``1_354_774_772`` -> ``"1.4 GB"`` (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def set_sizes() -> dict[str, int]:
    """Total archive bytes per set (all six machine types), from the table."""
    totals = {s: 0 for s in SETS}
    for a in ARCHIVES.values():
        totals[a.set] += a.size
    return totals


def help_text() -> str:
    """The ``asd download --help`` description: what goes where, sizes, licence."""
    sizes = set_sizes()
    lines = [
        "Fetch the DCASE 2020 Task 2 data from Zenodo, check each archive's md5, resume broken",
        "transfers, and extract into the layout `asd train/evaluate --data` reads:",
        "",
        f"  dev         record {RECORDS['dev']}  dev_data_<type>.zip         -> DIR/dev/<type>/{{train,test}}",
        f"  additional  record {RECORDS['additional']}  eval_data_train_<type>.zip  -> DIR/eval/<type>/train",
        f"  eval        record {RECORDS['eval']}  eval_data_test_<type>.zip   -> DIR/eval/<type>/test",
        f"              record {RECORDS['ground_truth']}  {GROUND_TRUTH_NAME}          -> DIR/eval/{GROUND_TRUTH_NAME}",
        "",
        "Download sizes, all six machine types (about 1.35x that on disk once extracted;",
        "archives are deleted after extraction unless --keep-archives):",
        f"  dev ~{fmt_bytes(sizes['dev'])}, additional ~{fmt_bytes(sizes['additional'])}, "
        f"eval ~{fmt_bytes(sizes['eval'])}",
        "",
        "The ground truth has no published md5: --sets eval needs --allow-unverified (or its md5",
        "through --checksums). Running the command again does nothing once everything is in place.",
        "",
        "--year dcase2021 ... dcase2025 fetches that year's records instead, into DIR/<year>/{dev,eval}:",
        "dev_data_<type>.zip (2021) or dev_<type>.zip, eval_data_<type>_train.zip (2024: _train_r2 for",
        "3DPrinter and RoboticArm), eval_data_<type>_test.zip; each checked against the md5 its",
        "Zenodo record publishes, read at download time (the evaluation ground truth is in the",
        "official evaluators' repositories, not on Zenodo).",
        "",
        "Licence: CC BY-NC-SA 4.0 (Creative Commons Attribution-NonCommercial-ShareAlike 4.0),",
        "by NTT Corporation and Hitachi, Ltd. (built from ToyADMOS and MIMII): non-commercial",
        "use only, with attribution, derivatives under the same licence. See docs/real_data.md.",
    ]
    return "\n".join(lines)
