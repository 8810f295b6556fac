"""The ``asd`` command line, every subcommand: generate, train, evaluate, models, score, download, report.

Run ``asd --help`` or ``asd COMMAND --help``.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import traceback
from pathlib import Path

from . import __version__
from .cli_score import add_score
from .errors import ASDError, ConfigError
from .executor import add_cluster_options, executor_of
from .runtime import configure_allocators, quiet_tensorflow

logger = logging.getLogger("asd")


def _add_generate(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="write the embedded synthetic dataset (DCASE 2020 layout; --format for 2021-2025)",
        description="Write a deterministic synthetic machine-sound dataset in the DCASE 2020 Task 2 "
        "development layout: <out>/<machine_type>/{train,test}/{normal,anomaly}_id_XX_NNNNNNNN.wav, "
        "16 kHz mono 16-bit, 10 s clips (ToyCar 11 s). The same seed gives byte-identical files.",
    )
    parser.add_argument("--out", required=True, type=Path, help="dataset root to write")
    parser.add_argument(
        "--size",
        choices=("tiny", "small", "default"),
        default="default",
        help="tiny: tests; default: the study; small (dcase2021+ only): measurements",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--machine-types", nargs="+", metavar="TYPE", help="only these machine types")
    parser.add_argument(
        "--format",
        default="dcase2020",
        metavar="YEAR",
        help="layout: dcase2020 (default) or dcase2021 ... dcase2025 (sections, source/target domains with a "
        "domain shift, attribute CSVs; see docs/dcase_years.md)",
    )
    parser.add_argument(
        "--eval-names",
        action="store_true",
        help="dcase2021+: name the test clips as the evaluation sets do and write the ground truth to OUT/ground_truth",
    )
    parser.set_defaults(func=_run_generate)


def _existing_file_is_an_error(path: Path | None, option: str) -> None:
    """One clear line for a folder option (``--out``, ``--cache``) that names an existing file."""
    if path is not None and path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path}: is an existing file, expected a folder")


def _run_generate(args) -> int:
    from .synth import generate_dataset

    _existing_file_is_an_error(args.out, "--out")

    table = generate_dataset(
        args.out,
        size=args.size,
        seed=args.seed,
        machine_types=args.machine_types,
        progress=not args.quiet,
        format=args.format,
        eval_names=args.eval_names,
    )
    groups = ["machine_type", "split", "domain", "label"]
    if args.format == "dcase2020":
        groups.remove("domain")
    counts = table.groupby(groups).size().unstack(groups[1:], fill_value=0)
    print(f"{len(table)} clips in {args.out}")
    print(counts.to_string())
    return 0


def _add_train(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="fit one model per machine type on normal training clips",
        description="Fit MODEL (see `asd models`) on the normal clips in ROOT/<machine_type>/train/, one model "
        "per machine type, and save everything needed to score clips into RUN_DIR.",
    )
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        metavar="ROOT",
        help="recordings: a DCASE 2020 or MIMII dataset root, one folder per machine, or a flat folder of WAVs",
    )
    parser.add_argument(
        "--model",
        metavar="NAME",
        help=f"model name, see `asd models` (default: the recommended detector, {_default_model_name()})",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="RUN_DIR", help="run folder to write")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished run in RUN_DIR (the old run stays intact until the new one is complete)",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="YAML file overriding the study's defaults")
    parser.add_argument("--epochs", type=int, metavar="N", help="epochs (overrides the config for this model)")
    parser.add_argument("--machine-types", nargs="+", metavar="TYPE", help="only these machine types")
    parser.add_argument(
        "--machine-type",
        metavar="NAME",
        help="machine type of recordings whose folders do not name it (default: the folder's name)",
    )
    parser.add_argument(
        "--machine-id", metavar="ID", help="machine ID of recordings whose names do not give one (default: 00)"
    )
    _add_dataset_argument(parser)
    parser.add_argument(
        "--cache", type=Path, metavar="DIR", help="feature cache folder (default: ./cache or $ASD_CACHE_DIR)"
    )
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    add_cluster_options(parser)
    parser.set_defaults(func=_run_train)


def _default_model_name() -> str:
    from .config import DEFAULT_MODEL

    return DEFAULT_MODEL


def resolve_model(name: str | None) -> str:
    """``name``, or the recommended detector (:data:`asd.config.DEFAULT_MODEL`) when ``None``."""
    if name is not None:
        return name
    from .config import DEFAULT_MODEL

    return DEFAULT_MODEL


def _add_dataset_argument(parser) -> None:
    parser.add_argument(
        "--dataset",
        metavar="NAME",
        help="the dataset ROOT holds: dcase2020 ... dcase2025, mimii, folders (default: detected from the layout)",
    )


def _check_dataset(args) -> None:
    """``--dataset``: ROOT must read in that dataset's layout (one line naming the file or option otherwise)."""
    if args.dataset is None:
        return
    from .data import discover_clips

    names = {"machine_type": getattr(args, "machine_type", None), "machine_id": getattr(args, "machine_id", None)}
    table = discover_clips(
        args.data, dataset=args.dataset, machine_types=args.machine_types, require_train=False, **names
    )
    logger.info("%s read as %s (%d clips)", args.data, table.attrs["dataset"], len(table))


