"""DCASE 2021-2025 submission files (asd.submission): names, format, and the check the evaluators imply."""

from __future__ import annotations

import pandas as pd
import pytest

from asd.submission import SubmissionError, check_submission, submission_names, write_submission


def scores_table(domains=("source", "target")):
    rows = []
    for machine_type in ("ToyCar", "fan"):
        for section in ("00", "01"):
            for domain in domains:
                for i in range(3):
                    rows.append(
                        {
                            "path": f"/d/{machine_type}/test/section_{section}_{domain}_test_{i:04d}.wav",
                            "machine_type": machine_type,
                            "section": section,
                            "domain": domain,
                            "score": 0.5 + i,
                            "decision": "anomaly" if i == 2 else "normal",
                        }
                    )
    return pd.DataFrame(rows).iloc[::-1]  # unsorted on purpose


def test_names_per_year():
    assert submission_names("fan", "3", dataset="dcase2023") == (
        "anomaly_score_fan_section_03_test.csv",
        "decision_result_fan_section_03_test.csv",
    )
    assert submission_names("fan", "03", dataset="dcase2021", domain="target") == (
        "anomaly_score_fan_section_03_target_test.csv",
        "decision_result_fan_section_03_target_test.csv",
    )
    with pytest.raises(SubmissionError):
        submission_names("fan", "03", dataset="dcase2021")
    with pytest.raises(SubmissionError):
        submission_names("fan", "03", dataset="dcase2022", domain="source")


def test_write_then_check_2023(tmp_path):
    table = scores_table()
    written = write_submission(table, tmp_path, dataset="dcase2023")
    assert sorted(p.name for p in written) == sorted(
        f"{kind}_{t}_section_{s}_test.csv"
        for kind in ("anomaly_score", "decision_result")
        for t in ("ToyCar", "fan")
        for s in ("00", "01")
    )
    lines = (tmp_path / "anomaly_score_fan_section_01_test.csv").read_text().splitlines()
    assert lines[0] == "section_01_source_test_0000.wav,0.5"  # no header, sorted by name, basename only
    assert lines == sorted(lines) and len(lines) == 6
    decisions = (tmp_path / "decision_result_fan_section_01_test.csv").read_text().splitlines()
    assert decisions[2] == "section_01_source_test_0002.wav,1" and decisions[0].endswith(",0")
    back = check_submission(tmp_path, table.drop(columns=["score", "decision"]), dataset="dcase2023")
    assert len(back) == len(table) and set(back.decision) == {0, 1}
    assert back.score.sum() == pytest.approx(table.score.sum())


def test_write_2021_per_domain(tmp_path):
    written = write_submission(scores_table(), tmp_path, dataset="dcase2021")
    assert len(written) == 16
    assert (tmp_path / "anomaly_score_ToyCar_section_00_source_test.csv").read_text().count("\n") == 3


def test_check_refuses_missing_extra_and_malformed(tmp_path):
    table = scores_table()
    write_submission(table, tmp_path, dataset="dcase2022")
    expected = table.drop(columns=["score", "decision"])
    with pytest.raises(SubmissionError, match="missing"):
        check_submission(
            tmp_path, pd.concat([expected, expected.head(1).assign(path="/x/section_00_9999.wav")]), dataset="dcase2022"
        )
    target = tmp_path / "decision_result_fan_section_00_test.csv"
    target.write_text(target.read_text().replace(",1\n", ",2\n"))
    with pytest.raises(SubmissionError, match="0 or 1"):
        check_submission(tmp_path, expected, dataset="dcase2022")
    target.unlink()
    with pytest.raises(SubmissionError, match="missing"):
        check_submission(tmp_path, expected, dataset="dcase2022")


def test_write_refuses_bad_scores(tmp_path):
    table = scores_table()
    with pytest.raises(SubmissionError, match="NaN"):
        write_submission(table.assign(score=float("nan")), tmp_path, dataset="dcase2024")
    with pytest.raises(SubmissionError, match="more than once"):
        write_submission(pd.concat([table, table.head(1)]), tmp_path, dataset="dcase2024")
    assert issubclass(SubmissionError, ValueError)


@pytest.mark.parametrize("year", ["dcase2021", "dcase2023"])
def test_eval_style_miniature_round_trip_through_the_ground_truth(tmp_path, year):
    """Synthetic eval-style set -> scores -> submission files -> scored from the ground-truth files alone."""
    import numpy as np
    import soundfile as sf

    from asd.official import official_scores
    from asd.submission import evaluate_submission, read_ground_truth
    from asd.synth import generate_dataset

    data = generate_dataset(
        tmp_path / "data",
        size="tiny",
        format=year,
        machine_types=["valve", "fan"],
        eval_names=True,
        progress=False,
        workers=1,
    )
    test = data[data.split == "test"].copy()
    test["score"] = [float(np.sqrt(np.mean(sf.read(p)[0] ** 2))) for p in test.path]  # loudness as the score
    test["decision"] = np.where(test.score > test.score.median(), "anomaly", "normal")
    blind = test.drop(columns=["label", "labelled"])
    if year != "dcase2021":
        blind = blind.drop(columns="domain")  # the eval names hide it; the submission does not need it
    write_submission(blind, tmp_path / "sub", dataset=year)
    truth = read_ground_truth(tmp_path / "data" / "ground_truth", dataset=year)
    assert len(truth) == len(test) and set(truth.domain) == {"source", "target"}
    results, summary = evaluate_submission(tmp_path / "sub", tmp_path / "data" / "ground_truth", dataset=year)
    expected_results, expected = official_scores(test.assign(model="submission"), dataset=year)
    assert summary.official_score.iloc[0] == pytest.approx(expected.official_score.iloc[0], abs=1e-12)
    pd.testing.assert_frame_equal(results, expected_results, check_exact=False, rtol=1e-12)
    (tmp_path / "sub" / "anomaly_score_fan_section_00_test.csv").unlink(missing_ok=True)
    (tmp_path / "sub" / "anomaly_score_fan_section_00_source_test.csv").unlink(missing_ok=True)
    with pytest.raises(SubmissionError, match="missing"):
        evaluate_submission(tmp_path / "sub", tmp_path / "data" / "ground_truth", dataset=year)
