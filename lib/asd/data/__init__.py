"""The data layer: find clips on disk, describe them in one table, label evaluation sets.

Modules:

- :mod:`.layouts`          the clip table (:func:`discover_clips`) and which folder is a machine.
- :mod:`.registry`         :class:`Layout`, :func:`register_layout`, :data:`LAYOUTS`: every layout, one place.
- :mod:`.dcase2020`, :mod:`.dcase2021`, :mod:`.dcase2022` (2022-2025), :mod:`.mimii`, :mod:`.folders`:
  one module per layout; :mod:`.section_names` the DCASE 2021-2025 name grammar both of those years share.
- :mod:`.scan`             listing folders (hidden names, broken links, loops, special files).
- :mod:`.ground_truth`, :mod:`.evaluator_truth`  the evaluation sets' ground truth (DCASE lists,
  the official evaluators' files).

Layouts
-------
``dcase`` (DCASE 2020 Task 2 development and evaluation sets; names read in any case)::

    <root>/<machine_type>/train/normal_id_XX_NNNNNNNN.wav
    <root>/<machine_type>/test/normal_id_XX_NNNNNNNN.wav
    <root>/<machine_type>/test/anomaly_id_XX_NNNNNNNN.wav
    <root>/<machine_type>/test/id_XX_NNNNNNNN.wav          (evaluation set: unlabelled)

``dcase2021`` (DCASE 2021: ``train/``, ``source_test/``, ``target_test/``) and ``dcase2022``
(DCASE 2022-2025: ``train/``, ``test/``, 2025's ``supplemental/``)::

    <root>/<machine_type>/train/section_SS_<source|target>_train_normal_NNNN_<attributes>.wav
    <root>/<machine_type>/test/section_SS_<source|target>_test_<normal|anomaly>_NNNN[_<attributes>].wav
    <root>/<machine_type>/test/section_SS_NNNN.wav          (evaluation set, 2022+: unlabelled)
    <root>/<machine_type>/source_test/section_SS_source_test_NNNN.wav   (evaluation set, 2021)

In a folder that uses these names, files named otherwise are skipped (listed, with the reason); a
name that starts with ``section_`` but does not parse is refused (:class:`~asd.errors.LayoutError`
naming the file). ``attributes_SS.csv`` gives the attributes of names without them; ``_noAttribute``
(2024+) is kept as the attribute string. 2025's ``supplemental/`` clips are left out unless
``include_supplemental=True`` (split ``"supplemental"``). The year (``dataset``) is detected from
the layout (:func:`asd.data.dcase2022.detect_year`) or given (``dataset="dcase2023"``).

``mimii`` (the original MIMII release; any file names)::

    <root>/<machine_type>/id_XX/normal/*.wav
    <root>/<machine_type>/id_XX/abnormal/*.wav

``folders`` (your own recordings; any file names)::

    <root>/<machine_type>/*.wav                 one folder per machine
    <root>/<machine_type>/train/*.wav           ... with a split
    <root>/<machine_type>/id_03/*.wav           ... with several machines of one type
    <root>/*.wav                                one machine's folder (also with train/, id_XX/, ...)

A root is *one machine's folder* when all its subfolders say split, label or ID (``train``,
``test``, ``source_test``, ``normal``, ``anomaly``, ``abnormal``, ``id_XX``, ...), or when it holds
WAV files and none of its subfolders is a machine folder with such structure; its machine type
is the folder's name unless ``machine_type=`` gives one. Otherwise every subfolder holding WAV
files (at most four levels down) is one machine type, named after the folder, and a WAV file at
the root beside them is skipped (listed with the reason). Each machine folder is read in the
layout it follows, so one root may mix them (except DCASE 2021-2025 folders, which are scored
as a whole and refused in a mix). The rules of the ``folders`` layout are in :mod:`.folders`.

MIMII has no train/test split. :func:`mimii_split` makes a deterministic one per machine ID, as
the DCASE 2020 organisers did in spirit: the test split holds every abnormal clip plus as many
normal clips, but at most half of the normal clips; the normal clips are sorted by file name and
the *last* ones go to the test split. Everything else is training data.

The clip table
--------------
:func:`discover_clips` returns one row per clip with the columns ``path``, ``file_name``,
``machine_type``, ``machine_id`` (two digits), ``split`` (``train``/``test``), ``label``
(``normal``, ``anomaly``, or ``unknown`` for unlabelled evaluation clips), ``section`` (two
digits, DCASE 2021+; ``""`` otherwise), ``domain`` (``source``/``target``, ``unknown`` for a 2022+
evaluation clip before its ground truth; ``""`` for DCASE 2020, MIMII and folders),
``attributes`` (the name's attribute string, ``""`` if none) and ``dataset`` (``dcase2020`` ...
``dcase2025``, ``mimii``, ``folders``). For DCASE 2021+ the machine ID *is* the section, so code
grouping by machine type and ID works per section, as the official scores do. Hidden files and
folders (a leading ``.``) are never read. Entries that look like clips but cannot be used — a
name that breaks the DCASE naming of its folder, an anomalous clip in ``train/``, a folder named
``*.wav``, a broken or looping symbolic link, a special file, a WAV file at a root of machine
folders — are logged and listed with the reason in ``table.attrs["skipped"]`` (``{"path",
"problem"}`` items; their paths also in ``table.attrs["ignored"]``); a machine type left without
clips or training clips says how many were skipped and why. :func:`one_class_tests` names the
machine types and IDs whose test split holds one class (AUC undefined). When nothing matches,
:class:`~asd.errors.LayoutError` lists the layouts read, in one line.
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
