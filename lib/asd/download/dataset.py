"""Fetch, verify and extract a choice of DCASE Task 2 archives (2020-2025) into one folder, idempotently.

:func:`download_dataset` plans the files (:mod:`.archives`), checks the free space once for all
of them, fetches each (:mod:`.transfer`), extracts each zip into a hidden temporary folder beside
its target after the safety checks (:mod:`.extract`), moves the finished folders into place and
writes a completion marker (``<set dir>/.asd-download/<archive>.json``) last, so an interrupted
run never leaves data that looks complete. A second run finds the markers and makes no network
request at all. It writes only into real folders: a symbolic link where it would write (the set
folder, a machine type's folder, its ``train/``/``test/``, ``.downloads/``) is refused before
anything is fetched, so nothing is ever written through a link.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..atomic import write_text_atomic
from ..data import GroundTruthError, load_ground_truth
from .archives import (
    LICENSE,
    Archive,
    ArchiveError,
    DownloadError,
    archive_url,
    fmt_bytes,
    normalise_md5,
    plan_downloads,
)
from .extract import check_archive, check_free_space, extract_zip, uncompressed_size
from .records import record_md5s
from .transfer import fetch, md5_file, remote_size

logger = logging.getLogger(__name__)

__all__ = ["DOWNLOAD_DIR", "EXTRACTED_RATIO", "MARKER_DIR", "download_dataset", "is_complete", "marker_path"]

MARKER_DIR = ".asd-download"
DOWNLOAD_DIR = ".downloads"
#: Extracted WAVs take about this many times their archive's size (16-bit PCM deflates ~0.77:1).
EXTRACTED_RATIO = 1.35


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
    year: str = "dcase2020",
) -> list[dict]:
    """Fetch, verify and extract DCASE Task 2 archives of one year into ``to`` (idempotent).

    Parameters
    ----------
    to : path-like
        Download folder. 2020: ``to/dev`` becomes the development set's root, ``to/eval`` the
        evaluation set's (see the module docstring for the layout); 2021-2025: ``to/<year>/dev``
        and ``to/<year>/eval``.
    machine_types : list of str, optional
        2020: any of ToyCar, ToyConveyor, fan, pump, slider, valve. Later years: the year's
        development and evaluation machine types (:data:`asd.download.archives.YEAR_TYPES`).
        Default: all of them.
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
        Fetch files for which no md5 is known (the 2020 ground-truth list; a 2021-2025 file whose
        record cannot be read) anyway; their md5 is logged and recorded in the marker.
    keep_archives : bool
        Keep the archives in ``to/.downloads`` after extraction (default: delete them).
    retries : int
        Further attempts, each resuming, after a broken transfer.
    timeout : float
        Seconds to wait on a silent connection.
    year : str
        ``"dcase2020"`` (default) ... ``"dcase2025"``. The 2021-2025 catalogue holds no md5 sums:
        each file is checked against the md5 its Zenodo record publishes, read at download time
        (:mod:`asd.download.records`), unless ``checksums`` gives one.

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
    plan = plan_downloads(machine_types=machine_types, sets=sets, year=year)
    summary, pending = _present(to, plan)
    if not pending:
        return summary
    sums = _known_sums(pending, checksums=checksums, allow_unverified=allow_unverified, timeout=timeout)
    options = {"keep_archives": keep_archives, "retries": retries, "timeout": timeout, "progress": progress}
    return summary + _install(to, pending, sums=sums, base_url=base_url, **options)


def _install(to: Path, pending: list[Archive], *, sums: Mapping[str, str | None], base_url, keep_archives: bool,
             retries: int, timeout: float, progress: bool) -> list[dict]:  # fmt: skip
    """Fetch, check and extract the ``pending`` archives into ``to``, after checking the disk has room;
    one summary entry each (:func:`download_dataset`)."""
    refuse_links(to, pending)
    to.mkdir(parents=True, exist_ok=True)
    downloads = to / DOWNLOAD_DIR
    urls = {a.name: archive_url(a, base_url=base_url) for a in pending}
    _check_space_for(
        pending, to=to, downloads=downloads, urls=urls, sums=sums, keep_archives=keep_archives, timeout=timeout
    )
    done = [
        _fetch_and_install(archive, to=to, downloads=downloads, url=urls[archive.name], md5=sums.get(archive.name),
                           keep_archives=keep_archives, retries=retries, timeout=timeout, progress=progress)
        for archive in pending
    ]  # fmt: skip
    with contextlib.suppress(OSError):
        downloads.rmdir()  # only if empty
    return done


