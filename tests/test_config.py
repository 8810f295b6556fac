import pytest

from asd.config import DEV_MACHINE_IDS, MACHINE_TYPES, StudyConfig, load_config
from asd.errors import ConfigError


def test_defaults_are_the_study():
    config = StudyConfig()
    assert (config.image.n_mels, config.image.n_fft, config.image.hop_length, config.image.n_frames) == (64, 4096, 2500, 64)
    assert (config.baseline.n_mels, config.baseline.n_fft, config.baseline.hop_length, config.baseline.frames) == (128, 1024, 512, 5)
    assert config.max_fpr == 0.1
    assert MACHINE_TYPES == ("ToyCar", "ToyConveyor", "fan", "pump", "slider", "valve")
    assert DEV_MACHINE_IDS["ToyConveyor"] == ("01", "02", "03")


def test_yaml_round_trip(tmp_path):
    config = StudyConfig()
    config.training.epochs["conv_ae"] = 7
    config.machine_types = ["fan"]
    config.to_yaml(tmp_path / "c.yaml")
    back = StudyConfig.from_yaml(tmp_path / "c.yaml")
    assert back == config
    assert back.fingerprint() == config.fingerprint()


def test_partial_yaml_overrides_defaults(tmp_path):
    (tmp_path / "c.yaml").write_text("training:\n  batch_size: 8\nmax_fpr: 0.05\n")
    config = load_config(tmp_path / "c.yaml")
    assert config.training.batch_size == 8 and config.max_fpr == 0.05
    assert config.image.n_mels == 64


@pytest.mark.parametrize(
    "text, message",
    [("imagee:\n  n_mels: 3\n", "unknown key"), ("image: 3\n", "expected a mapping"), ("[1, 2]\n", "mapping"), (":\n  - :", "YAML")],
)
def test_bad_config_files_name_the_file(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert "bad.yaml" in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_epochs_for():
    config = StudyConfig()
    assert config.training.epochs_for("conv_ae") == config.training.epochs["conv_ae"]
    assert config.training.epochs_for("something_else") == config.training.default_epochs
