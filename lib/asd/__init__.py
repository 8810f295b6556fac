"""Unsupervised anomalous sound detection (DCASE 2020 Task 2) toolkit.

Modules, one job each:

- :mod:`asd.config`    the study's knobs (one dataclass, YAML round trip) and project paths
- :mod:`asd.audio`     reading and writing WAV clips (soundfile), validation
- :mod:`asd.data`      layout discovery (DCASE 2020 dev/eval, original MIMII) and the clip table
- :mod:`asd.synth`     the embedded deterministic synthetic machine-sound dataset
- :mod:`asd.features`  log-mel images (64x64) and the DCASE baseline's 640-d frame vectors
- :mod:`asd.cache`     the on-disk feature cache
- :mod:`asd.detectors` detectors by name (package: ``base`` interface/registry/fit loop, ``networks``
  Keras builders, ``streaming`` batches, ``autoencoders``, ``embedding``, ``id_classifier``)
- :mod:`asd.thresholds` per-ID decision thresholds (gamma fit on training scores), precision/recall/F1
- :mod:`asd.scoring`   ``asd score``: score new recordings with a trained run
- :mod:`asd.metrics`   AUC and pAUC as the DCASE 2020 evaluator computes them
- :mod:`asd.pipeline`  train/evaluate a detector per machine type and write the result files
- :mod:`asd.cli`       the ``asd`` command line
"""

__version__ = "0.1.0"
