"""The md5 sums a Zenodo record publishes, fetched at download time (DCASE 2021-2025).

The catalogue of 2021-2025 (:data:`asd.download.archives.CATALOGUES`) holds no md5 sums: none could
be read here from the records. Each file is instead checked against the md5 the record itself
publishes, read from the Zenodo REST API just before the download
(``GET <api>/records/<id>`` -> ``{"files": [{"key": <name>, "checksum": "md5:<hex>"}, ...]}``).
``<api>`` is ``https://zenodo.org/api`` unless the ``ASD_ZENODO_API`` environment variable names
another (a mirror of the API, or the tests' loopback server). A sum given with ``--checksums``
takes precedence; when neither is available the file is refused unless ``--allow-unverified``.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request

from .archives import DownloadError, normalise_md5

logger = logging.getLogger(__name__)

ENV_ZENODO_API = "ASD_ZENODO_API"
ZENODO_API = "https://zenodo.org/api"


def record_md5s(record: str, *, api_url: str | None = None, timeout: float = 30.0) -> dict[str, str]:
    """``{file name: md5}`` as Zenodo record ``record`` publishes them.

    Raises
    ------
    DownloadError
        The record cannot be read (network, HTTP error) or does not list files with md5 sums.
    """
    base = (api_url or os.environ.get(ENV_ZENODO_API) or ZENODO_API).rstrip("/")
    url = f"{base}/records/{record}"
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "asd-download"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https or a configured mirror)
            metadata = json.loads(response.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DownloadError(f"Zenodo record {record}: cannot read its published md5 sums from {url} ({exc})") from None
    files = metadata.get("files") if isinstance(metadata, dict) else None
    if isinstance(files, dict):  # newer API versions: {"entries": {...}} or {"entries": [...]}
        files = files.get("entries", [])
        files = list(files.values()) if isinstance(files, dict) else files
    sums = {}
    for entry in files or []:
        name, checksum = entry.get("key"), entry.get("checksum")
        if name and isinstance(checksum, str) and checksum.lower().startswith("md5:"):
            sums[name] = normalise_md5(name, checksum)
    if not sums:
        raise DownloadError(f"Zenodo record {record}: {url} lists no files with md5 sums")
    logger.info("Zenodo record %s: %d published md5 sum(s)", record, len(sums))
    return sums
