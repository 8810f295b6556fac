import pytest

from asd.config import DEV_MACHINE_IDS, MACHINE_TYPES, StudyConfig, load_config
from asd.errors import ConfigError


def test_defaults_are_the_study():
    config = StudyConfig()
    assert (config.image.n_mels, config.image.n_fft, config.image.hop_length, config.image.n_frames) == (
        64,
        4096,
        2500,
        64,
    )
    assert (config.baseline.n_mels, config.baseline.n_fft, config.baseline.hop_length, config.baseline.frames) == (
        128,
        1024,
        512,
        5,
    )
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
    [
        ("imagee:\n  n_mels: 3\n", "unknown key"),
        ("image: 3\n", "expected a mapping"),
        ("[1, 2]\n", "mapping"),
        (":\n  - :", "YAML"),
    ],
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


@pytest.mark.parametrize(
    "values, message",
    [
        ({"training": {"epochs": 5}}, "config.training.epochs: expected a mapping of strings to integers, got int 5"),
        ({"training": {"epochs": {"conv_ae": 0}}}, "config.training.epochs.conv_ae: must be >= 1, got 0"),
        ({"image": {"n_mels": "sixty-four"}}, "config.image.n_mels: expected an integer, got str 'sixty-four'"),
        ({"image": {"n_mels": 0}}, "config.image.n_mels: must be >= 1, got 0"),
        ({"image": {"n_mels": 64.0}}, "config.image.n_mels: expected an integer"),
        ({"image": {"power": True}}, "config.image.power: expected a number, got bool True"),
        ({"max_fpr": 2}, "config.max_fpr: must be > 0 and <= 1, got 2"),
        ({"max_fpr": 0}, "config.max_fpr: must be > 0"),
        ({"max_fpr": float("nan")}, "config.max_fpr: expected a finite number"),
        ({"training": {"validation_split": 1}}, "config.training.validation_split: must be >= 0 and < 1"),
        ({"audio": {"min_seconds": -1}}, "config.audio.min_seconds: must be >= 0"),
        ({"training": {"batchnorm_momentum": 1}}, "config.training.batchnorm_momentum: must be >= 0 and < 1, got 1"),
        (
            {"detectors": {"id_classifier": {"batchnorm_momentum": 1.0}}},
            "config.detectors.id_classifier.batchnorm_momentum: must be >= 0 and < 1",
        ),
        ({"seed": 0}, "config: unknown key"),  # the top-level seed was never read; training.seed seeds training
        ({"machine_types": "fan"}, "config.machine_types: expected a list of strings or null, got str 'fan'"),
        ({"machine_types": ["fan", 3]}, r"config.machine_types\[1\]: expected a string, got int 3"),
        ({"models": None}, "config.models: expected a list of strings, got NoneType"),
    ],
)
def test_every_value_is_checked_when_read(values, message):
    with pytest.raises(ConfigError, match=message):
        StudyConfig.from_dict(values)


def test_valid_values_are_kept_and_ints_become_floats():
    config = StudyConfig.from_dict({"max_fpr": 1, "machine_types": None, "training": {"epochs": {"x": 3}}})
    assert config.max_fpr == 1.0 and isinstance(config.max_fpr, float)
    assert config.machine_types is None and config.training.epochs == {"x": 3}


def test_validate_checks_values_set_in_code():
    config = StudyConfig()
    assert config.validate() is config
    config.image.n_mels = 0
    with pytest.raises(ConfigError, match="config.image.n_mels"):
        config.validate()


def test_new_sections_and_fields_are_validated_from_their_annotations():
    from dataclasses import dataclass, field

    from asd.config import _from_dict, knob

    @dataclass
    class Knobs:
        momentum: float = knob(0.9, ge=0, le=1)
        neighbours: int = 5

    @dataclass
    class Study:
        knobs: Knobs = field(default_factory=Knobs)

    assert _from_dict(Study, {"knobs": {"momentum": 0.5}}, "config").knobs.momentum == 0.5
    with pytest.raises(ConfigError, match=r"config.knobs.momentum: must be >= 0 and <= 1, got 1.5"):
        _from_dict(Study, {"knobs": {"momentum": 1.5}}, "config")
    with pytest.raises(ConfigError, match=r"config.knobs.neighbours: expected an integer, got str 'five'"):
        _from_dict(Study, {"knobs": {"neighbours": "five"}}, "config")


def test_config_file_errors_name_the_file_and_key(tmp_path):
    (tmp_path / "c.yaml").write_text("image:\n  n_mels: 0\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: config\.image\.n_mels: must be >= 1"):
        load_config(tmp_path / "c.yaml")


def test_config_that_is_a_folder_or_not_utf8(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)
    (tmp_path / "l.yaml").write_bytes(b"max_fpr: 0.1 # \xe9\n")
    with pytest.raises(ConfigError, match=r"l\.yaml: not UTF-8 text \(byte 0xe9 at offset 15\)"):
        load_config(tmp_path / "l.yaml")


def test_default_model_is_named():
    from asd.config import DEFAULT_MODEL

    assert DEFAULT_MODEL == "multistat"


def test_tuple_and_literal_fields():
    from dataclasses import dataclass
    from typing import Literal

    from asd.config import _from_dict, knob

    @dataclass
    class Section:
        sizes: tuple[int, ...] = knob((1, 2), ge=1)
        mode: Literal["fast", "exact"] = "fast"

    assert _from_dict(Section, {"sizes": [3, 4], "mode": "exact"}, "s") == Section(sizes=(3, 4), mode="exact")
    with pytest.raises(ConfigError, match=r"s.sizes\[1\]: must be >= 1, got 0"):
        _from_dict(Section, {"sizes": [3, 0]}, "s")
    with pytest.raises(ConfigError, match="s.mode: expected one of 'fast', 'exact', got 'slow'"):
        _from_dict(Section, {"mode": "slow"}, "s")


def test_config_errors_are_one_class_both_asd_and_value_errors():
    from asd.config import ThresholdConfig, check_knob
    from asd.errors import ASDError, ConfigError

    assert issubclass(ConfigError, ASDError) and issubclass(ConfigError, ValueError)
    assert check_knob(ThresholdConfig, "false_alarm_rate", 0.05) == 0.05
    with pytest.raises(ConfigError, match=r"^--false-alarm-rate: must be > 0 and < 1, got 1$"):
        check_knob(ThresholdConfig, "false_alarm_rate", 1, key="--false-alarm-rate")
    with pytest.raises(ValueError, match="expected a number"):
        check_knob(ThresholdConfig, "false_alarm_rate", "often")
