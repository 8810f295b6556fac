"""The layout registry: every folder layout the data layer reads, registered in one place.

A layout is a subclass of :class:`Layout` decorated with :func:`register_layout` (as detectors
are with :func:`asd.detectors.register`). :func:`asd.data.discover_clips` tries the registered
layouts on each machine folder, highest :attr:`Layout.priority` first, and reads the folder with
the first whose :meth:`Layout.matches` is true; ``layout=NAME`` or ``dataset=NAME`` picks one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, LayoutError

__all__ = ["LAYOUTS", "Layout", "ReadContext", "get_layout", "layout_for_dataset", "make_row", "register_layout"]


@dataclass
class ReadContext:
    """What a layout's reader needs besides the folder: defaults, options, and where to report.

    Attributes
    ----------
    default_id : str
        The two-digit machine ID of clips whose folders and name give none.
    skipped : list of dict
        ``{"path", "problem"}`` items for entries not read (the table's ``attrs["skipped"]``).
    include_supplemental : bool
        Whether DCASE 2025 ``supplemental/`` clips become rows (split ``"supplemental"``).
    dataset : str or None
        The dataset name the caller gave (``"dcase2023"``), None to detect it.
    supplemental : list of str
        Paths of supplemental clips left out (the table's ``attrs["supplemental"]``).
    """

    default_id: str = "00"
    skipped: list[dict] = field(default_factory=list)
    include_supplemental: bool = False
    dataset: str | None = None
    supplemental: list[str] = field(default_factory=list)


def make_row(
    path: Path,
    machine_type: str,
    machine_id: str,
    split: str,
    label: str,
    section: str = "",
    domain: str = "",
    attributes: str = "",
) -> dict:
    """One row of the clip table (the ``dataset`` column is filled in by :func:`asd.data.discover_clips`)."""
    return {
        "path": str(path),
        "file_name": path.name,
        "machine_type": machine_type,
        "machine_id": machine_id,
        "split": split,
        "label": label,
        "section": section,
        "domain": domain,
        "attributes": attributes,
    }


class Layout:
    """A folder layout: how to recognise one machine type's folder, and how to read its clips.

    Subclass it, set the class attributes, implement :meth:`matches` and :meth:`read`, and
    decorate the class with :func:`register_layout`. Nothing else changes: auto detection,
    ``discover_clips(layout=NAME)``, ``--dataset NAME`` and the "no clips found" line pick it up.

    Attributes
    ----------
    name : str
        The layout's name (``discover_clips(layout=...)``, ``table.attrs["layout"]``).
    datasets : tuple of str
        The dataset names read in this layout (``--dataset``); the first is the default.
    help : str
        One phrase showing its file names, for the line raised when no layout matches.
    priority : int
        Auto detection tries higher priorities first; the catch-all ``folders`` layout is 0.
    structural : tuple of str
        Lower-case folder names that, directly under a root, make it one machine's folder.
    train_dir : str
        The folder that must hold the training clips (named when it holds none); "" for the
        machine folder itself.
    """

    name: str = ""
    datasets: tuple[str, ...] = ()
    help: str = ""
    priority: int = 0
    structural: tuple[str, ...] = ()
    train_dir: str = ""

    @classmethod
    def matches(cls, folder: Path) -> bool:
        """True if the machine folder ``folder`` follows this layout."""
        raise NotImplementedError

    @classmethod
    def read(cls, folder: Path, machine_type: str, context: ReadContext) -> list[dict]:
        """The rows (:func:`make_row`) of every clip in the machine folder ``folder``."""
        raise NotImplementedError

    @classmethod
    def dataset(cls, rows: list[dict], context: ReadContext) -> str:
        """The dataset name of ``rows`` (every machine type read in this layout); default: ``datasets[0]``."""
        return context.dataset or cls.datasets[0]


#: Layout name -> class, in registration order.
LAYOUTS: dict[str, type[Layout]] = {}


def register_layout(layout_class: type[Layout]) -> type[Layout]:
    """Add a layout class to :data:`LAYOUTS` under its ``name`` (usable as a class decorator).

    Raises
    ------
    ConfigError
        The class has no name or dataset, or another class holds the name or one of its datasets.
    """
    name = layout_class.name
    if not name or not layout_class.datasets:
        raise ConfigError(f"{layout_class.__name__}: a layout needs a name and at least one dataset name")
    known = LAYOUTS.get(name)
    if known is not None and known is not layout_class:
        raise ConfigError(f"layout name {name!r} is taken by {known.__name__}")
    for other in LAYOUTS.values():
        taken = set(other.datasets) & set(layout_class.datasets)
        if other is not layout_class and taken:
            raise ConfigError(f"dataset name(s) {', '.join(sorted(taken))} taken by layout {other.name!r}")
    LAYOUTS[name] = layout_class
    return layout_class


def by_priority() -> list[type[Layout]]:
    """The registered layouts, the order auto detection tries them in."""
    return sorted(LAYOUTS.values(), key=lambda layout: -layout.priority)


def get_layout(name: str) -> type[Layout]:
    """The layout registered as ``name``; :class:`LayoutError` naming the known ones otherwise."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise LayoutError(f"unknown layout {name!r} (expected 'auto', {', '.join(repr(x) for x in LAYOUTS)})") from None


def dataset_names() -> list[str]:
    """Every dataset name a layout reads (``--dataset`` choices)."""
    return [dataset for layout in LAYOUTS.values() for dataset in layout.datasets]


def layout_for_dataset(dataset: str) -> type[Layout]:
    """The layout reading ``dataset`` (``"dcase2023"`` -> the DCASE 2022-2025 layout)."""
    for layout in LAYOUTS.values():
        if dataset in layout.datasets:
            return layout
    raise ConfigError(f"--dataset: unknown dataset {dataset!r} (expected one of {', '.join(dataset_names())})")
