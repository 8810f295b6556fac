#!/usr/bin/env python
"""Calibrate the synthetic data's difficulty against the DCASE 2020 baseline's published AUCs.

Two commands::

    python benchmarks/calibrate_synth.py check [--data data/synthetic] [--work runs/calibration]
                                               [--csv docs/synthetic_calibration.csv]
    python benchmarks/calibrate_synth.py sweep [--data ...] [--work ...] [--types fan pump ...]

``check`` generates the default synthetic data (if it is not there yet), trains ``dense_ae`` with
the report's settings (``asd.report.study_config``: 10 epochs, seed 0) exactly as ``asd train``
does (``--reuse``: keeps a run trained on byte-identical training clips), evaluates it as
``asd evaluate`` does, and prints its AUC beside the baseline's published
AUC on the real development set (:mod:`asd.synth.published`), per machine type and per machine
ID, with the verdict against the tolerances; ``--csv`` writes that table.

``sweep`` is how the per-ID severity table (:data:`asd.synth.machines.SEVERITY`) was chosen. The
normal clips do not depend on the fault severity, so ``dense_ae`` is trained once per machine
type on the default data's normal training clips; then every anomalous test clip of every ID is
generated again in memory at a grid of severity centres (each clip keeps its own random numbers
and its own place in the spread, exactly as the dataset writer would make it) and scored by the
same model. That gives AUC against the severity centre per ID in one training pass; the centre
that meets the published AUC is interpolated and printed as a proposed table. Only ``dense_ae``
is consulted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd

from asd.audio import read_clip
from asd.config import DEV_MACHINE_IDS, MACHINE_TYPES
from asd.detectors import get_detector
from asd.extraction import compute_features_batch
from asd.metrics import auc_pauc
from asd.pipeline import evaluate, train
from asd.report import study_config
from asd.synth import (
    FAULTS,
    MANIFEST_NAME,
    SEVERITY,
    clip_rng,
    clip_severity,
    generate_clip,
    generate_dataset,
    read_manifest,
)
from asd.synth.published import BASELINE_AUC, BASELINE_AUC_PER_ID, ID_TOLERANCE, SOURCE, TYPE_TOLERANCE

ROOT = Path(__file__).resolve().parents[1]
MODEL = "dense_ae"
#: Severity centres of the sweep.
GRID = (0.0, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0)


def train_clip_hashes(data: Path) -> dict[str, str]:
    """SHA-256 of every normal training clip of a generated dataset (from its manifest)."""
    manifest = read_manifest(data)
    if manifest is None:
        raise SystemExit(f"{data}: no complete synthetic dataset (no {MANIFEST_NAME})")
    return {r["relpath"]: r["sha256"] for r in manifest["clips"] if r["split"] == "train"}


def _prepare(data: Path, work: Path, machine_types: list[str], *, retrain: bool) -> tuple[Path, object]:
    """Generate the default data (if needed) and train dense_ae with the report's settings.

    A run is reused (unless ``retrain``) only if it was trained on byte-identical training clips:
    the fault severities change the anomalous test clips alone.
    """
    started = time.perf_counter()
    generate_dataset(data, size="default", seed=0, machine_types=list(MACHINE_TYPES), progress=False)
    print(f"data: {data} ({time.perf_counter() - started:.0f} s)", flush=True)
    config = study_config()
    run = work / MODEL
    trained = all((run / t / "detector.json").is_file() for t in machine_types)
    hashes = run / "train_clips.json"
    if trained and not retrain:
        same = hashes.is_file() and json.loads(hashes.read_text()) == train_clip_hashes(data)
        if not same:
            print(f"{run}: trained on other training clips; training again", flush=True)
            retrain = True
        else:
            print(f"{run}: trained on these very training clips; reused", flush=True)
    if retrain or not trained:
        started = time.perf_counter()
        train(
            data,
            model=MODEL,
            out=run,
            config=config,
            machine_types=machine_types,
            cache_dir=work / "cache",
            progress=False,
        )
        print(
            f"trained {MODEL} ({config.training.epochs_for(MODEL)} epochs) in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        hashes.write_text(json.dumps(train_clip_hashes(data), indent=0, sort_keys=True))
    return run, config


def comparison(results: pd.DataFrame) -> pd.DataFrame:
    """Ours against the published AUC: one row per machine ID and one (``machine_id`` "mean") per type."""
    rows = []
    for machine_type in [t for t in MACHINE_TYPES if t in set(results.machine_type)]:
        part = results[results.machine_type == machine_type]
        for r in part.itertuples():
            published = BASELINE_AUC_PER_ID[machine_type].get(r.machine_id, np.nan)
            rows.append(
                {
                    "machine_type": machine_type,
                    "machine_id": r.machine_id,
                    "auc_synthetic": r.auc,
                    "auc_published": published,
                    "tolerance": ID_TOLERANCE,
                }
            )
        rows.append(
            {
                "machine_type": machine_type,
                "machine_id": "mean",
                "auc_synthetic": part.auc.mean(),
                "auc_published": BASELINE_AUC[machine_type],
                "tolerance": TYPE_TOLERANCE,
            }
        )
    table = pd.DataFrame(rows)
    table["difference"] = table.auc_synthetic - table.auc_published
    table["within"] = table.difference.abs() <= table.tolerance
    return table.round({"auc_synthetic": 3, "auc_published": 3, "difference": 3})


def check(args) -> int:
    run, _ = _prepare(args.data, args.work, args.types, retrain=not args.reuse)
    started = time.perf_counter()
    results = evaluate(args.data, run_dir=run, cache_dir=args.work / "cache", progress=False)
    print(f"evaluated in {time.perf_counter() - started:.0f} s")
    table = comparison(results)
    print(f"\n{MODEL} on the default synthetic data vs the baseline on the real development set ({SOURCE})\n")
    print(table.to_string(index=False))
    types = table[table.machine_id == "mean"]
    print(
        f"\nmachine types within +-{TYPE_TOLERANCE}: {int(types.within.sum())}/{len(types)}; "
        f"machine IDs within +-{ID_TOLERANCE}: {int(table[table.machine_id != 'mean'].within.sum())}/"
        f"{int((table.machine_id != 'mean').sum())}"
    )
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


def _pcm(samples: np.ndarray) -> np.ndarray:
    """What reading the written 16-bit file gives back."""
    return (np.round(np.clip(samples.astype(np.float64), -1.0, 1.0) * 32767.0) / 32768.0).astype(np.float32)


def _anomaly_features(machine_type: str, machine_id: str, n_clips: int, config, grid) -> dict[float, list[np.ndarray]]:
    """Features of the ID's anomalous test clips re-made at every severity centre of ``grid``."""
    faults = FAULTS[machine_type]
    by_centre: dict[float, list[np.ndarray]] = {c: [] for c in grid}
    for index in range(n_clips):
        fault = faults[(index + int(machine_id)) % len(faults)]
        rng = clip_rng(0, machine_type, machine_id, "test", "anomaly", index)
        u = float(rng.uniform())
        state = rng.bit_generator.state
        clips = []
        for centre in grid:
            again = np.random.Generator(type(rng.bit_generator)())
            again.bit_generator.state = state
            clips.append(
                _pcm(
                    generate_clip(machine_type, machine_id, anomaly=fault, rng=again, severity=clip_severity(centre, u))
                )
            )
        for centre, features in zip(grid, compute_features_batch(clips, kind="baseline", config=config)):
            by_centre[centre].append(features)
    return by_centre


