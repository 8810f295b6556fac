#!/usr/bin/env python
"""Every detector on every data set present, judged by its worst case (``make eval-real``).

A detector chosen on the data one can see fails on recordings one cannot see; the default
detector is therefore chosen by the **worst** mean AUC across data sets, never by the mean on
the synthetic data. This script trains and scores every registered detector
(:data:`asd.detectors.DETECTORS`) with :func:`asd.pipeline.train` and
:func:`asd.pipeline.evaluate` on:

``mimii-fan-id00``
    The real MIMII fan id_00 sample in ``../shared/data/mimii-fan-id00-sample`` (10 normal
    training clips; 10 normal + 20 abnormal test clips), if present.
``dcase2020-dev-lite``
    The 36 real DCASE 2020 development clips in ``../shared/data/dcase2020-dev-lite``, if
    present: 3 normal + 3 anomalous *test* clips of one machine ID per machine type and no
    training clip. It is evaluated by leave-one-normal-out cross-fitting: for each normal clip,
    the detector is fitted on the other two normal clips of its machine and scores the
    held-out normal clip and the three anomalous ones; the scores of the three folds are pooled
    (3 normal and 9 anomalous scores per machine type). A tiny set: one AUC step is 1/27, and a
    detector fitted on two clips is not what a user would deploy; it is here because it is the
    only real recording of five of the six machine types available.
``--data DIR ...``
    Any DCASE 2020 (``<type>/{train,test}``) or MIMII (``<type>/id_XX/{normal,abnormal}``)
    folder; a folder without training clips is cross-fitted like the dev-lite set.
``mimii-fan-injected`` (semi-synthetic: not a real set in the worst cases)
    The MIMII sample's 20 normal clips, 12 for training, the other 8 as normal test clips and,
    once per fault character, with that fault added (:mod:`asd.synth.inject`: clicks, a tone,
    a level change, an amplitude modulation; one machine type per character). Printed as a
    second table, AUC per character: which kinds of fault a detector sees on real machine
    sound, and which it misses.
``synthetic``
    ``--synthetic DIR``, by default ``data/synthetic`` if it exists, else the ``tiny``
    synthetic set generated into the work folder.
``synthetic-dcase2021`` ... ``synthetic-dcase2025``
    Each year's synthetic miniature (``asd generate --format dcase20XX --size tiny``, or
    ``--year-size small``) generated into the work folder, unless ``--no-years``. Sets with
    domains are scored as the year's evaluator scores them (:mod:`asd.official`); their column
    is the **worst domain AUC**, the smaller of the mean AUC(source) and the mean AUC(target),
    and a second table shows source and target side by side.
``real-dcase2023`` (real clips in a DCASE 2023 development layout, built at run time)
    ``fan``, section 00, in the work folder (links, never committed): source domain the MIMII fan
    id_00 sample's channel 0 (12 normal training clips; 8 normal, 20 abnormal test clips), target
    domain the dev-lite fan clips (id_06: 2 normal training clips; 1 normal, 3 anomalous test
    clips), cross-fitted: three folds, each holding out another target normal clip, scores pooled.
    Left out by ``--no-shared`` or ``--no-real-years``, or when the shared clips are absent.

It prints one table, rows = detectors, columns = each set's mean AUC (mean over machine types
of the mean over machine IDs, as DCASE averages), ``worst_real`` (the smallest over the real
sets) and ``worst_all`` (over every set), and writes it to ``--out`` (CSV, atomically; default
``benchmarks/eval_real.csv``) with the per-machine-type AUC, pAUC and seconds beside it
(``<out stem>_per_type.csv``), both rewritten after every run so that the finished part of a
long run is kept. A detector that fails on a set gets NaN there (and counts as 0 in the worst
cases) and its error is printed; the others go on.

It also prints each set's ceiling with hindsight (:func:`asd.tables.hindsight_ceiling`): the
mean over machine types of the best AUC any detector run reached on that type. No detector can
choose that way, so a set whose ceiling is below a target cannot show that target with any of them.

Options: ``--models NAME ...`` (default: every registered detector), ``--config FILE`` (a YAML
study config, as ``asd train --config`` takes: e.g. other ``multistat`` groups), ``--epochs N``
(every Keras detector trains N epochs; default: the config's epochs), ``--quick`` (``--epochs
2``), ``--data DIR ...``, ``--synthetic DIR``, ``--no-synthetic``, ``--no-shared`` (skip the two
shared real sets and the injected set), ``--no-injected``, ``--work DIR`` (keep the runs there;
default a temporary folder), ``--no-cache`` (do not use the feature cache), ``--out FILE``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
SHARED_SETS = {
    "mimii-fan-id00": SHARED_DATA / "mimii-fan-id00-sample",
    "dcase2020-dev-lite": SHARED_DATA / "dcase2020-dev-lite",
}
#: The shared MIMII fan's normal clips with generated faults of each character (semi-synthetic).
INJECTED_SET = "mimii-fan-injected"
DEFAULT_SYNTHETIC = PROJECT_ROOT / "data" / "synthetic"
DEFAULT_OUT = PROJECT_ROOT / "benchmarks" / "eval_real.csv"
QUICK_EPOCHS = 2
PER_TYPE_COLUMNS = [
    "set",
    "real",
    "model",
    "machine_type",
    "auc",
    "pauc",
    "n_normal",
    "n_anomaly",
    "chance_sd",
    "seconds",
    "auc_source",
    "auc_target",
]
#: The DCASE 2021-2025 formats of the synthetic year sets.
YEARS = ("dcase2021", "dcase2022", "dcase2023", "dcase2024", "dcase2025")
#: The real-clip DCASE 2023 set built at run time (see the module docstring).
REAL_YEAR_SET = "real-dcase2023"

logger = logging.getLogger("eval_real")


@dataclass
class DataSet:
    """One data set of the table."""

    name: str
    root: Path
    real: bool
    cross_fit: bool = False  #: no training clips: leave-one-normal-out cross-fitting
    dataset: str | None = None  #: a DCASE 2021-2025 year: scored per domain (asd.official)
    folds: tuple[Path, ...] = ()  #: pre-built folds of a year set, their scores pooled


def registered_detectors() -> dict:
    """Every registered detector by name (importing the modules that register themselves)."""
    from asd.detectors import DETECTORS

    return DETECTORS


def has_training_clips(root: Path) -> bool:
    """True when every machine type of the set has training clips."""
    from asd.data import discover_clips

    table = discover_clips(root, require_train=False)
    return bool(table.groupby("machine_type")["split"].apply(lambda s: (s == "train").any()).all())


def collect_sets(args, work: Path) -> list[DataSet]:
    """The data sets present, real ones first."""
    sets = []
    if not args.no_shared:
        for name, root in SHARED_SETS.items():
            if root.is_dir():
                sets.append(DataSet(name, root, real=True))
            else:
                logger.warning("%s not found at %s: left out", name, root)
    for folder in args.data or []:
        root = Path(folder)
        sets.append(DataSet(root.resolve().name, root, real=True))
    mimii = SHARED_SETS["mimii-fan-id00"]
    if not args.no_shared and not args.no_injected and mimii.is_dir():
        sets.append(DataSet(INJECTED_SET, injected_set(mimii, work / "data" / INJECTED_SET), real=False))
    if not args.no_synthetic:
        if args.synthetic is not None:
            sets.append(DataSet("synthetic", Path(args.synthetic), real=False))
        elif DEFAULT_SYNTHETIC.is_dir():
            sets.append(DataSet("synthetic", DEFAULT_SYNTHETIC, real=False))
        else:
            from asd.synth import generate_dataset

            root = work / "data" / "synthetic-tiny"  # beside, never inside, the run folders
            logger.info("no data/synthetic: generating the tiny synthetic set into %s", root)
            generate_dataset(root, size="tiny", seed=0, progress=False)
            sets.append(DataSet("synthetic-tiny", root, real=False))
    sets += year_sets(args, work)
    seen: dict[str, int] = {}
    for data_set in sets:
        data_set.cross_fit = not data_set.folds and not has_training_clips(data_set.root)
        seen[data_set.name] = seen.get(data_set.name, 0) + 1
        if seen[data_set.name] > 1:  # two folders of the same name: keep both columns
            data_set.name = f"{data_set.name}-{seen[data_set.name]}"
    return sets


def year_sets(args, work: Path) -> list[DataSet]:
    """The real-clip DCASE 2023 set (when the shared clips are there) and each year's synthetic miniature."""
    sets = []
    mimii, lite = SHARED_SETS["mimii-fan-id00"], SHARED_SETS["dcase2020-dev-lite"]
    if not (args.no_shared or args.no_real_years) and mimii.is_dir() and lite.is_dir():
        folds = tuple(real_year_folds(mimii, lite, work / "data" / REAL_YEAR_SET))
        sets.append(DataSet(REAL_YEAR_SET, folds[0], real=True, dataset="dcase2023", folds=folds))
    if not args.no_years:
        from asd.synth import generate_dataset

        for year in YEARS:
            root = work / "data" / f"synthetic-{year}-{args.year_size}"
            generate_dataset(root, size=args.year_size, seed=0, format=year, progress=False)
            sets.append(DataSet(f"synthetic-{year}", root, real=False, dataset=year))
    return sets


