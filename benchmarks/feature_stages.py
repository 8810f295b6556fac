#!/usr/bin/env python
"""CPU time per clip of each stage of the baseline-kind feature extraction, on one thread.

Prints a Markdown table (stage, CPU ms per clip): reading, the store's content key, decoding,
padding, windowing, the FFT, magnitudes, the mel product, dB, the store write, cutting the
640-d vectors, the whole extraction, and the DCASE baseline-style loop for comparison. Each
stage is timed alone (best of ``--repeats``), so the rows add up to a little more than the whole.
Uses (and generates if missing) the benchmark's 10 s clips::

    .venv/bin/python benchmarks/feature_stages.py --clips 100 --workdir data/bench
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_benchmarks import DEFAULT_WORKDIR, generate_clips  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=100, help="10 s clips (default 100)")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats, best kept (default 5)")
    parser.add_argument(
        "--workdir", type=Path, default=DEFAULT_WORKDIR, help=f"generated clips (default {DEFAULT_WORKDIR})"
    )
    args = parser.parse_args(argv)

    import librosa
    import scipy.fft
    from threadpoolctl import threadpool_limits

    from asd.config import StudyConfig
    from asd.features import FeatureCache, content_key, extract_features, frame_vectors, mel_plan
    from asd.features.wav import decode_pcm16, read_bytes

    paths = generate_clips(args.workdir / "clips10", n_clips=args.clips, seconds=10.0, seed=0)
    n = len(paths)
    batch = 4

    def each(function, items):
        """``function`` on every item, results dropped at once (as the extraction loop frees them)."""

        def run():
            for item in items:
                function(item)

        return run

    def timed(name, function, repeats=args.repeats, clips=n):
        best = float("inf")
        for _ in range(repeats):
            start = time.process_time()
            function()
            best = min(best, time.process_time() - start)
        print(f"| {name} | {1e3 * best / clips:.2f} |", flush=True)

    data = [read_bytes(p) for p in paths]
    signals = [decode_pcm16(d) for d in data]
    plan = mel_plan(sample_rate=16000, n_fft=1024, n_mels=128)
    n_frames = 1 + signals[0].shape[0] // 512
    padded = np.zeros((batch, (n_frames - 1) * 512 + 1024), np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(padded, 1024, axis=1)[:, ::512]
    windowed = np.empty(frames.shape, np.float32)
    spectrum = scipy.fft.rfft(frames * plan.window, axis=-1)
    magnitude = np.empty(spectrum.shape, np.float32)
    mel = np.ones((batch, 128, n_frames), np.float32)
    log_mels = [np.ones((128, n_frames), np.float32)] * n
    rounds = range(n // batch)

    def mel_product():
        for _ in rounds:
            out = np.zeros((batch, 128, n_frames), np.float32)
            for first, end, low, high, weights in plan.blocks:
                np.matmul(weights.T, magnitude[:, :, low:high].transpose(0, 2, 1), out=out[:, first:end])

    store = FeatureCache(tempfile.mkdtemp(prefix="asd-stages-"))
    print("| stage | CPU ms per clip |\n|---|---:|")
    timed("read the file (one read)", each(read_bytes, paths))
    timed("SHA-256 content key", each(content_key, data))
    timed("decode int16 -> float32", each(decode_pcm16, data))
    timed(
        "pad into the batch buffer",
        lambda: [padded.__setitem__((i % batch, slice(512, 512 + s.shape[0])), s) for i, s in enumerate(signals)],
    )
    timed("window the frames", lambda: [np.multiply(frames, plan.window, out=windowed) for _ in rounds])
    timed("rfft (scipy pocketfft, float32)", lambda: [scipy.fft.rfft(windowed, axis=-1) for _ in rounds])
    timed("abs, square", lambda: [np.square(np.abs(spectrum, out=magnitude), out=magnitude) for _ in rounds])
    timed("block-sparse mel product", mel_product)
    timed("log10 to dB", lambda: [np.log10(mel, out=np.empty_like(mel)) for _ in rounds])
    timed(
        "store write (.npy, atomic)",
        lambda: [store.put(content_key(b"%d" % i), "stages", m) for i, m in enumerate(log_mels)],
    )
    shutil.rmtree(store.root, ignore_errors=True)
    timed("cut every 640-d vector", each(frame_vectors, log_mels))
    config = StudyConfig()
    timed(
        "whole: extract_features, 1 worker, no store",
        lambda: extract_features(paths, kind="baseline", config=config, progress=False, workers=1),
        repeats=3,
    )

    def baseline_style(subset):
        for path in subset:
            y, sr = librosa.load(path, sr=None, mono=False)
            power = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=1024, hop_length=512, n_mels=128, power=2.0)
            np.log10(power + sys.float_info.epsilon)

    subset = paths[: max(1, n // 3)]
    with threadpool_limits(limits=1, user_api="blas"):
        timed(
            "baseline-style librosa.load + melspectrogram + log10, BLAS 1 thread",
            lambda: baseline_style(subset),
            repeats=3,
            clips=len(subset),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
