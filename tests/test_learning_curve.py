"""Tests of benchmarks/learning_curve.py: random subsets of the training clips, the curve's table."""

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

from asd.data import discover_clips

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def learning_curve():
    spec = importlib.util.spec_from_file_location("learning_curve", PROJECT_ROOT / "benchmarks" / "learning_curve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    for name in ("learning_curve", "eval_real"):
        sys.modules.pop(name, None)


@pytest.fixture
def mimii_like(tiny_root, tmp_path):
    """The tiny set's fan clips of two IDs in the MIMII layout (ID and label only in folder names)."""
    root = tmp_path / "mimii"
    table = discover_clips(tiny_root, machine_types=["fan"])
    for row in table[table.machine_id.isin(["00", "02"])].itertuples():
        label = "normal" if row.label == "normal" else "abnormal"
        split = "train" if row.split == "train" else "test"
        target = root / "fan" / f"id_{row.machine_id}" / label / f"{split}_{Path(row.path).name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(row.path)
    return root


def test_subset_folder_draws_n_training_clips_per_id_and_keeps_every_test_clip(learning_curve, tiny_root, tmp_path):
    table = discover_clips(tiny_root, machine_types=["valve"])
    first = learning_curve.subset_folder(table, tmp_path / "a", n_train=2, seed=0)
    subset = discover_clips(first)
    assert (subset[subset.split == "train"].groupby("machine_id").size() == 2).all()
    assert sorted(Path(p).name for p in subset.path[subset.split == "test"]) == sorted(
        Path(p).name for p in table.path[table.split == "test"]
    )
    again = discover_clips(learning_curve.subset_folder(table, tmp_path / "b", n_train=2, seed=0))
    other = discover_clips(learning_curve.subset_folder(table, tmp_path / "c", n_train=2, seed=1))
    names = lambda t: sorted(Path(p).name for p in t.path[t.split == "train"])  # noqa: E731
    assert names(again) == names(subset) and names(other) != names(subset)  # seeded draws


def test_the_curve_on_a_mimii_layout_set(learning_curve, mimii_like, tmp_path, capsys):
    out = tmp_path / "curve.csv"
    argv = [
        "--no-shared",
        "--no-synthetic",
        "--data",
        str(mimii_like),
        "--models",
        "multistat",
        "--no-cache",
        "--train-clips",
        "2",
        "3",
        "1000",
        "--repeats",
        "2",
        "--out",
        str(out),
    ]
    assert learning_curve.main(argv) == 0
    curve = pd.read_csv(out)
    assert list(curve.columns) == learning_curve.COLUMNS
    fewest = int(discover_clips(mimii_like).query("split == 'train'").groupby("machine_id").size().min())
    assert list(curve.train_clips) == [n for n in (2, 3) if n <= fewest]  # N above the smallest ID: left out
    assert list(curve.repeats) == [2 if n < fewest else 1 for n in curve.train_clips]
    assert curve.auc.between(0, 1).all() and (curve.chance_upper > 0.5).all()
    printed = capsys.readouterr().out
    assert "left out N = [1000]" in printed and "| model | N=2 |" in printed
    assert learning_curve.main(argv[:-1] + [str(tmp_path / "again.csv")]) == 0
    assert pd.read_csv(tmp_path / "again.csv").equals(curve)  # the same command, the same table


def test_bad_options(learning_curve, capsys):
    with pytest.raises(SystemExit):
        learning_curve.parse_args(["--train-clips", "0"])
    assert learning_curve.main(["--models", "nope", "--no-shared", "--no-synthetic"]) == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("learning_curve: error: unknown model(s) nope")