def _present(to: Path, plan: list[Archive]) -> tuple[list[dict], list[Archive]]:
    """Summary entries of the archives an earlier run completed, and the others (still to do)."""
    summary: list[dict] = []
    pending: list[Archive] = []
    for archive in plan:
        if is_complete(to, archive):
            logger.info("%s: already in place, nothing to do", archive.name)
            info = json.loads(marker_path(to, archive).read_text(encoding="utf-8"))
            summary.append(_entry(archive, to, "present", info.get("md5"), info.get("verified", True)))
        else:
            pending.append(archive)
    return summary, pending


def _known_sums(pending: list[Archive], *, checksums, allow_unverified: bool, timeout: float) -> dict[str, str | None]:
    """The md5 to check each pending file against: given, else the table's, else the record's (2021 on).

    Raises :class:`DownloadError` for a file with none unless ``allow_unverified``.
    """
    sums = {a.name: a.md5 for a in pending}
    for name, value in (checksums or {}).items():
        sums[name] = normalise_md5(name, value)
    problems = []
    for record in sorted({a.record for a in pending if sums.get(a.name) is None and a.year != "dcase2020"}):
        try:
            published = record_md5s(record, timeout=min(timeout, 30.0))
        except DownloadError as exc:
            problems.append(str(exc))
            continue
        for archive in pending:
            if archive.record == record and sums.get(archive.name) is None:
                sums[archive.name] = published.get(archive.name)
    unverifiable = [a.name for a in pending if sums.get(a.name) is None]
    if unverifiable and not allow_unverified:
        records = ", ".join(sorted({a.record for a in pending if a.name in unverifiable}))
        raise DownloadError(
            f"no known md5 for {', '.join(unverifiable)} (Zenodo record {records}"
            f"{'; ' + '; '.join(problems) if problems else ''}): refusing to use a file that cannot be verified. "
            f"Pass --allow-unverified (allow_unverified=True) to fetch it anyway, or give its md5 with "
            f"--checksums FILE (checksums={{name: md5}})."
        )
    return sums


def _fetch_and_install(
    archive: Archive,
    *,
    to: Path,
    downloads: Path,
    url: str,
    md5: str | None,
    keep_archives: bool,
    retries: int,
    timeout: float,
    progress: bool,
) -> dict:
    """Fetch one file (verified when ``md5`` is known), install it, write its marker; its summary entry."""
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
    return _entry(archive, to, "done", md5, verified)


def write_targets(to: Path, archive: Archive) -> list[Path]:
    """Every folder under ``to`` that fetching and installing ``archive`` writes into."""
    base = to / archive.set_dir
    folders = [to / DOWNLOAD_DIR, *([base.parent] if base.parent != to else []), base, base / MARKER_DIR]
    if archive.is_zip:
        folders.append(base / archive.machine_type)
        folders += [base / archive.machine_type / split for split in archive.splits]
    return folders


def refuse_links(to: Path, archives: Iterable[Archive]) -> None:
    """Raise :class:`DownloadError` if a folder the download writes into is a symbolic link.

    ``to`` itself may be a link (a download folder on another disk); the folders under it are
    the toolkit's, and writing or replacing through a link there would touch data elsewhere.
    """
    seen: set[Path] = set()
    for archive in archives:
        for folder in write_targets(to, archive):
            if folder in seen:
                continue
            seen.add(folder)
            if folder.is_symlink():
                raise DownloadError(
                    f"{folder} is a symbolic link (-> {os.readlink(folder)}): asd download writes only into "
                    f"real folders under --to and never through a link; remove the link, or point --to at "
                    f"the disk it leads to"
                )


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
        what=f"{len(pending)} file(s) ({fmt_bytes(to_fetch)} to download, about {fmt_bytes(extracted)} extracted)",
    )


def _install_zip(archive: Archive, path: Path, *, to: Path, progress: bool) -> int:
    base = to / archive.set_dir
    base.mkdir(parents=True, exist_ok=True)
    infos = check_archive(path, name=archive.name)
    check_free_space(base, uncompressed_size(infos), what=f"extracting {archive.name}")
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
        optional = sorted({p.name for pattern in archive.optional for p in source.glob(pattern)} - set(archive.splits))
        extra = sorted(p.name for p in source.iterdir() if p.name not in archive.splits and p.name not in optional)
        if extra:
            logger.warning("%s: ignoring %s (not one of %s)", archive.name, ", ".join(extra), ", ".join(archive.splits))
        refuse_links(to, [archive])  # again, just before moving into place
        (base / archive.machine_type).mkdir(exist_ok=True)
        for split in [*archive.splits, *optional]:
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
        "completed": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    write_text_atomic(marker_path(to, archive), json.dumps(info, indent=2) + "\n")
