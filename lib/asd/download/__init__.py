"""Fetch the real DCASE Task 2 data (2020; 2021-2025 with ``--year``) from Zenodo: verified, resumable, extracted.

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
machine-type folders, read by :mod:`asd.data` (:func:`asd.data.load_ground_truth`).

Modules, one job each:

- :mod:`.archives`  the table of files (names, records, md5 sums as published, sizes), the
  choice of files for ``--sets``/``--machine-types``, URLs (Zenodo or a flat mirror).
- :mod:`.transfer`  one file: pooch fetches and checks the md5; a small downloader resumes a
  broken transfer with an HTTP ``Range`` request (pooch's own starts over).
- :mod:`.extract`   the safety checks (absolute paths, ``..``, links, special files, declared
  sizes against free disk space) and the standard-library extraction after them.
- :mod:`.records`   the md5 sums a Zenodo record publishes, read at download time (2021-2025,
  whose catalogue holds none).
- :mod:`.dataset`   the whole job (:func:`download_dataset`): plan, check space once, fetch,
  extract beside the target, move into place, completion markers; refuses symbolic links
  where it would write.

Bookkeeping lives in hidden folders that :mod:`asd.data` never reads: ``DIR/.downloads/``
(archives while they are fetched and extracted; ``*.part`` are partial transfers) and the
markers ``DIR/<set>/.asd-download/<archive>.json``. The command line is ``asd download`` in
:mod:`asd.cli`.

The data are licensed CC BY-NC-SA 4.0 (non-commercial use, share alike, attribution: see
``docs/real_data.md`` for the papers to cite).
"""

from __future__ import annotations

from ..data import GROUND_TRUTH_NAME, GroundTruthError, apply_ground_truth, find_ground_truth, load_ground_truth
from .archives import (
    ARCHIVES,
    CATALOGUES,
    ENV_BASE_URL,
    LICENSE,
    RECORDS,
    SET_DIRS,
    SET_SPLITS,
    SETS,
    YEAR_RECORDS,
    YEAR_TYPES,
    YEARS,
    Archive,
    ArchiveError,
    DownloadError,
    archive_url,
    help_text,
    parse_sets,
    plan_downloads,
    read_md5sums,
    set_sizes,
)
from .dataset import DOWNLOAD_DIR, EXTRACTED_RATIO, MARKER_DIR, download_dataset, is_complete, marker_path
from .extract import SPACE_MARGIN, check_archive, check_free_space, extract_zip
from .records import ENV_ZENODO_API, record_md5s
from .transfer import ResumableDownloader, fetch, md5_file, remote_size

__all__ = [
    "ARCHIVES",
    "CATALOGUES",
    "ENV_ZENODO_API",
    "YEARS",
    "YEAR_RECORDS",
    "YEAR_TYPES",
    "record_md5s",
    "Archive",
    "ArchiveError",
    "DOWNLOAD_DIR",
    "DownloadError",
    "ENV_BASE_URL",
    "EXTRACTED_RATIO",
    "GROUND_TRUTH_NAME",
    "GroundTruthError",
    "LICENSE",
    "MARKER_DIR",
    "RECORDS",
    "ResumableDownloader",
    "SETS",
    "SET_DIRS",
    "SET_SPLITS",
    "SPACE_MARGIN",
    "apply_ground_truth",
    "archive_url",
    "check_archive",
    "check_free_space",
    "download_dataset",
    "extract_zip",
    "fetch",
    "find_ground_truth",
    "help_text",
    "is_complete",
    "load_ground_truth",
    "marker_path",
    "md5_file",
    "parse_sets",
    "plan_downloads",
    "read_md5sums",
    "remote_size",
    "set_sizes",
]
