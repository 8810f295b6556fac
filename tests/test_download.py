"""`asd download`: fetch, verify, resume, extract safely — all against a local HTTP server.

No test touches the internet: archives are small zips made here and served from 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import shutil
import stat
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asd import download as dl
from asd.config import MACHINE_TYPES
from asd.data import find_ground_truth, load_ground_truth
from asd.download import ArchiveError, DownloadError
from asd.download import dataset as dl_dataset
from asd.download import transfer as dl_transfer
from asd.errors import ConfigError

# -- helpers ------------------------------------------------------------------------------


def wav_bytes(seed: int = 0, seconds: float = 0.05) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    sf.write(
        buf, (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32), 16000, subtype="PCM_16", format="WAV"
    )
    return buf.getvalue()


def make_zip(entries: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)  # the constructor keeps names as given (even '/abs', '..')
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.create_system = 3
            zf.writestr(info, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            info.create_system = 3
            zf.writestr(info, target)
    return buf.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


DEV_FAN = {
    "fan/train/normal_id_00_00000000.wav": wav_bytes(0),
    "fan/train/normal_id_00_00000001.wav": wav_bytes(1),
    "fan/test/normal_id_00_00000000.wav": wav_bytes(2),
    "fan/test/anomaly_id_00_00000000.wav": wav_bytes(3),
}


class Server:
    """Serves ``files`` by name; records requests; can cut a transfer short once per name."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut_once: set[str] = set()  # next full GET of these sends half the body, then hangs up
        self.requests: list[tuple[str, str, str | None]] = []  # (method, name, Range header)
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def _lookup(self, method):
                name = self.path.lstrip("/").split("?")[0]
                with server.lock:
                    server.requests.append((method, name, self.headers.get("Range")))
                data = server.files.get(name)
                if data is None:
                    self.send_error(404, "Not Found")
                return name, data

            def do_HEAD(self):
                name, data = self._lookup("HEAD")
                if data is None:
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()

            def do_GET(self):
                name, data = self._lookup("GET")
                if data is None:
                    return
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    body = data[start:]
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    body = data
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                with server.lock:
                    cut = not rng and name in server.cut_once
                    server.cut_once.discard(name)
                if cut:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def gets(self, name: str | None = None) -> list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[0] == "GET" and (name is None or r[1] == name)]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def _fast_and_isolated(monkeypatch):
    monkeypatch.setattr(dl_transfer, "RETRY_WAIT_S", 0.0)
    monkeypatch.delenv(dl.ENV_BASE_URL, raising=False)


def fetch_fan(server, to, **kwargs):
    if "checksums" not in kwargs:
        kwargs["checksums"] = {"dev_data_fan.zip": md5(server.files["dev_data_fan.zip"])}
    return dl.download_dataset(
        to, machine_types=["fan"], sets=("dev",), base_url=server.url, progress=False, timeout=5, **kwargs
    )


def nothing_extracted(to: Path) -> bool:
    dev = to / "dev"
    leftovers = [p for p in dev.rglob("*")] if dev.exists() else []
    return not any(p.is_file() for p in leftovers) and not (dev / "fan").exists()


# -- the table and URLs -------------------------------------------------------------------


def test_table_covers_every_set_and_machine_type():
    for machine_type in MACHINE_TYPES:
        for set_name, pattern in (
            ("dev", "dev_data_{}.zip"),
            ("additional", "eval_data_train_{}.zip"),
            ("eval", "eval_data_test_{}.zip"),
        ):
            archive = dl.ARCHIVES[pattern.format(machine_type)]
            assert archive.set == set_name and archive.machine_type == machine_type
            assert len(archive.md5) == 32 and int(archive.md5, 16) >= 0
            assert archive.size > 100_000_000
    assert dl.ARCHIVES["eval_data_list.csv"].md5 is None
    assert len({a.md5 for a in dl.ARCHIVES.values() if a.md5}) == 18


