"""``asd score``: its arguments, and the table, header and JSON it prints (the command line's front door is
:mod:`asd.cli`; the scoring itself is :func:`asd.scoring.score_paths`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ASDError
from .executor import add_cluster_options, executor_of

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["add_score"]


def add_score(subparsers) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score new WAV files or folders with a trained run, flag anomalies and say where they depart from normal",
        description="Score WAV files (folders: every .wav inside, recursively) with the detector of RUN_DIR and "
        "compare each score with its machine ID's decision threshold (fitted on training scores at the run's "
        "expected false-alarm rate, or refitted with --false-alarm-rate). Clips are listed from the highest score "
        "down; flagged clips get the mel bands (Hz) and seconds where they depart most from the normal training "
        "clips of their machine ID. Machine type and ID are read from DCASE/MIMII-style names and folders (e.g. "
        "fan/test/normal_id_00_00000001.wav, fan/id_00/normal/00000001.wav) unless given; a path naming a machine "
        "type the run lacks is refused (exit 2) unless --machine-type is given. Unreadable files are reported and "
        "skipped; the exit status is 2 (bad input) only if no file could be scored.",
    )
    parser.add_argument("--run", required=True, type=Path, metavar="RUN_DIR", help="folder written by `asd train`")
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="WAV files and/or folders")
    parser.add_argument("--out", type=Path, metavar="FILE.csv", help="also write the rows shown as CSV")
    parser.add_argument(
        "--json", action="store_true", help="print JSON (run, thresholds' false-alarm rate, one object per clip)"
    )
    parser.add_argument("--top", type=int, metavar="N", help="only the N highest-scored clips")
    parser.add_argument("--only-anomalous", action="store_true", help="only the clips above their threshold")
    parser.add_argument(
        "--false-alarm-rate",
        type=float,
        metavar="R",
        help="refit the thresholds from the run's training scores so that a fraction R (e.g. 0.01) of normal "
        "clips is expected above them (default: the run's, thresholds.false_alarm_rate of its config)",
    )
    parser.add_argument(
        "--figures", type=Path, metavar="DIR", help="write a spectrogram + deviation-map PNG per flagged clip into DIR"
    )
    parser.add_argument("--machine-type", metavar="TYPE", help="machine type of every file (default: from the path)")
    parser.add_argument("--machine-id", metavar="XX", help="machine ID of every file (default: from the path)")
    parser.add_argument("--cache", type=Path, metavar="DIR", help="feature cache folder (default: none)")
    add_cluster_options(parser)
    parser.set_defaults(func=_run_score)


def _run_score(args) -> int:
    import json

    import pandas as pd

    from .atomic import write_csv_atomic
    from .inputs import check_machine_id, check_outputs
    from .run import Run
    from .scoring import collect_wav_files, score_paths
    from .thresholds import quantile_of

    if args.top is not None and args.top < 1:
        raise ASDError(f"--top must be at least 1, got {args.top}")
    if args.false_alarm_rate is not None:
        quantile_of(args.false_alarm_rate, key="--false-alarm-rate")
    check_machine_id(args.machine_id)
    check_outputs(out=args.out, figures=args.figures, inputs=[*args.paths, *collect_wav_files(args.paths)[0]])
    run = Run.load(args.run)  # once for the command
    summary = run.summary()
    with executor_of(args) as executor:
        table = score_paths(
            run,
            args.paths,
            machine_type=args.machine_type,
            machine_id=args.machine_id,
            false_alarm_rate=args.false_alarm_rate,
            figures_dir=args.figures,
            cache_dir=args.cache,
            progress=not (args.quiet or args.json),
            executor=executor,
        )
    scored = table[table["problem"] == ""]
    failed = table[table["problem"] != ""]
    shown = scored[scored["anomalous"] == "yes"] if args.only_anomalous else scored
    shown = shown.head(args.top) if args.top is not None else shown
    rates = table.attrs["false_alarm_rate"]
    n_anomalous = int((scored["anomalous"] == "yes").sum())
    for row in failed.itertuples():
        print(f"not scored: {_printable(row.path)}: {row.problem}", file=sys.stderr)
    root = Path(summary["data_root"] or ".")
    if summary["data_kind"] == "synthetic" and not all(Path(p).resolve().is_relative_to(root) for p in scored["path"]):
        print(
            "warning: this run was trained on synthetic data: real recordings will look anomalous to it",
            file=sys.stderr,
        )
    resolution = _threshold_resolution({t: run.thresholds(t) for t in summary["machine_types"]}, rates)
    if args.json:
        answer = _as_json(summary, rates, shown, table.attrs["departures"], failed)
        print(json.dumps({**answer, "threshold_resolution": resolution}, indent=2))
    else:
        print(_header(args.run, summary, rates, resolution))
        if not shown.empty:
            view = _display_table(shown, table.attrs["departures"])
            view = view.assign(path=view["path"].map(_printable))
            print(view.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print(
            f"{len(scored)} scored, {n_anomalous} anomalous, {len(failed)} not scored"
            + (f"; {len(shown)} shown" if len(shown) < len(scored) else "")
        )
    if args.out is not None:
        write_csv_atomic(args.out, pd.concat([shown, failed]) if len(failed) else shown, errors="surrogateescape")
        print(f"written to {args.out}", file=sys.stderr if args.json else sys.stdout)
    return 0 if len(scored) else 2


def _display_table(shown: pd.DataFrame, departures: dict) -> pd.DataFrame:
    """The score table as printed: a dash for a clip without machine ID, and each flagged clip's
    top bands with the direction of the departure (``+17.5 dB at 912 Hz``) instead of bare Hz."""
    from .explain import departure_text

    table = shown.drop(columns="problem").copy()
    table["machine_id"] = table["machine_id"].replace("", "\u2013")
    table["top_bands_hz"] = [
        departure_text(departures[p]["top_bands_hz"], departures[p]["top_bands_db"]) if p in departures else ""
        for p in table["path"]
    ]
    return table.rename(columns={"top_bands_hz": "departure"})


def _threshold_resolution(thresholds: dict[str, dict], rates: dict) -> dict | None:
    """What the training clips behind the thresholds can resolve: the fewest clips N of any
    machine ID (and which), and 1/N; a false-alarm rate below 1/N cannot be resolved on N clips.

    ``thresholds`` maps each machine type to its thresholds (:func:`asd.thresholds.load_thresholds`).
    """
    fewest = None
    for machine_type, fitted in thresholds.items():
        for machine_id, entry in fitted.get("ids", {}).items():
            if entry.get("n_train") and (fewest is None or entry["n_train"] < fewest[0]):
                fewest = (int(entry["n_train"]), machine_type, machine_id)
    if fewest is None:
        return None
    n, machine_type, machine_id = fewest
    rate = min(rates.values()) if rates else None
    return {
        "n_train": n,
        "machine": f"{machine_type} id {machine_id}",
        "resolvable_rate": 1.0 / n,
        "resolved": rate is None or rate >= 1.0 / n,
    }


def _printable(path: str) -> str:
    """A file name that is not UTF-8 (its bytes kept as surrogates) with those bytes written as ``\\xNN``."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _rate_text(rates: dict) -> str:
    values = sorted(set(rates.values()))
    if len(values) == 1:
        return f"{100 * values[0]:g}%"
    return ", ".join(f"{t} {100 * r:g}%" for t, r in sorted(rates.items()))


