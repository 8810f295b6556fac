"""asd.report.years: the report of a DCASE 2021-2025 folder (HTML only), built through the study's builder."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from asd.report import builder
from asd.report.years import domain_table, year_of
from asd.synth import generate_dataset


@pytest.fixture(scope="module")
def tiny2023(tmp_path_factory):
    root = tmp_path_factory.mktemp("report-years") / "dcase2023-tiny"
    generate_dataset(root, size="tiny", seed=0, machine_types=["fan"], format="dcase2023", progress=False)
    return root


def test_year_of(tiny2023, tiny_root, tmp_path):
    assert year_of(tiny2023) == "dcase2023"
    assert year_of(tiny_root) is None  # DCASE 2020: the study's notebooks
    assert year_of(tmp_path / "absent") is None


def test_domain_table_worst_domain():
    results = pd.DataFrame(
        {
            "model": "m",
            "machine_type": ["a", "b"],
            "section": "00",
            "auc_source": [0.9, 0.7],
            "auc_target": [0.6, 0.5],
            "pauc": [0.6, 0.5],
        }
    )
    summary = pd.DataFrame({"model": ["m"], "official_score": [0.6], "ci95": [0.01]})
    row = domain_table(results, summary).iloc[0]
    assert row.auc_source == pytest.approx(0.8) and row.auc_target == pytest.approx(0.55)
    assert row.worst_domain == pytest.approx(0.55)


def test_builds_a_year_report_html(tiny2023, tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    info = builder.build(tiny2023, out=out, work=work, figures=tmp_path / "fig", pdf=False, log=lambda _: None)
    assert info["dataset"] == "dcase2023" and info["models"] == ["multistat"]
    summary = pd.read_csv(work / "results" / "multistat" / "official_score.csv")
    results = pd.read_csv(work / "results" / "multistat" / "results.csv", dtype={"section": str})
    html = (out / "report.html").read_text()
    assert f"{summary.loc[0, 'official_score']:.3f}" in html
    assert f"{results.auc_target.mean():.3f}" in html and f"{results.auc_source.mean():.3f}" in html
    assert "Per machine type and section" in html and "data:image/png;base64," in html
    assert "{{" not in html and "<script" not in html
    assert json.loads((out / "build_info.json").read_text())["official_score"]["multistat"] == pytest.approx(
        summary.loc[0, "official_score"], abs=1e-4
    )
    assert not (out / "report.pdf").exists()
