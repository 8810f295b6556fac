"""Figures of the study, shared by the notebooks (``notebooks/``) and the report: matplotlib only.

Every function takes data (a clip table, a results table, feature arrays) and returns a
matplotlib Figure, so it can be tested without a notebook; :func:`save_figure` writes one (PNG,
modest dpi, no timestamp in the metadata, atomically). :mod:`asd.plots.study` draws the study's
figures (data exploration, training, evaluation, reconstructions), :mod:`asd.plots.comparison`
this build's data beside real reference clips.
"""

from .comparison import plot_comparison_log_mels, plot_levels, plot_long_term_spectra
from .study import (
    DPI,
    LABEL_COLORS,
    fine_log_mel,
    plot_clip_counts,
    plot_error_by_band,
    plot_image_vs_fine,
    plot_learning_curves,
    plot_log_mels,
    plot_reconstructions,
    plot_roc_curves,
    plot_score_distributions,
    plot_waveforms,
    read_samples,
    save_figure,
)

__all__ = [
    "DPI",
    "LABEL_COLORS",
    "fine_log_mel",
    "plot_clip_counts",
    "plot_comparison_log_mels",
    "plot_error_by_band",
    "plot_image_vs_fine",
    "plot_learning_curves",
    "plot_levels",
    "plot_log_mels",
    "plot_long_term_spectra",
    "plot_reconstructions",
    "plot_roc_curves",
    "plot_score_distributions",
    "plot_waveforms",
    "read_samples",
    "save_figure",
]