def _check_train_options(args, model: str) -> None:
    """Refuse option combinations ``asd train`` would otherwise resolve silently."""
    from .detectors import get_detector

    if args.epochs is not None:
        if args.epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {args.epochs}")
        if not get_detector(model).trains_in_epochs:
            raise ConfigError(
                f"--epochs {args.epochs}: the {model} detector does not train in epochs; leave --epochs out"
            )
    if args.machine_type is not None and args.machine_types and args.machine_type not in args.machine_types:
        raise ConfigError(
            f"--machine-type {args.machine_type} names the machine type of recordings whose folders do not say it, "
            f"but --machine-types {' '.join(args.machine_types)} leaves it out; give one of them"
        )


def _run_train(args) -> int:
    from .config import load_config
    from .pipeline import train
    from .runfolder import run_lock

    _existing_file_is_an_error(args.cache, "--cache")
    _check_dataset(args)
    config = load_config(args.config)
    model = resolve_model(args.model)
    _check_train_options(args, model)
    if args.epochs is not None:
        config.training.epochs[model] = args.epochs
    # a second `asd train --out` the same folder is refused, not raced; the cluster, if any, stopped after
    with run_lock(args.out), executor_of(args) as executor:
        run = train(
            args.data,
            model=model,
            out=args.out,
            config=config,
            machine_types=args.machine_types,
            cache_dir=False if args.no_cache else args.cache,
            progress=not args.quiet,
            overwrite=args.overwrite,
            machine_type=args.machine_type,
            machine_id=args.machine_id,
            dataset=args.dataset,
            executor=executor,
        )
    print(f"trained {run['model']} for {', '.join(run['machine_types'])} -> {args.out}")
    for item in run["skipped"]:
        print(f"skipped {item['path']}: {item['problem']}")
    return 0


def _add_evaluate(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score test clips and compute AUC/pAUC per machine type and ID",
        description="Score ROOT/<machine_type>/test/ clips with the models in RUN_DIR and write the DCASE "
        "files (anomaly_score_<type>_id_XX.csv, result.csv) and a tidy results.csv into RESULTS_DIR.",
    )
    parser.add_argument("--data", required=True, type=Path, metavar="ROOT", help="dataset root")
    parser.add_argument("--run", required=True, type=Path, metavar="RUN_DIR", help="folder written by `asd train`")
    parser.add_argument("--out", type=Path, metavar="RESULTS_DIR", help="results folder (default RUN_DIR/results)")
    parser.add_argument("--machine-types", nargs="+", metavar="TYPE", help="only these machine types")
    parser.add_argument(
        "--ground-truth",
        type=Path,
        metavar="FILE",
        help="labels of an evaluation set's unlabeled test clips: eval_data_list.csv (2020), a baseline list "
        "eval_data_list_20XX.csv, or the official evaluator's folder (ground_truth_data/, ground_truth_domain/, "
        "ground_truth_attributes/; 2021-2025); default: one of these in ROOT when it exists",
    )
    _add_dataset_argument(parser)
    parser.add_argument("--cache", type=Path, metavar="DIR", help="feature cache folder")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    add_cluster_options(parser)
    parser.set_defaults(func=_run_evaluate)


def _run_evaluate(args) -> int:
    from .data import find_ground_truth
    from .metrics import type_means
    from .pipeline import evaluate

    _existing_file_is_an_error(args.out, "--out")
    _existing_file_is_an_error(args.cache, "--cache")
    _check_dataset(args)
    ground_truth = args.ground_truth or find_ground_truth(args.data)
    if ground_truth is not None:
        logger.info("labels of unlabeled clips from %s", ground_truth)
    with executor_of(args) as executor:
        results = evaluate(
            args.data,
            run_dir=args.run,
            out=args.out,
            machine_types=args.machine_types,
            labels=ground_truth,
            cache_dir=False if args.no_cache else args.cache,
            progress=not args.quiet,
            dataset=args.dataset,
            executor=executor,
        )
    out = args.out or args.run / "results"
    if results.empty:
        print(f"no labelled test clips: scores written to {out}, no metrics")
        return 0
    if "auc_source" in results:  # DCASE 2021-2025: per-section AUCs and the official score
        from .year_results import summary_text

        print(summary_text(results, out))
        print(f"results written to {out}")
        return 0
    print(results.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    means = type_means(results)
    print()
    print(means.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"\nmean over machine types: AUC {means.auc.mean():.4f}  pAUC {means.pauc.mean():.4f}")
    print(f"results written to {out}")
    return 0


def _add_models(subparsers) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the model names and their trainable parameter counts",
        description="One line per model: its name, its trainable parameter count, and what it is.",
    )
    parser.set_defaults(func=_run_models)


def _run_models(args) -> int:
    from .detectors import DETECTORS

    for name, detector_class in DETECTORS.items():
        print(f"{name}\t{detector_class.n_trainable_parameters()}\t{detector_class.summary}")
    return 0


