#!/usr/bin/env python
"""Per-domain IDs or one pooled ID per section: which keeps the worse domain better (docs/dcase_years.md).

For each DCASE 2021-2025 folder given, the detector (default: the toolkit's default) is trained and
evaluated twice with :func:`asd.pipeline.train`/:func:`asd.pipeline.evaluate`: once with
``asd.domains.RULE = "pooled"`` (source and target training clips of a section are one ID) and
once with ``"domains"`` (an ID per section and domain, a test clip scored by the smaller normalised
score), here for every section whatever its clip counts (``asd.domains.MIN_DOMAIN_CLIPS`` set to 1:
the toolkit pools a section with fewer clips in a domain, and this measures what that avoids). Printed per set and
rule: the mean over machine types and sections of AUC(source) and
AUC(target) (as the year's evaluator defines them), ``worst`` (the smaller of the two), the mean
pAUC and the official score; and per rule the smallest ``worst`` over the sets, which decides.

Usage: ``python benchmarks/domain_rule.py DIR [DIR ...] [--model NAME] [--out FILE]``, e.g. on the
folders of ``asd generate --format dcase2023 --size small``. Writes ``--out`` (CSV, default
``benchmarks/domain_rule.csv``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = PROJECT_ROOT / "benchmarks" / "domain_rule.csv"


def compare(root: Path, *, model: str, work: Path, rules=("pooled", "domains")) -> list[dict]:
    """One row per rule: mean AUC(source), AUC(target), their minimum, pAUC and the official score on ``root``."""
    from asd import domains
    from asd.pipeline import evaluate, train

    rows = []
    saved = domains.RULE, domains.MIN_DOMAIN_CLIPS
    try:
        for rule in rules:
            domains.RULE, domains.MIN_DOMAIN_CLIPS = rule, 1
            run = work / f"{root.name}-{rule}"
            train(root, model=model, out=run, cache_dir=work / "cache", progress=False)
            results = evaluate(root, run_dir=run, cache_dir=work / "cache", progress=False)
            summary = pd.read_csv(run / "results" / "official_score.csv")
            source, target = results["auc_source"].mean(), results["auc_target"].mean()
            rows.append(
                {
                    "set": root.name,
                    "rule": rule,
                    "model": model,
                    "auc_source": source,
                    "auc_target": target,
                    "worst": min(source, target),
                    "pauc": results["pauc"].mean(),
                    "official_score": float(summary.loc[0, "official_score"]),
                }
            )
    finally:
        domains.RULE, domains.MIN_DOMAIN_CLIPS = saved
    return rows


def main(argv=None) -> int:
    from asd.atomic import write_csv_atomic
    from asd.config import DEFAULT_MODEL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="DCASE 2021-2025 folders (development layout)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="detector (default %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV to write (default %(default)s)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="domain_rule-") as work:
        for root in args.folders:
            rows += compare(root, model=args.model, work=Path(work))
            write_csv_atomic(args.out, pd.DataFrame(rows).round(4))
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("smallest worst-domain AUC over the sets:", table.groupby("rule")["worst"].min().round(3).to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