def test_urls_zenodo_mirror_and_environment(monkeypatch):
    assert dl.archive_url("dev_data_fan.zip") == "https://zenodo.org/records/3678171/files/dev_data_fan.zip?download=1"
    assert dl.archive_url("eval_data_train_pump.zip").startswith("https://zenodo.org/records/3727685/")
    assert dl.archive_url("eval_data_test_valve.zip").startswith("https://zenodo.org/records/3841772/")
    assert dl.archive_url("eval_data_list.csv").startswith("https://zenodo.org/records/3951620/")
    assert dl.archive_url("dev_data_fan.zip", base_url="http://m/x/") == "http://m/x/dev_data_fan.zip"
    monkeypatch.setenv(dl.ENV_BASE_URL, "http://mirror.example/dcase")
    assert dl.archive_url("dev_data_fan.zip") == "http://mirror.example/dcase/dev_data_fan.zip"


def test_plan_validates_sets_and_machine_types():
    names = [a.name for a in dl.plan_downloads(machine_types=["fan", "ToyCar"], sets="dev, eval")]
    assert names == [
        "dev_data_ToyCar.zip",
        "dev_data_fan.zip",
        "eval_data_test_ToyCar.zip",
        "eval_data_test_fan.zip",
        "eval_data_list.csv",
    ]
    assert len(dl.plan_downloads()) == 6
    with pytest.raises(ConfigError, match="unknown set 'train'"):
        dl.plan_downloads(sets="dev,train")
    with pytest.raises(ConfigError, match="unknown machine type"):
        dl.plan_downloads(machine_types=["gearbox"])


def test_read_md5sums(tmp_path):
    path = tmp_path / "MD5SUMS"
    path.write_text(f"# mirror sums\n{'a' * 32}  dev_data_fan.zip\n{'B' * 32} *sub/eval_data_list.csv\n")
    assert dl.read_md5sums(path) == {"dev_data_fan.zip": "a" * 32, "eval_data_list.csv": "b" * 32}
    path.write_text("not a checksum line\n")
    with pytest.raises(ConfigError, match="MD5SUMS:1"):
        dl.read_md5sums(path)


# -- the good path and idempotence --------------------------------------------------------


def test_good_archive_is_extracted_and_second_run_does_nothing(server, tmp_path):
    server.files["dev_data_fan.zip"] = make_zip(DEV_FAN)
    to = tmp_path / "data"

    summary = fetch_fan(server, to)

    assert [(s["name"], s["status"], s["verified"]) for s in summary] == [("dev_data_fan.zip", "done", True)]
    for name, data in DEV_FAN.items():
        assert (to / "dev" / name).read_bytes() == data
    marker = json.loads(dl.marker_path(to, dl.ARCHIVES["dev_data_fan.zip"]).read_text())
    assert marker["md5"] == md5(server.files["dev_data_fan.zip"]) and marker["files"] == 4
    assert not list((to / "dev").glob(".tmp-*")), "temporary extraction folder left behind"
    assert not (to / dl.DOWNLOAD_DIR).exists(), "archive kept without --keep-archives"

    # The core reads the result as a DCASE development set.
    from asd.data import discover_clips

    clips = discover_clips(to / "dev")
    assert sorted(clips["label"]) == ["anomaly", "normal", "normal", "normal"]
    assert set(clips["split"]) == {"train", "test"}

    server.requests.clear()
    again = fetch_fan(server, to)
    assert [s["status"] for s in again] == ["present"]
    assert server.requests == [], "a second run must not touch the network"


def test_keep_archives_keeps_the_verified_zip(server, tmp_path):
    server.files["dev_data_fan.zip"] = make_zip(DEV_FAN)
    fetch_fan(server, tmp_path, keep_archives=True)
    kept = tmp_path / dl.DOWNLOAD_DIR / "dev_data_fan.zip"
    assert kept.read_bytes() == server.files["dev_data_fan.zip"]


# -- verification -------------------------------------------------------------------------


def test_wrong_checksum_names_the_file_and_deletes_it(server, tmp_path):
    server.files["dev_data_fan.zip"] = make_zip(DEV_FAN)
    with pytest.raises(DownloadError) as err:
        fetch_fan(server, tmp_path, checksums={"dev_data_fan.zip": "0" * 32})
    message = str(err.value)
    assert "dev_data_fan.zip" in message and "wrong checksum" in message and "deleted" in message
    assert not [p for p in (tmp_path / dl.DOWNLOAD_DIR).glob("*")], "bad download (or its partial) left on disk"
    assert nothing_extracted(tmp_path)
    assert not dl.marker_path(tmp_path, dl.ARCHIVES["dev_data_fan.zip"]).exists()


