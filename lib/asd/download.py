"""Fetch the real DCASE 2020 Task 2 data from Zenodo: verified, resumable, safely extracted.

``asd download --to DIR`` (or :func:`download_dataset`) fetches, per machine type, the archives of
the DCASE 2020 Task 2 records on Zenodo:

======================  =======  ====================================  ======================
set (``--sets``)        record   archive                               goes to
======================  =======  ====================================  ======================
``dev``                 3678171  ``dev_data_<type>.zip``               ``DIR/dev/<type>/{train,test}/``
``additional``          3727685  ``eval_data_train_<type>.zip``        ``DIR/eval/<type>/train/``
``eval``                3841772  ``eval_data_test_<type>.zip``         ``DIR/eval/<type>/test/``
``eval`` (labels)       3951620  ``eval_data_list.csv``                ``DIR/eval/eval_data_list.csv``
======================  =======  ====================================  ======================

so ``DIR/dev`` is a dataset root in the DCASE layout that :mod:`asd.data` reads (``asd train
--data DIR/dev``), and ``DIR/eval`` is the evaluation set's root (training clips from the
additional set, unlabelled test clips ``id_XX_NNNNNNNN.wav``), with its ground truth beside the
machine-type folders (:func:`load_ground_truth`, :func:`apply_ground_truth`).

Every archive's md5 is checked against :data:`ARCHIVES` (one table, sums as published on the
Zenodo records) before anything is extracted. A transfer that breaks off is resumed with an HTTP
``Range`` request, on the spot (``retries``) or by running the command again. Free disk space is
checked before the first byte is fetched, and again (exactly, from the zip's directory) before
each extraction. Extraction refuses absolute paths, ``..`` components and link entries; it
writes into a hidden temporary folder beside the target, moves the finished folders into place
and writes a completion marker (``<set dir>/.asd-download/<archive>.json``) last, so an
interrupted run never leaves data that looks complete. A second run finds the markers and makes
no network request at all.

Bookkeeping lives in hidden folders that :mod:`asd.data` never reads: ``DIR/.downloads/``
(archives while they are fetched and extracted; ``*.part`` are partial transfers) and the markers.

The data are licensed CC BY-NC-SA 4.0 (non-commercial use, share alike, attribution: see
``docs/real_data.md`` for the papers to cite).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as _dt
import errno
import hashlib
import http.client
import json
import logging
import os
import posixpath
import re
import shutil
import stat
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping

from .atomic import write_text_atomic
from .config import MACHINE_TYPES
from .errors import ASDError, ConfigError

logger = logging.getLogger(__name__)


class DownloadError(ASDError):
    """A file could not be fetched or verified (HTTP error, broken transfer, wrong checksum, disk full)."""


class ArchiveError(ASDError):
    """An archive is unsafe or malformed (path traversal, links, unexpected layout, CRC error)."""


class GroundTruthError(ASDError):
    """A ground-truth list (``eval_data_list.csv``) does not follow the DCASE 2020 format."""


# -- the table ----------------------------------------------------------------------------

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
GROUND_TRUTH_NAME = "eval_data_list.csv"
ENV_BASE_URL = "ASD_DOWNLOAD_BASE_URL"
LICENSE = "CC BY-NC-SA 4.0 (Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International)"
MARKER_DIR = ".asd-download"
DOWNLOAD_DIR = ".downloads"
#: Extracted WAVs take about this many times their archive's size (16-bit PCM deflates ~0.77:1).
EXTRACTED_RATIO = 1.35
#: Kept free on top of the estimate, for logs, markers and the file system's own needs.
SPACE_MARGIN = 64 * 1024**2
#: Seconds before the first retry of a broken transfer (doubles each time, at most 60 s).
RETRY_WAIT_S = 2.0
_CHUNK = 1024 * 1024
_USER_AGENT = "asd-download/0.1 (DCASE 2020 Task 2 toolkit; python-urllib)"

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
    ("eval_data_train_ToyConveyor.zip", "additional", "ToyConveyor", "0e808ac0b761e9fb13d5e0c65caff00d", 750_000_000, False),
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
    """One file of the DCASE 2020 Task 2 Zenodo records."""

    name: str  #: file name on Zenodo (and on a mirror)
    set: str  #: "dev", "additional" or "eval"
    machine_type: str | None  #: None for the ground-truth list
    md5: str | None  #: published md5, None if unknown
    size: int  #: bytes (exact or estimated, see ``size_exact``)
    size_exact: bool

    @property
    def record(self) -> str:
        return RECORDS["ground_truth"] if self.machine_type is None else RECORDS[self.set]

    @property
    def is_zip(self) -> bool:
        return self.name.endswith(".zip")

    @property
    def set_dir(self) -> str:
        """Folder under ``--to DIR`` this file ends up in."""
        return SET_DIRS[self.set]

    @property
    def splits(self) -> tuple[str, ...]:
        return SET_SPLITS[self.set] if self.is_zip else ()


#: Every known file by name.
ARCHIVES: dict[str, Archive] = {row[0]: Archive(*row) for row in _TABLE}


# -- planning -----------------------------------------------------------------------------


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
    *, machine_types: Iterable[str] | None = None, sets: str | Iterable[str] = ("dev",)
) -> list[Archive]:
    """The files to fetch for these machine types and sets, in table order.

    The ``eval`` set includes the ground-truth list (one file for every machine type).
    """
    sets = parse_sets(sets)
    types = list(MACHINE_TYPES) if machine_types is None else list(dict.fromkeys(machine_types))
    unknown = [t for t in types if t not in MACHINE_TYPES]
    if unknown:
        raise ConfigError(
            f"unknown machine type(s) {', '.join(unknown)} (expected some of: {', '.join(MACHINE_TYPES)})"
        )
    if not types:
        raise ConfigError("no machine type given")
    return [a for a in ARCHIVES.values() if a.set in sets and (a.machine_type is None or a.machine_type in types)]


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


def _normalise_md5(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value).strip().lower()
    if value.startswith("md5:"):
        value = value[4:]
    if not re.fullmatch(r"[0-9a-f]{32}", value):
        raise ConfigError(f"checksum for {name}: expected 32 hex digits (md5), got {value!r}")
    return value


def _fmt_bytes(n: float) -> str:
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


# -- fetching -----------------------------------------------------------------------------


class ResumableDownloader:
    """A pooch downloader that resumes broken transfers with HTTP ``Range`` requests.

    Why not pooch's own :class:`pooch.HTTPDownloader`: it always starts from byte 0, into a fresh
    temporary file that is deleted when the transfer fails, so a connection lost at 1.7 of 1.8 GB
    would start over. This one keeps the bytes received in ``partial`` (``<name>.part`` beside
    the download), asks the server for the rest (``Range: bytes=N-``) on each retry and on the
    next run, and only hands the complete file to pooch, which then checks the md5 and moves it
    into place (or deletes it if the sum is wrong).

    Parameters
    ----------
    partial : path-like
        Where the bytes received so far are kept between attempts and runs.
    retries : int
        Further attempts after a broken transfer or a network error, each resuming.
    timeout : float
        Seconds to wait on the connection before giving up on an attempt.
    progress : bool
        Show a tqdm progress bar.
    """

    def __init__(self, partial: str | os.PathLike, *, retries: int = 5, timeout: float = 60.0, progress: bool = True):
        self.partial = Path(partial)
        self.retries = max(0, int(retries))
        self.timeout = float(timeout)
        self.progress = progress

    def __call__(self, url: str, output_file, pooch_obj=None, check_only: bool = False):
        if check_only:
            return remote_size(url, timeout=self.timeout) is not None
        name = self.partial.name.removesuffix(".part")
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                self._fetch(url, name)
                break
            except _Fatal as exc:
                raise DownloadError(f"{name}: {exc} ({url})") from None
            except (OSError, urllib.error.URLError, http.client.HTTPException, _Incomplete) as exc:
                if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS):
                    raise DownloadError(f"{name}: cannot write {self.partial}: {exc}") from None  # retrying won't help
                have = self.partial.stat().st_size if self.partial.exists() else 0
                if attempt == attempts:
                    raise DownloadError(
                        f"{name}: transfer failed after {attempts} attempt(s): {exc}; the {_fmt_bytes(have)} "
                        f"received so far are kept in {self.partial}: run the command again to resume"
                    ) from None
                wait = min(RETRY_WAIT_S * 2 ** (attempt - 1), 60.0)
                logger.warning(
                    "%s: transfer interrupted at %s (%s); resuming in %.0f s (attempt %d of %d)",
                    name, _fmt_bytes(have), exc, wait, attempt + 1, attempts,
                )
                time.sleep(wait)
        if isinstance(output_file, (str, os.PathLike)):
            os.replace(self.partial, output_file)
        else:  # a file object: copy, then drop the partial
            with open(self.partial, "rb") as src:
                shutil.copyfileobj(src, output_file, _CHUNK)
            self.partial.unlink()

    def _fetch(self, url: str, name: str) -> None:
        from tqdm.auto import tqdm

        have = self.partial.stat().st_size if self.partial.exists() else 0
        headers = {"User-Agent": _USER_AGENT}
        if have:
            headers["Range"] = f"bytes={have}-"
        request = urllib.request.Request(url, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:
                # Range not satisfiable: the partial file is complete already, or longer than the
                # file (a different version). Keep it if the server says it is exactly complete.
                total = _content_range_total(exc.headers.get("Content-Range"))
                if total == have:
                    return
                logger.warning("%s: server refused to resume at %s; starting over", name, _fmt_bytes(have))
                self.partial.unlink()
                raise _Incomplete("partial download did not match the server's file") from None
            if exc.code in (408, 425, 429) or exc.code >= 500:
                raise _Incomplete(f"HTTP {exc.code} {exc.reason}") from None
            raise _Fatal(f"HTTP {exc.code} {exc.reason}") from None
        with response:
            status = getattr(response, "status", 200)
            length = response.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            if have and status == 206:
                start = _content_range_start(response.headers.get("Content-Range"))
                if start != have:
                    self.partial.unlink()
                    raise _Incomplete(f"server resumed at byte {start}, expected {have}")
                mode = "ab"
                logger.info("%s: resuming at %s", name, _fmt_bytes(have))
            else:
                if have:
                    logger.info("%s: server does not resume (HTTP %s); starting over", name, status)
                have, mode = 0, "wb"
            expected = None if length is None else have + length
            received = 0
            with open(self.partial, mode) as out, tqdm(
                total=expected, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                desc=name, disable=not self.progress, leave=False,
            ) as bar:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if length is not None and received < length:
            # http.client returns a short body without an error when the connection drops.
            raise _Incomplete(f"connection closed after {_fmt_bytes(have + received)} of {_fmt_bytes(expected)}")


class _Incomplete(Exception):
    """A transfer that can be resumed."""


class _Fatal(Exception):
    """A failure retrying will not fix (404, 403, ...)."""


def _content_range_start(value: str | None) -> int | None:
    match = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", value or "")
    return int(match[1]) if match else None


def _content_range_total(value: str | None) -> int | None:
    match = re.match(r"bytes\s+(?:\*|\d+-\d+)/(\d+)", value or "")
    return int(match[1]) if match else None


def remote_size(url: str, *, timeout: float = 30.0) -> int | None:
    """The server's ``Content-Length`` for ``url`` (a HEAD request), or None if it does not say."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
    except (OSError, urllib.error.URLError, ValueError):
        return None
    return int(length) if length and length.isdigit() else None


