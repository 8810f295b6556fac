"""The synthetic machines in the DCASE 2021-2025 layouts (asd.synth.years through asd.synth.generate_dataset)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asd import synth
from asd.errors import ConfigError
from asd.synth.years import LAYOUTS, YEAR_FORMATS, year_size

NAME = re.compile(
    r"^section_(?P<section>\d\d)_(?P<domain>source|target)_(?P<split>train|test)_(?P<label>normal|anomaly)_"
    r"(?P<index>\d{4})(?:_(?P<attributes>.+))?\.wav$"
)
#: Two types per year: one with attributes shown, and ToyTrain (hidden in 2024 and 2025).
TYPES = ["ToyTrain", "valve"]


@pytest.fixture(scope="module")
def years(tmp_path_factory):
    root = tmp_path_factory.mktemp("years")
    return {
        year: (
            root / year,
            synth.generate_dataset(
                root / year, size="tiny", format=year, machine_types=TYPES, progress=False, workers=1
            ),
        )
        for year in YEAR_FORMATS
    }


@pytest.mark.parametrize("year", YEAR_FORMATS)
def test_layout_names_counts_and_attributes(years, year):
    root, table = years[year]
    layout, size = LAYOUTS[year], year_size(year, "tiny")
    assert list(table.columns) == synth.dataset.YEAR_TABLE_COLUMNS
    counts = table.groupby(["machine_type", "section", "split", "domain", "label"]).size()
    for machine_type in TYPES:
        for section in layout.sections:
            assert counts[(machine_type, section, "train", "source", "normal")] == size.train_source
            assert counts[(machine_type, section, "train", "target", "normal")] == size.train_target
            for domain in ("source", "target"):
                for label in ("normal", "anomaly"):
                    assert counts[(machine_type, section, "test", domain, label)] == size.test_each
    for row in table.itertuples():
        path = Path(row.path)
        match = NAME.match(path.name)
        assert match and path.is_file(), path.name
        assert (match["section"], match["domain"], match["split"], match["label"]) == (
            row.section,
            row.domain,
            row.split,
            row.label,
        )
        folder = f"{row.domain}_test" if (year == "dcase2021" and row.split == "test") else row.split
        assert path.parent == root / row.machine_type / folder
        hidden = row.machine_type in layout.no_attribute
        if year == "dcase2021" and row.split == "test":
            assert match["attributes"] is None  # 2021 test names carry no attributes
        else:
            assert match["attributes"] == ("noAttribute" if hidden else row.attributes)
        assert sf.info(path).samplerate == 16000 and sf.info(path).duration == pytest.approx(2.0)
    indices = table.path.map(lambda p: int(NAME.match(Path(p).name)["index"]))
    assert indices.min() == layout.index_base  # 2024 numbers from 1
    for machine_type in TYPES:
        csvs = sorted((root / machine_type).glob("attributes_*.csv"))
        if year == "dcase2021" or machine_type in layout.no_attribute:
            assert csvs == []
        else:
            assert [p.name for p in csvs] == [f"attributes_{s}.csv" for s in layout.sections]
            rows = list(csv.reader(csvs[0].open()))
            assert rows[0] == ["file_name", "d1p", "d1v", "d2p", "d2v"]
            assert all((root / r[0]).is_file() and r[2] in r[0] for r in rows[1:])


def test_first_shot_years_use_their_dev_type_names_and_hidden_attributes():
    first_shot = {"ToyCar", "ToyTrain", "bearing", "fan", "gearbox", "slider", "valve"}
    assert set(LAYOUTS["dcase2023"].machine_types) == first_shot
    assert "pump" in LAYOUTS["dcase2021"].machine_types and "bearing" not in LAYOUTS["dcase2021"].machine_types
    assert set(LAYOUTS["dcase2024"].no_attribute) == {"gearbox", "slider", "ToyTrain"}
    assert set(LAYOUTS["dcase2025"].no_attribute) == {"bearing", "slider", "ToyTrain"}
    assert (year_size("dcase2023", "default").train_source, year_size("dcase2023", "default").train_target) == (990, 10)
    assert LAYOUTS["dcase2022"].sections == ("00", "01", "02") and LAYOUTS["dcase2025"].sections == ("00",)


def _spectrum_db(path) -> np.ndarray:
    """Spectral shape: power in 40 log-spaced bands, dB, level removed."""
    samples, _ = sf.read(path)
    frames = samples[: len(samples) // 1024 * 1024].reshape(-1, 1024) * np.hanning(1024)
    power = np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    edges = np.unique(np.geomspace(2, 513, 41).astype(int))
    bands = 10 * np.log10(np.array([power[a:b].mean() for a, b in zip(edges[:-1], edges[1:])]) + 1e-12)
    return bands - bands.mean()


def test_target_domain_is_really_shifted(years):
    _, table = years["dcase2023"]
    for machine_type in TYPES:
        normal = table[(table.machine_type == machine_type) & (table.label == "normal")]
        source = [_spectrum_db(p) for p in normal[normal.domain == "source"].path]
        target = [_spectrum_db(p) for p in normal[normal.domain == "target"].path]
        centre = np.mean(source, axis=0)
        within = max(np.sqrt(np.mean((s - centre) ** 2)) for s in source)
        across = min(np.sqrt(np.mean((t - centre) ** 2)) for t in target)
        assert across > 1.5 * within, (machine_type, within, across)


def test_deterministic_and_seeded(years, tmp_path):
    _, table = years["dcase2022"]
    again = synth.generate_dataset(
        tmp_path / "a", size="tiny", format="dcase2022", machine_types=TYPES, progress=False, workers=2
    )
    assert again.attrs["fingerprint"] == table.attrs["fingerprint"]
    other = synth.generate_dataset(
        tmp_path / "b", size="tiny", seed=1, format="dcase2022", machine_types=["valve"], progress=False, workers=1
    )
    assert other.attrs["fingerprint"] != table.attrs["fingerprint"]


@pytest.mark.parametrize("year", ["dcase2021", "dcase2023"])
def test_eval_style_names_and_ground_truth(tmp_path, year):
    table = synth.generate_dataset(
        tmp_path, size="tiny", format=year, machine_types=["valve"], eval_names=True, progress=False, workers=1
    )
    test = table[table.split == "test"]
    pattern = r"section_\d\d_(source|target)_test_\d{4}\.wav" if year == "dcase2021" else r"section_\d\d_\d{4}\.wav"
    assert all(re.fullmatch(pattern, Path(p).name) for p in test.path)
    truth = {}
    for path in (tmp_path / "ground_truth" / "ground_truth_data").glob("*.csv"):
        rows = list(csv.reader(path.open()))
        assert [r[0] for r in rows] == sorted(r[0] for r in rows)
        truth.update({(path.name, r[0]): int(r[1]) for r in rows})
    assert len(truth) == len(test)
    for row in test.itertuples():
        suffix = f"_{row.domain}_test.csv" if year == "dcase2021" else "_test.csv"
        key = (f"ground_truth_valve_section_{row.section}{suffix}", Path(row.path).name)
        assert truth[key] == int(row.label == "anomaly") == int("_anomaly_" in row.labelled)
    if year == "dcase2023":
        truth_dir = tmp_path / "ground_truth"
        domains = list(csv.reader((truth_dir / "ground_truth_domain/ground_truth_valve_section_00_test.csv").open()))
        names = dict(zip(test.path.map(lambda p: Path(p).name), test.domain))
        assert all(int(flag) == (names[name] == "target") for name, flag in domains)
        attributes_csv = truth_dir / "ground_truth_attributes/ground_truth_valve_section_00_test.csv"
        attributes = list(csv.reader(attributes_csv.open()))
        assert all(NAME.match(labelled + ".wav") for _, labelled in attributes)


def test_bad_arguments_are_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="format"):
        synth.generate_dataset(tmp_path, size="tiny", format="dcase2019", progress=False)
    with pytest.raises(ConfigError, match="eval-style"):
        synth.generate_dataset(tmp_path, size="tiny", eval_names=True, progress=False)
    with pytest.raises(ConfigError, match="pump"):
        synth.generate_dataset(tmp_path, size="tiny", format="dcase2023", machine_types=["pump"], progress=False)


def test_cli_generate_format(tmp_path, capsys):
    from asd.cli import main

    assert (
        main(
            [
                "-q",
                "generate",
                "--out",
                str(tmp_path / "d"),
                "--size",
                "tiny",
                "--format",
                "dcase2025",
                "--machine-types",
                "valve",
            ]
        )
        == 0
    )
    assert "target" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "d" / "valve" / "train").glob("*target*")) == [
        "section_00_target_train_normal_0000_spd_118_bkg_B.wav",
        "section_00_target_train_normal_0001_spd_118_bkg_B.wav",
    ]
    assert main(["-q", "generate", "--out", str(tmp_path / "e"), "--format", "dcase2019"]) == 2