def test_file_without_known_md5_is_refused_unless_allowed(server, tmp_path):
    test_fan = make_zip({"fan/test/id_01_00000000.wav": wav_bytes(5), "fan/test/id_01_00000001.wav": wav_bytes(6)})
    truth = "fan\nid_01_00000000.wav,normal_id_01_00000000.wav,0\nid_01_00000001.wav,anomaly_id_01_00000000.wav,1\n"
    server.files.update({"eval_data_test_fan.zip": test_fan, "eval_data_list.csv": truth.encode()})
    kwargs = dict(
        machine_types=["fan"],
        sets="eval",
        base_url=server.url,
        progress=False,
        timeout=5,
        checksums={"eval_data_test_fan.zip": md5(test_fan)},
    )

    with pytest.raises(DownloadError, match="no known md5 for eval_data_list.csv.*allow-unverified"):
        dl.download_dataset(tmp_path, **kwargs)
    assert server.requests == [], "nothing may be fetched before the refusal"

    summary = dl.download_dataset(tmp_path, allow_unverified=True, **kwargs)
    by_name = {s["name"]: s for s in summary}
    assert by_name["eval_data_test_fan.zip"]["verified"] is True
    assert by_name["eval_data_list.csv"]["verified"] is False
    assert by_name["eval_data_list.csv"]["md5"] == md5(truth.encode())
    assert (tmp_path / "eval" / "fan" / "test" / "id_01_00000001.wav").is_file()
    gt = load_ground_truth(find_ground_truth(tmp_path / "eval"))
    assert list(gt["label"]) == ["normal", "anomaly"]


# -- resume -------------------------------------------------------------------------------


def test_transfer_cut_short_is_resumed_with_a_range_request(server, tmp_path):
    archive = make_zip(DEV_FAN)
    server.files["dev_data_fan.zip"] = archive
    server.cut_once.add("dev_data_fan.zip")

    fetch_fan(server, tmp_path, retries=2, keep_archives=True)

    gets = server.gets("dev_data_fan.zip")
    assert len(gets) == 2
    assert gets[0][2] is None and gets[1][2] == f"bytes={len(archive) // 2}-"
    assert dl.md5_file(tmp_path / dl.DOWNLOAD_DIR / "dev_data_fan.zip") == md5(archive)
    assert (tmp_path / "dev" / "fan" / "test" / "anomaly_id_00_00000000.wav").read_bytes() == DEV_FAN[
        "fan/test/anomaly_id_00_00000000.wav"
    ]


def test_cut_short_without_retries_fails_clearly_then_resumes_on_the_next_run(server, tmp_path):
    archive = make_zip(DEV_FAN)
    server.files["dev_data_fan.zip"] = archive
    server.cut_once.add("dev_data_fan.zip")

    with pytest.raises(DownloadError, match="dev_data_fan.zip: transfer failed.*run the command again to resume"):
        fetch_fan(server, tmp_path, retries=0)
    partial = tmp_path / dl.DOWNLOAD_DIR / "dev_data_fan.zip.part"
    assert partial.stat().st_size == len(archive) // 2
    assert nothing_extracted(tmp_path)

    summary = fetch_fan(server, tmp_path, retries=0)
    assert summary[0]["status"] == "done"
    assert server.gets("dev_data_fan.zip")[-1][2] == f"bytes={len(archive) // 2}-"
    assert not partial.exists()
    assert (tmp_path / "dev" / "fan" / "train" / "normal_id_00_00000001.wav").is_file()


def test_partial_that_is_already_complete_is_used_as_is(server, tmp_path):
    archive = make_zip(DEV_FAN)
    server.files["dev_data_fan.zip"] = archive
    partial = tmp_path / dl.DOWNLOAD_DIR / "dev_data_fan.zip.part"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(archive)  # e.g. interrupted between the last byte and the md5 check

    assert fetch_fan(server, tmp_path)[0]["status"] == "done"
    assert [r[2] for r in server.gets()] == [f"bytes={len(archive)}-"]  # answered 416, nothing re-sent
    assert (tmp_path / "dev" / "fan" / "test" / "normal_id_00_00000000.wav").is_file()


def test_http_404_is_a_clear_error(server, tmp_path):
    with pytest.raises(DownloadError, match="dev_data_fan.zip: HTTP 404"):
        fetch_fan(server, tmp_path, checksums={"dev_data_fan.zip": "1" * 32})


