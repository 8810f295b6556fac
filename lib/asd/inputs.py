"""What ``asd score`` is given, checked before anything is scored: files, outputs, machine IDs.

- :func:`folder_wavs` lists the WAV files under a folder and, as ``asd train``/``evaluate`` do,
  names every entry that looks like a clip but cannot be one (a broken or looping symbolic link,
  a FIFO or other special file); :func:`file_problem` does the same for a file given by name.
  A FIFO is never opened: reading one would wait forever.
- :func:`check_outputs` refuses, before scoring, an ``--out`` that is an existing folder or one of
  the files to score, and a ``--figures`` that is an existing file: no output replaces an input,
  and no output is lost after the scoring is done.
- :func:`figure_name` keeps a figure's file name within the file system's 255 bytes.
- :func:`check_machine_id` refuses an ID that is not a number; :func:`id_note` says when an ID has
  no threshold of its own in the run (scored against the machine type's pooled threshold).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from .data.scan import entry_kind
from .errors import ConfigError

#: Bytes a figure's file name may take (most file systems allow 255).
MAX_NAME_BYTES = 255


def file_problem(path: Path) -> str | None:
    """Why a path given as a file cannot be a clip (a broken link, a FIFO, a folder ...), or ``None``."""
    kind, problem = entry_kind(path)
    return problem if kind != "file" else None


def folder_wavs(folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """The ``*.wav`` files under ``folder`` (case-insensitive, recursively, hidden names skipped), sorted.

    Returns
    -------
    files : list of Path
    problems : list of (path, problem)
        Entries named ``*.wav`` that are not regular files (broken or looping links, FIFOs,
        sockets, devices), and folders that cannot be listed. Links to folders are not followed.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []

    def on_error(exc: OSError) -> None:
        problems.append((str(exc.filename), f"folder cannot be listed ({exc.strerror or exc})"))

    for where, dirs, names in os.walk(folder, onerror=on_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            path = Path(where, name)
            if name.startswith(".") or path.suffix.lower() != ".wav":
                continue
            problem = file_problem(path)
            if problem is None:
                files.append(path)
            else:
                problems.append((str(path), problem))
    return sorted(files), problems


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(*, out: Path | None, figures: Path | None, inputs: Sequence[Path]) -> None:
    """Refuse outputs that would replace an input or could not be written, before any scoring.

    Parameters
    ----------
    out : Path, optional
        The ``--out`` CSV file.
    figures : Path, optional
        The ``--figures`` folder.
    inputs : sequence of Path
        The files to be scored (:func:`folder_wavs` and the files given).

    Raises
    ------
    ConfigError
        ``out`` is an existing folder, lies in a folder that is a file, or is one of ``inputs``;
        ``figures`` is an existing file or one of ``inputs``.
    """
    if out is not None:
        if out.is_dir():
            raise ConfigError(f"--out {out}: is an existing folder, expected a CSV file name")
        if out.parent.exists() and not out.parent.is_dir():
            raise ConfigError(f"--out {out}: {out.parent} is a file, not a folder")
        if out.exists() and any(_same_file(out, path) for path in inputs):
            raise ConfigError(f"--out {out}: is one of the files to score; writing the CSV would replace it")
    if figures is not None:
        if figures.exists() and not figures.is_dir():
            raise ConfigError(f"--figures {figures}: is an existing file, expected a folder")
        if out is not None and out.resolve() == figures.resolve():
            raise ConfigError(f"--figures {figures}: is also --out")


def figure_name(rank: int, path: str | os.PathLike) -> str:
    """``<rank>_<file stem>.png``, the stem cut and given a short hash when the name would exceed 255 bytes."""
    stem = Path(path).stem
    name = f"{rank:03d}_{stem}.png"
    if len(os.fsencode(name)) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.sha1(os.fsencode(stem)).hexdigest()[:8]
    cut = os.fsencode(stem)[:120].decode("utf-8", "ignore")
    return f"{rank:03d}_{cut}-{digest}.png"


def check_machine_id(machine_id: str | None) -> str | None:
    """``--machine-id`` zero-padded to two digits; :class:`ConfigError` for one that is not a number."""
    if machine_id is None:
        return None
    text = str(machine_id).strip()
    if not text.isdigit():
        raise ConfigError(f"--machine-id {machine_id!r}: expected a number such as 00 or 2 (DCASE machine IDs)")
    return text.zfill(2)


def id_note(machine_id: str | None, thresholds: dict, machine_type: str) -> str:
    """Empty when ``machine_id`` has its own threshold in the run, else a note naming the pooled threshold."""
    known = sorted(thresholds.get("ids", {}))
    if machine_id is not None and str(machine_id) in known:
        return ""
    what = "machine ID unknown" if not machine_id else f"machine ID {machine_id} has no training clips in the run"
    return f"{what} (IDs {', '.join(known) or 'none'}): the pooled {machine_type} threshold applies"
