"""The study's report: the build and the helpers its notebooks call.

Modules (each imports only the ones above it in this list, and the layers below the report)::

    study     what the report builds and where: models (the detector registry), epochs, the
              config, the recommended detector, the work folder (WorkDir), the report folders
              of a dataset, paths relative to the project root
    display   what the notebooks display: numbered figures and tables, audio players, HTML tables
    prose     sentences that depend on numbers, rendered from templates/*.md.j2 (Jinja2)
    export    the executed report notebook -> one HTML page (report.css) -> PDF (Chromium);
              the check that every table and figure fits the PDF's page width
    real_stats  the committed statistics of the real reference clips (report/real_stats/) that
              notebook 01 puts beside the build's data
    builder   papermill over notebooks 01-04 and report/report.ipynb, then export; per-step times;
              the command line (``asd report``, ``python -m asd.report``)

Static prose is in the Markdown cells of ``report/report.ipynb``; this package holds no words
that depend on numbers outside ``templates/``.
"""

from ..runtime import quiet_kernel_shutdown, quiet_tensorflow
from .builder import (
    NOTEBOOKS,
    NOTEBOOKS_DIR,
    REAL_REFERENCE,
    REPORT_NOTEBOOK,
    build,
    ensure_data,
    git_commit,
    main,
    run_notebook,
)
from .display import EVAL_REAL_SYNTHETIC, Captions, audio_player, eval_real_view, fixed, table_html
from .export import (
    ReportError,
    count_pdf_pages,
    export_html,
    find_chromium,
    html_to_pdf,
    overflowing_elements,
    report_css,
)
from .prose import (
    calibration_paragraph,
    ceiling_paragraph,
    closing_paragraph,
    conclusion_paragraph,
    data_statement,
    eval_real_fallbacks,
    fallback_note,
    fell_back,
    image_paragraph,
    models_paragraph,
    results_paragraph,
    synthetic_vs_real_paragraph,
    threshold_paragraph,
    training_paragraph,
)
from .study import (
    DEFAULT_DATA,
    DEFAULT_WORK,
    INTERACTIVE_WORK,
    QUICK_EPOCHS,
    RECOMMENDED_MODEL,
    RECONSTRUCTION_CASES,
    REPORTS_DIR,
    STUDY_MODEL,
    WorkDir,
    data_name,
    display_path,
    optimizer_steps,
    project_path,
    recommended_model,
    reconstructs_input,
    report_epochs,
    report_folders,
    resolve_models,
    study_config,
    trains_in_epochs,
)

__all__ = [
    "EVAL_REAL_SYNTHETIC",
    "eval_real_fallbacks",
    "fallback_note",
    "eval_real_view",
    "fell_back",
    "fixed",
    "models_paragraph",
    "threshold_paragraph",
    "Captions",
    "DEFAULT_DATA",
    "DEFAULT_WORK",
    "INTERACTIVE_WORK",
    "NOTEBOOKS",
    "NOTEBOOKS_DIR",
    "QUICK_EPOCHS",
    "REAL_REFERENCE",
    "RECOMMENDED_MODEL",
    "RECONSTRUCTION_CASES",
    "REPORTS_DIR",
    "REPORT_NOTEBOOK",
    "ReportError",
    "STUDY_MODEL",
    "WorkDir",
    "audio_player",
    "build",
    "calibration_paragraph",
    "ceiling_paragraph",
    "closing_paragraph",
    "conclusion_paragraph",
    "count_pdf_pages",
    "data_name",
    "data_statement",
    "display_path",
    "ensure_data",
    "export_html",
    "find_chromium",
    "git_commit",
    "html_to_pdf",
    "overflowing_elements",
    "image_paragraph",
    "main",
    "optimizer_steps",
    "project_path",
    "reconstructs_input",
    "recommended_model",
    "report_css",
    "report_epochs",
    "report_folders",
    "resolve_models",
    "results_paragraph",
    "run_notebook",
    "study_config",
    "synthetic_vs_real_paragraph",
    "table_html",
    "trains_in_epochs",
    "training_paragraph",
]

# The notebooks' kernels import this package before TensorFlow (importing it imports none): its
# start-up lines on a machine without a GPU ("Could not find cuda drivers", asd.runtime) are
# filtered at their source, as asd's command line does.
quiet_tensorflow()
quiet_kernel_shutdown()  # the notebooks' kernels import this package first