# -- unsafe archives ----------------------------------------------------------------------


def _refused(server, tmp_path, zip_bytes, entry):
    server.files["dev_data_fan.zip"] = zip_bytes
    with pytest.raises(ArchiveError) as err:
        fetch_fan(server, tmp_path / "data")
    message = str(err.value)
    assert "dev_data_fan.zip" in message and entry in message
    assert nothing_extracted(tmp_path / "data")
    assert not dl.marker_path(tmp_path / "data", dl.ARCHIVES["dev_data_fan.zip"]).exists()
    assert not list((tmp_path / "data" / "dev").glob(".tmp-*"))
    return message


def test_dotdot_entry_is_refused(server, tmp_path):
    entry = "fan/train/../../../../evil.wav"
    message = _refused(server, tmp_path, make_zip({**DEV_FAN, entry: b"x"}), entry)
    assert "'..'" in message
    assert not list(tmp_path.rglob("evil.wav"))


def test_absolute_entry_is_refused(server, tmp_path):
    target = tmp_path / "outside" / "abs_evil.wav"
    entry = target.as_posix()
    assert entry.startswith("/")
    message = _refused(server, tmp_path, make_zip({**DEV_FAN, entry: b"x"}), entry)
    assert "absolute path" in message
    assert not target.exists()


def test_symlink_escaping_the_target_is_refused(server, tmp_path):
    entry = "fan/train/normal_id_00_00000009.wav"
    message = _refused(server, tmp_path, make_zip(DEV_FAN, symlinks={entry: "../../../../../etc/passwd"}), entry)
    assert "symbolic link pointing outside" in message


def test_symlink_inside_the_target_is_refused_too(server, tmp_path):
    entry = "fan/train/normal_id_00_00000009.wav"
    message = _refused(server, tmp_path, make_zip(DEV_FAN, symlinks={entry: "normal_id_00_00000000.wav"}), entry)
    assert "links are not extracted" in message


def test_archive_without_the_machine_type_folder_is_refused(server, tmp_path):
    server.files["dev_data_fan.zip"] = make_zip({"pump/train/normal_id_00_00000000.wav": wav_bytes(0)})
    with pytest.raises(ArchiveError, match="dev_data_fan.zip: expected a top folder fan/"):
        fetch_fan(server, tmp_path)
    assert nothing_extracted(tmp_path)


