"""What an image autoencoder reconstructs: the numbers behind the study's reconstruction figures.

The study shows, for anomalous and normal clips of a few machines (pump id 00, ToyCar id 03),
the model input, the conv AE's reconstruction and the squared error map, and concludes that the
model reconstructs anomalies about as well as normal clips. This module picks those clips,
reconstructs them, measures the error per clip, per mel band and per label, and checks whether
the batch-normalisation running statistics used for scoring have converged
(:func:`recalibrate_batchnorm`, :func:`batchnorm_check`). :func:`reconstruct_machine` does all
of it for one machine; :mod:`asd.plots` draws the figures and notebook 04 shows them.

Arrays are model inputs and reconstructions ``(n_clips, n_mels, n_frames)`` in the model's
standardised units; the mean over a clip's pixels of the squared error is its anomaly score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: The labels whose clips are compared, in this order.
LABELS = ("normal", "anomaly")


def pick_clips(
    table: pd.DataFrame,
    machine_type: str,
    machine_id: str,
    *,
    counts: Mapping[str, int] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Test clips of one machine type and ID: ``counts[label]`` of each label (default one
    anomalous and one normal clip), drawn with ``seed``, in the order of ``counts``.

    If the ID has no clip of some label (or does not exist), the first ID of that type that has
    every label is used instead and ``attrs["note"]`` says so; ``attrs["machine_id"]`` is the
    ID used. Empty (with a note) if the type has no such ID.
    """
    counts = dict(counts or {"anomaly": 1, "normal": 1})
    rng = np.random.default_rng(seed)
    machine_id = f"{int(machine_id):02d}" if str(machine_id).isdigit() else str(machine_id)
    test = table[(table["split"] == "test") & (table["machine_type"] == machine_type)]
    complete = [
        i for i in sorted(test["machine_id"].unique()) if set(test.loc[test["machine_id"] == i, "label"]) >= set(counts)
    ]
    if not complete:
        chosen = pd.DataFrame(columns=table.columns)
        chosen.attrs["note"] = f"no {machine_type} test clips labelled {' and '.join(counts)} in this data"
        chosen.attrs["machine_id"] = machine_id
        return chosen
    note = ""
    if machine_id not in complete:
        note = (
            f"{machine_type} id {machine_id} is not in this data (or lacks a label); id {complete[0]} is shown instead"
        )
        machine_id = complete[0]
    group = test[test["machine_id"] == machine_id]
    parts = []
    for label, n in counts.items():
        candidates = group[group["label"] == label].sort_values("path")
        picks = rng.choice(len(candidates), size=min(int(n), len(candidates)), replace=False)
        parts.append(candidates.iloc[np.sort(picks)])
    chosen = pd.concat(parts, ignore_index=True)
    chosen.attrs["note"] = note
    chosen.attrs["machine_id"] = machine_id
    return chosen


def reconstruct_clips(detector, paths: Sequence[str], *, cache=None) -> tuple[np.ndarray, np.ndarray]:
    """Model input and reconstruction of clips by an image autoencoder detector
    (:meth:`asd.detectors.ConvAEDetector.reconstruct`), each ``(n_clips, n_mels, n_frames)``."""
    from .features import extract_features

    extracted = extract_features(list(paths), kind="image", config=detector.config, cache=cache, progress=False)
    return detector.reconstruct(extracted.features)