def md5_file(path: str | os.PathLike) -> str:
    """md5 hex digest of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _quiet_pooch(level: int):
    import pooch

    pooch_logger = pooch.get_logger()
    old = pooch_logger.level
    pooch_logger.setLevel(level)
    try:
        yield
    finally:
        pooch_logger.setLevel(old)


def fetch(
    archive: Archive,
    *,
    url: str,
    folder: str | os.PathLike,
    md5: str | None,
    retries: int = 5,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Fetch one file into ``folder`` with pooch (md5 check, resume); return its path.

    A file already in ``folder`` with the right md5 is not fetched again. A wrong md5 deletes
    the download and raises :class:`DownloadError`.
    """
    import pooch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    downloader = ResumableDownloader(folder / f"{archive.name}.part", retries=retries, timeout=timeout, progress=progress)
    try:
        with _quiet_pooch(logging.WARNING):
            path = pooch.retrieve(
                url,
                known_hash=None if md5 is None else f"md5:{md5}",
                fname=archive.name,
                path=folder,
                downloader=downloader,
                progressbar=False,
            )
    except ValueError as exc:  # pooch: hash mismatch (it has deleted the download)
        with contextlib.suppress(FileNotFoundError):
            (folder / f"{archive.name}.part").unlink()
        got = re.search(r"but got ([0-9a-f]+)", str(exc))
        raise DownloadError(
            f"{archive.name}: wrong checksum (expected md5 {md5}, got {got[1] if got else 'something else'}); "
            f"the bad download was deleted. Run again to fetch it anew; if it fails again, the server "
            f"({url}) has a different file than the one published."
        ) from None
    return Path(path)