def test_interrupted_extraction_leaves_nothing_that_looks_complete(server, tmp_path, monkeypatch):
    server.files["dev_data_fan.zip"] = make_zip(DEV_FAN)
    real_copy = shutil.copyfileobj
    calls = {"n": 0}

    def flaky_copy(src, dst, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk went away")
        return real_copy(src, dst, *args)

    monkeypatch.setattr(shutil, "copyfileobj", flaky_copy)
    with pytest.raises(OSError, match="disk went away"):
        fetch_fan(server, tmp_path)
    assert nothing_extracted(tmp_path)
    assert not dl.is_complete(tmp_path, dl.ARCHIVES["dev_data_fan.zip"])
    assert not list((tmp_path / "dev").glob(".tmp-*"))

    monkeypatch.setattr(shutil, "copyfileobj", real_copy)
    server.requests.clear()
    assert fetch_fan(server, tmp_path)[0]["status"] == "done"
    assert server.gets() == [], "the verified archive from the first run is reused"
    assert len(list((tmp_path / "dev" / "fan").rglob("*.wav"))) == 4


def test_half_moved_data_without_marker_is_replaced(server, tmp_path):
    server.files["dev_data_fan.zip"] = make_zip(DEV_FAN)
    stale = tmp_path / "dev" / "fan" / "train"
    stale.mkdir(parents=True)
    (stale / "normal_id_00_00000099.wav").write_bytes(b"stale")
    fetch_fan(server, tmp_path)
    assert sorted(p.name for p in stale.iterdir()) == ["normal_id_00_00000000.wav", "normal_id_00_00000001.wav"]


@pytest.mark.parametrize("link", ["dev/fan/train", "dev/fan", "dev", ".downloads"])
def test_symlinked_target_folder_is_refused_in_one_line(server, tmp_path, capsys, link):
    """A folder download writes into is a symbolic link: exit 2, one line, nothing through the link."""
    from asd import cli

    archive = make_zip(DEV_FAN)
    server.files["dev_data_fan.zip"] = archive
    sums = tmp_path / "MD5SUMS"
    sums.write_text(f"{md5(archive)}  dev_data_fan.zip\n")
    to, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("someone else's")
    (to / link).parent.mkdir(parents=True, exist_ok=True)
    (to / link).symlink_to(elsewhere, target_is_directory=True)

    rc = cli.main(
        [
            "-q",
            "download",
            "--to",
            str(to),
            "--machine-types",
            "fan",
            "--base-url",
            server.url,
            "--checksums",
            str(sums),
            "--timeout",
            "5",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert f"{to / link} is a symbolic link" in err and "Traceback" not in err
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"], "nothing written through the link"
    assert server.requests == [], "refused before anything is fetched"
    assert (to / link).is_symlink()


def test_download_folder_itself_may_be_a_link(server, tmp_path):
    server.files["dev_data_fan.zip"] = make_zip(DEV_FAN)
    real = tmp_path / "big_disk"
    real.mkdir()
    (tmp_path / "data").symlink_to(real, target_is_directory=True)
    assert fetch_fan(server, tmp_path / "data")[0]["status"] == "done"
    assert (real / "dev" / "fan" / "train" / "normal_id_00_00000000.wav").is_file()


# -- disk space ---------------------------------------------------------------------------


def test_not_enough_disk_space_is_a_clear_error_before_fetching(server, tmp_path, monkeypatch):
    server.files["dev_data_fan.zip"] = make_zip(DEV_FAN)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(DownloadError, match="not enough free disk space") as err:
        fetch_fan(server, tmp_path)
    assert "only 1.0 kB free" in str(err.value)
    assert server.gets() == []
    assert nothing_extracted(tmp_path)


def test_space_estimate_uses_the_table_when_the_server_gives_no_size(tmp_path, monkeypatch):
    monkeypatch.setattr(dl_dataset, "remote_size", lambda url, timeout=30.0: None)
    seen = {}

    def fake_check(folder, needed, *, what):
        seen["needed"] = needed
        raise DownloadError("stop")

    monkeypatch.setattr(dl_dataset, "check_free_space", fake_check)
    with pytest.raises(DownloadError, match="stop"):
        dl.download_dataset(tmp_path, machine_types=["fan", "pump"], progress=False)
    fan, pump = dl.ARCHIVES["dev_data_fan.zip"].size, dl.ARCHIVES["dev_data_pump.zip"].size
    assert seen["needed"] == int(fan * dl.EXTRACTED_RATIO) + int(pump * dl.EXTRACTED_RATIO) + max(fan, pump)


# -- command line -------------------------------------------------------------------------


def _parser():
    from asd import cli

    return cli.build_parser()


def test_cli_defaults_and_help():
    args = _parser().parse_args(["download", "--to", "somewhere"])
    assert args.to == Path("somewhere")
    assert args.machine_types == ["ToyCar", "ToyConveyor", "fan", "pump", "slider", "valve"]
    assert args.sets == "dev" and args.base_url is None and callable(args.func)
    sub = _parser()._subparsers._group_actions[0].choices["download"]
    text = sub.format_help()
    assert "CC BY-NC-SA 4.0" in text and "3678171" in text and "GB" in text


def test_cli_download_with_a_mirror_and_md5sums_file(server, tmp_path, capsys):
    archive = make_zip(DEV_FAN)
    server.files["dev_data_fan.zip"] = archive
    sums = tmp_path / "MD5SUMS"
    sums.write_text(f"{md5(archive)}  dev_data_fan.zip\n")
    to = tmp_path / "data"
    argv = [
        "-q",
        "download",
        "--to",
        str(to),
        "--machine-types",
        "fan",
        "--base-url",
        server.url,
        "--checksums",
        str(sums),
        "--retries",
        "1",
        "--timeout",
        "5",
    ]
    args = _parser().parse_args(argv)
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "done" in out and "dev_data_fan.zip" in out and str(to / "dev") in out
    assert (to / "dev" / "fan" / "train" / "normal_id_00_00000000.wav").is_file()
    args = _parser().parse_args(argv)
    assert args.func(args) == 0
    assert "present" in capsys.readouterr().out


def test_cli_module_registers_download():
    from asd import cli

    parser = cli.build_parser()
    args = parser.parse_args(["download", "--to", "x", "--sets", "dev,additional"])
    assert args.func is cli._run_download


# -- download -> train -> evaluate, end to end ------------------------------------------------


def _zip_folder(folder: Path, *, rename=lambda rel: rel) -> bytes:
    """Zip every file under ``folder`` with paths relative to its parent (``fan/train/...``)."""
    return make_zip(
        {rename(p.relative_to(folder.parent).as_posix()): p.read_bytes() for p in sorted(folder.rglob("*.wav"))}
    )


def test_download_train_evaluate_on_locally_served_archives(server, tmp_path, capsys):
    """The good path of a user: `asd download` dev + additional + eval from a mirror, then
    `asd train` and `asd evaluate` on the development set and on the labelled evaluation set."""
    import pandas as pd

    from asd import cli
    from asd.synth import generate_dataset

    source = tmp_path / "source"
    generate_dataset(source, size="tiny", seed=3, machine_types=["fan"], progress=False)
    fan = source / "fan"
    # Development archive: the generated fan folder as DCASE ships it.
    server.files["dev_data_fan.zip"] = _zip_folder(fan)
    # Evaluation: the same recordings under the unlabelled names of the evaluation set, their
    # training clips as the "additional" archive, and the ground-truth list.
    eval_names, truth = {}, ["fan"]
    for index, clip in enumerate(sorted((fan / "test").glob("*.wav"))):
        label, machine_id = clip.name.split("_id_")[0], clip.name.split("_id_")[1][:2]
        eval_name = f"id_{machine_id}_{index:08d}.wav"
        eval_names[f"fan/test/{clip.name}"] = f"fan/test/{eval_name}"
        truth.append(f"{eval_name},{clip.name},{int(label == 'anomaly')}")
    server.files["eval_data_test_fan.zip"] = make_zip(
        {eval_names[f"fan/test/{p.name}"]: p.read_bytes() for p in sorted((fan / "test").glob("*.wav"))}
    )
    server.files["eval_data_train_fan.zip"] = make_zip(
        {f"fan/train/{p.name}": p.read_bytes() for p in sorted((fan / "train").glob("*.wav"))}
    )
    server.files["eval_data_list.csv"] = ("\n".join(truth) + "\n").encode()
    sums = tmp_path / "MD5SUMS"
    sums.write_text("".join(f"{md5(data)}  {name}\n" for name, data in server.files.items() if name.endswith(".zip")))

    to = tmp_path / "dcase"
    assert (
        cli.main(
            [
                "-q",
                "download",
                "--to",
                str(to),
                "--machine-types",
                "fan",
                "--sets",
                "dev,additional,eval",
                "--base-url",
                server.url,
                "--checksums",
                str(sums),
                "--allow-unverified",
                "--timeout",
                "5",
            ]
        )
        == 0
    )
    assert len(list((to / "dev" / "fan" / "train").glob("normal_id_*.wav"))) == 4 * 6
    assert len(list((to / "eval" / "fan" / "test").glob("id_*.wav"))) == 4 * 4

    run = tmp_path / "run"
    assert (
        cli.main(
            [
                "-q",
                "train",
                "--data",
                str(to / "dev"),
                "--model",
                "embedding_mahalanobis",
                "--out",
                str(run),
                "--no-cache",
            ]
        )
        == 0
    )
    assert (run / "fan").is_dir()

    # Development set: labelled by file name.
    assert (
        cli.main(
            [
                "-q",
                "evaluate",
                "--data",
                str(to / "dev"),
                "--run",
                str(run),
                "--out",
                str(tmp_path / "dev_results"),
                "--no-cache",
            ]
        )
        == 0
    )
    dev = pd.read_csv(tmp_path / "dev_results" / "results.csv")
    assert sorted(dev["machine_id"].astype(str).str.zfill(2)) == ["00", "02", "04", "06"]
    assert dev[["auc", "pauc"]].notna().all().all() and (dev["n_normal"] == 2).all() and (dev["n_anomaly"] == 2).all()

    # Evaluation set: unlabelled names, labels from the downloaded ground truth (found beside the data).
    # The evaluation IDs' normal training clips came with the "additional" archive.
    eval_run = tmp_path / "eval_run"
    assert (
        cli.main(
            [
                "-q",
                "train",
                "--data",
                str(to / "eval"),
                "--model",
                "embedding_mahalanobis",
                "--out",
                str(eval_run),
                "--no-cache",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        cli.main(
            [
                "-q",
                "evaluate",
                "--data",
                str(to / "eval"),
                "--run",
                str(eval_run),
                "--out",
                str(tmp_path / "eval_results"),
                "--no-cache",
            ]
        )
        == 0
    )
    assert "mean over machine types" in capsys.readouterr().out
    evaluated = pd.read_csv(tmp_path / "eval_results" / "results.csv")
    assert len(evaluated) == 4 and (evaluated["n_normal"] == 2).all() and (evaluated["n_anomaly"] == 2).all()
    # Same recordings, same training clips: the evaluation set's metrics equal the development set's.
    merged = dev.merge(evaluated, on=["model", "machine_type", "machine_id"], suffixes=("_dev", "_eval"))
    np.testing.assert_allclose(merged["auc_eval"], merged["auc_dev"])
    np.testing.assert_allclose(merged["pauc_eval"], merged["pauc_dev"])
    scores = sorted(p.name for p in (tmp_path / "eval_results").glob("anomaly_score_fan_id_*.csv"))
    assert scores == [f"anomaly_score_fan_id_{m}.csv" for m in ("00", "02", "04", "06")]


# -- DCASE 2021-2025 catalogue -----------------------------------------------------------------


def test_year_catalogues_names_records_and_types():
    assert dl.CATALOGUES["dcase2020"] is dl.ARCHIVES
    c21, c24, c25 = dl.CATALOGUES["dcase2021"], dl.CATALOGUES["dcase2024"], dl.CATALOGUES["dcase2025"]
    assert c21["dev_data_pump.zip"].splits == ("train", "source_test", "target_test")
    assert c21["eval_data_pump_test.zip"].splits == ("source_test", "target_test")
    assert c21["dev_data_pump.zip"].record == "4562016" and c21["eval_data_pump_train.zip"].record == "4660992"
    assert dl.CATALOGUES["dcase2022"]["dev_bearing.zip"].splits == ("train", "test")
    assert dl.CATALOGUES["dcase2023"]["eval_data_bandsaw_test.zip"].record == "7860847"
    r2 = {"eval_data_3DPrinter_train_r2.zip", "eval_data_RoboticArm_train_r2.zip", "eval_data_Scanner_train.zip"}
    assert r2 <= set(c24)
    assert c24["eval_data_RoboticArm_train_r2.zip"].machine_type == "RoboticArm"
    assert "dev_ToyTrain.zip" in c25 and "eval_data_CoffeeGrinder_test.zip" in c25 and len(c25) == 7 + 8 + 8
    for year, records in dl.YEAR_RECORDS.items():
        for archive in dl.CATALOGUES[year].values():
            assert archive.record == records[archive.set] and archive.md5 is None and archive.size > 0
            assert archive.set_dir == f"{year}/{dl.SET_DIRS[archive.set]}"
    assert dl.archive_url(c25["dev_fan.zip"]) == "https://zenodo.org/records/15097779/files/dev_fan.zip?download=1"
    assert [a.name for a in dl.plan_downloads(year="dcase2023", machine_types=["fan", "grinder"], sets="dev,eval")] == [
        "dev_fan.zip",
        "eval_data_grinder_test.zip",
    ]
    with pytest.raises(ConfigError, match="pump"):
        dl.plan_downloads(year="dcase2023", machine_types=["pump"])
    with pytest.raises(ConfigError, match="dcase2019"):
        dl.plan_downloads(year="dcase2019")


DEV_FAN_2023 = {
    "fan/train/section_00_source_train_normal_0000_spd_100_bkg_A.wav": wav_bytes(0),
    "fan/train/section_00_target_train_normal_0000_spd_118_bkg_B.wav": wav_bytes(1),
    "fan/test/section_00_source_test_normal_0000_spd_100_bkg_A.wav": wav_bytes(2),
    "fan/test/section_00_target_test_anomaly_0000_spd_118_bkg_B.wav": wav_bytes(3),
    "fan/attributes_00.csv": b"file_name,d1p,d1v\n"
    b"fan/train/section_00_source_train_normal_0000_spd_100_bkg_A.wav,spd,100\n",
}


def serve_record(server, monkeypatch, record: str, files: dict[str, bytes]) -> None:
    """Serve a Zenodo API answer for ``record`` listing ``files`` with their md5 sums."""
    entries = [{"key": name, "checksum": f"md5:{md5(data)}", "size": len(data)} for name, data in files.items()]
    server.files[f"api/records/{record}"] = json.dumps({"id": record, "files": entries}).encode()
    monkeypatch.setenv(dl.ENV_ZENODO_API, f"{server.url}/api")


def test_year_archive_is_verified_against_the_records_md5(server, tmp_path, monkeypatch):
    archive = make_zip(DEV_FAN_2023)
    server.files["dev_fan.zip"] = archive
    serve_record(server, monkeypatch, "7882613", {"dev_fan.zip": archive, "dev_valve.zip": b"other"})
    summary = dl.download_dataset(
        tmp_path, year="dcase2023", machine_types=["fan"], base_url=server.url, progress=False, timeout=5
    )
    assert summary[0]["verified"] and summary[0]["md5"] == md5(archive) and summary[0]["status"] == "done"
    root = tmp_path / "dcase2023" / "dev" / "fan"
    assert sorted(p.name for p in (root / "test").iterdir()) == [
        "section_00_source_test_normal_0000_spd_100_bkg_A.wav",
        "section_00_target_test_anomaly_0000_spd_118_bkg_B.wav",
    ]
    assert (root / "attributes_00.csv").read_bytes() == DEV_FAN_2023["fan/attributes_00.csv"]
    assert len(list((root / "train").iterdir())) == 2
    again = dl.download_dataset(
        tmp_path, year="dcase2023", machine_types=["fan"], base_url=server.url, progress=False, timeout=5
    )
    assert again[0]["status"] == "present"


def test_year_archive_with_a_different_md5_than_the_record_is_refused(server, tmp_path, monkeypatch):
    server.files["dev_data_fan.zip"] = make_zip(
        {"fan/train/a.wav": wav_bytes(0), "fan/source_test/b.wav": wav_bytes(1), "fan/target_test/c.wav": wav_bytes(2)}
    )
    serve_record(server, monkeypatch, "4562016", {"dev_data_fan.zip": b"the published file"})
    with pytest.raises(DownloadError, match="dev_data_fan.zip"):
        dl.download_dataset(
            tmp_path, year="dcase2021", machine_types=["fan"], base_url=server.url, progress=False, timeout=5, retries=0
        )
    assert not (tmp_path / "dcase2021" / "dev" / "fan" / "train").exists()


def test_year_record_unreadable_refuses_unless_allowed_and_2021_layout(server, tmp_path, monkeypatch):
    server.files["dev_data_fan.zip"] = make_zip(
        {"fan/train/a.wav": wav_bytes(0), "fan/source_test/b.wav": wav_bytes(1), "fan/target_test/c.wav": wav_bytes(2)}
    )
    monkeypatch.setenv(dl.ENV_ZENODO_API, f"{server.url}/api")  # nothing served there: 404
    with pytest.raises(DownloadError, match="4562016.*allow-unverified"):
        dl.download_dataset(
            tmp_path, year="dcase2021", machine_types=["fan"], base_url=server.url, progress=False, timeout=5
        )
    assert not server.gets("dev_data_fan.zip")  # refused before fetching
    summary = dl.download_dataset(
        tmp_path,
        year="dcase2021",
        machine_types=["fan"],
        base_url=server.url,
        progress=False,
        timeout=5,
        allow_unverified=True,
    )
    assert not summary[0]["verified"]
    for split in ("train", "source_test", "target_test"):
        assert len(list((tmp_path / "dcase2021" / "dev" / "fan" / split).iterdir())) == 1


def test_cli_download_year(server, tmp_path, monkeypatch, capsys):
    archive = make_zip(DEV_FAN_2023)
    server.files["dev_fan.zip"] = archive
    serve_record(server, monkeypatch, "15097779", {"dev_fan.zip": archive})
    argv = [
        "-q",
        "download",
        "--to",
        str(tmp_path),
        "--year",
        "dcase2025",
        "--machine-types",
        "fan",
        "--base-url",
        server.url,
        "--timeout",
        "5",
    ]
    args = _parser().parse_args(argv)
    assert args.func(args) == 0
    assert str(tmp_path / "dcase2025" / "dev") in capsys.readouterr().out
    from asd.cli import main

    assert main(["-q", "download", "--to", str(tmp_path), "--year", "dcase2025", "--machine-types", "pump"]) == 2
