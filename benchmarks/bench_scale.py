#!/usr/bin/env python
"""Throughput of ``asd train`` + ``asd evaluate`` in this process and on 1 and 2 local Dask workers.

``make bench-scale`` runs this script; it prints one Markdown table and the Amdahl estimate that
docs/scaling.md quotes. Every figure is measured here, on this machine:

- The data: the tiny synthetic dataset, all six machine types (``asd generate --size tiny``),
  generated once into a temporary folder; ``--size default`` for the study's dataset.
- One *pass*: :func:`asd.pipeline.train` then :func:`asd.pipeline.evaluate` of ``--model``
  (default ``multistat``) with an empty feature cache, so that the features are computed in the
  pass (on a cluster: in tasks of 64 clips, then one unit per machine type).
- Throughput: clips (training + test) per second of the pass, best of ``--repeats``. The local
  cluster's start (worker processes importing the toolkit) is timed apart: a cluster serves many
  passes.
- The serial part: the time the pass spends outside ``executor.map`` in this process (finding
  the clips, the data fingerprint, writing and hashing the run and result files, the metrics),
  measured in process. Amdahl's law then bounds the speed-up on ``N`` workers:
  ``1 / (s + (1 - s) / N)``, and no pass can use more workers than it has units at a time
  (six machine types; one task per 64 clips for the features).

Other work on the machine slows every figure: the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from asd.executor import DaskExecutor, Executor, InProcessExecutor  # noqa: E402


class Timed(Executor):
    """An executor that adds the wall time spent in its ``map`` calls to ``seconds``."""

    def __init__(self, inner: Executor):
        self.inner, self.seconds, self.distributed = inner, 0.0, inner.distributed

    def map(self, function, units, *, names=None):
        start = time.perf_counter()
        try:
            return self.inner.map(function, units, names=names)
        finally:
            self.seconds += time.perf_counter() - start


def one_pass(data: Path, work: Path, executor: Executor, model: str) -> tuple[float, float, int]:
    """Wall seconds of train + evaluate from an empty cache, seconds inside ``map``, clips processed."""
    from asd.pipeline import evaluate, train

    shutil.rmtree(work, ignore_errors=True)
    timed = Timed(executor)
    start = time.perf_counter()
    run = train(data, model=model, out=work / "run", cache_dir=work / "cache", progress=False, executor=timed)
    results = evaluate(data, run_dir=work / "run", cache_dir=work / "cache", progress=False, executor=timed)
    wall = time.perf_counter() - start
    clips = sum(run["n_train_clips"].values()) + int(results[["n_normal", "n_anomaly"]].sum().sum())
    return wall, timed.seconds, clips


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="multistat")
    parser.add_argument("--size", choices=("tiny", "default"), default="tiny")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-workers", type=int, default=2)
    args = parser.parse_args(argv)
    from asd.synth import generate_dataset

    with tempfile.TemporaryDirectory(prefix="asd-bench-scale-") as tmp:
        data, work = Path(tmp) / "data", Path(tmp) / "work"
        generate_dataset(data, size=args.size, seed=0, progress=False)
        print(
            f"load average at the start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores); model {args.model}, data "
            f"{args.size}"
        )
        rows, serial = [], None
        setups = [("in process", 0)] + [(f"{n} local worker{'s' * (n > 1)}", n) for n in range(1, args.max_workers + 1)]
        for label, workers in setups:
            start = time.perf_counter()
            executor = InProcessExecutor() if workers == 0 else DaskExecutor(workers=workers)
            started = time.perf_counter() - start
            with executor:
                passes = [one_pass(data, work, executor, args.model) for _ in range(args.repeats)]
            wall, in_map, clips = min(passes)
            if workers == 0:
                serial = (wall - in_map) / wall
            rows.append((label, clips, wall, clips / wall, started if workers else 0.0))
        print("\n| executor | clips per pass | pass (s) | clips/s | cluster start (s) |\n|---|---|---|---|---|")
        for label, clips, wall, rate, started in rows:
            print(f"| {label} | {clips} | {wall:.2f} | {rate:.1f} | {started:.1f} |")
        base = rows[0][3]
        print(f"\nserial part (in process, outside executor.map): s = {serial:.3f}")
        for n in (1, 2, 4, 8, 16, 64):
            print(
                f"Amdahl bound for {n:3d} workers: {1 / (serial + (1 - serial) / n):5.2f}x "
                f"({base / (serial + (1 - serial) / n):.0f} clips/s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