def real_year_folds(mimii: Path, lite: Path, out: Path) -> list[Path]:
    """The ``real-dcase2023`` folds (module docstring): DCASE 2023 names linked to the shared real clips."""
    from asd.data import discover_clips

    source = discover_clips(mimii, require_train=False).sort_values("path")
    target = discover_clips(lite, machine_types=["fan"], require_train=False).sort_values("path")
    src_normal = source.loc[source.label == "normal", "path"].tolist()
    src_anomaly = source.loc[source.label == "anomaly", "path"].tolist()
    tgt_normal = target.loc[target.label == "normal", "path"].tolist()
    tgt_anomaly = target.loc[target.label == "anomaly", "path"].tolist()
    n_train = int(0.6 * len(src_normal))
    folds = []
    for k in range(len(tgt_normal)):
        fold = out / f"fold{k}"
        groups = [
            ("source", "train", "normal", src_normal[:n_train]),
            ("source", "test", "normal", src_normal[n_train:]),
            ("source", "test", "anomaly", src_anomaly),
            ("target", "train", "normal", tgt_normal[:k] + tgt_normal[k + 1 :]),
            ("target", "test", "normal", [tgt_normal[k]]),
            ("target", "test", "anomaly", tgt_anomaly),
        ]
        for domain, split, label, paths in groups:
            site = "A" if domain == "source" else "B"
            for i, path in enumerate(paths):
                name = f"section_00_{domain}_{split}_{label}_{i:04d}_rec_{site}.wav"
                link_clip(Path(path), fold / "fan" / split / name)
        folds.append(fold)
    return folds


