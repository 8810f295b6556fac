"""Features for many clips at once: read, compute, cache, with a progress bar.

``kind`` names what is computed per clip:

- ``"image"``: the study's ``(64, 64)`` log-mel image (:func:`asd.features.log_mel_image`)
- ``"baseline"``: the DCASE baseline's ``(128, n_frames)`` log-mel, from which the 640-d vectors
  are cut on the fly (:func:`asd.features.frame_vectors`); caching the log-mel rather than the
  vectors keeps the cache 5x smaller.

A clip that cannot be read (see :class:`asd.errors.AudioError`) either stops the run
(``on_error="raise"``) or is skipped and reported (``on_error="skip"``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from .audio import read_clip
from .cache import FeatureCache
from .config import StudyConfig
from .errors import AudioError
from .features import baseline_log_mel, log_mel_image

logger = logging.getLogger(__name__)

KINDS = ("image", "baseline")


@dataclass
class Extracted:
    """Features of the clips that could be read, and the ones that could not."""

    features: list[np.ndarray] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  #: (path, problem)

    def stacked(self) -> np.ndarray:
        """All features stacked on a new first axis, e.g. ``(n_clips, 64, 64)``."""
        return np.stack(self.features) if self.features else np.empty((0,), dtype=np.float32)


def feature_namespace(kind: str, config: StudyConfig) -> str:
    """Cache namespace: the kind plus a fingerprint of everything the features depend on."""
    if kind == "image":
        section = {"audio": config.audio.__dict__, "image": config.image.__dict__}
    elif kind == "baseline":
        section = {"audio": config.audio.__dict__, "baseline": config.baseline.__dict__}
    else:
        raise ValueError(f"unknown feature kind {kind!r} (expected one of {KINDS})")
    return f"{kind}-" + hashlib.sha1(json.dumps(section, sort_keys=True).encode()).hexdigest()[:12]


def compute_features(samples: np.ndarray, *, kind: str, config: StudyConfig) -> np.ndarray:
    """One clip's features of ``kind`` from its samples (float32)."""
    rate = config.audio.sample_rate
    if kind == "image":
        return log_mel_image(samples, sample_rate=rate, config=config.image)
    if kind == "baseline":
        return baseline_log_mel(samples, sample_rate=rate, config=config.baseline)
    raise ValueError(f"unknown feature kind {kind!r} (expected one of {KINDS})")


def extract_features(
    paths: Sequence[str],
    *,
    kind: str,
    config: StudyConfig,
    cache: FeatureCache | None = None,
    on_error: str = "raise",
    progress: bool = True,
    description: str | None = None,
) -> Extracted:
    """Features of ``kind`` for every path, from the cache where possible.

    Parameters
    ----------
    paths : sequence of str
        WAV files.
    kind : {"image", "baseline"}
    config : StudyConfig
    cache : FeatureCache, optional
    on_error : {"raise", "skip"}
        What to do with a clip that cannot be read.
    progress : bool
        Show a tqdm bar.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    namespace = feature_namespace(kind, config)
    cache = cache or FeatureCache(None)
    result = Extracted()
    for path in tqdm(paths, desc=description or f"{kind} features", disable=not progress, unit="clip"):
        features = cache.get(path, namespace) if cache.root is not None and Path(path).is_file() else None
        if features is None:
            try:
                samples = read_clip(path, sample_rate=config.audio.sample_rate, channel=config.audio.channel)
                features = compute_features(samples, kind=kind, config=config)
            except AudioError as exc:
                if on_error == "raise":
                    raise
                logger.warning("skipped %s", exc)
                result.failed.append((str(path), exc.problem))
                continue
            cache.put(path, namespace, features)
        result.features.append(features)
        result.paths.append(str(path))
    return result