# -- safe extraction ----------------------------------------------------------------------


def _member_problem(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry must not be extracted, or None if it is safe."""
    name = info.filename
    if "\x00" in name:
        return "NUL byte in the name"
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        return "absolute path"
    parts = [p for p in posix.split("/") if p not in ("", ".")]
    if ".." in parts:
        return "'..' in the path (would write outside the target folder)"
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_IFMT(mode):  # Unix attributes with a file type
        if stat.S_ISLNK(mode):
            target = zf.read(info).decode("utf-8", "replace")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname("/".join(parts)), target))
            if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
                return f"symbolic link pointing outside the target folder (-> {target})"
            return f"symbolic link (-> {target}); links are not extracted"
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            return "special file (device, FIFO or socket)"
    return None


def check_archive(path: str | os.PathLike, *, name: str | None = None) -> list[zipfile.ZipInfo]:
    """Open a zip and check every entry before anything is extracted; return the entries.

    Raises :class:`ArchiveError` naming the archive and the first unsafe entry (absolute path,
    ``..`` component, symbolic link, special file) or if the file is not a zip.
    """
    name = name or Path(path).name
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            for info in infos:
                problem = _member_problem(zf, info)
                if problem:
                    raise ArchiveError(f"{name}: refusing to extract entry {info.filename!r}: {problem}")
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"{name}: not a valid zip archive ({exc})") from None
    return infos


def extract_zip(path: str | os.PathLike, dest: str | os.PathLike, *, name: str | None = None, progress: bool = False) -> int:
    """Extract a zip into the folder ``dest`` after :func:`check_archive`; return the file count.

    Entries are written under ``dest`` only (checked again per entry against the resolved path).
    """
    from tqdm.auto import tqdm

    name = name or Path(path).name
    infos = check_archive(path, name=name)
    dest = Path(dest)
    root = dest.resolve()
    n_files = 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in tqdm(infos, desc=f"extract {name}", unit="file", disable=not progress, leave=False):
                parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
                if not parts:
                    continue
                target = dest.joinpath(*parts)
                if not target.resolve().is_relative_to(root):  # belt and braces
                    raise ArchiveError(f"{name}: refusing to extract entry {info.filename!r}: outside the target folder")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
                n_files += 1
    except zipfile.BadZipFile as exc:  # CRC errors surface here
        raise ArchiveError(f"{name}: corrupt archive ({exc})") from None
    return n_files


def _uncompressed_size(infos: list[zipfile.ZipInfo]) -> int:
    return sum(i.file_size for i in infos if not i.is_dir())


def check_free_space(folder: str | os.PathLike, needed: int, *, what: str) -> None:
    """Raise :class:`DownloadError` if the disk holding ``folder`` has less than ``needed`` bytes free."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    needed += SPACE_MARGIN
    if free < needed:
        raise DownloadError(
            f"not enough free disk space in {folder} for {what}: need about {_fmt_bytes(needed)}, "
            f"only {_fmt_bytes(free)} free. Free some space, fetch fewer --machine-types or --sets, "
            f"or point --to at a bigger disk."
        )


# -- markers ------------------------------------------------------------------------------


def marker_path(to: str | os.PathLike, archive: Archive) -> Path:
    """The completion marker of ``archive`` under ``--to`` folder ``to``."""
    return Path(to) / archive.set_dir / MARKER_DIR / f"{archive.name}.json"


def _targets(to: Path, archive: Archive) -> list[Path]:
    base = to / archive.set_dir
    if not archive.is_zip:
        return [base / archive.name]
    return [base / archive.machine_type / split for split in archive.splits]


def is_complete(to: str | os.PathLike, archive: Archive) -> bool:
    """True if ``archive`` was fetched and extracted (marker present and its folders/file exist)."""
    to = Path(to)
    marker = marker_path(to, archive)
    if not marker.is_file():
        return False
    try:
        json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all(p.exists() for p in _targets(to, archive))


# -- the whole job ------------------------------------------------------------------------


def download_dataset(
    to: str | os.PathLike,
    *,
    machine_types: Iterable[str] | None = None,
    sets: str | Iterable[str] = ("dev",),
    base_url: str | None = None,
    checksums: Mapping[str, str | None] | None = None,
    progress: bool = True,
    allow_unverified: bool = False,
    keep_archives: bool = False,
    retries: int = 5,
    timeout: float = 60.0,
) -> list[dict]:
    """Fetch, verify and extract DCASE 2020 Task 2 archives into ``to`` (idempotent).

    Parameters
    ----------
    to : path-like
        Download folder. ``to/dev`` becomes the development set's root, ``to/eval`` the
        evaluation set's (see the module docstring for the layout).
    machine_types : list of str, optional
        Any of ToyCar, ToyConveyor, fan, pump, slider, valve. Default: all six.
    sets : str or list of str
        ``"dev"``, ``"additional"``, ``"eval"`` (a list or a comma-separated string).
    base_url : str, optional
        A flat mirror: every file is fetched from ``base_url/<file name>``. Default: the
        ``ASD_DOWNLOAD_BASE_URL`` environment variable, else Zenodo.
    checksums : mapping, optional
        ``{file name: md5}`` overriding or adding to the built-in table (None: the table only).
    progress : bool
        Show tqdm progress bars.
    allow_unverified : bool
        Fetch files for which no md5 is known (the ground-truth list) anyway; their md5 is
        logged and recorded in the marker.
    keep_archives : bool
        Keep the archives in ``to/.downloads`` after extraction (default: delete them).
    retries : int
        Further attempts, each resuming, after a broken transfer.
    timeout : float
        Seconds to wait on a silent connection.

    Returns
    -------
    list of dict
        One entry per file: ``name``, ``set``, ``machine_type``, ``status`` (``"present"`` if
        an earlier run completed it, ``"done"`` if fetched now), ``path`` (where it landed),
        ``md5``, ``verified``.

    Raises
    ------
    DownloadError
        Network failure, wrong checksum, not enough disk space, or no known md5 without
        ``allow_unverified``.
    ArchiveError
        An archive with unsafe entries or an unexpected layout.
    """
    to = Path(to).expanduser()
    plan = plan_downloads(machine_types=machine_types, sets=sets)
    sums = {a.name: a.md5 for a in ARCHIVES.values()}
    for name, value in (checksums or {}).items():
        sums[name] = _normalise_md5(name, value)

    summary: list[dict] = []
    pending: list[Archive] = []
    for archive in plan:
        if is_complete(to, archive):
            logger.info("%s: already in place, nothing to do", archive.name)
            info = json.loads(marker_path(to, archive).read_text(encoding="utf-8"))
            summary.append(_entry(archive, to, "present", info.get("md5"), info.get("verified", True)))
        else:
            pending.append(archive)
    if not pending:
        return summary

    unverifiable = [a.name for a in pending if sums.get(a.name) is None]
    if unverifiable and not allow_unverified:
        raise DownloadError(
            f"no known md5 for {', '.join(unverifiable)} (Zenodo record "
            f"{', '.join(sorted({ARCHIVES[n].record for n in unverifiable}))}): refusing to use a file that "
            f"cannot be verified. Pass --allow-unverified (allow_unverified=True) to fetch it anyway, or "
            f"give its md5 with --checksums FILE (checksums={{name: md5}})."
        )

    to.mkdir(parents=True, exist_ok=True)
    downloads = to / DOWNLOAD_DIR
    urls = {a.name: archive_url(a, base_url=base_url) for a in pending}
    _check_space_for(pending, to=to, downloads=downloads, urls=urls, sums=sums, keep_archives=keep_archives, timeout=timeout)

    for archive in pending:
        md5 = sums.get(archive.name)
        url = urls[archive.name]
        logger.info("%s: fetching from %s", archive.name, url)
        path = fetch(archive, url=url, folder=downloads, md5=md5, retries=retries, timeout=timeout, progress=progress)
        verified = md5 is not None
        if not verified:
            md5 = md5_file(path)
            logger.warning("%s: NOT verified (no published md5); its md5 is %s", archive.name, md5)
        if archive.is_zip:
            n_files = _install_zip(archive, path, to=to, progress=progress)
        else:
            n_files = _install_ground_truth(archive, path, to=to)
        _write_marker(to, archive, md5=md5, verified=verified, url=url, n_files=n_files)
        if not keep_archives:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        logger.info("%s: done (%d file(s))", archive.name, n_files)
        summary.append(_entry(archive, to, "done", md5, verified))
    with contextlib.suppress(OSError):
        downloads.rmdir()  # only if empty
    return summary


def _entry(archive: Archive, to: Path, status: str, md5: str | None, verified: bool) -> dict:
    base = to / archive.set_dir
    path = base / archive.machine_type if archive.is_zip else base / archive.name
    return {
        "name": archive.name,
        "set": archive.set,
        "machine_type": archive.machine_type,
        "status": status,
        "path": str(path),
        "md5": md5,
        "verified": bool(verified),
    }


def _check_space_for(
    pending: list[Archive], *, to: Path, downloads: Path, urls: dict, sums: dict, keep_archives: bool, timeout: float
) -> None:
    sizes = []
    for archive in pending:
        final = downloads / archive.name
        if final.exists():
            size, remaining = final.stat().st_size, 0
        else:
            size = None
            # The table's sizes describe the real archives; a mirror's file (or a file with an
            # overridden sum) may differ, so ask the server first.
            size = remote_size(urls[archive.name], timeout=min(timeout, 30.0))
            if size is None:
                size = archive.size
            part = downloads / f"{archive.name}.part"
            remaining = max(0, size - (part.stat().st_size if part.exists() else 0))
        extracted = int(size * EXTRACTED_RATIO) if archive.is_zip else 0
        sizes.append((remaining, size, extracted))
    to_fetch = sum(r for r, _, _ in sizes)
    extracted = sum(e for _, _, e in sizes)
    if keep_archives:
        needed = to_fetch + extracted
    else:  # archives are deleted once extracted: at most one waits beside the extracted data
        needed = extracted + max((r for r, _, _ in sizes), default=0)
    check_free_space(
        to,
        needed,
        what=f"{len(pending)} file(s) ({_fmt_bytes(to_fetch)} to download, about {_fmt_bytes(extracted)} extracted)",
    )


def _install_zip(archive: Archive, path: Path, *, to: Path, progress: bool) -> int:
    base = to / archive.set_dir
    base.mkdir(parents=True, exist_ok=True)
    infos = check_archive(path, name=archive.name)
    check_free_space(base, _uncompressed_size(infos), what=f"extracting {archive.name}")
    stem = archive.name.removesuffix(".zip")
    for stale in base.glob(f".tmp-{stem}-*"):  # left by an interrupted run
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".tmp-{stem}-"))
    try:
        n_files = extract_zip(path, tmp, name=archive.name, progress=progress)
        source = _type_folder(tmp, archive)
        missing = [s for s in archive.splits if not (source / s).is_dir()]
        if missing:
            raise ArchiveError(
                f"{archive.name}: expected folder(s) {', '.join(f'{archive.machine_type}/{s}/' for s in missing)} "
                f"in the archive, found {', '.join(sorted(p.name for p in source.iterdir())) or 'nothing'}"
            )
        extra = sorted(p.name for p in source.iterdir() if p.name not in archive.splits)
        if extra:
            logger.warning("%s: ignoring %s (not one of %s)", archive.name, ", ".join(extra), ", ".join(archive.splits))
        (base / archive.machine_type).mkdir(exist_ok=True)
        for split in archive.splits:
            target = base / archive.machine_type / split
            if target.exists():
                # No marker, so this is an earlier, unfinished attempt (or a hand-made copy).
                logger.warning("%s: replacing %s (no completion marker: incomplete)", archive.name, target)
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            os.replace(source / split, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return n_files


def _type_folder(tmp: Path, archive: Archive) -> Path:
    """The ``<machine_type>/`` folder in an extracted archive (top level, or under one wrapper)."""
    direct = tmp / archive.machine_type
    if direct.is_dir():
        return direct
    tops = [p for p in tmp.iterdir() if p.is_dir()]
    if len(tops) == 1 and (tops[0] / archive.machine_type).is_dir():
        return tops[0] / archive.machine_type
    found = ", ".join(sorted(p.name + ("/" if p.is_dir() else "") for p in tmp.iterdir())) or "nothing"
    raise ArchiveError(f"{archive.name}: expected a top folder {archive.machine_type}/ in the archive, found {found}")


def _install_ground_truth(archive: Archive, path: Path, *, to: Path) -> int:
    try:
        table = load_ground_truth(path)
    except GroundTruthError:
        path.unlink()
        raise
    target = to / archive.set_dir / archive.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target.with_name(f".{target.name}.tmp"))
    os.replace(target.with_name(f".{target.name}.tmp"), target)
    return len(table)