def injected_set(root: Path, out: Path) -> Path:
    """The real normal clips of ``root`` (one machine) with faults of each character injected
    (:func:`asd.synth.inject.write_injected_set`): the first 60 % of them train, the rest test."""
    from asd.data import discover_clips
    from asd.synth.inject import write_injected_set

    table = discover_clips(root, require_train=False)
    normals = sorted(table.loc[table.label == "normal", "path"])
    machine_type = str(table.machine_type.iloc[0])
    return write_injected_set(normals, out, n_train=int(0.6 * len(normals)), machine_type=machine_type, seed=0)


def link_clip(source: Path, target: Path) -> None:
    """``target`` (parents created, an old one replaced) as a link to ``source``, else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    try:
        target.symlink_to(source.resolve())
    except OSError:  # no symlinks here: copy (small sets only come this way)
        shutil.copyfile(source, target)


def cross_fit_folds(root: Path, work: Path) -> list[Path]:
    """DCASE-layout folders, one per fold, for leave-one-normal-out cross-fitting.

    Fold ``k`` holds out the ``k``-th normal clip (by file name) of every machine type and ID:
    its ``train/`` links the other normal clips, its ``test/`` the held-out one and every
    anomalous clip. A machine ID needs at least two normal clips.
    """
    from asd.data import discover_clips
    from asd.errors import LayoutError

    table = discover_clips(root, require_train=False)
    table = table[table.split == "test"]
    normal_clips = table[table.label == "normal"]
    normals = {key: group.sort_values("path") for key, group in normal_clips.groupby(["machine_type", "machine_id"])}
    if not normals or min(len(g) for g in normals.values()) < 2:
        raise LayoutError(f"{root}: cross-fitting needs at least two normal test clips per machine ID")
    folds = []
    for k in range(max(len(g) for g in normals.values())):
        fold = work / f"fold{k}"
        for (machine_type, machine_id), group in normals.items():
            held = group.iloc[[k % len(group)]]
            for path in group["path"]:
                split = "test" if path in set(held["path"]) else "train"
                link_clip(Path(path), fold / machine_type / split / Path(path).name)
            same_machine = (table.machine_type == machine_type) & (table.machine_id == machine_id)
            anomalies = table[same_machine & (table.label == "anomaly")]
            for path in anomalies["path"]:
                link_clip(Path(path), fold / machine_type / "test" / Path(path).name)
        folds.append(fold)
    return folds


def run_one(data_set: DataSet, model: str, *, config, work: Path, cache_dir) -> pd.DataFrame:
    """Per-ID results (``asd.metrics.results_table``) of one detector on one set."""
    from asd.metrics import results_table
    from asd.pipeline import evaluate, train

    if work.exists():  # a kept work folder from an earlier run: start afresh
        shutil.rmtree(work)
    work.mkdir(parents=True)
    if data_set.dataset is not None:
        return run_year(data_set, model, config=config, work=work, cache_dir=cache_dir)
    if not data_set.cross_fit:
        train(data_set.root, model=model, out=work / "run", config=config, cache_dir=cache_dir, progress=False)
        return evaluate(data_set.root, run_dir=work / "run", cache_dir=cache_dir, progress=False)
    scores = []
    for k, fold in enumerate(cross_fit_folds(data_set.root, work / "folds")):
        train(fold, model=model, out=work / f"run{k}", config=config, cache_dir=cache_dir, progress=False)
        evaluate(fold, run_dir=work / f"run{k}", cache_dir=cache_dir, progress=False)
        scores.append(pd.read_csv(work / f"run{k}" / "results" / "scores.csv", dtype={"machine_id": str}))
    return results_table(pd.concat(scores, ignore_index=True), model=model, max_fpr=config.max_fpr)


def run_year(data_set: DataSet, model: str, *, config, work: Path, cache_dir) -> pd.DataFrame:
    """Per-(machine type, section) official results (:func:`asd.official.section_results`) on a year set,
    the scores of its folds pooled."""
    from asd.official import section_results
    from asd.pipeline import evaluate, train

    scores = []
    for k, fold in enumerate(data_set.folds or (data_set.root,)):
        run = work / f"run{k}"
        train(fold, model=model, out=run, config=config, cache_dir=cache_dir, progress=False, dataset=data_set.dataset)
        evaluate(fold, run_dir=run, cache_dir=cache_dir, progress=False, dataset=data_set.dataset)
        scores.append(pd.read_csv(run / "results" / "scores.csv", dtype={"machine_id": str, "section": str}))
    return section_results(pd.concat(scores, ignore_index=True), dataset=data_set.dataset, max_fpr=config.max_fpr)


def per_type_means(results: pd.DataFrame) -> pd.DataFrame:
    """Per machine type: mean AUC and pAUC over its IDs, test clips, and ``chance_sd``.

    ``chance_sd`` is the standard deviation of that mean AUC for a detector scoring at random
    (:func:`asd.metrics.chance_auc_sd` per ID, IDs independent): how far luck alone moves it.
    """
    from asd.metrics import chance_auc_sd

    if "auc_source" in results:  # a year set: per domain; "auc" is the worse domain, counts over both
        results = results.assign(
            auc=results[["auc_source", "auc_target"]].min(axis=1),
            n_normal=results.n_source_normal + results.n_target_normal,
            n_anomaly=results.n_source_anomaly + results.n_target_anomaly,
        )
        means = per_type_means(results.drop(columns=["auc_source", "auc_target"]))
        domains = results.groupby("machine_type")[["auc_source", "auc_target"]].mean().reset_index()
        return means.merge(domains, on="machine_type")
    results = results.assign(chance_var=chance_auc_sd(results["n_normal"], results["n_anomaly"]) ** 2)
    grouped = results.groupby("machine_type")
    means = grouped[["auc", "pauc"]].mean().join(grouped[["n_normal", "n_anomaly"]].sum())
    means["chance_sd"] = np.sqrt(grouped["chance_var"].sum()) / grouped.size()
    return means.reset_index()


def summarise(per_type: pd.DataFrame, sets: list[DataSet], models: list[str]) -> pd.DataFrame:
    """One row per detector: each set's mean AUC, ``worst_real`` and ``worst_all``."""
    means = per_type.groupby(["model", "set"])["auc"].mean().unstack("set") if len(per_type) else pd.DataFrame()
    if len(per_type) and "auc_source" in per_type and per_type["auc_source"].notna().any():
        # a set with domains: its worst domain, the smaller of the mean AUC(source) and the mean AUC(target)
        with_domains = per_type[per_type["auc_source"].notna()]
        by_domain = with_domains.groupby(["model", "set"])[["auc_source", "auc_target"]].mean().min(axis=1)
        for name, column in by_domain.unstack("set").items():
            means[name] = column
    table = pd.DataFrame(index=pd.Index(models, name="detector"))
    for data_set in sets:
        table[data_set.name] = means[data_set.name].reindex(models) if data_set.name in means else np.nan
    real = [s.name for s in sets if s.real]
    # a failed set (NaN) counts as the worst case: a detector must run everywhere
    table["worst_real"] = table[real].fillna(0.0).min(axis=1) if real else np.nan
    table["worst_all"] = table[[s.name for s in sets]].fillna(0.0).min(axis=1) if sets else np.nan
    return table.reset_index()


