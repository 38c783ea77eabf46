"""`hhu-sync enroll`, `pack` and `inspect` together, as a depot would use them."""

from __future__ import annotations

import io
import json
import shutil

import pytest

from hhu_sync.cli import main
from tests.conftest import EXAMPLES

PASSWORDS = {"a1700-level1": "L1-secret", "a1700-level3": "L3-secret",
             "a1140-level2": "L2-secret", "as230-level1": "R1-secret"}


@pytest.fixture
def depot(tmp_path, monkeypatch, capsys):
    """A working folder with a config, an enrolled HHU and the meter passwords stored."""
    (tmp_path / "hhu-sync.toml").write_text("[depot]\nid = 'DEPOT-N'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HHU_SYNC_CONFIG", raising=False)
    assert main(["enroll", "HHU-001"]) == 0
    for name, value in PASSWORDS.items():
        monkeypatch.setattr("sys.stdin", io.StringIO(value + "\n"))
        assert main(["secret", "set", name]) == 0
    capsys.readouterr()
    return tmp_path


KEY = "var/keystore/hhus/HHU-001.key"


def inspect_json(capsys, path, *extra):
    capsys.readouterr()
    assert main(["inspect", str(path), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_pack_then_inspect_a_quick_send(depot, capsys):
    assert main(["pack", str(EXAMPLES / "a1700-ci-tou.toml"), "--hhu", "HHU-001",
                 "-o", "q.hhux"]) == 0
    doc = inspect_json(capsys, "q.hhux", "--key-file", KEY)
    assert doc["seal"] == "verified"
    assert doc["header"]["kind"] == "quick_send"
    assert doc["header"]["source"] == "DEPOT-N" and doc["header"]["target"] == "HHU-001"
    assert doc["payload"]["schemes"][0]["id"] == "a1700-ci-tou-2026"
    assert [p["state"] for p in doc["passwords"]] == ["encrypted, decrypts with this key"] * 2


def test_pack_a_meter_list_carries_every_scheme_it_names(depot, capsys):
    assert main(["pack", str(EXAMPLES / "route-north.toml"), "--hhu", "HHU-001",
                 "-o", "l.hhux"]) == 0
    doc = inspect_json(capsys, "l.hhux", "--key-file", KEY)
    assert doc["header"]["kind"] == "meter_list"
    assert [s["id"] for s in doc["payload"]["schemes"]] == ["a1700-ci-tou-2026",
                                                           "a1140-day-night"]
    assert [m["serial"] for m in doc["payload"]["meter_list"]["meters"]] == [
        "35100001", "35100002", "41200017"]


def test_no_password_is_in_clear_in_the_transfer_file(depot):
    assert main(["pack", str(EXAMPLES / "route-north.toml"), "--hhu", "HHU-001",
                 "-o", "l.hhux"]) == 0
    data = (depot / "l.hhux").read_bytes()
    for value in PASSWORDS.values():
        assert value.encode() not in data


def test_inspect_with_another_hhus_key_refuses_the_seal(depot, capsys):
    main(["pack", str(EXAMPLES / "as230-flat.toml"), "--hhu", "HHU-001", "-o", "q.hhux"])
    main(["enroll", "HHU-002"])
    capsys.readouterr()
    code = main(["inspect", "q.hhux", "--key-file", "var/keystore/hhus/HHU-002.key"])
    assert code == 1
    assert "seal does not match" in capsys.readouterr().err


def test_inspect_a_damaged_file_names_the_byte_offset(depot, capsys):
    main(["pack", str(EXAMPLES / "as230-flat.toml"), "--hhu", "HHU-001", "-o", "q.hhux"])
    data = bytearray((depot / "q.hhux").read_bytes())
    data[40] ^= 1
    (depot / "q.hhux").write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["inspect", "q.hhux"]) == 1
    assert "q.hhux: at byte" in capsys.readouterr().err


def test_inspect_prints_a_readable_summary(depot, capsys):
    main(["pack", str(EXAMPLES / "route-north.toml"), "--hhu", "HHU-001", "-o", "l.hhux"])
    capsys.readouterr()
    assert main(["inspect", "l.hhux"]) == 0
    out = capsys.readouterr().out
    assert "meter_list" in out and "35100001" in out and "not checked" in out


def test_pack_for_an_hhu_that_is_not_enrolled_says_how_to_enrol(depot, capsys):
    assert main(["pack", str(EXAMPLES / "as230-flat.toml"), "--hhu", "HHU-404"]) == 1
    assert "hhu-sync enroll HHU-404" in capsys.readouterr().err


def test_pack_a_list_for_another_hhu_is_refused(depot, capsys):
    main(["enroll", "HHU-002"])
    code = main(["pack", str(EXAMPLES / "route-north.toml"), "--hhu", "HHU-002"])
    assert code == 1
    assert "is for HHU-001, not HHU-002" in capsys.readouterr().err


def test_pack_when_a_password_secret_is_missing_names_it(depot, capsys, tmp_path):
    (depot / "var/keystore/secrets/as230-level1.secret").unlink()
    assert main(["pack", str(EXAMPLES / "as230-flat.toml"), "--hhu", "HHU-001"]) == 1
    assert "secret 'as230-level1' is not in the key store" in capsys.readouterr().err


def test_pack_an_invalid_scheme_lists_problems_and_writes_nothing(depot, capsys):
    bad = depot / "bad.toml"
    bad.write_text((EXAMPLES / "as230-flat.toml").read_text().replace('"AS230"', '"ZZ"'))
    assert main(["pack", str(bad), "--hhu", "HHU-001", "-o", "x.hhux"]) == 1
    assert "unknown meter model 'ZZ'" in capsys.readouterr().err
    assert not (depot / "x.hhux").exists()


def test_pack_a_csv_meter_list_with_schemes_from_a_folder(depot, capsys):
    shutil.copy(EXAMPLES / "route-south.csv", depot)
    assert main(["pack", "route-south.csv", "--hhu", "HHU-001", "--schemes", str(EXAMPLES),
                 "-o", "s.hhux"]) == 0
    doc = inspect_json(capsys, "s.hhux")
    assert doc["payload"]["meter_list"]["crew"] == "crew-south"


def test_enroll_twice_without_force_is_refused(depot, capsys):
    assert main(["enroll", "HHU-001"]) == 1
    assert "already exists (use --force" in capsys.readouterr().err


def test_counts_in_the_summary_agree_with_their_nouns(depot, capsys):
    """``1 day profiles`` was printed for the flat scheme: one of each, singular."""
    main(["pack", str(EXAMPLES / "as230-flat.toml"), "--hhu", "HHU-001", "-o", "q.hhux"])
    capsys.readouterr()
    assert main(["inspect", "q.hhux"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "1 rate, 1 day profile, 0 seasons," in out


def test_counted_says_one_noun_and_many_nouns():
    from hhu_sync.cli.humanize import counted

    assert [counted(n, "visit") for n in (0, 1, 2)] == ["0 visits", "1 visit", "2 visits"]
    assert counted(1, "old entry", "old entries") == "1 old entry"
    assert counted(3, "delivery", "deliveries") == "3 deliveries"