def recalibrate_batchnorm(model, train_inputs: np.ndarray):
    """A copy of an image autoencoder whose BatchNormalization layers hold the exact statistics
    of ``train_inputs`` (model inputs ``(n_clips, n_mels, n_frames)`` of its training clips)
    instead of the running averages accumulated in training; the original model is unchanged.

    Scoring normalises with the running averages (momentum 0.99); after few optimisation steps
    they have not converged, and the scored reconstructions differ from what the model learned.
    """
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    layers = [layer for layer in clone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0  # one pass in training mode sets the statistics of this batch
    clone(np.asarray(train_inputs, dtype=np.float32)[..., np.newaxis], training=True)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum
    return clone


def reconstruct_images(model, inputs: np.ndarray) -> np.ndarray:
    """Reconstructions ``(n_clips, n_mels, n_frames)`` of model inputs by a Keras image autoencoder (inference mode)."""
    inputs = np.asarray(inputs, dtype=np.float32)
    return np.asarray(model(inputs[..., np.newaxis], training=False))[..., 0]


def batchnorm_check(recalibrated_model, groups: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Reconstruction MSE as scored and with re-estimated batch-normalisation statistics.

    Parameters
    ----------
    recalibrated_model : keras.Model
        The autoencoder after :func:`recalibrate_batchnorm`.
    groups : mapping name -> (inputs, outputs)
        Clips to check: model inputs and the reconstructions as scored.

    Returns
    -------
    DataFrame with ``clips`` (the group name), ``n``, ``mse_running`` (as scored),
    ``mse_recalibrated`` and ``input_variance``.
    """
    rows = []
    for name, (inputs, outputs) in groups.items():
        inputs = np.asarray(inputs, dtype=np.float32)
        fixed = reconstruct_images(recalibrated_model, inputs)
        rows.append(
            {
                "clips": name,
                "n": len(inputs),
                "mse_running": float(np.mean((inputs - np.asarray(outputs)) ** 2)),
                "mse_recalibrated": float(np.mean((inputs - fixed) ** 2)),
                "input_variance": float(np.var(inputs)),
            }
        )
    return pd.DataFrame(rows)


def reconstruction_errors(inputs: np.ndarray, outputs: np.ndarray, clips: pd.DataFrame) -> pd.DataFrame:
    """Per clip: ``clips``' ``machine_type``, ``machine_id``, ``label``, ``file_name`` plus ``mse``
    (the conv AE's anomaly score) and ``top5_share`` (:func:`top_share`)."""
    errors = (np.asarray(inputs) - np.asarray(outputs)) ** 2
    frame = clips[["machine_type", "machine_id", "label", "file_name"]].reset_index(drop=True).copy()
    frame["mse"] = errors.reshape(len(errors), -1).mean(axis=1)
    frame["top5_share"] = top_share(errors)
    return frame


def error_by_band(inputs: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Squared reconstruction error averaged over time, per clip and mel band: ``(n_clips, n_mels)``."""
    return np.mean((np.asarray(inputs) - np.asarray(outputs)) ** 2, axis=2)


def reconstruction_summary(errors: pd.DataFrame) -> pd.DataFrame:
    """Per case (machine type and ID) and label: clips, mean / median / max of the clip MSE,
    and the share of the error held by the 5% worst pixels (``top5_share``).

    ``errors`` has columns ``machine_type``, ``machine_id``, ``label``, ``mse``, ``top5_share``.
    """
    grouped = errors.groupby(["machine_type", "machine_id", "label"], sort=True)
    summary = grouped.agg(
        clips=("mse", "size"),
        mean_mse=("mse", "mean"),
        median_mse=("mse", "median"),
        max_mse=("mse", "max"),
        top5_share=("top5_share", "mean"),
    )
    return summary.reset_index()


def top_share(errors: np.ndarray, fraction: float = 0.05) -> np.ndarray:
    """Per clip, the share of its summed squared error held by its ``fraction`` largest pixels."""
    flat = np.sort(np.asarray(errors).reshape(len(errors), -1), axis=1)[:, ::-1]
    k = max(1, int(round(fraction * flat.shape[1])))
    totals = flat.sum(axis=1)
    return np.where(totals > 0, flat[:, :k].sum(axis=1) / np.where(totals > 0, totals, 1), 0.0)


@dataclass
class MachineReconstructions:
    """What :func:`reconstruct_machine` measured on one machine (type and ID)."""

    machine_type: str
    machine_id: str  #: the ID shown (``shown.attrs["machine_id"]``)
    shown: pd.DataFrame  #: the picked clips (:func:`pick_clips`), in figure order
    inputs: np.ndarray  #: their model inputs ``(n_shown, n_mels, n_frames)``
    outputs: np.ndarray  #: their reconstructions as scored
    recalibrated: np.ndarray  #: their reconstructions with re-estimated batch-normalisation statistics
    scores: np.ndarray  #: their anomaly scores (MSE as scored) ``(n_shown,)``
    errors: pd.DataFrame  #: every labelled test clip of the machine (:func:`reconstruction_errors`)
    band_errors: dict[str, np.ndarray]  #: label -> ``(n_clips, n_mels)`` error per mel band (:func:`error_by_band`)
    batchnorm: pd.DataFrame  #: :func:`batchnorm_check` of the training, normal and anomalous clips
    n_train_clips: int  #: training clips of the machine type (all IDs: the model's training set)


def reconstruct_machine(detector, table: pd.DataFrame, shown: pd.DataFrame, *, cache=None) -> MachineReconstructions:
    """Reconstructions and errors of one machine by a fitted image autoencoder detector.

    Parameters
    ----------
    detector : asd.detectors.ConvAEDetector
        Fitted on the machine type of ``shown`` (e.g. :func:`asd.pipeline.load_detector`).
    table : DataFrame
        The clip table of the dataset (:func:`asd.data.discover_clips`): the machine type's
        training clips re-estimate the batch-normalisation statistics, and every labelled test
        clip of the machine is measured.
    shown : DataFrame
        Clips of one machine picked by :func:`pick_clips` (not empty).
    cache : asd.features.FeatureCache, optional
        Feature cache for the images.
    """
    if shown.empty:
        raise ValueError(f"no clips to reconstruct: {shown.attrs.get('note') or 'empty selection'}")
    machine_type, machine_id = (
        str(shown["machine_type"].iloc[0]),
        str(shown.attrs.get("machine_id", shown["machine_id"].iloc[0])),
    )
    train_clips = table[(table["split"] == "train") & (table["machine_type"] == machine_type)]
    train_inputs, train_outputs = reconstruct_clips(detector, train_clips["path"], cache=cache)
    recalibrated_model = recalibrate_batchnorm(detector.model, train_inputs)

    inputs, outputs = reconstruct_clips(detector, shown["path"], cache=cache)
    test_clips = table[
        (table["split"] == "test")
        & (table["machine_type"] == machine_type)
        & (table["machine_id"] == machine_id)
        & table["label"].isin(LABELS)
    ].reset_index(drop=True)
    test_inputs, test_outputs = reconstruct_clips(detector, test_clips["path"], cache=cache)

    own = (train_clips["machine_id"] == machine_id).to_numpy()
    groups = {"train normal": (train_inputs[own], train_outputs[own])}
    bands = error_by_band(test_inputs, test_outputs)
    band_errors = {}
    for label in LABELS:
        mask = (test_clips["label"] == label).to_numpy()
        groups[f"test {label}"] = (test_inputs[mask], test_outputs[mask])
        band_errors[label] = bands[mask]
    check = batchnorm_check(recalibrated_model, groups)
    check.insert(0, "machine_id", machine_id)
    check.insert(0, "machine_type", machine_type)
    return MachineReconstructions(
        machine_type=machine_type,
        machine_id=machine_id,
        shown=shown,
        inputs=inputs,
        outputs=outputs,
        recalibrated=reconstruct_images(recalibrated_model, inputs),
        scores=((inputs - outputs) ** 2).mean(axis=(1, 2)),
        errors=reconstruction_errors(test_inputs, test_outputs, test_clips),
        band_errors=band_errors,
        batchnorm=check,
        n_train_clips=len(train_clips),
    )