def _add_download(subparsers) -> None:
    from .config import MACHINE_TYPES
    from .download import ENV_BASE_URL, help_text
    from .download.archives import YEARS

    parser = subparsers.add_parser(
        "download",
        help="fetch the real DCASE 2020 Task 2 data (Zenodo), verified and extracted",
        description=help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--to", required=True, type=Path, metavar="DIR", help="download folder (DIR/dev, DIR/eval)")
    parser.add_argument(
        "--machine-types",
        nargs="+",
        metavar="TYPE",
        default=list(MACHINE_TYPES),
        help=f"machine types to fetch (default: all of the year's; 2020: {' '.join(MACHINE_TYPES)})",
    )
    parser.add_argument(
        "--year",
        default="dcase2020",
        choices=YEARS,
        help="which challenge's records (default dcase2020); later years land in DIR/<year>/{dev,eval}",
    )
    parser.add_argument(
        "--sets", default="dev", metavar="SETS", help="comma-separated, of dev, additional, eval (default: dev)"
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        default=None,
        help=f"flat mirror: fetch URL/<archive name> instead of Zenodo (default: ${ENV_BASE_URL})",
    )
    parser.add_argument(
        "--checksums",
        type=Path,
        metavar="FILE",
        help="md5sum-style file ('<md5>  <name>' lines) overriding or adding to the built-in sums",
    )
    parser.add_argument(
        "--allow-unverified", action="store_true", help="fetch files without a known md5 (the ground-truth list) anyway"
    )
    parser.add_argument("--keep-archives", action="store_true", help="keep the zip files in DIR/.downloads")
    parser.add_argument(
        "--retries", type=int, default=5, metavar="N", help="resume attempts after a broken transfer (default 5)"
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="seconds to wait on a silent connection (default 60)"
    )
    parser.set_defaults(func=_run_download)


def _run_download(args) -> int:
    from .config import MACHINE_TYPES
    from .download import download_dataset, read_md5sums
    from .download.archives import CATALOGUES

    checksums = read_md5sums(args.checksums) if getattr(args, "checksums", None) else None
    year = getattr(args, "year", "dcase2020")
    types = None if (year != "dcase2020" and args.machine_types == list(MACHINE_TYPES)) else args.machine_types
    summary = download_dataset(
        args.to,
        year=year,
        machine_types=types,
        sets=args.sets,
        base_url=args.base_url,
        checksums=checksums,
        progress=not getattr(args, "quiet", False),
        allow_unverified=args.allow_unverified,
        keep_archives=args.keep_archives,
        retries=args.retries,
        timeout=args.timeout,
    )
    for item in summary:
        note = "" if item["verified"] else "  (not verified: no published md5)"
        print(f"{item['status']:8s} {item['name']:34s} -> {item['path']}{note}")
    catalogue = CATALOGUES[year]
    roots = sorted({str(Path(args.to) / catalogue[i["name"]].set_dir) for i in summary})
    print(f"data in {', '.join(roots)} (licence: CC BY-NC-SA 4.0, non-commercial use only)")
    return 0


def _add_report(subparsers) -> None:
    from .report.builder import add_arguments

    parser = subparsers.add_parser(
        "report",
        help="run the study's notebooks on a dataset and export the report (HTML, PDF)",
        description="Run notebooks 01-04 and report/report.ipynb with papermill and export report.html and report.pdf "
        "(the default data: report/; any other data folder: reports/<data-name>/). Same as `python -m asd.report`.",
    )
    add_arguments(parser)
    parser.set_defaults(func=_run_report)


def _run_report(args) -> int:
    from .report.builder import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asd",
        description="Unsupervised anomalous sound detection (DCASE 2020 Task 2): data, models, AUC/pAUC tables.",
    )
    parser.add_argument("--version", action="version", version=f"asd {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_generate, _add_train, _add_evaluate, _add_models, add_score, _add_download, _add_report):
        add(subparsers)
    for subparser in subparsers.choices.values():  # `asd COMMAND --debug` works too
        if "--debug" not in subparser._option_string_actions:
            subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _one_line(exc: BaseException) -> str:
    text = re.sub(r"\s*\n\s*", " ", str(exc)).strip()
    return text or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Every error ends in one line on stderr, ``asd COMMAND: error: ...``: status 2 for the
    errors the toolkit raises on purpose (:class:`asd.errors.ASDError`: bad input, a damaged
    run, a full disk), 1 for anything unexpected (with a hint to rerun with ``--debug``, which
    prints the traceback), 130 for Ctrl-C.
    """
    quiet_tensorflow()  # before anything imports TensorFlow (asd.runtime)
    configure_allocators()  # likewise: before TensorFlow starts threads or allocates
    where, debug = "asd", "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        where, debug = f"asd {args.command}", args.debug
        level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{where}: interrupted", file=sys.stderr)
        return 130
    except ASDError as exc:
        if debug:
            traceback.print_exc()
        print(f"{where}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the top-level handler: one line, not a traceback
        hint = "" if debug else " (rerun with --debug for the traceback)"
        if debug:
            traceback.print_exc()
        print(f"{where}: error: {type(exc).__name__}: {_one_line(exc)}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
