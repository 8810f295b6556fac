"""The report: helpers, prose templates and the build (fast), and the whole papermill chain on the
smallest configuration that still runs every notebook, the report notebook and the export (slow)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from asd import metrics, report, tables
from asd.config import PROJECT_ROOT, StudyConfig
from asd.errors import UnknownModelError
from asd.report.builder import _parse_epochs

#: The end-to-end build: the two machine types of the study's reconstruction figures, one
#: detector that trains in epochs and reconstructs its input (the study's, which notebook 04
#: needs) and one fitted in one step that does not; one epoch (``quick``).
E2E_MACHINE_TYPES = sorted({case[0] for case in report.RECONSTRUCTION_CASES})
E2E_MODELS = [report.STUDY_MODEL, "embedding_knn"]
CHROMIUM = report.find_chromium()
#: CI sets ASD_REQUIRE_CHROMIUM=1 (.ci/run installs Chromium first): there a missing Chromium fails
#: the PDF tests instead of skipping them.
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("ASD_REQUIRE_CHROMIUM"),
    reason="Chromium not found: PDF export untested "
    "(install it with scripts/install_system_deps.sh, or build with PDF=0)",
)

NOTEBOOKS = [*report.NOTEBOOKS, "report"]
EXPECTED_FIGURES = [
    "01_clip_counts.png",
    "01_waveforms.png",
    "01_log_mel.png",
    "01_image_vs_fine.png",
    "01_data_vs_real_log_mel.png",
    "01_data_vs_real_levels.png",
    "01_data_vs_real_spectra.png",
    "02_learning_curves.png",
    "03_roc_curves.png",
    "03_score_distributions.png",
    "04_reconstruction_pump_id00.png",
    "04_reconstruction_ToyCar_id03.png",
    "04_error_by_band_pump_id00.png",
    "04_error_by_band_ToyCar_id03.png",
]


# -- fast: helpers -----------------------------------------------------------------------------


def test_notebooks_start_with_a_parameters_cell_of_literals():
    import ast

    for path in [*(report.NOTEBOOKS_DIR / f"{n}.ipynb" for n in report.NOTEBOOKS), report.REPORT_NOTEBOOK]:
        nb = nbformat.read(path, as_version=4)
        first = nb.cells[0]
        assert first.cell_type == "code" and "parameters" in first.metadata.get("tags", []), path.name
        for node in ast.parse(first.source).body:
            assert isinstance(node, ast.Assign), f"{path.name}: parameters cell holds only assignments"
            ast.literal_eval(node.value)  # literals only
        assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), (
            f"{path.name} is committed with outputs"
        )


def test_papermill_sees_every_parameter():
    import ast

    import papermill as pm

    for path in [*(report.NOTEBOOKS_DIR / f"{n}.ipynb" for n in report.NOTEBOOKS), report.REPORT_NOTEBOOK]:
        source = nbformat.read(path, as_version=4).cells[0].source
        names = [node.targets[0].id for node in ast.parse(source).body]
        assert list(pm.inspect_notebook(str(path))) == names, path.name


def test_report_epochs_come_from_the_reports_schedule(monkeypatch):
    from asd.detectors import DETECTORS, Detector
    from asd.report import study

    assert report.report_epochs() == {"conv_ae": 30, "conv_vae": 10, "dense_ae": 10, "id_classifier": 5}
    new = type("NewKeras", (Detector,), {"name": "new_keras", "trains_in_epochs": True})
    monkeypatch.setitem(DETECTORS, "new_keras", new)
    assert "new_keras" not in report.report_epochs()  # unlisted: the config's epochs
    assert report.study_config().training.epochs_for("new_keras") == StudyConfig().training.default_epochs
    monkeypatch.setitem(study.REPORT_SCHEDULE, "new_keras", study.Schedule(epochs=3))
    assert report.report_epochs()["new_keras"] == 3
    assert report.study_config().training.epochs_for("new_keras") == 3


def test_study_config_epochs():
    config = report.study_config()
    assert config.training.epochs_for("conv_ae") == report.report_epochs()["conv_ae"]
    config = report.study_config(epochs={"conv_ae": 7}, seed=3)
    assert config.training.epochs_for("conv_ae") == 7 and config.training.seed == 3
    quick = report.study_config(epochs={"conv_ae": 7}, quick=True)
    assert {quick.training.epochs_for(m) for m in ("conv_ae", "dense_ae", "anything")} == {report.QUICK_EPOCHS}


def test_study_config_from_file_keeps_the_study_epochs(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  batch_size: 16\n")
    config = report.study_config(config_file=path)
    assert config.training.batch_size == 16
    assert config.training.epochs_for("conv_ae") == StudyConfig().training.epochs_for("conv_ae")


def test_resolve_models():
    from asd.detectors import DETECTORS

    assert report.resolve_models("all") == list(DETECTORS)
    assert report.resolve_models([]) == list(DETECTORS)
    assert report.resolve_models("conv_ae, dense_ae,conv_ae") == ["conv_ae", "dense_ae"]
    with pytest.raises(UnknownModelError, match="known models"):
        report.resolve_models(["nope"])


def test_parse_epochs():
    assert _parse_epochs("conv_ae=3,dense_ae=2") == {"conv_ae": 3, "dense_ae": 2}
    assert _parse_epochs(None) == {}
    with pytest.raises(report.ReportError):
        _parse_epochs("conv_ae=0")


def test_missing_user_data_folder_is_an_error(tmp_path, capsys):
    with pytest.raises(report.ReportError, match="not found"):
        report.ensure_data(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()  # nothing generated for a user folder
    assert report.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err


def test_count_pdf_pages_without_pypdf(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pypdf(name, *args, **kwargs):
        if name == "pypdf":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pypdf)
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(
        b"%PDF-1.4\n1 0 obj << /Type /Pages /Count 2 >>\n2 0 obj << /Type /Page >>\n3 0 obj <</Type/Page/Parent 1 0 "
        b"R>>\n"
    )
    assert report.count_pdf_pages(pdf) == 2


def test_one_rounding_path_for_every_number():
    """A mean that two summation orders put either side of ...5 shows as one number everywhere."""
    from asd.report.display import fixed
    from asd.report.prose import _num

    below, above = 0.7775 - 1e-12, 0.7775 + 1e-12
    assert fixed(below) == fixed(above) == _num(below) == _num(above) == "0.778"
    cells = [table_html_cell(v) for v in (below, above)]
    assert cells[0] == cells[1] == "0.778"
    assert fixed(1150.04, 1, thousands=True) == "1,150.0" and _num(None) == "n/a"


def table_html_cell(value) -> str:
    html = report.table_html(pd.DataFrame({"x": [value]}), index=False)
    return re.search(r'<td class="num">([^<]*)</td>', html).group(1)


def test_table_html_formats_and_escapes():
    frame = pd.DataFrame({"name": ["a<b", "c"], "auc": [0.51234, np.nan], "n": [1200, 3]}).set_index("name")
    html = report.table_html(frame, highlight_max=True)
    assert "a&lt;b" in html and "<b>0.512</b>" in html and "&ndash;" in html and "<b>1,200</b>" in html
    assert '<td class="num">' in html
    auto = report.table_html(pd.DataFrame({"v": [64.0, 3.906]}), digits=None, index=False)
    assert ">64<" in auto and ">3.91<" in auto


def _comparison():
    rows = []
    for model, base in (("conv_ae", 0.45), ("dense_ae", 0.6), ("embedding_knn", 0.9)):
        for machine_type in ("fan", "pump"):
            rows.append(
                {
                    "model": model,
                    "machine_type": machine_type,
                    "machine_id": "00",
                    "auc": base,
                    "pauc": base - 0.05,
                    "f1": base / 2,
                }
            )
    return tables.comparison_table(pd.DataFrame(rows))


def test_results_paragraph_numbers_come_from_the_table():
    text = report.results_paragraph(_comparison())
    assert "`embedding_knn` has the highest AUC (0.900" in text
    assert "below chance (AUC < 0.5) on fan, pump" in text
    assert "(`dense_ae`, 0.600) is behind" in text and "by 0.300 AUC" in text
    assert "F1 ranges from 0.225 (`conv_ae`) to 0.450 (`embedding_knn`)" in text
    assert "No labelled test clips" in report.results_paragraph(pd.DataFrame())


def test_conclusion_and_data_statement():
    summary = pd.DataFrame(
        [
            {
                "machine_type": "pump",
                "machine_id": "00",
                "label": "anomaly",
                "clips": 4,
                "mean_mse": 1.1,
                "median_mse": 1.0,
                "max_mse": 2.0,
                "top5_share": 0.2,
            },
            {
                "machine_type": "pump",
                "machine_id": "00",
                "label": "normal",
                "clips": 4,
                "mean_mse": 1.0,
                "median_mse": 1.0,
                "max_mse": 1.5,
                "top5_share": 0.1,
            },
        ]
    )
    text = report.conclusion_paragraph(summary)
    assert (
        text.startswith("- **pump id 00.**")
        and "(ratio 1.10)" in text
        and "1.500, is above the median anomalous error (1.000)" in text
    )
    assert "not in this data" in report.conclusion_paragraph(summary.iloc[0:0])
    checks = pd.DataFrame(
        [
            {
                "machine_type": "pump",
                "machine_id": "00",
                "clips": "train normal",
                "n": 50,
                "mse_running": 0.6,
                "mse_recalibrated": 0.02,
                "input_variance": 0.7,
                "optimizer_steps": 120,
            },
            {
                "machine_type": "pump",
                "machine_id": "00",
                "clips": "test normal",
                "n": 20,
                "mse_running": 0.6,
                "mse_recalibrated": 0.02,
                "input_variance": 0.7,
                "optimizer_steps": 120,
            },
            {
                "machine_type": "pump",
                "machine_id": "00",
                "clips": "test anomaly",
                "n": 20,
                "mse_running": 0.6,
                "mse_recalibrated": 0.12,
                "input_variance": 0.7,
                "optimizer_steps": 120,
            },
        ]
    )
    text = report.conclusion_paragraph(summary, checks)
    assert "have not converged: after 120 optimisation steps" in text and "carry 30% of their initial values" in text
    assert "6.0 times that of new normal clips" in text and "does not generalise" not in text
    converged = checks.assign(mse_running=checks["mse_recalibrated"], mse_recalibrated=[0.02, 0.2, 0.21])
    text = report.conclusion_paragraph(summary, converged)
    assert "not converged" not in text
    assert "new normal clips are still reconstructed 10.0 times worse" in text
    assert "Anomalous clips are not reconstructed markedly worse" in text
    info = {
        "data_kind": "synthetic",
        "data_root": "/d",
        "data_fingerprint": "abc123",
        "commit": "f00",
        "dirty": True,
        "models": ["conv_ae"],
        "epochs": {"conv_ae": 2},
        "quick": True,
        "config_fingerprint": "cfg",
        "seed": 0,
    }
    statement = report.data_statement(info)
    assert "synthetic" in statement and "`abc123`" in statement and "`f00` with uncommitted changes" in statement
    assert "quick build" in statement
    assert "real recordings" in report.data_statement({**info, "data_kind": "real"})


def test_closing_paragraph():
    assert report.closing_paragraph(_comparison()) == (
        "In this build the reconstruction models reach mean AUCs of 0.450 to 0.600, "
        "the detectors that do not reconstruct their input 0.900."
    )


def test_optimizer_steps():
    config = StudyConfig()
    config.training.epochs["conv_ae"] = 10
    assert report.optimizer_steps(200, config, "conv_ae") == 10 * 6  # 180 clips after the split, batch 32
    assert report.optimizer_steps(5, config, "conv_ae") == 10  # no validation split under 10 clips


def test_trains_in_epochs():
    assert report.trains_in_epochs("conv_ae") and report.trains_in_epochs("dense_ae")
    assert not report.trains_in_epochs("embedding_knn")


def test_detection_rates():
    rng = np.random.default_rng(0)
    rows = []
    for label, shift in (("normal", 0.0), ("anomaly", 100.0)):
        for value in rng.normal(shift, 1.0, 50):
            rows.append({"model": "m", "machine_type": "fan", "machine_id": "00", "label": label, "score": value})
    rates = metrics.detection_rates(pd.DataFrame(rows))
    assert rates.loc["m", "fan"] == 1.0 and rates.loc["m", "mean"] == 1.0


def test_image_and_training_paragraphs():
    text = report.image_paragraph(tables.image_resolution(StudyConfig()))
    assert "156 ms apart" in text and "64 mel bands against 128" in text and "4,096 values per clip" in text
    assert "learning rate 0.001" in report.training_paragraph(StudyConfig())


def test_data_statement_names_the_data_relative_to_the_project_root():
    info = {"data_kind": "real", "data_root": str(PROJECT_ROOT / "data" / "mine"), "models": ["conv_ae"], "epochs": {}}
    statement = report.data_statement(info)
    assert "at `data/mine`" in statement and str(PROJECT_ROOT) not in statement
    outside = report.data_statement({**info, "data_root": "/somewhere/else/dev_data"})
    assert "at `dev_data`" in outside and "/somewhere" not in outside
    assert "epochs: defaults" in statement


def test_display_path_and_data_name():
    assert report.display_path("data/synthetic") == "data/synthetic"
    assert report.display_path(PROJECT_ROOT.parent / "shared" / "x") == "../shared/x"
    assert report.data_name("/recordings/My Pumps (2024)") == "my-pumps-2024"


def test_report_folders_keep_other_data_away_from_the_committed_report():
    from asd.config import FIGURES_DIR, REPORT_DIR

    default = report.report_folders(report.DEFAULT_DATA)
    assert default == {"out": REPORT_DIR, "figures": FIGURES_DIR, "work": report.DEFAULT_WORK}
    other = report.report_folders("/recordings/dev_data")
    assert other["out"] == report.REPORTS_DIR / "dev_data"
    assert other["figures"] == other["out"] / "figures" and other["work"] == other["out"] / "runs"
    committed = {REPORT_DIR, FIGURES_DIR, report.DEFAULT_WORK}
    assert not any(path == c or c in path.parents for path in other.values() for c in committed)


def test_interactive_notebook_runs_use_their_own_work_folder():
    import ast

    for path in (report.NOTEBOOKS_DIR / f"{n}.ipynb" for n in report.NOTEBOOKS):
        source = nbformat.read(path, as_version=4).cells[0].source
        values = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(source).body}
        assert report.project_path(values["work_dir"]) == report.INTERACTIVE_WORK, path.name
        assert report.INTERACTIVE_WORK in report.project_path(values["figures_dir"]).parents, path.name


def test_build_options_from_the_command_line(monkeypatch, tmp_path, capsys):
    from asd.report import builder as build_module

    seen = {}

    def fake_build(data, **kwargs):
        seen.update(kwargs, data=data)
        return {"wall_seconds": 1.0, "pdf_pages": None}

    monkeypatch.setattr(build_module, "build", fake_build)
    assert report.main(["--data", str(tmp_path), "--no-pdf", "--quick", "--models", "conv_ae"]) == 0
    assert seen["pdf"] is False and seen["quick"] is True and seen["models"] == "conv_ae"
    assert seen["out"] is None and seen["work"] is None  # build() derives them from the data
    assert f"reports/{tmp_path.name.lower()}/report.html" in capsys.readouterr().out


def test_recommended_model_is_one_constant_with_a_fallback(monkeypatch):
    from asd.detectors import DETECTORS

    assert report.RECOMMENDED_MODEL == "multistat"
    if report.RECOMMENDED_MODEL in DETECTORS:
        assert report.recommended_model() == report.RECOMMENDED_MODEL
    monkeypatch.setattr(report.study, "RECOMMENDED_MODEL", "no_such_detector")
    fallback = report.recommended_model()
    assert fallback in DETECTORS and not report.reconstructs_input(fallback)
    assert report.recommended_model(["conv_ae"]) == "conv_ae"


def test_templates_join_sentences_and_keep_list_items():
    from asd.report import prose

    assert set(p.name for p in prose.TEMPLATES_DIR.glob("*.md.j2")) >= {
        "results.md.j2",
        "closing.md.j2",
        "conclusion.md.j2",
        "data_statement.md.j2",
        "image.md.j2",
        "training.md.j2",
        "synthetic_vs_real.md.j2",
    }
    text = report.training_paragraph(StudyConfig())
    assert "\n" not in text and "  " not in text
    assert report.conclusion_paragraph(pd.DataFrame(columns=["machine_type", "machine_id", "label"])).startswith(
        "The reconstruction cases are not"
    )


def test_a_report_section_is_a_template_and_a_table(monkeypatch, tmp_path):
    """docs/architecture.md, "Add a report section": a template defined only here, filled from a
    table a notebook wrote into the work folder, rendered by asd.report.prose's machinery."""
    import jinja2

    from asd.report import prose

    template = (
        "{#- The loudest machine type of this build. -#}\n"
        "{% set top = rows|sort(attribute='level', reverse=True)|first %}\n"
        "The loudest machine type is {{ [top.machine_type]|code }}\n"
        "at {{ top.level|num(1) }} dB.\n"
        "\n"
        "{% for row in rows %}\n"
        "- {{ row.machine_type }}: {{ row.level|num(1) }} dB\n"
        "{% endfor %}\n"
    )
    env = prose._environment()
    env.loader = jinja2.ChoiceLoader([jinja2.DictLoader({"test_levels.md.j2": template}), env.loader])
    monkeypatch.setattr(prose, "_ENV", env)
    work = report.WorkDir(tmp_path / "work")
    work.write_table("test_levels", pd.DataFrame({"machine_type": ["fan", "pump"], "level": [-31.26, -28.04]}))
    rows = work.read_table("test_levels").to_dict("records")
    assert prose.render("test_levels", rows=rows) == (
        "The loudest machine type is `pump` at -28.0 dB.\n\n- fan: -31.3 dB\n- pump: -28.0 dB"
    )
    assert prose.render("closing", recon=[0.61], others=[0.9, 0.95]).startswith(
        "In this build"
    )  # the real ones still load


