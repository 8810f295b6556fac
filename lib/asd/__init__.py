"""Unsupervised anomalous sound detection (DCASE 2020 Task 2) toolkit.

Modules, one job each:

- :mod:`asd.config`    the study's knobs (one dataclass, YAML round trip) and project paths
- :mod:`asd.audio`     reading and writing WAV clips (soundfile), validation
- :mod:`asd.data`      layout discovery (DCASE 2020 dev/eval, original MIMII) and the clip table
- :mod:`asd.synth`     the embedded deterministic synthetic machine-sound dataset
- :mod:`asd.features`  log-mel images (64x64) and the DCASE baseline's 640-d frame vectors
- :mod:`asd.models`    Keras model builders (conv AE, dense AE, conv VAE)
- :mod:`asd.detectors` trainable/scorable detectors by name, saved to and loaded from a run folder
- :mod:`asd.embedding` log-mel statistics embeddings scored by k-NN / Mahalanobis distance per ID
- :mod:`asd.id_classifier` self-supervised MobileNetV2-style machine-ID classifier
- :mod:`asd.thresholds` per-ID decision thresholds at a chosen false-alarm rate (gamma fit on training scores)
- :mod:`asd.explain`   where a clip departs from its machine ID's normal training clips (mel bands, seconds, figure)
- :mod:`asd.scoring`   ``asd score``: score new recordings with a trained run, sorted and explained
- :mod:`asd.metrics`   every metric: AUC and pAUC as the DCASE 2020 evaluator computes them, precision/recall/F1
- :mod:`asd.pipeline`  train/evaluate a detector per machine type and write the result files
- :mod:`asd.cli`       the ``asd`` command line
- :mod:`asd.runtime`   process set-up for the command line (TensorFlow's start-up noise without a GPU)
"""

__version__ = "0.1.0"
