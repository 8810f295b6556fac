"""Domain-aware machine IDs for DCASE 2021-2025: the source domain must not swamp the target.

From 2022 on each section has 990 source and only 10 target training clips (2021: 1000 and 3).
Fitted on one machine ID per section, a detector's notion of "normal" is the source domain's,
and every target normal clip looks shifted. Here each section's training clips are fitted as
**two IDs**, ``<section>_source`` and ``<section>_target`` (:func:`training_ids`; an underscore,
not a slash, because some detectors put IDs into file and array names), so the 10 target clips get
normal statistics of their own. A test clip of section ``SS`` is scored against both of its
section's domain IDs and gets the **smaller normalised score** (:func:`score_sections`): "is it
normal for either operating condition?". The domain of a test clip is never used (that of a
2022+ evaluation clip is unknown), and its decision threshold is the one of the ID that gave the
minimum (``thresholds.json`` is fitted per domain ID from the training scores).

Normalised score. The minimum compares scores of two IDs fitted on 990 and 10 clips, so it only
makes sense on a scale that is the same for both: "how far above a typical normal clip of that
ID". ``multistat``'s scores are that already (per ID and group, log distance over the median
leave-one-out distance in units of its spread: :mod:`asd.detectors.multistat`), so they are taken
as they are (the detector class declares it: ``scores_normalised_per_id``). Every other detector's
raw score is not (the embedding
detectors' distances are in per-ID standardised units, but a k-NN distance among 10 clips is
larger than among 990; an autoencoder's error does not depend on the ID at all): its scores
against an ID are standardised with that ID's training scores (``train_scores.csv``: median and
standard deviation, floored), :func:`normalise`.

:data:`RULE` says which way a run fits its IDs: ``"domains"`` (the above) or ``"pooled"`` (one ID
per section, source and target together, as before). The choice was measured by the worst of
AUC(source) and AUC(target) on the synthetic years (docs/dcase_years.md).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .detectors import get_detector

logger = logging.getLogger(__name__)

#: The two domains of DCASE 2021-2025, in the order candidates are tried (a tie keeps the source).
DOMAINS = ("source", "target")
#: ``"domains"``: one ID per section and domain; ``"pooled"``: one ID per section (module docstring).
RULE = "domains"
RULES = ("domains", "pooled")
#: A section is fitted per domain only when each of its domains has at least this many training clips;
#: otherwise as one pooled ID. Below four clips ``multistat``'s spread of leave-one-out distances is
#: floored (two or three clips, :data:`asd.detectors.multistat.LOG_SPREAD_FLOOR`), so a domain ID's
#: "normalised" score is not on the scale the minimum compares (docs/dcase_years.md has the numbers).
MIN_DOMAIN_CLIPS = 4
#: Floor of the training-score spread used by :func:`normalise` (relative to the median's magnitude).
MIN_RELATIVE_SPREAD = 1e-3

_SECTION_NAME = re.compile(r"^section_(?P<section>\d\d)_", re.IGNORECASE)


def domain_id(section: str, domain: str) -> str:
    """The machine ID of one section's domain, e.g. ``"00_target"``."""
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {', '.join(DOMAINS)}, got {domain!r}")
    return f"{int(section):02d}_{domain}"


def training_ids(clips: pd.DataFrame, *, rule: str | None) -> list[str]:
    """Machine IDs to fit a machine type's training clips with.

    Parameters
    ----------
    clips : DataFrame
        Training clips of one machine type (columns ``machine_id``, ``section``, ``domain``).
    rule : str or None
        ``"domains"``: :func:`domain_id` of each clip's section and domain, except in a section
        with fewer than :data:`MIN_DOMAIN_CLIPS` clips in one of its domains (that section is
        pooled, with a log line); ``"pooled"`` or None: the clip table's ``machine_id`` (the
        section for DCASE 2021+).

    Returns
    -------
    list of str, one per clip.
    """
    if rule in (None, "pooled"):
        return clips["machine_id"].astype(str).tolist()
    if rule != "domains":
        raise ValueError(f"domain rule must be one of {', '.join(RULES)}, got {rule!r}")
    counts = clips.groupby(["section", "domain"]).size().unstack("domain", fill_value=0)
    counts = counts.reindex(columns=list(DOMAINS), fill_value=0)
    pooled = set(counts.index[(counts < MIN_DOMAIN_CLIPS).any(axis=1)])
    for section in sorted(pooled):
        logger.info(
            "section %s: %s training clips (source, target), under %d in a domain: fitted as one ID",
            section,
            tuple(counts.loc[section]),
            MIN_DOMAIN_CLIPS,
        )
    return [
        str(m) if s in pooled else domain_id(s, d)
        for m, s, d in zip(clips["machine_id"], clips["section"], clips["domain"])
    ]