def _header(run_dir, summary: dict, rates: dict, resolution: dict | None = None) -> str:
    data = f"{summary['data_kind']} data (fingerprint {summary['data_fingerprint']}, {summary['data_root']})"
    line = f"run {run_dir}: {summary['model']} for {', '.join(summary['machine_types'])}, trained on {data}"
    if rates and resolution is not None and not resolution["resolved"]:
        n = resolution["n_train"]
        line += (
            f"\nthresholds: fitted for a false-alarm rate of {_rate_text(rates)} on as few as {n} training clips "
            f"({resolution['machine']}): rates below 1/{n} = {100 / n:.1f}% cannot be resolved on {n} clips, "
            "so a threshold is about the largest training score, not a measured rate"
        )
    elif rates:
        line += f"\nthresholds: expected false-alarm rate {_rate_text(rates)} of normal clips"
        line += " (fitted on the training clips' scores"
        line += f"; fewest per machine ID: {resolution['n_train']}, {resolution['machine']})" if resolution else ")"
    return line


def _as_json(summary: dict, rates: dict, shown: pd.DataFrame, departures: dict, failed: pd.DataFrame) -> dict:
    clips = []
    for row in shown.itertuples():
        clips.append(
            {
                "path": row.path,
                "machine_type": row.machine_type,
                "machine_id": row.machine_id or None,
                "score": float(row.score),
                "threshold": float(row.threshold),
                "anomalous": row.anomalous == "yes",
                "training_clip": row.training_clip == "yes",
                "note": row.note or None,
                "departure": departures.get(row.path),
            }
        )
    return {
        "run": summary,
        "false_alarm_rate": rates,
        "clips": clips,
        "not_scored": [{"path": row.path, "problem": row.problem} for row in failed.itertuples()],
    }
