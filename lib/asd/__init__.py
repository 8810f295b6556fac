"""Unsupervised anomalous sound detection (DCASE 2020 Task 2) toolkit.

Packages and modules by layer, data flowing one way (``docs/architecture.md``)::

    data -> features -> detectors -> scores -> metrics -> tables/figures -> notebooks -> report

- :mod:`asd.config`      every knob (one dataclass tree, validated when read, YAML round trip), paths
- :mod:`asd.errors`      the error classes (``ASDError`` and its kinds)
- :mod:`asd.atomic`      atomic writes (temporary file + rename, umask honoured)
- :mod:`asd.audio`       reading and writing WAV clips (soundfile), truncation and length checks
- :mod:`asd.data`        folder layouts (DCASE 2020, MIMII, any folder of recordings), clip table, ground truth
- :mod:`asd.synth`       the embedded deterministic synthetic dataset (primitives, machine families, writer)
- :mod:`asd.download`    the real DCASE 2020 archives: table, verified resumable transfer, safe extraction
- :mod:`asd.features`    one function per feature kind on one fast backend, librosa oracle, the feature store
- :mod:`asd.detectors`   the detectors by name: ``base`` (interface, registry, Keras fit loop), ``networks``,
  one module per family (autoencoders, embedding, multistat, id_classifier)
- :mod:`asd.thresholds`  per-ID decision thresholds at a chosen false-alarm rate
- :mod:`asd.explain`     where a clip departs from its machine ID's normal clips (mel bands, seconds, figure)
- :mod:`asd.pipeline`    train/evaluate a detector per machine type
- :mod:`asd.runfolder`   run folders complete or refused: built beside, swapped in, checked before use
- :mod:`asd.scoring`     ``asd score``: score new recordings with a trained run, sorted and explained
- :mod:`asd.metrics`     every metric: AUC, pAUC (DCASE 2020), precision/recall/F1, detection rates
- :mod:`asd.reconstruction`  what the autoencoders reconstruct (notebook 04)
- :mod:`asd.tables`      pandas tables and loaders for the notebooks and the report
- :mod:`asd.plots`       matplotlib figures only
- :mod:`asd.report`      the report: helpers the notebooks call, prose templates, the build (papermill, nbconvert, PDF)
- :mod:`asd.runtime`     process set-up for the command line (TensorFlow's start-up noise without a GPU)
- :mod:`asd.cli`         the ``asd`` command line, every subcommand
"""

__version__ = "0.2.0"
