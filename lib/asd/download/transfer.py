"""Fetch one file, resuming broken transfers, and let pooch check its md5.

pooch fetches and verifies (:func:`pooch.retrieve`, :func:`pooch.file_hash`); its own
:class:`pooch.HTTPDownloader` restarts from byte 0 after a broken transfer, so the downloader
here (:class:`ResumableDownloader`) keeps the bytes received in ``<name>.part`` and asks the
server for the rest with an HTTP ``Range`` request, on each retry and on the next run.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import logging
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from .archives import Archive, DownloadError, fmt_bytes

logger = logging.getLogger(__name__)

__all__ = ["RETRY_WAIT_S", "ResumableDownloader", "fetch", "md5_file", "remote_size"]

#: Seconds before the first retry of a broken transfer (doubles each time, at most 60 s).
RETRY_WAIT_S = 2.0
_CHUNK = 1024 * 1024
_USER_AGENT = "asd-download/0.1 (DCASE 2020 Task 2 toolkit; python-urllib)"


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
                        f"{name}: transfer failed after {attempts} attempt(s): {exc}; the {fmt_bytes(have)} "
                        f"received so far are kept in {self.partial}: run the command again to resume"
                    ) from None
                wait = min(RETRY_WAIT_S * 2 ** (attempt - 1), 60.0)
                logger.warning(
                    "%s: transfer interrupted at %s (%s); resuming in %.0f s (attempt %d of %d)",
                    name,
                    fmt_bytes(have),
                    exc,
                    wait,
                    attempt + 1,
                    attempts,
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
                logger.warning("%s: server refused to resume at %s; starting over", name, fmt_bytes(have))
                self.partial.unlink()
                raise _Incomplete("partial download did not match the server's file") from None
            if exc.code in (408, 425, 429) or exc.code >= 500:
                raise _Incomplete(f"HTTP {exc.code} {exc.reason}") from None
            raise _Fatal(f"HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            if _unreachable(exc):
                reason = getattr(exc, "reason", exc)
                raise _Fatal(f"host unreachable: {reason}; check the URL and the network") from None
            raise
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
                logger.info("%s: resuming at %s", name, fmt_bytes(have))
            else:
                if have:
                    logger.info("%s: server does not resume (HTTP %s); starting over", name, status)
                have, mode = 0, "wb"
            expected = None if length is None else have + length
            received = 0
            with (
                open(self.partial, mode) as out,
                tqdm(
                    total=expected,
                    initial=have,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=name,
                    disable=not self.progress,
                    leave=False,
                ) as bar,
            ):
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if length is not None and received < length:
            # http.client returns a short body without an error when the connection drops.
            raise _Incomplete(f"connection closed after {fmt_bytes(have + received)} of {fmt_bytes(expected)}")


def _unreachable(exc: BaseException) -> bool:
    """A connection refused or a host name that does not resolve: retrying in seconds will not fix it.

    Timeouts and connections reset mid-transfer stay retried.
    """
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError) or isinstance(exc, ConnectionRefusedError):
        return True
    return isinstance(reason, socket.gaierror) and reason.errno not in (socket.EAI_AGAIN,)


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
    """md5 hex digest of a file (:func:`pooch.file_hash`)."""
    import pooch

    return pooch.file_hash(str(path), alg="md5")


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
    downloader = ResumableDownloader(
        folder / f"{archive.name}.part", retries=retries, timeout=timeout, progress=progress
    )
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