def section_of(path: str | os.PathLike, machine_id: str | None = None) -> str | None:
    """The section of a DCASE 2021+ clip from its file name (``section_SS_...``), else ``machine_id``."""
    match = _SECTION_NAME.match(Path(path).name)
    return match["section"] if match else machine_id


def candidates(section: str | None, known_ids) -> list[str]:
    """The domain IDs of ``section`` among ``known_ids`` (empty: the run has no domain IDs for it)."""
    if section is None:
        return []
    ids = [domain_id(section, d) for d in DOMAINS] if str(section).isdigit() else []
    return [m for m in ids if m in set(known_ids)]


def read_train_scores(type_dir: str | os.PathLike) -> pd.DataFrame | None:
    """A machine type's ``train_scores.csv`` in a run (None if it has none), IDs as text."""
    path = Path(type_dir) / "train_scores.csv"
    return pd.read_csv(path, dtype={"machine_id": str}) if path.is_file() else None


def normalise(scores: np.ndarray, train_scores: np.ndarray) -> np.ndarray:
    """``(scores - median) / spread`` of an ID's training scores, shape as ``scores``.

    ``spread`` is the training scores' standard deviation, floored at :data:`MIN_RELATIVE_SPREAD`
    times the median's magnitude (and 1e-12): with two or three training clips it can be ~0.
    """
    train_scores = np.asarray(train_scores, dtype=float)
    median = float(np.median(train_scores))
    spread = float(np.std(train_scores)) if len(train_scores) > 1 else 0.0
    spread = max(spread, MIN_RELATIVE_SPREAD * abs(median), 1e-12)
    return (np.asarray(scores, dtype=float) - median) / spread


def score_sections(
    score: Callable[[list[str]], np.ndarray],
    sections: Sequence[str | None],
    *,
    known_ids,
    detector_name: str,
    train_scores: pd.DataFrame | None = None,
) -> tuple[np.ndarray, list[str | None]]:
    """Score clips against their section's domain IDs; the smaller normalised score wins.

    Parameters
    ----------
    score : callable
        ``score(machine_ids) -> (n_clips,)`` raw scores of all the clips, each against the ID given.
    sections : sequence of str or None, length ``n_clips``
        Each clip's section (two digits), or None when unknown.
    known_ids : collection of str
        The run's IDs for this machine type (``thresholds.json``'s ``ids``).
    detector_name : str
        Scores of a detector that declares ``scores_normalised_per_id`` are compared as they are; others through
        :func:`normalise` with ``train_scores``.
    train_scores : DataFrame, optional
        ``train_scores.csv`` (``machine_id``, ``score``); required for other detectors.

    Returns
    -------
    (scores, ids) : ndarray ``(n_clips,)`` and list of str
        The raw score against the chosen ID (so that ID's threshold applies), and that ID. Clips
        whose section has no domain IDs (a pooled run, an unknown section) are scored against
        ``sections`` itself as the machine ID.
    """
    sections = list(sections)
    if not sections:
        return np.empty(0), []
    options = [candidates(s, known_ids) for s in sections]
    if not any(options):
        return np.asarray(score(sections), dtype=float), sections
    raw, normalised = [], []
    for domain in DOMAINS:
        ids = [
            next((m for m in opts if m.endswith(domain)), opts[0]) if opts else s for s, opts in zip(sections, options)
        ]
        values = np.asarray(score(ids), dtype=float)
        raw.append(values)
        normalised.append(_normalised(values, ids, detector_name, train_scores))
    raw_stack, norm_stack = np.stack(raw), np.stack(normalised)  # (2, n_clips)
    best = np.argmin(norm_stack, axis=0)
    chosen = [
        next((m for m in opts if m.endswith(DOMAINS[b])), s) if opts else s
        for s, opts, b in zip(sections, options, best)
    ]
    return raw_stack[best, np.arange(len(sections))], chosen


def _normalised(values: np.ndarray, ids: list, detector_name: str, train_scores: pd.DataFrame | None) -> np.ndarray:
    if get_detector(detector_name).scores_normalised_per_id:
        return values
    if train_scores is None:
        raise ValueError(f"{detector_name}: its scores are not normalised per ID; give the training scores")
    out = values.copy()
    train_ids = train_scores["machine_id"].astype(str).to_numpy()
    train_values = train_scores["score"].to_numpy(float)
    for m in sorted({str(i) for i in ids}):
        rows = np.asarray([str(i) == m for i in ids])
        reference = train_values[train_ids == m]
        if len(reference):
            out[rows] = normalise(values[rows], reference)
    return out
