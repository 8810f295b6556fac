"""What a report build records about itself (``build.json``, ``build_info.json``): its data, models,
code and config, and its sizes and costs (wall and CPU seconds, load average, seconds per step)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import PROJECT_ROOT
from ..run import Run
from .study import WorkDir, display_path

__all__ = ["build_record", "cpu_seconds", "git_commit", "record_costs"]


def git_commit(root: Path = PROJECT_ROOT) -> tuple[str, bool]:
    """The checked-out commit and whether tracked files differ from it (``("unknown", False)``
    outside a git checkout)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, bool(status.strip())


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (kernels, workers)."""
    import resource

    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def record_costs(
    info: dict, out: Path, *, pdf: bool, timings: Mapping[str, float], started: tuple[float, float, float]
) -> None:
    """Add the build's sizes and costs to ``info`` (in place): file sizes, wall and CPU seconds,
    load average at start and end, seconds per step, the host's CPUs."""
    wall_start, cpu_start, load_start = started
    info["html_bytes"] = (out / "report.html").stat().st_size
    info["pdf_bytes"] = (out / "report.pdf").stat().st_size if pdf and (out / "report.pdf").is_file() else None
    info["wall_seconds"] = round(time.perf_counter() - wall_start, 1)
    info["cpu_seconds"] = round(cpu_seconds() - cpu_start, 1)
    info["load_average"] = {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)}
    info["step_seconds"] = {k: round(v, 1) for k, v in timings.items()}
    info["host_cpus"] = os.cpu_count()


def build_record(
    data_root: Path, workdir: WorkDir, parameters: Mapping[str, Any], config, *, real_root, timings: Mapping[str, float]
) -> dict[str, Any]:
    """What the report states about its build (``build.json``): data, models, code, config."""
    models = parameters["models"]
    first_run = Run.load(workdir.run(models[0])).info  # checked as every run is; its data kind is by content
    n_clips = sum(len(list((data_root / t).rglob("*.wav"))) for t in first_run["machine_types"])
    commit, dirty = git_commit()
    return {
        "data_root": display_path(data_root),
        "work_dir": display_path(workdir.root),
        "data_kind": first_run["data_kind"],
        "data_fingerprint": first_run["data_fingerprint"],
        "layout": first_run.get("data_layout"),
        "n_clips": n_clips,
        "machine_types": first_run["machine_types"],
        "models": list(models),
        "recommended_model": parameters["recommended_model"],
        "cases": parameters["cases"],
        "real_reference": display_path(real_root) if real_root else "",
        "epochs": parameters["epochs"],
        "quick": parameters["quick"],
        "seed": parameters["seed"],
        "commit": commit,
        "dirty": dirty,
        "asd_version": first_run.get("asd_version"),
        "config": config.to_dict(),
        "config_fingerprint": config.fingerprint(),
        "built": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "step_seconds": {k: round(v, 1) for k, v in timings.items()},
    }