def markdown(table: pd.DataFrame) -> str:
    """The table in Markdown, AUCs to three decimals."""
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in table.itertuples(index=False)]
    header = list(table.columns)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", help="detectors (default: every registered one)")
    parser.add_argument("--config", help="YAML study config (default: the study config)")
    parser.add_argument("--epochs", type=int, help="epochs of every Keras detector (default: the config's)")
    parser.add_argument("--quick", action="store_true", help=f"--epochs {QUICK_EPOCHS}")
    parser.add_argument("--data", nargs="+", help="more real DCASE 2020 or MIMII folders")
    parser.add_argument("--synthetic", help="synthetic data folder (default data/synthetic, else generate tiny)")
    parser.add_argument("--no-synthetic", action="store_true")
    parser.add_argument("--no-years", action="store_true", help="leave out the synthetic DCASE 2021-2025 sets")
    parser.add_argument(
        "--year-size", choices=("tiny", "small"), default="tiny", help="size of the synthetic year sets"
    )
    parser.add_argument("--no-real-years", action="store_true", help=f"leave out {REAL_YEAR_SET}")
    parser.add_argument("--no-shared", action="store_true", help="leave out the shared real sets in ../shared/data")
    parser.add_argument(
        "--no-injected",
        action="store_true",
        help=f"leave out {INJECTED_SET} (the MIMII fan's normal clips with injected faults)",
    )
    parser.add_argument("--work", help="folder for the runs (kept; default a temporary folder)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="summary CSV (default %(default)s)")
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    return args


def guarded(program: str, run: Callable[[], int]) -> int:
    """``run()``, with logging, TensorFlow's log level and allocators set up first; an error the toolkit
    raises on purpose (bad option, file or data) ends in one line ``PROGRAM: error: ...`` on
    stderr and status 2."""
    from asd.errors import ASDError
    from asd.runtime import configure_allocators, quiet_tensorflow

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_tensorflow()  # as asd's command line does: TensorFlow's start-up and graph noise
    configure_allocators()  # as asd's command line does: before TensorFlow starts
    try:
        return run()
    except ASDError as error:  # KeyError subclasses would print their message quoted
        message = error.args[0] if len(error.args) == 1 else str(error)
        print(f"{program}: error: {message}", file=sys.stderr)
        return 2


def check_models(models: list[str]) -> None:
    """Raise :class:`asd.errors.UnknownModelError` naming every unregistered name and the known ones."""
    from asd.errors import UnknownModelError

    detectors = registered_detectors()
    unknown = [m for m in models if m not in detectors]
    if unknown:
        raise UnknownModelError(f"unknown model(s) {', '.join(unknown)}; known models: {', '.join(detectors)}")


def main(argv=None) -> int:
    """Run the evaluation; a bad option or input ends in one line on stderr and status 2."""
    args = parse_args(argv)
    return guarded("eval_real", lambda: _run(args))


def _run(args) -> int:
    from tqdm.auto import tqdm

    from asd.atomic import write_csv_atomic
    from asd.config import DEFAULT_MODEL, load_config
    from asd.tables import hindsight_ceiling

    detectors = registered_detectors()
    models = list(args.models or detectors)
    check_models(models)
    config = load_config(args.config)
    epochs = QUICK_EPOCHS if args.quick and args.epochs is None else args.epochs
    if epochs is not None:
        config.training.epochs = {name: epochs for name in detectors}
        config.training.default_epochs = epochs
    cache_dir = False if args.no_cache else None

    with tempfile.TemporaryDirectory(prefix="eval_real-") as temporary:
        work = Path(args.work) if args.work else Path(temporary)
        sets = collect_sets(args, work)
        if not sets:
            print("no data set found", file=sys.stderr)
            return 1
        rows, failures = [], []
        out = Path(args.out)
        per_type_out = out.with_name(f"{out.stem}_per_type.csv")
        jobs = [(s, m) for s in sets for m in models]
        for data_set, model in tqdm(jobs, desc="eval-real", unit="run"):
            start = time.perf_counter()
            try:
                results = run_one(
                    data_set, model, config=config, work=work / "runs" / data_set.name / model, cache_dir=cache_dir
                )
            except Exception as error:  # noqa: BLE001  (one failure must not stop the table)
                failures.append(f"{model} on {data_set.name}: {type(error).__name__}: {error}")
                logger.error("FAILED %s", failures[-1])
                continue
            seconds = time.perf_counter() - start
            means = per_type_means(results)
            common = {"set": data_set.name, "real": data_set.real, "model": model}
            rows += [{**common, **r, "seconds": seconds} for r in means.to_dict("records")]
            # written after every run, so that a long run's finished part is kept
            per_type = pd.DataFrame(rows, columns=PER_TYPE_COLUMNS)
            write_csv_atomic(per_type_out, per_type.round(4))
            write_csv_atomic(out, summarise(per_type, sets, models).round(4))
    per_type = pd.DataFrame(rows, columns=PER_TYPE_COLUMNS)
    table = summarise(per_type, sets, models)
    write_csv_atomic(out, table.round(4))
    write_csv_atomic(per_type_out, per_type.round(4))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(
        f"eval-real: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} CPUs, load {load}); Keras epochs: {epochs or 'study config'}"
    )
    for data_set in sets:
        kind = "real" if data_set.real else "synthetic"
        how = "train/test split"
        if data_set.cross_fit:
            how = "leave-one-normal-out cross-fitting (a tiny set: read its AUCs as rough)"
        if data_set.dataset is not None:
            how = f"{data_set.dataset} layout, scored per domain" + (
                f", {len(data_set.folds)} folds pooled" if data_set.folds else ""
            )
        print(f"  {data_set.name}: {kind}, {data_set.root}, {how}")
    print("Mean AUC per set (mean over machine types); worst_real / worst_all: the smallest over the real / all sets")
    print(markdown(table))
    domains = per_type[per_type["auc_source"].notna()]
    if len(domains):
        print(
            "Sets with domains: mean AUC(source) | AUC(target) per set (each year's evaluator; the column above is the "
            "smaller)"
        )
        side = domains.groupby(["model", "set"], sort=False)[["auc_source", "auc_target"]].mean()
        side = side.apply(lambda r: f"{r.auc_source:.3f} / {r.auc_target:.3f}", axis=1).unstack("set")
        print(markdown(side.reindex(models).reset_index().rename(columns={"model": "detector"})))
    injected = per_type[per_type["set"] == INJECTED_SET]
    if len(injected):
        print(
            f"{INJECTED_SET}: AUC per injected fault character (real normal fan clips; semi-synthetic, not in "
            "worst_real)"
        )
        by_character = injected.assign(character=injected.machine_type.str.split(".").str[-1])
        print(
            markdown(by_character.pivot(index="model", columns="character", values="auc").reindex(models).reset_index())
        )
    if len(per_type) and len(models) > 1:
        ceiling = hindsight_ceiling(per_type, default=DEFAULT_MODEL if DEFAULT_MODEL in models else None)
        print(
            "Ceiling with hindsight: per set, the mean over machine types of the best AUC any detector above reached "
            "on that type (not a detector: it chooses after seeing the anomalies)"
        )
        print(markdown(ceiling.reset_index()))
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    print(f"written: {out} and {per_type_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