def test_report_prose_names_no_detector_lists():
    """Which detectors reconstruct their input comes from the registry, not from names in the code."""
    import inspect

    from asd.report import builder, display, prose

    for module in (builder, display, prose):
        source = inspect.getsource(module)
        assert '("conv_ae", "dense_ae", "conv_vae")' not in source
        assert "embedding_mahalanobis" not in source and '"id_classifier"' not in source and '"dense_ae"' not in source


def test_models_compared_describes_every_registered_detector_in_its_own_words():
    from asd.detectors import DETECTORS

    models = list(DETECTORS)
    text = report.models_paragraph(models, recommended="multistat", fell_back={"id_classifier": ["fan"]})
    assert f"This build trained {len(models)} detectors" in text
    for name, detector in DETECTORS.items():
        assert f"- `{name}` ({detector.feature_kind} features" in text and detector.summary.rstrip(".") in text
    assert "`multistat` (baseline features, the recommended detector)" in text
    assert "it scores as `embedding_knn`" in text and "in this build it did so for fan." in text


def test_fallbacks_are_found_in_the_runs_and_in_the_eval_real_table(tmp_path):
    run = tmp_path / "id_classifier"
    (run / "fan" / "detector").mkdir(parents=True)
    (run / "fan" / "detector" / "detector.json").write_text(
        '{"name": "id_classifier", "mode": "single_id_knn_fallback"}'
    )
    (run / "pump").mkdir(parents=True)
    (run / "pump" / "detector.json").write_text('{"name": "id_classifier", "mode": "classifier"}')
    assert report.fell_back({"id_classifier": run, "multistat": tmp_path / "none"}) == {"id_classifier": ["fan"]}
    per_type = pd.DataFrame(
        {
            "set": ["one", "one", "many", "many"],
            "model": ["id_classifier", "embedding_knn"] * 2,
            "machine_type": "fan",
            "auc": [0.9, 0.9, 0.7, 0.8],
            "pauc": [0.6, 0.6, 0.5, 0.6],
        }
    )
    found = report.eval_real_fallbacks(per_type, ["id_classifier", "embedding_knn"])
    assert found == {"id_classifier": {"fallback": "embedding_knn", "sets": ["one"]}}
    note = report.fallback_note({"id_classifier": ["fan", "pump"]})
    assert (
        note
        == "`id_classifier` scored as `embedding_knn` on fan, pump (one machine ID: nothing to tell it apart from)."
    )
    assert report.fallback_note({}) == ""
    detectors = pd.Index(["id_classifier", "embedding_knn"], name="detector")
    worst = pd.DataFrame({"one": [0.9, 0.9], "synthetic": [0.7, 0.8]}, index=detectors)
    view = report.eval_real_view(worst, found)
    assert report.EVAL_REAL_SYNTHETIC in view.columns and "synthetic" not in view.columns
    assert view.loc["id_classifier", "note"].startswith("scored as embedding_knn")
    assert view.loc["embedding_knn", "note"] == ""


