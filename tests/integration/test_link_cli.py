"""`hhu-sync push` / `hhu-sync pull` against a simulated HHU, through the real CLI entry."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hhu_firmware_sim.flash import FlashStore
from hhu_firmware_sim.serving import SocketServer
from hhu_sync.cli import main
from hhu_sync.keys import write_private_file
from hhu_sync.transfer import encode_transfer, peek_header

HHU = "HHU-001"

HANDLER = ["--handler-package", "hhu_firmware_sim.urlhandler"]


@pytest.fixture
def transfer(tmp_path: Path, key: bytes) -> Path:
    path = tmp_path / "quick.hhux"
    path.write_bytes(encode_transfer("quick_send", {"blob": os.urandom(20_000)},
                                     source="depot", target=HHU, key=key))
    return path


def _push(port: str, key_file: Path, *files: Path, extra: tuple[str, ...] = ()) -> int:
    return main(["push", "--port", port, "--key-file", str(key_file), *HANDLER, *extra,
                 *map(str, files)])


def test_push_exits_0_once_committed(url, key_file, transfer, flash_dir, capsys):
    assert _push(url(), key_file, transfer) == 0
    bundle_id = peek_header(transfer.read_bytes()).bundle_id
    assert FlashStore(flash_dir).read_bundle(bundle_id) == transfer.read_bytes()
    assert f"stored {bundle_id}" in capsys.readouterr().out


def test_push_refused_exits_3(url, key_file, transfer, capsys):
    assert _push(url(capacity=100), key_file, transfer) == 3
    assert "flash full" in capsys.readouterr().err


def test_push_refused_names_the_refusal_code(url, key_file, transfer, capsys):
    assert _push(url(capacity=100), key_file, transfer) == 3
    assert "(FLASH_FULL)" in capsys.readouterr().err


def test_push_cut_exits_4(url, key_file, transfer, capsys):
    assert _push(url(cut_after=2000), key_file, transfer) == 4
    assert "cut" in capsys.readouterr().err


def test_push_timeout_exits_5(key_file, transfer, capsys):
    release = threading.Event()
    srv = SocketServer(lambda conn: release.wait(10), blocking=True).start()  # silent
    try:
        assert _push(srv.url, key_file, transfer, extra=("--timeout", "0.3")) == 5
    finally:
        release.set()
        srv.stop()
    assert capsys.readouterr().err.count("\n") == 1


def test_push_auth_failure_exits_6(url, key_file, transfer, capsys):
    assert _push(url(wrong_key=1), key_file, transfer) == 6
    assert "authentication failed" in capsys.readouterr().err


def test_push_refuses_a_file_made_for_another_hhu(url, key_file, key, tmp_path, capsys):
    other = tmp_path / "other.hhux"
    other.write_bytes(encode_transfer("quick_send", {}, source="depot", target="HHU-002",
                                      key=key))
    assert _push(url(), key_file, other) == 1
    assert "HHU-002" in capsys.readouterr().err


def test_push_with_key_of_unknown_hhu_exits_6(url, key, tmp_path, transfer, flash_dir):
    stranger = tmp_path / "HHU-999.key"
    write_private_file(stranger, key.hex().encode() + b"\n")
    transfer.write_bytes(encode_transfer("quick_send", {}, source="depot", target="HHU-999",
                                         key=key))
    assert _push(url(), stranger, transfer) == 6


def test_pull_writes_each_upload_then_clears_it(url, key_file, flash_dir, tmp_path, key):
    data = encode_transfer("readings", {"visits": []}, source=HHU, target="depot", key=key)
    upload_id = peek_header(data).bundle_id
    FlashStore(flash_dir).store_upload(upload_id, data)
    out = tmp_path / "in"
    assert main(["pull", "--port", url(), "--key-file", str(key_file), "--out", str(out),
                 *HANDLER]) == 0
    assert (out / f"{upload_id}.hhux").read_bytes() == data
    assert FlashStore(flash_dir).uploads() == []


def test_pull_cut_keeps_the_upload_on_the_hhu(url, key_file, flash_dir, tmp_path):
    FlashStore(flash_dir).store_upload("u1", os.urandom(30_000))
    out = tmp_path / "in"
    code = main(["pull", "--port", url(cut_after=5000), "--key-file", str(key_file),
                 "--out", str(out), *HANDLER])
    assert code == 4
    assert FlashStore(flash_dir).has_upload("u1")
    assert list(out.glob("*.hhux")) == []


def test_pull_with_nothing_waiting_exits_0(url, key_file, tmp_path, capsys):
    assert main(["pull", "--port", url(), "--key-file", str(key_file),
                 "--out", str(tmp_path / "in"), *HANDLER]) == 0
    assert "no uploads waiting" in capsys.readouterr().out


def test_unopenable_port_is_a_one_line_error(key_file, transfer, capsys):
    assert _push("hhusim://HHU-001?key=x", key_file, transfer) == 1
    assert capsys.readouterr().err.startswith("hhu-sync: cannot open")


def test_sim_add_upload_then_pull_round_trip(url, key_file, flash_dir, tmp_path, key, capsys):
    from hhu_firmware_sim.cli import main as sim_main
    from hhu_sync.transfer import decode_transfer

    assert sim_main(["add-upload", "--flash", str(flash_dir), "--id", HHU,
                     "--key-file", str(key_file), "--visits", "2"]) == 0
    upload_id = capsys.readouterr().out.strip()
    out = tmp_path / "in"
    assert main(["pull", "--port", url(), "--key-file", str(key_file), "--out", str(out),
                 *HANDLER]) == 0
    readings = decode_transfer((out / f"{upload_id}.hhux").read_bytes(), key)
    assert readings.payload["upload_id"] == upload_id
    assert len(readings.payload["visits"]) == 2