def _write_marker(to: Path, archive: Archive, *, md5: str | None, verified: bool, url: str, n_files: int) -> None:
    info = {
        "archive": archive.name,
        "set": archive.set,
        "machine_type": archive.machine_type,
        "record": archive.record,
        "url": url,
        "md5": md5,
        "verified": verified,
        "files": n_files,
        "targets": [str(p.relative_to(to)) for p in _targets(to, archive)],
        "license": LICENSE,
        "completed": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    write_text_atomic(marker_path(to, archive), json.dumps(info, indent=2) + "\n")


# -- ground truth -------------------------------------------------------------------------

_GT_FILE = re.compile(r"^(?:(?:normal|anomaly)_)?id_(?P<id>\d{2})_\d+\.wav$")
_GT_ORIGINAL = re.compile(r"^(?P<label>normal|anomaly)_id_(?P<id>\d{2})_\d+\.wav$")


def load_ground_truth(path: str | os.PathLike):
    """Read the DCASE 2020 evaluation ground truth (``eval_data_list.csv``, Zenodo 3951620).

    The file has no header. A line with one field names a machine type; the lines after it
    describe that type's evaluation test clips as ``file_name,original_name,label``::

        ToyCar
        id_05_00000000.wav,anomaly_id_05_00000111.wav,1
        id_05_00000001.wav,normal_id_05_00000028.wav,0

    where ``file_name`` is the clip's name in ``eval_data_test_<type>.zip``, ``original_name``
    carries the condition, and ``label`` is 1 for anomaly, 0 for normal (the column the DCASE
    2020 evaluator reads). Lines with only the first two fields take the label from
    ``original_name``.

    Returns
    -------
    pandas.DataFrame
        Columns ``machine_type``, ``machine_id`` (two digits), ``file_name``, ``label``
        (``"normal"``/``"anomaly"``), in file order.

    Raises
    ------
    GroundTruthError
        Naming the file and line of the first row that does not fit.
    """
    import pandas as pd

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GroundTruthError(f"{path}: ground-truth file not found") from None
    except UnicodeDecodeError:
        raise GroundTruthError(f"{path}: not a text file") from None
    rows: list[dict] = []
    seen: set[tuple[str, str]] = set()
    machine_type: str | None = None
    for number, fields in enumerate(csv.reader(text.splitlines()), 1):
        fields = [f.strip() for f in fields]
        while fields and not fields[-1]:
            fields.pop()
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) == 1:
            machine_type = fields[0]
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", machine_type):
                raise GroundTruthError(f"{where}: expected a machine type or 'file,original,label', got {fields[0]!r}")
            continue
        if machine_type is None:
            raise GroundTruthError(f"{where}: clip listed before any machine-type line")
        file_name = fields[0]
        match = _GT_FILE.match(file_name)
        if not match:
            raise GroundTruthError(f"{where}: {file_name!r} is not a clip name like id_XX_NNNNNNNN.wav")
        original = _GT_ORIGINAL.match(fields[1]) if len(fields) > 1 else None
        if len(fields) >= 3:
            if fields[2] not in ("0", "1"):
                raise GroundTruthError(f"{where}: label must be 0 (normal) or 1 (anomaly), got {fields[2]!r}")
            label = "anomaly" if fields[2] == "1" else "normal"
            if original and original["label"] != label:
                raise GroundTruthError(f"{where}: label {fields[2]} contradicts {fields[1]!r}")
        elif original:
            label = original["label"]
        else:
            raise GroundTruthError(f"{where}: no label (expected 'file,original_name,0|1')")
        key = (machine_type, file_name)
        if key in seen:
            raise GroundTruthError(f"{where}: {machine_type}/{file_name} listed twice")
        seen.add(key)
        rows.append({"machine_type": machine_type, "machine_id": match["id"], "file_name": file_name, "label": label})
    if not rows:
        raise GroundTruthError(f"{path}: no clips listed")
    return pd.DataFrame(rows, columns=["machine_type", "machine_id", "file_name", "label"])