def test_threshold_paragraph_says_what_few_training_clips_can_resolve():
    few = report.threshold_paragraph(false_alarm_rate=0.01, n_train=30)
    assert "1 %" in few and "1/30 = 3.3 %" in few and "about the largest training score" in few
    enough = report.threshold_paragraph(false_alarm_rate=0.1, n_train=30)
    assert "10 %" in enough and "largest training score" not in enough


def test_embedding_description_matches_the_embedding():
    """The report describes the embedding statistics as asd.detectors.embedding computes them."""
    from asd.detectors.embedding import STATISTICS

    text = "".join(
        c.source for c in nbformat.read(report.REPORT_NOTEBOOK, as_version=4).cells if c.cell_type == "markdown"
    )
    assert "spread and maximum" not in text
    assert set(STATISTICS) == {"mean", "delta"}
    assert "mean level and how much\nit changes from frame to frame" in text


def test_synthetic_vs_real_paragraph():
    levels = pd.DataFrame(
        {"source": ["data", "real", "data"], "machine_type": ["fan", "fan", "pump"], "rms_dbfs": [-30.0, -40.0, -20.0]}
    )
    stats = PROJECT_ROOT / "report" / "real_stats"
    text = report.synthetic_vs_real_paragraph(levels, real_root=stats, data_types=["fan", "pump"], real_types=["fan"])
    assert "`report/real_stats`" in text and "for fan:" in text
    assert "No real reference clips are available for pump." in text
    assert "fan -30.0 against -40.0" in text and "`python benchmarks/synth_vs_real.py --write-stats`" in text
    missing = report.synthetic_vs_real_paragraph(levels.iloc[0:0], real_root="", data_types=["fan"], real_types=[])
    assert "shows no comparison of its data with real recordings" in missing


