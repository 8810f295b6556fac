"""What the image autoencoder reconstructs: clip picks, errors, batch-normalisation check, one machine end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asd import reconstruction
from asd.data import discover_clips
from asd.pipeline import load_detector, train


def test_pick_clips_counts_and_fallback_id(clip_table):
    chosen = reconstruction.pick_clips(clip_table, "fan", "2", counts={"anomaly": 2, "normal": 1}, seed=1)
    assert chosen["label"].tolist() == ["anomaly", "anomaly", "normal"]
    assert set(chosen["machine_id"]) == {"02"} and chosen.attrs["note"] == ""
    fallback = reconstruction.pick_clips(clip_table, "fan", "04")
    assert fallback.attrs["machine_id"] == "00" and "id 04" in fallback.attrs["note"]
    missing = reconstruction.pick_clips(clip_table, "valve", "00")
    assert missing.empty and "valve" in missing.attrs["note"]


def test_reconstruction_errors_summary_and_bands(rng):
    inputs = rng.normal(size=(3, 8, 8)).astype(np.float32)
    outputs = inputs * 0.5
    clips = pd.DataFrame(
        {
            "machine_type": ["fan"] * 3,
            "machine_id": ["00"] * 3,
            "label": ["normal", "anomaly", "anomaly"],
            "file_name": list("abc"),
        }
    )
    errors = reconstruction.reconstruction_errors(inputs, outputs, clips)
    assert errors["mse"].to_numpy() == pytest.approx(np.mean((0.5 * inputs) ** 2, axis=(1, 2)))
    summary = reconstruction.reconstruction_summary(errors).set_index("label")
    assert summary.loc["anomaly", "clips"] == 2
    bands = reconstruction.error_by_band(inputs, outputs)
    assert bands.shape == (3, 8)


def test_recalibrate_batchnorm_uses_the_training_statistics(rng):
    keras = pytest.importorskip("keras")
    inputs = keras.Input(shape=(4, 4, 1))
    outputs = keras.layers.BatchNormalization(name="bn")(inputs)
    model = keras.Model(inputs, outputs)  # running mean 0, variance 1: the identity at inference
    train = rng.normal(3.0, 2.0, size=(64, 4, 4)).astype(np.float32)
    fixed = reconstruction.recalibrate_batchnorm(model, train)
    assert float(model.get_layer("bn").moving_mean.numpy()[0]) == 0.0  # the original is untouched
    assert float(fixed.get_layer("bn").moving_mean.numpy()[0]) == pytest.approx(train.mean(), rel=1e-4)
    assert fixed.get_layer("bn").momentum == model.get_layer("bn").momentum
    normalised = reconstruction.reconstruct_images(fixed, train)
    assert normalised.mean() == pytest.approx(0.0, abs=1e-3) and normalised.std() == pytest.approx(1.0, abs=1e-2)
    check = reconstruction.batchnorm_check(
        fixed, {"train": (train, reconstruction.reconstruct_images(model, train))}
    ).iloc[0]
    assert check["clips"] == "train" and check["n"] == 64
    assert check["mse_running"] == pytest.approx(0.0, abs=1e-4)  # identity: the input reproduced
    assert check["mse_recalibrated"] > 1.0 and check["input_variance"] == pytest.approx(train.var(), rel=1e-4)


def test_top_share():
    errors = np.zeros((2, 10, 10))
    errors[0, 0, :5] = 1.0  # all error in 5 of 100 pixels
    errors[1] = 1.0  # spread evenly
    assert reconstruction.top_share(errors).tolist() == pytest.approx([1.0, 0.05])
    assert reconstruction.top_share(np.zeros((1, 4, 4))).tolist() == [0.0]


@pytest.mark.slow
def test_reconstruct_machine_on_tiny_data(tiny_root, tmp_path, quick_config):
    run_dir = tmp_path / "run"
    train(
        tiny_root,
        model="conv_ae",
        out=run_dir,
        config=quick_config,
        machine_types=["pump"],
        cache_dir=False,
        progress=False,
    )
    detector = load_detector(run_dir, "pump")
    table = discover_clips(tiny_root, machine_types=["pump"])
    shown = reconstruction.pick_clips(table, "pump", "00", counts={"anomaly": 2, "normal": 1}, seed=0)
    result = reconstruction.reconstruct_machine(detector, table, shown)

    assert (result.machine_type, result.machine_id, result.n_train_clips) == (
        "pump",
        "00",
        int((table.split == "train").sum()),
    )
    assert result.inputs.shape == result.outputs.shape == result.recalibrated.shape == (3, 64, 64)
    test = table[(table.split == "test") & (table.machine_id == "00")]
    assert sorted(result.errors.file_name) == sorted(test.file_name)
    # the per-clip MSE is the detector's anomaly score, for the shown clips and for every test clip
    np.testing.assert_allclose(
        result.scores, result.errors.set_index("file_name").loc[shown.file_name, "mse"], rtol=1e-5
    )
    from asd.features import extract_features

    features = extract_features(
        result.errors.file_name.map(dict(zip(test.file_name, test.path))).tolist(),
        kind="image",
        config=detector.config,
        progress=False,
    )
    np.testing.assert_allclose(result.errors.mse, detector.score(features.features), rtol=1e-5)
    n_labels = result.errors.label.value_counts()
    assert {label: len(bands) for label, bands in result.band_errors.items()} == {
        "normal": n_labels["normal"],
        "anomaly": n_labels["anomaly"],
    }
    assert result.batchnorm[["machine_type", "machine_id", "clips"]].values.tolist() == [
        ["pump", "00", "train normal"],
        ["pump", "00", "test normal"],
        ["pump", "00", "test anomaly"],
    ]
    assert (result.batchnorm.n > 0).all() and np.isfinite(
        result.batchnorm[["mse_running", "mse_recalibrated"]]
    ).all().all()


def test_reconstruct_machine_needs_clips(clip_table):
    missing = reconstruction.pick_clips(clip_table, "valve", "00")
    with pytest.raises(ValueError, match="no valve test clips"):
        reconstruction.reconstruct_machine(None, clip_table, missing)
