#!/usr/bin/env python
"""Speed and memory benchmarks of the asd pipeline against the DCASE 2020 baseline's approach.

``make bench`` runs this script; it prints one table (Markdown) and the line::

    feature extraction speedup vs baseline-style: N.Nx

Every figure is measured here, on the same generated clips, on this machine:

features
    Clips per second, best of ``--repeats`` runs, the WAV files in the OS page cache (as after a
    first pass over a dataset). "cold cache" computes and writes the feature cache (an empty
    one per run), "warm cache" reads it back. ``baseline-style`` is the DCASE 2020 baseline's
    own loop, written here as the reference: per file ``librosa.load(path, sr=None,
    mono=False)``, ``librosa.feature.melspectrogram``, ``20 / power * log10(mel + eps)``, the
    5-frame 640-d vectors in float64, copied into one preallocated float64 matrix. The speedup
    line compares it with our pipeline delivering the same 640-d vectors (``extract_features``
    with a cold cache, then every vector cut from the log-mels): like for like. The floor is
    pure WAV decoding with soundfile on one core.
training / scoring
    ``asd.detectors.DETECTORS`` (every registered model), fitted on the features of ``--clips``
    10 s clips for ``--epochs`` epochs: clips per second per epoch (fit time including model
    building), then scoring clips per second (features in memory).
memory
    Peak resident memory (``VmHWM``) of a fresh process that loads the features of
    ``--memory-clips`` 11 s (ToyCar-size) clips from the feature cache and fits one model for
    ``--epochs`` epochs, as ``asd train`` does; one process per model.
report
    The wall time of the last ``make report`` (``report/build_info.json``), if one was built.

Options: ``--quick`` (few clips: a smoke run), ``--clips N``, ``--memory-clips N``,
``--training-only`` (training and scoring speed only: the GPU run), ``--features-only``,
``--skip-memory``, ``--in-memory`` (memory figures with features as arrays, not memory-mapped),
``--json FILE``. Other work on the machine slows every figure: the load average is printed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WORKDIR = PROJECT_ROOT / "data" / "bench"
SAMPLE_RATE = 16000
#: Targets of issue #6 (2 cores).
TARGET_SPEEDUP = 10.0
TARGET_DECODE_FRACTION = 0.5
TARGET_PEAK_RSS_MB = 1500.0
TARGET_REPORT_SECONDS = 600.0
MEMORY_TAG = "MEMORY-RESULT "


# -- clips ---------------------------------------------------------------------------------


def generate_clips(
    folder: Path, *, n_clips: int, seconds: float, seed: int, machine_ids=("00", "02", "04", "06")
) -> list[str]:
    """``n_clips`` deterministic clips (noise, three tones, a slow modulation), 16-bit WAV.

    Files already there with the right size are kept, so a second run starts at once.
    Returns the paths, sorted. Names follow the DCASE layout (``normal_id_XX_NNNNNNNN.wav``).
    """
    from asd.audio import write_clip

    folder.mkdir(parents=True, exist_ok=True)
    n_samples = int(round(seconds * SAMPLE_RATE))
    expected_size = 44 + 2 * n_samples
    t = np.arange(n_samples) / SAMPLE_RATE
    paths = []
    for index in range(n_clips):
        machine_id = machine_ids[index % len(machine_ids)]
        path = folder / f"normal_id_{machine_id}_{index:08d}.wav"
        paths.append(str(path))
        if path.is_file() and path.stat().st_size == expected_size:
            continue
        rng = np.random.default_rng([seed, index])
        tones = rng.uniform(50, 6000, 3)
        signal = 0.05 * rng.standard_normal(n_samples)
        for tone, level in zip(tones, (0.2, 0.1, 0.05)):
            signal += level * np.sin(2 * np.pi * tone * t + rng.uniform(0, 2 * np.pi))
        signal *= 1.0 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.2, 2.0) * t)
        write_clip(path, 0.5 * signal / np.abs(signal).max())
    return sorted(paths)


# -- the DCASE 2020 baseline's way (the reference) -------------------------------------------


def baseline_style_vectors(
    paths: list[str], *, n_mels=128, frames=5, n_fft=1024, hop_length=512, power=2.0
) -> np.ndarray:
    """The DCASE 2020 baseline's ``list_to_vector_array``: every clip's 640-d vectors, float64.

    Written as the baseline's ``file_to_vector_array`` does it (one file at a time), so the
    comparison measures the approach, not a strawman.
    """
    import librosa

    dims = n_mels * frames
    dataset = None
    for index, path in enumerate(paths):
        y, sr = librosa.load(path, sr=None, mono=False)
        mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, power=power)
        log_mel = 20.0 / power * np.log10(mel + sys.float_info.epsilon)
        n_vectors = log_mel.shape[1] - frames + 1
        vectors = np.zeros((n_vectors, dims))
        for t in range(frames):
            vectors[:, n_mels * t : n_mels * (t + 1)] = log_mel[:, t : t + n_vectors].T
        if dataset is None:
            dataset = np.zeros((n_vectors * len(paths), dims), float)
        dataset[n_vectors * index : n_vectors * (index + 1), :] = vectors
    return dataset


# -- measuring -------------------------------------------------------------------------------


def best_seconds(function, *, repeats: int, setup=None, teardown=None) -> tuple[float, float]:
    """``(wall, cpu)`` seconds of the fastest of ``repeats`` calls of ``function``.

    ``setup()`` (untimed) makes the argument of each call and ``teardown(state)`` (untimed)
    cleans up after it. ``cpu`` is the process CPU time of that call, every thread included.
    """
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        state = setup() if setup else None
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        function(state) if setup else function()
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        best = min(best, (wall, cpu))
        if teardown:
            teardown(state)
    return best


class Table:
    """Rows of (section, what, value, unit, note), printed as one Markdown table."""

    def __init__(self):
        self.rows: list[dict] = []

    def add(self, section: str, what: str, value, unit: str = "", note: str = "") -> None:
        self.rows.append({"section": section, "what": what, "value": value, "unit": unit, "note": note})
        print(f"  {section:9s} {what:60s} {_fmt(value):>10s} {unit:8s} {note}", flush=True)

    def markdown(self) -> str:
        lines = ["| section | measure | value | unit | note |", "|---|---|---:|---|---|"]
        for row in self.rows:
            lines.append(f"| {row['section']} | {row['what']} | {_fmt(row['value'])} | {row['unit']} | {row['note']} |")
        return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,d}"
    return str(value)


def machine_info() -> dict:
    """CPU, cores, memory, OS, Python and library versions, GPU (if nvidia-smi sees one)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    gpu = None
    if shutil.which("nvidia-smi"):
        try:
            gpu = (
                subprocess.run(
                    ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                    capture_output=True,
                    text=True,
                    timeout=20,
                ).stdout.strip()
                or None
            )
        except (OSError, subprocess.SubprocessError):
            gpu = None
    versions = {}
    for package in ("numpy", "scipy", "librosa", "soundfile", "tensorflow", "keras"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    from asd.features import default_workers

    return {
        "cpu": cpu,
        "cores": default_workers(),
        "memory_gb": memory_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "gpu": gpu,
        "versions": versions,
    }


def _vm_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# -- sections --------------------------------------------------------------------------------


def bench_features(table: Table, paths: list[str], *, repeats: int, workers: int) -> dict:
    """Decode, baseline-style and our extraction rates on ``paths``; returns the key rates."""
    import hashlib

    import soundfile as sf
    from threadpoolctl import threadpool_limits

    from asd.audio import read_clip
    from asd.config import StudyConfig
    from asd.features import FeatureCache, content_key, extract_features, frame_vectors, read_pcm16_wav
    from asd.features import reference as librosa_reference

    n = len(paths)
    config = StudyConfig()
    frames = config.baseline.frames

    def fresh_cache():
        return FeatureCache(tempfile.mkdtemp(prefix="asd-bench-cache-"))

    def drop_cache(cache):
        shutil.rmtree(cache.root, ignore_errors=True)

    def measure(what: str, function, note: str = "", *, cold: bool = False, repeats_: int | None = None) -> float:
        """Add a clips/s row (best wall time) with the CPU time per clip; return clips/s."""
        kwargs = {"setup": fresh_cache, "teardown": drop_cache} if cold else {}
        wall, cpu = best_seconds(function, repeats=repeats_ or repeats, **kwargs)
        table.add(
            "features", what, n / wall, "clips/s", "; ".join(filter(None, [note, f"CPU {1e3 * cpu / n:.2f} ms/clip"]))
        )
        return n / wall

    for path in paths:  # every file in the OS page cache, for every contestant alike
        Path(path).read_bytes()

    decode = measure("WAV decode, soundfile, 1 core (the floor)", lambda: [sf.read(p, dtype="float32") for p in paths])
    measure("WAV decode, asd.features.read_pcm16_wav, 1 core", lambda: [read_pcm16_wav(p) for p in paths])

    # What keying the feature store on content costs (the bytes are the ones read for decoding, so
    # only the hash is extra), against a hash of size + times + inode that a rewrite also changes.
    data = [Path(p).read_bytes() for p in paths]
    measure(
        "store key: SHA-256 of the file bytes (asd.features.content_key), 1 core",
        lambda: [content_key(d) for d in data],
    )
    measure(
        "store key: BLAKE2b-128 of the file bytes, 1 core",
        lambda: [hashlib.blake2b(d, digest_size=16).digest() for d in data],
    )

    def stat_key(path):
        stat = os.stat(path)
        return hashlib.sha1(
            f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}|{stat.st_ino}".encode()
        ).digest()

    measure(
        "store key: SHA-1 of size, mtime_ns, ctime_ns, inode (for comparison)", lambda: [stat_key(p) for p in paths]
    )

    def ours_vectors(cache, n_workers=workers):
        extracted = extract_features(
            paths, kind="baseline", config=config, cache=cache, progress=False, workers=n_workers
        )
        for log_mel in extracted.features:
            frame_vectors(log_mel, frames=frames)

    def reference_one_thread():
        with threadpool_limits(limits=1, user_api="blas"):
            baseline_style_vectors(paths)

    # The speedup's two sides, measured in turns (A B A B ...) so that other work on the machine
    # hits both alike. The baseline is one process; NumPy's BLAS may use both cores for librosa's
    # mel product, so it runs with BLAS as it comes and on one thread, and the faster is the
    # reference (on a busy machine, BLAS threads that spin while waiting make the default slower).
    contestants = {
        "reference": (lambda _: baseline_style_vectors(paths), None, None),
        "reference_one": (lambda _: reference_one_thread(), None, None),
        "ours": (ours_vectors, fresh_cache, drop_cache),
    }
    best = {name: (float("inf"), float("inf")) for name in contestants}
    for _ in range(max(repeats, 1)):
        for name, (function, setup, teardown) in contestants.items():
            best[name] = min(
                best[name], best_seconds(function, repeats=1, setup=setup or (lambda: None), teardown=teardown)
            )

    def row(what, name, note=""):
        wall, cpu = best[name]
        table.add(
            "features", what, n / wall, "clips/s", "; ".join(filter(None, [note, f"CPU {1e3 * cpu / n:.2f} ms/clip"]))
        )
        return n / wall

    reference_default = row(
        "baseline 640-d vectors, DCASE baseline-style loop", "reference", "float64, one file at a time"
    )
    reference_one = row("baseline 640-d vectors, DCASE baseline-style loop, BLAS on 1 thread", "reference_one")
    reference = max(reference_default, reference_one)
    ours = row(
        f"baseline 640-d vectors, asd, cold cache, {workers} workers",
        "ours",
        "like for like: extract, cache, cut every vector",
    )
    ours_one = measure("baseline 640-d vectors, asd, cold cache, 1 worker", lambda c: ours_vectors(c, 1), cold=True)

    def extract(kind, n_workers=workers):
        return lambda cache=None: extract_features(
            paths, kind=kind, config=config, cache=cache, progress=False, workers=n_workers
        )

    for kind, label in (("baseline", "baseline log-mel (128 x 313)"), ("image", "image (64 x 64)")):
        measure(f"{label}, asd, no cache, {workers} workers", extract(kind))
        measure(
            f"{label}, asd, cold cache, {workers} workers",
            extract(kind),
            "computed and written to the cache",
            cold=True,
        )
        cache = fresh_cache()
        extract(kind)(cache)
        measure(
            f"{label}, asd, warm cache, {workers} workers",
            lambda kind=kind, cache=cache: extract(kind)(cache),
            "read from the cache",
        )
        drop_cache(cache)
    measure(
        "image (64 x 64), per-clip librosa (asd before #6)",
        lambda: [librosa_reference.log_mel_image(read_clip(p), config=config.image) for p in paths],
        "asd.features.reference.log_mel_image, 1 core",
        repeats_=max(1, repeats // 2),
    )

    speedup = ours / reference
    reference_cpu = min(best["reference"][1], best["reference_one"][1])
    cpu_speedup = reference_cpu / best["ours"][1]
    table.add(
        "features",
        "speedup: asd vectors vs baseline-style (cold cache)",
        speedup,
        "x",
        f"target >= {TARGET_SPEEDUP:.0f}x; vs the faster baseline-style row",
    )
    table.add(
        "features",
        "CPU-time ratio: baseline-style CPU / asd CPU per clip",
        cpu_speedup,
        "x",
        "less disturbed by other work than the wall-clock ratio",
    )
    table.add("features", "speedup on 1 worker", ours_one / reference, "x")
    table.add(
        "features", "asd vectors / soundfile decode floor", ours / decode, "", f"target >= {TARGET_DECODE_FRACTION}"
    )
    return {
        "decode": decode,
        "reference": reference,
        "ours": ours,
        "ours_one_worker": ours_one,
        "speedup": speedup,
        "cpu_speedup": cpu_speedup,
    }


def _config_for_epochs(epochs: int):
    from asd.config import StudyConfig

    config = StudyConfig()
    from asd.detectors import DETECTORS

    config.training.epochs = {name: epochs for name in DETECTORS}
    config.training.default_epochs = epochs
    return config


def _machine_ids(paths: list[str]) -> list[str]:
    return [Path(p).name.split("_")[2] for p in paths]


def bench_training(table: Table, paths: list[str], *, epochs: int, cache_dir: Path, models: list[str]) -> None:
    """Fit and score every model on the features of ``paths`` (from the cache)."""
    from asd.detectors import DETECTORS
    from asd.features import FeatureCache, extract_features

    config = _config_for_epochs(epochs)
    cache = FeatureCache(cache_dir)
    ids = _machine_ids(paths)
    features = {}
    device = "CPU"
    try:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        device = (
            f"GPU ({gpus[0].name})"
            if gpus
            else f"CPU ({tf.config.threading.get_intra_op_parallelism_threads() or 'all'} threads)"
        )
    except ImportError:
        pass
    for name in models:
        detector_class = DETECTORS[name]
        kind = detector_class.feature_kind
        if kind not in features:
            features[kind] = extract_features(paths, kind=kind, config=config, cache=cache, progress=False).features
        detector = detector_class(config)
        try:
            start = time.perf_counter()
            detector.fit(features[kind], ids, progress=False)
            fit_seconds = time.perf_counter() - start
            start = time.perf_counter()
            detector.score(features[kind], ids)
            score_seconds = time.perf_counter() - start
        except Exception as exc:  # noqa: BLE001 - report and go on with the other models
            table.add("training", f"{name}: failed", f"{type(exc).__name__}: {exc}"[:80])
            continue
        table.add(
            "training",
            f"{name}: fit, {len(paths)} clips x {epochs} epoch(s)",
            len(paths) * epochs / fit_seconds,
            "clips/s",
            f"{fit_seconds:.1f} s on {device}",
        )
        table.add(
            "scoring",
            f"{name}: score {len(paths)} clips (features in memory)",
            len(paths) / score_seconds,
            "clips/s",
            f"{score_seconds:.1f} s",
        )


def memory_child(args) -> None:
    """In a fresh process, as ``asd train`` does for one machine type: print the peak RSS as JSON.

    Features come from the feature cache as a memory-mapped pack (``mmap=True``, what
    :func:`asd.pipeline.train` asks for; ``--in-memory`` loads them as arrays instead), then
    the model is fitted and scores its training clips.
    """
    from asd.detectors import DETECTORS
    from asd.features import FeatureCache, extract_features

    paths = generate_clips(Path(args.workdir) / "toycar", n_clips=args.memory_clips, seconds=11.0, seed=1)
    config = _config_for_epochs(args.epochs)
    detector_class = DETECTORS[args.memory_child]
    rss_start = _vm_kb("VmRSS")  # Python, NumPy, asd; a detector imports TensorFlow when it needs it
    extracted = extract_features(
        paths,
        kind=detector_class.feature_kind,
        config=config,
        cache=FeatureCache(Path(args.workdir) / "cache"),
        progress=False,
        mmap=not args.in_memory,
    )
    feature_mb = sum(f.nbytes for f in extracted.features) / 1e6
    rss_loaded = _vm_kb("VmRSS")
    ids = _machine_ids(extracted.paths)
    start = time.perf_counter()
    detector = detector_class(config)
    detector.fit(extracted.features, ids, progress=False)
    fit_seconds = time.perf_counter() - start
    peak_fit = _vm_kb("VmHWM")
    detector.training_scores(extracted.features, ids)
    peak_train = _vm_kb("VmHWM")

    def mb(kb: int) -> float:
        return kb * 1024 / 1e6

    result = {
        "model": args.memory_child,
        "clips": len(extracted.paths),
        "mmap": not args.in_memory,
        "feature_mb": feature_mb,
        "rss_start_mb": mb(rss_start),
        "rss_loaded_mb": mb(rss_loaded),
        "peak_fit_mb": mb(peak_fit),
        "peak_mb": mb(peak_train),
        "fit_seconds": fit_seconds,
    }
    print(MEMORY_TAG + json.dumps(result), flush=True)


def bench_memory(
    table: Table, *, workdir: Path, n_clips: int, epochs: int, models: list[str], in_memory: bool = False
) -> dict:
    """Peak RSS of fitting each model on ``n_clips`` 11 s clips, one fresh process per model."""
    from asd.config import StudyConfig
    from asd.detectors import DETECTORS
    from asd.features import FeatureCache, extract_features

    paths = generate_clips(workdir / "toycar", n_clips=n_clips, seconds=11.0, seed=1)
    cache = FeatureCache(workdir / "cache")
    for kind in sorted({DETECTORS[name].feature_kind for name in models}):
        start = time.perf_counter()
        extracted = extract_features(paths, kind=kind, config=StudyConfig(), cache=cache, progress=False, mmap=True)
        seconds = time.perf_counter() - start
        table.add(
            "memory", f"{kind} features of {n_clips} 11 s clips into the cache and a pack", n_clips / seconds,
            "clips/s",
            f"{seconds:.1f} s (cold only on the first run of this workdir)",
        )  # fmt: skip
        del extracted
    frames = 1 + int(11.0 * SAMPLE_RATE) // 512 - 4
    baseline_gb = n_clips * frames * 640 * 8 / 1e9
    table.add(
        "memory",
        f"DCASE baseline float64 vector matrix, {n_clips} 11 s clips",
        baseline_gb * 1000,
        "MB",
        "computed (n_vectors x 640 x 8 B), not run",
    )
    peaks = {}
    for name in models:
        command = [
            sys.executable, str(Path(__file__).resolve()), "--memory-child", name, "--workdir", str(workdir),
            "--memory-clips", str(n_clips), "--epochs", str(epochs), *(["--in-memory"] if in_memory else []),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith(MEMORY_TAG)]
        if done.returncode != 0 or not lines:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            table.add("memory", f"{name}: failed (exit {done.returncode})", tail[:80])
            continue
        result = json.loads(lines[-1][len(MEMORY_TAG) :])
        peaks[name] = result["peak_mb"]
        verdict = "ok" if result["peak_mb"] <= TARGET_PEAK_RSS_MB else "OVER"
        table.add(
            "memory",
            f"{name}: peak RSS, train on {result['clips']} 11 s clips ({epochs} epoch(s))",
            result["peak_mb"],
            "MB",
            f"{verdict} (target <= {TARGET_PEAK_RSS_MB:.0f}); features {result['feature_mb']:.0f} MB "
            f"({'memory-mapped' if result['mmap'] else 'in memory'}); RSS at start {result['rss_start_mb']:.0f} MB, "
            f"after loading {result['rss_loaded_mb']:.0f} MB; fit {result['fit_seconds']:.0f} s",
        )
    return peaks


def report_time(table: Table) -> None:
    info_path = PROJECT_ROOT / "report" / "build_info.json"
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        seconds = float(info["wall_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        table.add("report", "make report wall time", "not measured", "", f"no {info_path.relative_to(PROJECT_ROOT)}")
        return
    verdict = "ok" if seconds <= TARGET_REPORT_SECONDS else "OVER"
    table.add(
        "report",
        "make report wall time (last build)",
        seconds / 60,
        "min",
        f"{verdict} (target <= 10 min); built {info.get('built', '?')}",
    )


# -- main ------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 clips, 400 memory clips, 1 repeat")
    parser.add_argument("--clips", type=int, help="10 s clips for the speed figures (default 1000)")
    parser.add_argument("--memory-clips", type=int, help="11 s clips for the memory figures (default 4000)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per fit (default 1)")
    parser.add_argument("--repeats", type=int, help="timing repeats, best kept (default 3)")
    parser.add_argument("--workers", type=int, help="feature threads (default: all cores)")
    parser.add_argument("--models", nargs="+", help="only these models (default: every registered one)")
    parser.add_argument(
        "--workdir", type=Path, default=DEFAULT_WORKDIR, help=f"generated clips and cache (default {DEFAULT_WORKDIR})"
    )
    parser.add_argument(
        "--training-only", action="store_true", help="only training and scoring speed (e.g. on a GPU machine)"
    )
    parser.add_argument("--skip-memory", action="store_true", help="no peak-RSS measurement")
    parser.add_argument("--features-only", action="store_true", help="only the feature extraction figures")
    parser.add_argument(
        "--in-memory", action="store_true", help="memory figures with features loaded as arrays, not memory-mapped"
    )
    parser.add_argument("--json", type=Path, help="also write the table and machine facts to this JSON file")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from asd.runtime import configure_allocators

    configure_allocators()  # as asd's command line does, before TensorFlow starts: the figures are asd train's
    args.clips = args.clips or (64 if args.quick else 1000)
    args.memory_clips = args.memory_clips or (400 if args.quick else 4000)
    args.repeats = args.repeats or (1 if args.quick else 3)
    if args.memory_child:
        memory_child(args)
        return 0

    import logging

    logging.basicConfig(level=logging.WARNING)
    from asd.detectors import DETECTORS
    from asd.features import default_workers

    workers = args.workers or default_workers()
    models = args.models or list(DETECTORS)
    unknown = [m for m in models if m not in DETECTORS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(DETECTORS)}")
    info = machine_info()
    load_before = os.getloadavg()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB RAM, {info['os']}, Python "
        f"{info['python']}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + f"; GPU: {info['gpu'] or 'none'}")
    print(f"load average before: {load_before[0]:.2f} (other work on the machine slows every figure)")
    print(f"generating / reusing {args.clips} clips of 10 s in {args.workdir} ...", flush=True)
    paths = generate_clips(args.workdir / "clips10", n_clips=args.clips, seconds=10.0, seed=0)
    table = Table()
    rates = {}
    started = time.perf_counter()
    if not args.training_only:
        rates = bench_features(table, paths, repeats=args.repeats, workers=workers)
    if not args.features_only:
        bench_training(table, paths, epochs=args.epochs, cache_dir=args.workdir / "cache", models=models)
    peaks = {}
    if not (args.training_only or args.skip_memory or args.features_only):
        peaks = bench_memory(
            table,
            workdir=args.workdir,
            n_clips=args.memory_clips,
            epochs=args.epochs,
            models=models,
            in_memory=args.in_memory,
        )
    if not (args.training_only or args.features_only):
        report_time(table)
    load_after = os.getloadavg()
    print()
    print(
        f"## asd benchmarks: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; "
        f"{args.clips} clips of 10 s, {args.memory_clips} of 11 s for memory; load average {load_before[0]:.2f} -> "
        f"{load_after[0]:.2f}"
    )
    print()
    print(table.markdown())
    print()
    if rates:
        print(
            f"feature extraction speedup vs baseline-style: {rates['speedup']:.1f}x (CPU-time ratio "
            f"{rates['cpu_speedup']:.1f}x)"
        )
    print(f"benchmarks took {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"machine": info, "load_average": [load_before[0], load_after[0]], "args": {k: str(v) for k, v in
                vars(args).items()},
                 "rows": table.rows, "rates": rates, "peak_rss_mb": peaks},
                indent=2,
            )
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
