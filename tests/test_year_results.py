"""asd.year_results: every year's miniature generated, read, trained, evaluated and scored the official way."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from asd import domains, year_results
from asd.cli import main
from asd.data import discover_clips, find_ground_truth
from asd.official import OFFICIAL_DATASETS, official_scores
from asd.pipeline import evaluate, train
from asd.submission import check_submission, evaluate_submission, submission_names
from asd.synth import generate_dataset

#: Two development types per year keep the miniatures small; 2024/2025 include a ``_noAttribute`` type.
TYPES = {
    "dcase2021": ["fan", "ToyCar"],
    "dcase2022": ["bearing", "valve"],
    "dcase2023": ["fan", "valve"],
    "dcase2024": ["fan", "gearbox"],
    "dcase2025": ["bearing", "valve"],
}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """Per year: (data root, run folder, results folder, results table), multistat on the tiny miniature."""
    base = tmp_path_factory.mktemp("years")
    out = {}
    with pytest.MonkeyPatch.context() as patch:  # tiny has 2 target training clips: fit per domain all the same
        patch.setattr(domains, "MIN_DOMAIN_CLIPS", 2)
        for year in OFFICIAL_DATASETS:
            out[year] = _train_and_evaluate(base, year)
    return out


def _train_and_evaluate(base, year):
    root = base / year
    generate_dataset(root, size="tiny", seed=0, machine_types=TYPES[year], format=year, progress=False)
    run = base / f"run-{year}"
    train(root, model="multistat", out=run, cache_dir=False, progress=False, dataset=year)
    results = evaluate(root, run_dir=run, cache_dir=False, progress=False)
    return root, run, run / "results", results


@pytest.mark.parametrize("year", OFFICIAL_DATASETS)
def test_every_year_trains_evaluates_and_scores(evaluated, year):
    root, run, results_dir, _ = evaluated[year]
    info = json.loads((run / "run.json").read_text())
    assert info["dataset"] == year and info["domain_ids"] == "domains"
    sections = ["00", "01", "02"] if year in ("dcase2021", "dcase2022") else ["00"]
    # per-domain training IDs, one threshold each
    thresholds = json.loads((run / TYPES[year][0] / "thresholds.json").read_text())
    assert set(thresholds["ids"]) == {f"{s}_{d}" for s in sections for d in ("source", "target")}
    # results.csv: one row per model, machine type and section, the contract's columns
    table = pd.read_csv(results_dir / "results.csv", dtype={"section": str})
    assert len(table) == len(TYPES[year]) * len(sections)
    assert sorted(zip(table.machine_type, table.section)) == sorted((t, s) for t in TYPES[year] for s in sections)
    contract = ["model", "machine_type", "section", "auc_source", "auc_target", "pauc"]
    contract += ["pauc_source", "pauc_target"] if year == "dcase2021" else []
    assert set(contract) <= set(table.columns)
    assert table[contract[3:]].notna().all().all()
    # official_score.csv: one row per model, the score recomputed from scores.csv alone
    summary = pd.read_csv(results_dir / "official_score.csv")
    assert list(summary.columns[:4]) == ["model", "dataset", "official_score", "ci95"]
    assert summary.loc[0, "dataset"] == year and len(summary) == 1
    scores = pd.read_csv(results_dir / "scores.csv", dtype={"section": str, "machine_id": str})
    _, expected = official_scores(scores, dataset=year)
    assert summary.loc[0, "official_score"] == pytest.approx(expected.loc[0, "official_score"], abs=1e-12)
    assert {"section", "domain", "scored_as", "threshold", "decision"} <= set(scores.columns)
    assert scores.scored_as.str.fullmatch(r"\d\d_(source|target)").all()
    # the submission files, accepted by the evaluators' reading rules
    test_clips = discover_clips(root, require_train=False)
    test_clips = test_clips[test_clips.split == "test"]
    submitted = check_submission(results_dir, test_clips, dataset=year)
    assert len(submitted) == len(test_clips)
    domain = "source" if year == "dcase2021" else None
    for name in submission_names(TYPES[year][0], sections[-1], dataset=year, domain=domain):
        assert (results_dir / name).is_file()
    assert not list(results_dir.glob("anomaly_score_*_id_*.csv"))  # no 2020-style files


def test_eval_style_set_with_ground_truth(tmp_path):
    root = tmp_path / "eval23"
    generate_dataset(
        root, size="tiny", seed=1, machine_types=["fan"], format="dcase2023", eval_names=True, progress=False
    )
    run = tmp_path / "run"
    train(root, model="multistat", out=run, cache_dir=False, progress=False)
    truth = find_ground_truth(root)
    results = evaluate(root, run_dir=run, labels=truth, cache_dir=False, progress=False)
    assert len(results) == 1 and results.loc[0, "n_target_normal"] == 2
    # the official evaluators' way (submission files + ground truth files) gives the same score
    _, from_files = evaluate_submission(run / "results", truth, dataset="dcase2023", ci=False)
    summary = pd.read_csv(run / "results" / "official_score.csv")
    assert summary.loc[0, "official_score"] == pytest.approx(from_files.loc[0, "official_score"], abs=1e-12)
    # without the ground truth: scores and submission files, no metrics
    unlabelled = evaluate(root, run_dir=run, out=tmp_path / "blind", cache_dir=False, progress=False)
    assert unlabelled.empty and (tmp_path / "blind" / "anomaly_score_fan_section_00_test.csv").is_file()


def test_cli_prints_the_official_score(evaluated, tmp_path, capsys):
    root, run, _, _ = evaluated["dcase2023"]
    assert (
        main(
            [
                "evaluate",
                "--data",
                str(root),
                "--run",
                str(run),
                "--out",
                str(tmp_path / "r"),
                "--no-cache",
                "--dataset",
                "dcase2023",
            ]
        )
        == 0
    )
    shown = capsys.readouterr().out
    assert "official score" in shown and "worst domain AUC" in shown
    summary = pd.read_csv(tmp_path / "r" / "official_score.csv")
    assert f"{summary.loc[0, 'official_score']:.4f}" in shown


def test_dcase2020_scores_csv_keeps_its_columns(tiny_root, tmp_path):
    run = tmp_path / "run"
    train(tiny_root, model="multistat", out=run, machine_types=["fan"], cache_dir=False, progress=False)
    evaluate(tiny_root, run_dir=run, cache_dir=False, progress=False)
    scores = pd.read_csv(run / "results" / "scores.csv")
    assert list(scores.columns) == [
        "model",
        "path",
        "file_name",
        "machine_type",
        "machine_id",
        "split",
        "label",
        "score",
        "threshold",
        "decision",
    ]
    assert not (run / "results" / "official_score.csv").exists()
    assert json.loads((run / "run.json").read_text())["domain_ids"] is None


def test_undefined_term_gives_a_nan_score_not_an_error():
    scores = pd.DataFrame(
        {
            "model": "m",
            "machine_type": "fan",
            "section": "00",
            "domain": ["source"] * 3,
            "label": ["normal", "normal", "anomaly"],
            "score": [0.1, 0.2, 0.9],
        }
    )
    results, summary = year_results.score_tables(scores, dataset="dcase2023", max_fpr=0.1)
    assert np.isnan(results.loc[0, "auc_target"]) and np.isnan(summary.loc[0, "official_score"])
