#!/usr/bin/env python
"""How many normal clips per machine are enough: mean AUC against the number of training clips.

A user of the toolkit has to decide how many normal recordings of a machine to collect before
trusting a detector. This script measures it on every data set with training clips that
``eval_real.py`` finds (the shared MIMII fan id_00 sample, its injected-fault version, the
synthetic data, ``--data DIR ...``; sets without training clips, such as dev-lite, are left out):
for each detector and each ``N`` of ``--train-clips``, it trains on ``N`` normal clips per
machine ID drawn at random from the set's training split (seeded; ``--repeats`` draws, one when
``N`` is every clip), scores the set's whole test split with :func:`asd.pipeline.evaluate`,
averages each ID's AUC over the draws, and reports the mean over machine types (of the mean
over IDs), as ``make eval-real`` does. Sizes above an ID's training clips are left out for
that set.

It prints one table per set (rows: detectors, columns: ``N``) with ``chance_upper`` (the upper
end of the central 95 % of a detector scoring at random on that test split,
:func:`asd.metrics.chance_upper`), and writes ``--out`` (CSV, atomically; default
``benchmarks/learning_curve.csv``): one row per set, detector and ``N``.

Options: ``--train-clips N ...`` (default 2 5 10 20 50), ``--repeats R`` (default 5),
``--models NAME ...`` (default the three detectors without training epochs: ``multistat``,
``embedding_knn``, ``embedding_mahalanobis``), ``--config FILE``, ``--data``, ``--synthetic``,
``--no-synthetic``, ``--no-shared``, ``--no-injected``, ``--work DIR`` (scratch; each run is removed once
scored), ``--no-cache``, ``--out``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_real import PROJECT_ROOT, check_models, collect_sets, guarded, link_clip, markdown, per_type_means  # noqa: E402

DEFAULT_OUT = PROJECT_ROOT / "benchmarks" / "learning_curve.csv"
DEFAULT_SIZES = (2, 5, 10, 20, 50)
DEFAULT_MODELS = ("multistat", "embedding_knn", "embedding_mahalanobis")
COLUMNS = ["set", "real", "model", "train_clips", "repeats", "auc", "pauc", "chance_upper"]


def subset_folder(table: pd.DataFrame, out: Path, *, n_train: int, seed: int) -> Path:
    """A DCASE-layout folder of links: ``n_train`` training clips per machine ID, drawn at random
    (``seed``), and every test clip.

    Parameters
    ----------
    table : DataFrame
        :func:`asd.data.discover_clips` of the set (any layout).
    out : Path
        The folder to fill (created).
    """
    rng = np.random.default_rng(seed)
    keep_names = table.attrs.get("layout") == "dcase"
    train = table[table.split == "train"]
    chosen = []
    for _, group in train.groupby(["machine_type", "machine_id"], sort=True):
        paths = group.sort_values("path")
        chosen.append(paths.iloc[np.sort(rng.choice(len(paths), size=min(n_train, len(paths)), replace=False))])
    for number, row in enumerate(pd.concat([*chosen, table[table.split == "test"]]).itertuples()):
        source = Path(row.path)
        # other layouts say the ID and the label in folder names: DCASE names say them in the file name
        name = source.name if keep_names else f"{row.label}_id_{row.machine_id}_{number:08d}.wav"
        link_clip(source, out / row.machine_type / row.split / name)
    return out


def curve_point(
    table: pd.DataFrame, model: str, *, n_train: int, repeats: int, config, work: Path, cache_dir
) -> pd.DataFrame:
    """Per-ID results of ``model`` trained on ``n_train`` clips per ID, AUC and pAUC averaged over draws
    (``table``: :func:`asd.data.discover_clips` of the set)."""
    from asd.pipeline import evaluate, train

    available = table[table.split == "train"].groupby(["machine_type", "machine_id"]).size()
    draws = 1 if n_train >= available.max() else repeats
    results = []
    for draw in range(draws):
        folder = subset_folder(table, work / f"data{draw}", n_train=n_train, seed=draw)
        train(folder, model=model, out=work / f"run{draw}", config=config, cache_dir=cache_dir, progress=False)
        results.append(evaluate(folder, run_dir=work / f"run{draw}", cache_dir=cache_dir, progress=False))
        shutil.rmtree(work / f"run{draw}")
        shutil.rmtree(folder)
    stacked = pd.concat(results, ignore_index=True)
    keys = ["machine_type", "machine_id"]
    averaged = stacked.groupby(keys)[["auc", "pauc"]].mean()
    counts = stacked.groupby(keys)[["n_normal", "n_anomaly"]].first()  # the same test split in every draw
    return averaged.join(counts).reset_index().assign(draws=draws)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-clips", type=int, nargs="+", default=list(DEFAULT_SIZES), metavar="N")
    parser.add_argument("--repeats", type=int, default=5, help="random draws of the training clips per N (default 5)")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--config", help="YAML study config (default: the study config)")
    parser.add_argument("--data", nargs="+", help="more DCASE 2020 or MIMII folders with training clips")
    parser.add_argument("--synthetic", help="synthetic data folder (default data/synthetic, else generate tiny)")
    parser.add_argument("--no-synthetic", action="store_true")
    parser.add_argument("--no-shared", action="store_true", help="leave out the shared real sets in ../shared/data")
    parser.add_argument(
        "--no-injected", action="store_true", help="leave out the MIMII fan's clips with injected faults"
    )
    parser.add_argument("--work", help="scratch folder (default a temporary one); each run is removed once scored")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="CSV (default %(default)s)")
    args = parser.parse_args(argv)
    if min(args.train_clips) < 1:
        parser.error(f"--train-clips must be at least 1, got {min(args.train_clips)}")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    return args


def main(argv=None) -> int:
    """Run the measurement; a bad option or input ends in one line on stderr and status 2."""
    args = parse_args(argv)
    return guarded("learning_curve", lambda: _run(args))


def _run(args) -> int:
    from tqdm.auto import tqdm

    from asd.atomic import write_csv_atomic
    from asd.config import load_config
    from asd.data import discover_clips
    from asd.metrics import chance_upper

    check_models(args.models)
    config = load_config(args.config)
    cache_dir = False if args.no_cache else None
    sizes = sorted(set(args.train_clips))
    rows = []
    with tempfile.TemporaryDirectory(prefix="learning_curve-") as temporary:
        work = Path(args.work) if args.work else Path(temporary)
        args.no_years = args.no_real_years = True  # the curve is measured on sets without domains
        sets = [s for s in collect_sets(args, work) if not s.cross_fit]
        if not sets:
            print("no data set with training clips found", file=sys.stderr)
            return 1
        jobs = []
        for data_set in sets:
            table = discover_clips(data_set.root)  # once per set: every job of the set draws from it
            fewest = int(table[table.split == "train"].groupby(["machine_type", "machine_id"]).size().min())
            left_out = [n for n in sizes if n > fewest]
            if left_out:
                print(f"{data_set.name}: {fewest} training clips for its smallest machine ID; left out N = {left_out}")
            jobs += [(data_set, table, model, n) for model in args.models for n in sizes if n <= fewest]
        for data_set, table, model, n_train in tqdm(jobs, desc="learning curve", unit="run"):
            results = curve_point(
                table,
                model,
                n_train=n_train,
                repeats=args.repeats,
                config=config,
                work=work / "runs" / data_set.name / model / str(n_train),
                cache_dir=cache_dir,
            )
            means = per_type_means(results)
            rows.append(
                {
                    "set": data_set.name,
                    "real": data_set.real,
                    "model": model,
                    "train_clips": n_train,
                    "repeats": int(results["draws"].iloc[0]),
                    "auc": means["auc"].mean(),
                    "pauc": means["pauc"].mean(),
                    "chance_upper": chance_upper(means["chance_sd"]),
                }
            )
            write_csv_atomic(
                args.out, pd.DataFrame(rows, columns=COLUMNS).round(4)
            )  # a long run's finished part is kept
    curve = pd.DataFrame(rows, columns=COLUMNS)
    print(
        "Mean AUC (mean over machine types) against N, the normal training clips per machine ID "
        f"(averaged over up to {args.repeats} random draws of the N clips)"
    )
    for name, part in curve.groupby("set", sort=False):
        table = part.pivot(index="model", columns="train_clips", values="auc").reindex(args.models)
        table.columns = [f"N={n}" for n in table.columns]
        print(f"{name} (chance_upper {part['chance_upper'].iloc[0]:.3f})")
        print(markdown(table.reset_index()))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
