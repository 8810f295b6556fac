"""The published difficulty profile of the real DCASE 2020 Task 2 development set.

AUC of the DCASE 2020 Task 2 baseline (a dense autoencoder on 5 stacked log-mel frames, the
project's ``dense_ae``) on the development set's test clips, per machine type and machine ID, as
published with the baseline:

    Y. Kawaguchi et al., dcase2020_task2_baseline, README.md, section "7. Check results"
    (https://github.com/y-kawagu/dcase2020_task2_baseline, commit 01f0f3398d5fbd26bcdf9b1589ce74d7eb8d6b0d).

The synthetic generator's per-ID fault severities (:data:`asd.synth.machines.SEVERITY`) are set so
that ``dense_ae`` lands near these figures on the default synthetic data; the targets are
:data:`TYPE_TOLERANCE` per machine type and :data:`ID_TOLERANCE` per machine ID.
"""

from __future__ import annotations

#: Where the figures come from.
SOURCE = (
    "y-kawagu/dcase2020_task2_baseline README.md (commit 01f0f3398d5fbd26bcdf9b1589ce74d7eb8d6b0d), "
    "result.csv of the baseline on the DCASE 2020 Task 2 development set"
)

#: Baseline AUC per machine type and machine ID on the real development set.
BASELINE_AUC_PER_ID: dict[str, dict[str, float]] = {
    "ToyCar": {"01": 0.828474, "02": 0.866307, "03": 0.639396, "04": 0.869477},
    "ToyConveyor": {"01": 0.793497, "02": 0.64243, "03": 0.744579},
    "fan": {"00": 0.539607, "02": 0.721866, "04": 0.622098, "06": 0.72277},
    "pump": {"00": 0.670769, "02": 0.609369, "04": 0.8886, "06": 0.734902},
    "slider": {"00": 0.963315, "02": 0.78809, "04": 0.946011, "06": 0.702247},
    "valve": {"00": 0.687311, "02": 0.674083, "04": 0.744, "06": 0.552833},
}

#: Baseline AUC per machine type (the mean over its IDs, as published).
BASELINE_AUC: dict[str, float] = {
    "ToyCar": 0.800914,
    "ToyConveyor": 0.726835,
    "fan": 0.651585,
    "pump": 0.72591,
    "slider": 0.849916,
    "valve": 0.664557,
}

#: How close (AUC) the synthetic data must bring ``dense_ae`` to the published figure per machine type.
TYPE_TOLERANCE = 0.05
#: ... and per machine ID.
ID_TOLERANCE = 0.10
