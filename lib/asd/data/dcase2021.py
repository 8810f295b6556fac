"""The DCASE 2021 Task 2 layout (MIMII DUE, ToyADMOS2), development and evaluation sets::

    <root>/<machine_type>/train/section_SS_<source|target>_train_normal_NNNN_<attributes>.wav
    <root>/<machine_type>/source_test/section_SS_source_test_<normal|anomaly>_NNNN.wav
    <root>/<machine_type>/target_test/section_SS_target_test_<normal|anomaly>_NNNN.wav
    <root>/<machine_type>/source_test/section_SS_source_test_NNNN.wav     (evaluation set: unlabelled)

The domain comes from the folder and the name (they must agree); a ``test/`` folder (the baseline
merges both test folders into one) is read too, the domain from the name. Names follow
:mod:`asd.data.section_names`; the machine ID is the section.
"""

from __future__ import annotations

from pathlib import Path

from .registry import Layout, ReadContext, register_layout
from .scan import child_dir, has_wav
from .section_names import read_machine

__all__ = ["SPLITS", "Dcase2021Layout"]

#: 2021's folders, the split and the domain each holds (None: from the name).
SPLITS = {
    "train": ("train", None),
    "source_test": ("test", "source"),
    "target_test": ("test", "target"),
    "test": ("test", None),
}


@register_layout
class Dcase2021Layout(Layout):
    """DCASE 2021 Task 2: ``TYPE/train/``, ``TYPE/source_test/``, ``TYPE/target_test/``, ``section_SS_...`` names."""

    name = "dcase2021"
    datasets = ("dcase2021",)
    help = "DCASE 2021 (TYPE/train|source_test|target_test/section_SS_<source|target>_<train|test>_...wav)"
    priority = 40
    structural = ("train", "source_test", "target_test")
    train_dir = "train"

    @classmethod
    def matches(cls, folder: Path) -> bool:
        subs = [child_dir(folder, name) for name in ("source_test", "target_test")]
        return any(sub is not None and has_wav(sub, 0) for sub in subs)

    @classmethod
    def read(cls, folder: Path, machine_type: str, context: ReadContext) -> list[dict]:
        return read_machine(folder, machine_type, context, SPLITS)