def test_committed_figures_are_the_ones_the_build_makes():
    """The end-to-end test below checks that a build makes every figure of EXPECTED_FIGURES; so
    every committed figure is one a rebuild makes (none is deleted by it)."""
    committed = report.export.committed_files(sorted((PROJECT_ROOT / "figures").glob("*.png")))
    if not committed:
        pytest.skip("not a git checkout")
    assert sorted(p.name for p in committed) == sorted(EXPECTED_FIGURES)


def _git(root: Path, *args: str) -> None:
    import subprocess

    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_notebook_kernels_start_and_stop_quietly(tmp_path, capfd):
    """No "running over TCP without encryption" and no "KeyboardInterrupt caught in kernel" on a
    successful notebook run (the kernels' own standard error reaches the terminal)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("print(x + 1)")])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "n.ipynb")
    report.run_notebook(tmp_path / "n.ipynb", tmp_path / "out.ipynb", {"x": 41})
    err = capfd.readouterr().err
    assert "without encryption" not in err and "KeyboardInterrupt" not in err, err
    assert nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[-1].outputs[0]["text"] == "42\n"


def test_a_rebuild_that_would_delete_a_committed_figure_fails(tmp_path):
    root, staged = tmp_path / "repo", tmp_path / "staged"
    (root / "figures").mkdir(parents=True)
    staged.mkdir()
    for name in ("01_kept.png", "01_committed.png"):
        (root / "figures" / name).write_bytes(b"old")
    _git(root, "init", "-q")
    _git(root, "add", "figures")
    (root / "figures" / "02_untracked.png").write_bytes(b"old")
    (staged / "01_kept.png").write_bytes(b"new")
    with pytest.raises(report.ReportError, match="figures/01_committed.png|01_committed.png"):
        report.export.check_figures_kept(staged, root / "figures", root)
    (staged / "01_committed.png").write_bytes(b"new")
    report.export.check_figures_kept(staged, root / "figures", root)  # an untracked stale figure may go
    assert report.export.copy_figures(staged, root / "figures") == ["01_committed.png", "01_kept.png"]
    assert not (root / "figures" / "02_untracked.png").exists()
    assert (root / "figures" / "01_kept.png").read_bytes() == b"new"


def test_css_is_a_file_and_lands_in_the_page(tmp_path):
    css = report.report_css()
    assert "@page" in css and ".audio-item" in css
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title")])
    nbformat.write(nb, tmp_path / "r.ipynb")
    html = report.export_html(tmp_path / "r.ipynb", tmp_path / "r.html", title="t").read_text()
    assert "@page" in html and "<script" not in html


@needs_chromium
def test_html_to_pdf(tmp_path):
    html = tmp_path / "p.html"
    html.write_text("<html><body><h1>Page</h1></body></html>")
    pdf = report.html_to_pdf(html, tmp_path / "p.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-" and report.count_pdf_pages(pdf) == 1


def test_audio_player_embeds_the_first_seconds(tmp_path):
    from asd.audio import write_clip

    path = write_clip(tmp_path / "a.wav", 0.1 * np.sin(np.arange(48000) / 5.0))
    player = report.audio_player(path, seconds=1.0)
    assert "data:audio/wav;base64," in player._repr_html_()
    assert len(player.data) < 16000 * 2 + 100  # about one second of 16-bit audio


def test_captions_number_tables_figures_and_label_players(tmp_path, monkeypatch):
    import IPython.display

    from asd.audio import write_clip

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj.data))
    doc = report.Captions()
    doc.table(pd.DataFrame({"a": [1]}), "First `t`.")
    doc.figure(tmp_path / "missing.png", "Nothing.")
    doc.audio(write_clip(tmp_path / "a.wav", 0.1 * np.sin(np.arange(16000) / 5.0)), "**pump** clip")
    assert "<b>Table 1.</b> First <code>t</code>." in shown[0]
    assert "Figure not available" in shown[1] and doc.n_figures == 0
    assert '<div class="audio-item"><b><b>pump</b> clip</b>' in shown[2] and "data:audio/wav;base64," in shown[2]


# -- slow: the whole chain ---------------------------------------------------------------------


def _errors(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [
        f"{o.ename}: {o.evalue}"
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]


@pytest.mark.slow
def test_report_end_to_end_on_tiny_data(tiny_root, tmp_path):
    out, figures, work = tmp_path / "report", tmp_path / "figures", tmp_path / "work"
    lines = []
    info = report.build(
        tiny_root,
        out=out,
        figures=figures,
        work=work,
        cache_dir=tmp_path / "cache",
        quick=True,
        pdf=CHROMIUM is not None,
        models=E2E_MODELS,
        machine_types=E2E_MACHINE_TYPES,
        log=lines.append,
    )
    for name in NOTEBOOKS:
        executed = out / "executed" / f"{name}.ipynb"
        assert executed.is_file(), name
        assert _errors(executed) == [], name
    for name in EXPECTED_FIGURES:  # the real-data figures too: drawn from the committed statistics
        assert (figures / name).is_file() and (figures / name).stat().st_size > 1000, name

    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html  # self-contained, nothing to fetch
    assert "In [" not in html and "import " not in html  # code cells hidden
    assert info["models"] == E2E_MODELS and info["machine_types"] == E2E_MACHINE_TYPES
    # The comparison tables: every model is a row, every machine type of the build a column.
    for metric in ("AUC", "pAUC"):
        caption = html.index("<b>Table", html.index(f"{metric} per detector and machine type") - 200)
        table = html[caption : html.index("</table>", caption)].replace("<wbr/>", "")  # names may break at "_"
        for model in E2E_MODELS:
            assert f'<th class="text">{model}</th>' in table, (metric, model)
        for machine_type in E2E_MACHINE_TYPES:
            assert f">{machine_type}</th>" in table, (metric, machine_type)
    assert info["data_fingerprint"] in html and "synthetic" in html
    assert str(tiny_root) not in html and str(PROJECT_ROOT) not in html  # no absolute paths of the build machine
    assert "data:audio/wav;base64," in html and "data:image/png;base64," in html
    assert "score rank 1 by" in html  # the listening section plays the top-scored clips
    assert "beside real recordings" in html and "Median RMS level" in html and "report/real_stats" in html
    assert "Recommended detector" in html and f"<code>{info['recommended_model']}</code>" in html
    # make eval-real's committed tables: the worst cases, and each set's ceiling with hindsight
    has_eval_real = (PROJECT_ROOT / "benchmarks" / "eval_real_per_type.csv").is_file()
    assert ("Ceiling with hindsight" in html) == has_eval_real

    build_info = json.loads((out / "build_info.json").read_text())
    assert build_info["wall_seconds"] > 0 and build_info["data_fingerprint"] == info["data_fingerprint"]
    assert list(build_info["step_seconds"]) == ["data", *report.NOTEBOOKS, "report", "export"]
    assert any(line.startswith("time per step:") for line in lines)
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", build_info["commit"])
    if CHROMIUM is not None:
        assert (out / "report.pdf").read_bytes()[:5] == b"%PDF-"
        assert build_info["pdf_pages"] == report.count_pdf_pages(out / "report.pdf") >= 5
    else:
        assert not (out / "report.pdf").exists() and build_info["pdf_pages"] is None


@pytest.mark.slow
def test_failing_notebook_keeps_the_previous_report(tiny_root, tmp_path):
    out, figures = tmp_path / "report", tmp_path / "figures"
    out.mkdir()
    figures.mkdir()
    (out / "report.html").write_text("previous")
    (figures / "01_clip_counts.png").write_bytes(b"previous")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("data_root = ''"),
            nbformat.v4.new_code_cell("raise RuntimeError('boom in cell two')"),
        ]
    )
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, notebooks / f"{report.NOTEBOOKS[0]}.ipynb")
    with pytest.raises(report.ReportError, match="boom in cell two") as failure:
        report.build(
            tiny_root,
            out=out,
            figures=figures,
            work=tmp_path / "work",
            notebooks_dir=notebooks,
            models=["conv_ae"],
            log=lambda *a: None,
        )
    assert report.NOTEBOOKS[0] in str(failure.value) and "RuntimeError" in str(failure.value)
    assert (out / "report.html").read_text() == "previous"
    assert (figures / "01_clip_counts.png").read_bytes() == b"previous"
    assert not (out / "report.pdf").exists() and not (out / "build_info.json").exists()


def test_asd_report_subcommand():
    from asd.cli import build_parser

    args = build_parser().parse_args(["report", "--data", "somewhere", "--no-pdf", "--quick"])
    assert args.func.__name__ == "_run_report" and args.no_pdf and args.quick and str(args.data) == "somewhere"


def test_calibration_paragraph_counts_from_the_table():
    calibration = pd.DataFrame(
        {
            "machine_type": ["fan", "fan", "fan", "pump", "pump"],
            "machine_id": ["mean", "00", "02", "mean", "00"],
            "auc": [0.66, 0.55, 0.77, 0.90, 0.90],
            "published": [0.65, 0.54, 0.72, 0.73, 0.67],
            "tolerance": [0.05, 0.10, 0.10, 0.05, 0.10],
        }
    )
    calibration["difference"] = calibration.auc - calibration.published
    calibration["within"] = calibration.difference.abs() <= calibration.tolerance
    calibration.attrs["model"] = "dense_ae"
    text = report.calibration_paragraph(calibration)
    assert "(`dense_ae`)" in text
    assert "lies within 0.05 of what it reached on the real development set for 1 of the 2 machine types" in text
    assert "pump 0.900 against 0.730" in text and "reaches mean AUCs" not in text
    assert "within 0.10 for 2 of the 3 machine IDs" in text and "fault severity" in text
    assert "not part of this build" in report.calibration_paragraph(calibration.iloc[0:0], synthetic=False)


def test_ceiling_paragraph_names_the_sets_below_the_target_and_within_luck():
    per_type = pd.DataFrame(
        {
            "set": ["real", "real", "real", "real", "mimii", "mimii"],
            "model": ["multistat", "other", "multistat", "other", "multistat", "other"],
            "machine_type": ["fan", "fan", "pump", "pump", "fan", "fan"],
            "auc": [0.5, 0.7, 0.6, 0.8, 0.95, 0.9],
            "chance_sd": [0.2, 0.2, 0.2, 0.2, 0.1, 0.1],
        }
    )
    ceiling = tables.hindsight_ceiling(per_type, default="multistat")
    text = report.ceiling_paragraph(ceiling, model="multistat")
    assert "stays below 0.90 on `real` (0.750)." in text
    assert "`mimii`" not in text  # ceiling 0.95, and multistat's 0.95 above chance
    upper = metrics.chance_upper([0.2, 0.2])
    assert f"`multistat`'s mean on `real` (0.550, chance up to {upper:.3f}) is within what a random detector" in text
    assert len(text.split("\n\n")) == 2
    assert report.ceiling_paragraph(ceiling.loc[["mimii"]], model="multistat") == ""
    assert "chance up to" not in report.ceiling_paragraph(ceiling, model="absent")


def test_a_stage_runs_its_notebooks_side_by_side_and_raises_the_first_failure(monkeypatch, tmp_path):
    """asd.report.builder._run_stage: every notebook of a stage runs (the side ones in threads,
    meanwhile); times come back in notebook order; a failing side notebook is raised once the
    main one is done, whatever the order they finished in."""
    import threading
    import time

    from asd.report import builder

    started, main_done = [], threading.Event()

    def fake_run(source, target, parameters, *, log=print):
        started.append(source.stem)
        if source.stem == "01_data_exploration":
            assert not main_done.is_set()  # runs while 02 is still running
            raise builder.ReportError("01_data_exploration.ipynb failed in cell 3: boom")
        time.sleep(0.2)
        main_done.set()
        return 0.2

    monkeypatch.setattr(builder, "run_notebook", fake_run)
    with pytest.raises(builder.ReportError, match="01_data_exploration.*boom"):
        builder._run_stage(("02_training", "01_data_exploration"), tmp_path, tmp_path, {}, steps=6, log=lambda _: None)
    assert sorted(started) == ["01_data_exploration", "02_training"] and main_done.is_set()
    monkeypatch.setattr(builder, "run_notebook", lambda source, *a, **k: float(len(source.stem)))
    timings = builder._run_stage(builder.STAGES[0], tmp_path, tmp_path, {}, steps=6, log=lambda _: None)
    assert list(timings) == ["01_data_exploration", "02_training"]
