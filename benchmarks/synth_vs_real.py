"""Print level, spectrum and temporal statistics of synthetic clips beside the real DCASE 2020 clips.

    python benchmarks/synth_vs_real.py [--synthetic data/synthetic] [--real ../shared/data/dcase2020-dev-lite]
                                       [--mimii ../shared/data/mimii-fan-id00-sample] [--csv out.csv]
    python benchmarks/synth_vs_real.py --write-stats

``--write-stats`` rewrites the committed statistics of the real clips (``report/real_stats/``:
levels, spectra, reduced log-mels; :mod:`asd.report.real_stats`) from ``--real`` and stops; the
report's comparison with real recordings is drawn from them in every checkout.

Medians per machine type, label and source (:func:`asd.synth.compare.summarize`); see
docs/synthetic_data.md for what each column means.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from asd.report.real_stats import REAL_STATS_DIR
from asd.synth.compare import compare_folders, summarize

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", default=str(ROOT / "data" / "synthetic"))
    parser.add_argument("--real", default=str(ROOT.parent / "shared" / "data" / "dcase2020-dev-lite"))
    parser.add_argument("--mimii", default=str(ROOT.parent / "shared" / "data" / "mimii-fan-id00-sample"))
    parser.add_argument("--per-group", type=int, default=3, help="clips per source, machine type, ID and label")
    parser.add_argument("--csv", help="also write the per-clip statistics here")
    parser.add_argument(
        "--write-stats", action="store_true", help="rewrite report/real_stats/ from the real clips (--real) and stop"
    )
    args = parser.parse_args(argv)
    if args.write_stats:
        from asd.report.real_stats import write_real_stats

        print(f"written {write_real_stats(args.real, REAL_STATS_DIR)}")
        return
    sources = {"synthetic": args.synthetic}
    committed = None
    for name, root in (("real", args.real), ("mimii", args.mimii)):
        if Path(root).is_dir():
            sources[name] = root
        elif name == "real" and (REAL_STATS_DIR / "clip_statistics.csv").is_file():
            print(f"{root}: not found; the real clips' statistics committed in {REAL_STATS_DIR} are used")
            committed = pd.read_csv(REAL_STATS_DIR / "clip_statistics.csv", dtype={"machine_id": str})
        else:
            print(f"{root}: not found; {name} clips left out")
    stats = compare_folders(sources, max_per_group=args.per_group)
    if committed is not None:
        stats = pd.concat([stats, committed], ignore_index=True)
    if args.csv:
        stats.to_csv(args.csv, index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.max_rows", 200):
        print(summarize(stats))


if __name__ == "__main__":
    main()