def _centre_for(target: float, aucs: list[float], grid) -> float:
    """The severity centre at which the (made monotone) AUC curve over ``grid`` meets ``target``."""
    curve = np.maximum.accumulate(np.asarray(aucs))
    if target <= curve[0]:
        return grid[0]
    if target >= curve[-1]:
        return grid[-1]
    return float(np.interp(target, curve + np.arange(curve.size) * 1e-9, grid))


def sweep(args) -> int:
    run, config = _prepare(args.data, args.work, args.types, retrain=args.retrain)
    rows, proposal = [], {}
    for machine_type in args.types:
        detector = get_detector(MODEL).load(run / machine_type, config)  # trained once, on the normal clips
        test = sorted((args.data / machine_type / "test").glob("normal_id_*.wav"))
        proposal[machine_type] = {}
        for machine_id in DEV_MACHINE_IDS[machine_type]:
            started = time.perf_counter()
            normal = [p for p in test if p.name.startswith(f"normal_id_{machine_id}_")]
            normal_scores = detector.score(
                compute_features_batch([read_clip(p) for p in normal], kind="baseline", config=config),
                [machine_id] * len(normal),
            )
            n_anomaly = len(list((args.data / machine_type / "test").glob(f"anomaly_id_{machine_id}_*.wav")))
            aucs = []
            for centre, features in _anomaly_features(machine_type, machine_id, n_anomaly, config, args.grid).items():
                scores = detector.score(features, [machine_id] * len(features))
                y = np.r_[np.zeros(len(normal_scores)), np.ones(len(scores))]
                auc, _ = auc_pauc(y, np.r_[normal_scores, scores], max_fpr=config.max_fpr)
                aucs.append(auc)
                rows.append({"machine_type": machine_type, "machine_id": machine_id, "centre": centre, "auc": auc})
            target = BASELINE_AUC_PER_ID[machine_type][machine_id]
            proposal[machine_type][machine_id] = round(_centre_for(target, aucs, args.grid), 3)
            print(
                f"{machine_type} {machine_id}: target {target:.3f}, now {SEVERITY[machine_type][machine_id]}, "
                f"proposed {proposal[machine_type][machine_id]}; AUC over {args.grid}: {np.round(aucs, 3).tolist()} "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    curves = pd.DataFrame(rows)
    if args.csv:
        curves.to_csv(args.csv, index=False)
    print("\nproposed SEVERITY:")
    for machine_type, ids in proposal.items():
        print(f'    "{machine_type}": {ids},')
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "sweep"])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "synthetic", help="the default synthetic data")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "calibration", help="runs and feature cache")
    parser.add_argument("--types", nargs="+", default=list(MACHINE_TYPES), choices=list(MACHINE_TYPES))
    parser.add_argument("--retrain", action="store_true", help="sweep: train again even if a run exists")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="check: evaluate the existing run if it was trained on byte-identical training clips",
    )
    parser.add_argument("--grid", type=float, nargs="+", default=list(GRID), help="sweep: severity centres")
    parser.add_argument("--csv", help="check: the comparison table; sweep: AUC per ID and severity centre")
    args = parser.parse_args(argv)
    return check(args) if args.command == "check" else sweep(args)


if __name__ == "__main__":
    sys.exit(main())
