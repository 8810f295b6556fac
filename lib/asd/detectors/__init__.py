"""Detectors: something fitted on normal training features of one machine type that scores clips.

A detector works on per-clip feature arrays (see :mod:`asd.features`), never on paths, so it is
easy to test. Higher score = more anomalous. Every detector is registered by name in
:data:`DETECTORS`; ``asd train --model NAME``, ``asd models`` and the report read that registry
and the class attributes (``feature_kind``, ``summary``, ``trains_in_epochs``,
``reconstructs_input``, ``settings_class``), never a list of names. What every detector must do
(fit, training scores, scores, a save and load round trip, determinism, a clear error for a bad
saved state) is one test parametrised over the registry, ``tests/test_detectors_contract.py``.

=========================  =========  ===============================================================
name                       features   score
=========================  =========  ===============================================================
``conv_ae``                image      MSE of the standardised 64x64 image against its reconstruction
``dense_ae``               baseline   mean reconstruction MSE of the clip's 640-d frame vectors
``conv_vae``               image      MSE of the [0, 1]-scaled image against the VAE's reconstruction
``embedding_knn``          baseline   distance of the clip's band statistics to the nearest normal clips of its ID
``embedding_mahalanobis``  baseline   Mahalanobis distance of the band statistics to its ID's normal Gaussian
``id_classifier``          baseline   -log p(own ID) of a machine-ID classifier, mean over 2 s patches
``multistat``              baseline   max over five band-statistic groups of the normalised distance to normal clips
=========================  =========  ===============================================================

``multistat`` is the recommended detector (:data:`asd.config.DEFAULT_MODEL`): what ``asd train``
fits when no ``--model`` is given.

Modules
    :mod:`~asd.detectors.base`
        The :class:`Detector` interface, the registry (:data:`DETECTORS`, :func:`register`,
        :func:`get_detector`), the one Keras fit loop (:func:`~asd.detectors.base.fit_keras`)
        and the saved-state check (:class:`~asd.detectors.base.DetectorStateError`).
    :mod:`~asd.detectors.neighbors`
        What the statistics detectors share: per-band statistics, per-ID rows and scales, the
        unknown-ID rule, and the one nearest-neighbour distance (scikit-learn's ``NearestNeighbors``).
    :mod:`~asd.detectors.networks`
        Every Keras network builder (``build_conv_ae`` ...).
    :mod:`~asd.detectors.streaming`
        Training batches cut on the fly from the log-mels (bounded memory).
    :mod:`~asd.detectors.autoencoders`, :mod:`~asd.detectors.embedding`, :mod:`~asd.detectors.id_classifier`,
    :mod:`~asd.detectors.multistat`
        One module per family; each registers its detectors on import. Any other module in this
        package is imported too (after these, by name), so a new family is one new file.

Add a detector
    Write one module: subclass :class:`Detector` (set ``name``, ``feature_kind`` (a name in
    :data:`asd.features.kinds.KINDS`), ``summary``; implement ``fit``, ``score``, ``save`` with
    :meth:`Detector.write_state`, ``load`` with :meth:`Detector.read_state`), name its knobs'
    dataclass, if any, in ``settings_class`` (it becomes the config section
    ``detectors.<name>``), and decorate it with :func:`register`. This package imports the
    module by itself. A family imports from :mod:`~asd.detectors.base` and lower layers only.
"""

from __future__ import annotations

from .autoencoders import ConvAEDetector, ConvVAEDetector, DenseAEDetector, KerasAutoencoder
from .base import DETECTORS, Detector, DetectorStateError, get_detector, register, reusing_compiled_models
from .embedding import EmbeddingKNNDetector, EmbeddingMahalanobisDetector
from .id_classifier import IDClassifierDetector
from .multistat import MultiStatDetector


def _import_other_families() -> None:
    """Import every other module of this package, so that its detectors register themselves."""
    import importlib
    import pkgutil
    import sys

    plumbing = {"base", "neighbors", "networks", "streaming", "windows"}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name not in plumbing and f"{__name__}.{module.name}" not in sys.modules:
            importlib.import_module(f"{__name__}.{module.name}")


_import_other_families()

__all__ = [
    "DETECTORS",
    "ConvAEDetector",
    "ConvVAEDetector",
    "DenseAEDetector",
    "Detector",
    "DetectorStateError",
    "EmbeddingKNNDetector",
    "EmbeddingMahalanobisDetector",
    "IDClassifierDetector",
    "KerasAutoencoder",
    "MultiStatDetector",
    "get_detector",
    "register",
    "reusing_compiled_models",
]
