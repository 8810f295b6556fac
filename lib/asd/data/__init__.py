"""The data layer: find clips on disk, describe them in one table, label evaluation sets.

Modules:

- :mod:`.layouts`       the folder layouts read and the clip table (:func:`discover_clips`).
- :mod:`.ground_truth`  the evaluation set's ground truth (``eval_data_list.csv``).

Layouts
-------
``dcase`` (DCASE 2020 Task 2 development and evaluation sets)::

    <root>/<machine_type>/train/normal_id_XX_NNNNNNNN.wav
    <root>/<machine_type>/test/normal_id_XX_NNNNNNNN.wav
    <root>/<machine_type>/test/anomaly_id_XX_NNNNNNNN.wav
    <root>/<machine_type>/test/id_XX_NNNNNNNN.wav          (evaluation set: unlabelled)

In a folder that uses these names, files named otherwise are skipped (listed, with the reason).

``mimii`` (the original MIMII release; any file names)::

    <root>/<machine_type>/id_XX/normal/*.wav
    <root>/<machine_type>/id_XX/abnormal/*.wav

``folders`` (your own recordings; any file names)::

    <root>/<machine_type>/*.wav                 one folder per machine
    <root>/<machine_type>/train/*.wav           ... with a split
    <root>/<machine_type>/id_03/*.wav           ... with several machines of one type
    <root>/*.wav                                one machine's folder (also with train/, id_XX/, ...)

A root is *one machine's folder* when it holds WAV files itself, or when all its subfolders
say split, label or ID (``train``, ``test``, ``normal``, ``anomaly``, ``abnormal``,
``id_XX``); its machine type is the folder's name unless ``machine_type=`` gives one. Otherwise
every subfolder holding WAV files (at most four levels down) is one machine type, named after
the folder. Each machine folder is read in the layout it follows, so one root may mix them.

Rules of the ``folders`` layout (the folder names along a clip's path, case-insensitive):

- machine ID: an ``id_XX`` folder; else a DCASE-style file name (``..._id_XX_...``); else
  ``machine_id=`` (default ``"00"``).
- a ``train`` folder: a normal training clip (an anomalous one there is skipped);
- a ``test`` folder: a test clip, labelled by a ``normal``/``anomaly``/``abnormal`` folder or a
  DCASE-style name, else ``unknown`` (scored, not counted in the metrics);
- no ``train``/``test`` folder but ``normal``/``anomaly``/``abnormal``: split per machine ID
  as MIMII is (:func:`mimii_split`);
- no such folder at all: a normal training clip. Other folder names (dates, microphones) do
  not matter.

MIMII has no train/test split. :func:`mimii_split` makes a deterministic one per machine ID, as
the DCASE 2020 organisers did in spirit: the test split holds every abnormal clip plus as many
normal clips, but at most half of the normal clips; the normal clips are sorted by file name and
the *last* ones go to the test split. Everything else is training data.

The clip table
--------------
:func:`discover_clips` returns one row per clip with the columns ``path``, ``file_name``,
``machine_type``, ``machine_id`` (two digits), ``split`` (``train``/``test``) and ``label``
(``normal``, ``anomaly``, or ``unknown`` for unlabelled evaluation clips). Hidden files and
folders (a leading ``.``) are never read. Entries that look like clips but cannot be used — a
name that breaks the DCASE naming of its folder, an anomalous clip in ``train/``, a folder named
``*.wav``, a broken or looping symbolic link, a special file — are logged and listed with the
reason in ``table.attrs["skipped"]`` (``{"path", "problem"}`` items; their paths also in
``table.attrs["ignored"]``). :func:`one_class_tests` names the machine types and IDs whose
test split holds one class (AUC undefined). When nothing matches, :class:`~asd.errors.LayoutError` lists the
layouts read, in one line.
"""

from __future__ import annotations

from .dcase2020 import DCASE_LABELED, DCASE_UNLABELED
from .ground_truth import (
    GROUND_TRUTH_NAME,
    GroundTruthError,
    apply_ground_truth,
    find_ground_truth,
    load_ground_truth,
)
from .layouts import (
    COLUMNS,
    LABELS,
    LAYOUT_HELP,
    SECTION_LAYOUTS,
    detect_layout,
    discover_clips,
    is_machine_folder,
    layout_help,
    one_class_tests,
    summarize_clips,
)
from .mimii import MIMII_ID_DIR, MIMII_NAME, mimii_split
from .registry import (
    LAYOUTS,
    Layout,
    ReadContext,
    dataset_names,
    make_row,
    register_layout,
)

__all__ = [
    "COLUMNS",
    "DCASE_LABELED",
    "DCASE_UNLABELED",
    "GROUND_TRUTH_NAME",
    "LABELS",
    "LAYOUTS",
    "LAYOUT_HELP",
    "MIMII_ID_DIR",
    "MIMII_NAME",
    "SECTION_LAYOUTS",
    "GroundTruthError",
    "Layout",
    "ReadContext",
    "apply_ground_truth",
    "dataset_names",
    "detect_layout",
    "discover_clips",
    "find_ground_truth",
    "is_machine_folder",
    "layout_help",
    "load_ground_truth",
    "make_row",
    "mimii_split",
    "one_class_tests",
    "register_layout",
    "summarize_clips",
]