def find_ground_truth(root: str | os.PathLike) -> Path | None:
    """``root/eval_data_list.csv`` (where ``asd download`` puts it) if it exists, else None."""
    path = Path(root) / GROUND_TRUTH_NAME
    return path if path.is_file() else None


def apply_ground_truth(clips, ground_truth):
    """Fill in the labels of unlabelled clips (``label == "unknown"``) from a ground-truth table.

    Parameters
    ----------
    clips : pandas.DataFrame
        A clip table (:func:`asd.data.discover_clips`): ``machine_type``, ``file_name``, ``label``.
    ground_truth : pandas.DataFrame or path-like
        :func:`load_ground_truth`'s table, or the path of the file.

    Returns
    -------
    pandas.DataFrame
        A copy of ``clips`` with labels filled in; clips the ground truth does not list stay
        ``"unknown"`` (logged as a warning).
    """
    if not hasattr(ground_truth, "columns"):
        ground_truth = load_ground_truth(ground_truth)
    lookup = {(t, f): lab for t, f, lab in zip(ground_truth["machine_type"], ground_truth["file_name"], ground_truth["label"])}
    out = clips.copy()
    unknown = out["label"] == "unknown"
    labels = [lookup.get((t, f), "unknown") for t, f in zip(out.loc[unknown, "machine_type"], out.loc[unknown, "file_name"])]
    out.loc[unknown, "label"] = labels
    missing = labels.count("unknown")
    if missing:
        logger.warning("%d unlabelled clip(s) are not in the ground truth and stay 'unknown'", missing)
    return out


