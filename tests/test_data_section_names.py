"""The DCASE 2021-2025 name grammar (spec §6 regexes) and the attributes_SS.csv reader."""

from __future__ import annotations

import pytest

from asd.data.section_names import parse_name, read_attribute_csvs
from asd.errors import LayoutError


@pytest.mark.parametrize(
    "name, section, domain, split, label, attributes",
    [
        (
            "section_00_source_train_normal_0000_car_A2_spd_28V_mic_1_noise_1.wav",
            "00",
            "source",
            "train",
            "normal",
            "car_A2_spd_28V_mic_1_noise_1",
        ),
        ("section_02_target_test_anomaly_0049_m-n_X.wav", "02", "target", "test", "anomaly", "m-n_X"),
        ("section_00_source_test_normal_0099.wav", "00", "source", "test", "normal", ""),  # 2021 dev test
        ("section_00_target_train_normal_0001_noAttribute.wav", "00", "target", "train", "normal", "noAttribute"),
        ("section_00_source_train_normal_0003_spd1000_BckgC.wav", "00", "source", "train", "normal", "spd1000_BckgC"),
        (
            "section_00_source_normal_0035_weight15_BckgF.wav",
            "00",
            "source",
            None,
            "normal",
            "weight15_BckgF",
        ),  # 2024 errata
        ("section_00_source_train_normal_0000_.wav", "00", "source", "train", "normal", ""),  # trailing _
        ("SECTION_01_TARGET_TEST_ANOMALY_0001_vel_21.WAV", "01", "target", "test", "anomaly", "vel_21"),  # any case
        ("section_03_0000.wav", "03", "unknown", "test", "unknown", ""),  # 2022+ eval
        ("section_00_0199.wav", "00", "unknown", "test", "unknown", ""),
        ("section_04_target_test_0012.wav", "04", "target", "test", "unknown", ""),  # 2021 eval
    ],
)
def test_names_of_every_year(name, section, domain, split, label, attributes):
    assert parse_name(name) == {
        "section": section,
        "domain": domain,
        "split": split,
        "label": label,
        "attributes": attributes,
    }


@pytest.mark.parametrize(
    "name",
    [
        "section_0_source_train_normal_0000.wav",
        "section_00_sorce_train_normal_0000.wav",
        "section_00_source_train_normal.wav",
        "section_00_source_train_ok_0000.wav",
        "normal_id_00_00000000.wav",
        "section_00_source_test_.wav",
        "section_00.wav",
    ],
)
def test_names_that_do_not_parse(name):
    assert parse_name(name) is None


def test_attribute_csvs_pairs_joined_in_name_order(tmp_path):
    (tmp_path / "attributes_00.csv").write_text(
        "file_name,d1p,d1v,d2p,d2v\n"
        "fan/test/section_00_0000.wav,m-n,W,vel,21\n"
        "fan\\test\\section_00_0001.wav,m-n,X,,\n"  # fewer pairs, Windows separators
    )
    (tmp_path / "ATTRIBUTES_01.CSV").write_text("file_name,d1p,d1v\nfan/test/section_01_0000.wav,pat,06\n")
    assert read_attribute_csvs(tmp_path) == {
        "section_00_0000.wav": "m-n_W_vel_21",
        "section_00_0001.wav": "m-n_X",
        "section_01_0000.wav": "pat_06",
    }
    (tmp_path / "attributes_02.csv").write_text("file_name,d1p,d1v\nnot a clip,a,b\n")
    with pytest.raises(LayoutError, match=r"attributes_02.csv:2: expected a clip path"):
        read_attribute_csvs(tmp_path)