# -- command line -------------------------------------------------------------------------


def _help_table() -> str:
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
        f"  dev ~{_fmt_bytes(sizes['dev'])}, additional ~{_fmt_bytes(sizes['additional'])}, "
        f"eval ~{_fmt_bytes(sizes['eval'])}",
        "",
        "The ground truth has no published md5: --sets eval needs --allow-unverified (or its md5",
        "through --checksums). Running the command again does nothing once everything is in place.",
        "",
        "Licence: CC BY-NC-SA 4.0 (Creative Commons Attribution-NonCommercial-ShareAlike 4.0),",
        "by NTT Corporation and Hitachi, Ltd. (built from ToyADMOS and MIMII): non-commercial",
        "use only, with attribution, derivatives under the same licence. See docs/real_data.md.",
    ]
    return "\n".join(lines)


def register_cli(subparsers) -> None:
    """Add the ``download`` sub-command to the ``asd`` command line."""
    parser = subparsers.add_parser(
        "download",
        help="fetch the real DCASE 2020 Task 2 data (Zenodo), verified and extracted",
        description=_help_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--to", required=True, type=Path, metavar="DIR", help="download folder (DIR/dev, DIR/eval)")
    parser.add_argument(
        "--machine-types", nargs="+", metavar="TYPE", default=list(MACHINE_TYPES), choices=list(MACHINE_TYPES),
        help=f"machine types to fetch (default: all: {' '.join(MACHINE_TYPES)})",
    )
    parser.add_argument(
        "--sets", default="dev", metavar="SETS",
        help="comma-separated, of dev, additional, eval (default: dev)",
    )
    parser.add_argument(
        "--base-url", metavar="URL", default=None,
        help=f"flat mirror: fetch URL/<archive name> instead of Zenodo (default: ${ENV_BASE_URL})",
    )
    parser.add_argument(
        "--checksums", type=Path, metavar="FILE",
        help="md5sum-style file ('<md5>  <name>' lines) overriding or adding to the built-in sums",
    )
    parser.add_argument(
        "--allow-unverified", action="store_true",
        help="fetch files without a known md5 (the ground-truth list) anyway",
    )
    parser.add_argument("--keep-archives", action="store_true", help="keep the zip files in DIR/.downloads")
    parser.add_argument("--retries", type=int, default=5, metavar="N", help="resume attempts after a broken transfer (default 5)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="S", help="seconds to wait on a silent connection (default 60)")
    parser.set_defaults(func=_run_download)


def _run_download(args) -> int:
    checksums = read_md5sums(args.checksums) if getattr(args, "checksums", None) else None
    summary = download_dataset(
        args.to,
        machine_types=args.machine_types,
        sets=args.sets,
        base_url=args.base_url,
        checksums=checksums,
        progress=not getattr(args, "quiet", False),
        allow_unverified=args.allow_unverified,
        keep_archives=args.keep_archives,
        retries=args.retries,
        timeout=args.timeout,
    )
    for item in summary:
        note = "" if item["verified"] else "  (not verified: no published md5)"
        print(f"{item['status']:8s} {item['name']:34s} -> {item['path']}{note}")
    roots = sorted({str(Path(args.to) / ARCHIVES[i['name']].set_dir) for i in summary})
    print(f"data in {', '.join(roots)} (licence: CC BY-NC-SA 4.0, non-commercial use only)")
    return 0
