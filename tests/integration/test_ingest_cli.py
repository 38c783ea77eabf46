"""`hhu-sync ingest`: uploads saved by `hhu-sync pull` go through a docking's own checks."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hhu_firmware_sim.flash import FlashStore
from hhu_sync.cli import main
from hhu_sync.store import SqliteStore
from hhu_sync.transfer import encode_transfer
from tests.unit.store.helpers import meter_list

HHU = "HHU-001"
HANDLER = ["--handler-package", "hhu_firmware_sim.urlhandler"]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "hhu-sync.toml"
    path.write_text('[depot]\nid = "DEPOT-T"\n[paths]\ndatabase = "var/db.sqlite"\n'
                    'exports = "var/exports"\nkeystore = "var/keystore"\n')
    store = SqliteStore(tmp_path / "var" / "db.sqlite")
    store.add_meter_list(meter_list("L1", serials=("M1", "M2", "M3")))
    store.close()
    return path


def _upload(key: bytes, upload_id: str = "R-1") -> bytes:
    now = datetime.now(UTC).replace(microsecond=0)
    t, future = now.isoformat(), (now + timedelta(hours=2)).isoformat()
    visits = [
        {"meter": "M1", "list": "L1", "time": t, "outcome": "done",
         "registers": [["1.8.0", "001846.0", "kWh", t]]},
        {"meter": "M2", "list": "L1", "time": t, "outcome": "done",
         "registers": [["1.8.0", "NaN", "kWh", t]]},
        {"meter": "M3", "list": "L1", "time": future, "outcome": "done",
         "registers": [["1.8.0", "000010.0", "kWh", future]]},
    ]
    return encode_transfer("readings", {"upload_id": upload_id, "visits": visits},
                           source=HHU, target="DEPOT-T", key=key, bundle_id=upload_id)


def _ingest(config: Path, key_file: Path, *files: Path) -> int:
    return main(["ingest", "--config", str(config), "--key-file", str(key_file),
                 *map(str, files)])


def _db(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "var" / "db.sqlite")


def test_a_pulled_upload_is_ingested_with_a_dockings_checks(url, key_file, key, flash_dir,
                                                            tmp_path, config, capsys):
    FlashStore(flash_dir).store_upload("R-1", _upload(key))
    out = tmp_path / "in"
    assert main(["pull", "--port", url(), "--key-file", str(key_file), "--out", str(out),
                 *HANDLER]) == 0
    capsys.readouterr()
    saved = out / "R-1.hhux"
    assert _ingest(config, key_file, saved) == 0
    line = capsys.readouterr().out
    assert f"{saved}: upload R-1 from {HHU}: 3 visits, 1 reading stored" in line
    assert "2 rejected" in line
    store = _db(tmp_path)
    assert [(r[0], r[5]) for r in store.readings()] == [("M1", "ok")]
    kinds = {r[0] for r in store._db().execute("SELECT kind FROM exceptions")}
    assert {"bad_value", "time_in_future"} <= kinds
    store.close()
    assert (tmp_path / "var" / "exports" / "R-1.csv").is_file()


def test_a_second_ingest_of_the_same_upload_says_already_held(key_file, key, tmp_path,
                                                               config, capsys):
    saved = tmp_path / "R-1.hhux"
    saved.write_bytes(_upload(key))
    assert _ingest(config, key_file, saved) == 0
    assert _ingest(config, key_file, saved) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{saved}: upload R-1 from {HHU} " \
                                                        "already held"
    store = _db(tmp_path)
    assert len(list(store.readings())) == 1
    store.close()


def test_a_damaged_file_is_refused_naming_file_and_offset_the_others_go_in(
        key_file, key, tmp_path, config, capsys):
    good, bad, missing = tmp_path / "R-1.hhux", tmp_path / "R-2.hhux", tmp_path / "none.hhux"
    good.write_bytes(_upload(key))
    data = bytearray(_upload(key, "R-2"))
    data[-1] ^= 1                                     # the seal
    bad.write_bytes(bytes(data))
    assert _ingest(config, key_file, bad, good, missing) == 1
    out, err = capsys.readouterr()
    assert f"{bad}: refused: " in err and "at byte" in err and "seal" in err
    assert f"{missing}: refused: " in err
    assert f"{good}: upload R-1" in out
    store = _db(tmp_path)
    assert store.upload_held("R-1") and not store.upload_held("R-2")
    store.close()


def test_an_upload_of_another_hhu_or_kind_is_refused(key_file, key, tmp_path, config, capsys):
    other = tmp_path / "o.hhux"
    other.write_bytes(encode_transfer("readings", {"visits": []}, source="HHU-002",
                                      target="DEPOT-T", key=key, bundle_id="R-9"))
    bundle = tmp_path / "b.hhux"
    bundle.write_bytes(encode_transfer("quick_send", {"scheme": {}}, source="DEPOT-T",
                                       target=HHU, key=key, bundle_id="B-1"))
    assert _ingest(config, key_file, other, bundle) == 1
    err = capsys.readouterr().err
    assert "HHU-002, whose key is not held here" in err
    assert f"{bundle}: refused: " in err


def test_a_malformed_payload_is_refused_naming_the_field(key_file, key, tmp_path, config,
                                                         capsys):
    bad = tmp_path / "R-5.hhux"
    bad.write_bytes(encode_transfer("readings", {"visits": [{"meter": 5}]}, source=HHU,
                                    target="DEPOT-T", key=key, bundle_id="R-5"))
    assert _ingest(config, key_file, bad) == 1
    assert "visits[0].meter" in capsys.readouterr().err


def test_a_fifo_or_a_folder_is_refused_unread_without_hanging(key_file, tmp_path, config,
                                                              capsys):
    import os

    fifo = tmp_path / "pipe.hhux"
    os.mkfifo(fifo)
    assert _ingest(config, key_file, fifo, tmp_path) == 1
    err = capsys.readouterr().err
    assert f"{fifo}: refused: at byte 0: not a regular file" in err
    assert f"{tmp_path}: refused: " in err


def test_other_content_under_a_held_upload_id_is_refused_not_called_already_held(
        key_file, key, tmp_path, config, capsys):
    first, second = tmp_path / "R-1.hhux", tmp_path / "R-1-again.hhux"
    first.write_bytes(_upload(key))
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    second.write_bytes(encode_transfer(
        "readings", {"upload_id": "R-1", "visits": [
            {"meter": "M2", "list": "L1", "time": now, "outcome": "done",
             "registers": [["1.8.0", "000500.0", "kWh", now]]}]},
        source=HHU, target="DEPOT-T", key=key, bundle_id="R-1"))
    assert _ingest(config, key_file, first) == 0
    assert _ingest(config, key_file, second) == 1
    err = capsys.readouterr().err
    assert f"{second}: refused: " in err and "already held with other content" in err


def test_a_folder_is_refused_with_what_to_give_instead(key_file, key, tmp_path, config,
                                                       capsys):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "R-1.hhux").write_bytes(_upload(key))
    assert _ingest(config, key_file, uploads) == 1
    err = capsys.readouterr().err
    assert f"{uploads}: refused: a folder" in err
    assert f"{uploads}/*.hhux" in err
    assert "Is a directory" not in err


def test_a_wrong_key_is_refused_naming_the_key_store_and_key_file_it_used(key, tmp_path,
                                                                        config, capsys):
    from hhu_sync.keys import KeyStore

    keystore = tmp_path / "var" / "keystore"
    KeyStore(keystore).enroll(HHU)                   # another key than the upload's
    saved = tmp_path / "R-1.hhux"
    saved.write_bytes(_upload(key))
    assert main(["ingest", "--config", str(config), str(saved)]) == 1
    err = capsys.readouterr().err
    assert "seal does not match" in err
    assert f"key store {keystore}" in err and f"{keystore / 'hhus' / (HHU + '.key')}" in err


def test_a_wrong_key_file_is_named(tmp_path, config, capsys):
    other = tmp_path / "other" / f"{HHU}.key"
    other.parent.mkdir()
    other.write_text("11" * 32 + "\n")
    other.chmod(0o600)
    saved = tmp_path / "R-1.hhux"
    saved.write_bytes(_upload(bytes(32)))
    assert _ingest(config, other, saved) == 1
    assert f"key file {other}" in capsys.readouterr().err


def test_ingest_and_export_ask_the_configured_catalog_which_models_take_ratios(
        key_file, key, tmp_path, capsys):
    """Issue 12.18, round 3 (point 2): with a catalog in which the A1140 takes ratios, a
    proven A1140 counts primary values in `hhu-sync ingest`'s export and in
    `hhu-sync export`; the default catalog (where it takes none) would say unknown."""
    import csv
    import dataclasses

    from hhu_sync.model.catalog import load_catalog
    from hhu_sync.model.inputs import load_inputs
    from hhu_sync.model.meterlist import MeterEntry, MeterList
    from tests.conftest import EXAMPLES, ROOT

    text = (ROOT / "config" / "meter-models.toml").read_text()
    (tmp_path / "models.toml").write_text(text.replace(
        'ct_secondary = [1, 5]\n\n[models.AS230]',
        'ct_secondary = [1, 5]\ntakes_ratios = true\n\n[models.AS230]'))
    config = tmp_path / "hhu-sync.toml"
    config.write_text('[depot]\nid = "DEPOT-T"\n[paths]\ndatabase = "var/db.sqlite"\n'
                      'exports = "var/exports"\nkeystore = "var/keystore"\n'
                      'catalog = "models.toml"\n')
    schemes = load_inputs([EXAMPLES], load_catalog(ROOT / "config" / "meter-models.toml"))
    ct = dataclasses.replace(schemes.schemes["a1700-ci-tou-2026"], id="a1140-ct",
                             model="A1140")
    store = _db(tmp_path)
    store.accept_input(sha256="e" * 64, name="a1140-ct.toml", kind="scheme", moved_to="",
                       now="", scheme=ct)
    store.add_meter_list(MeterList("L2", "L2", HHU, None, "2026-12-01", "", (
        MeterEntry("M2", "", "", "read+program", "a1140-ct", None, ""),)))
    store.close()
    now = datetime.now(UTC).replace(microsecond=0)
    first, later = (now - timedelta(hours=3)).isoformat(), (now - timedelta(hours=1)).isoformat()
    visits = [{"meter": "M2", "list": "L2", "time": first, "outcome": "done",
               "registers": [["1.8.1", "000100.0", "kWh", first]], "scheme": "a1140-ct",
               "verify": "ok", "ratios": {"ct": "400/5", "vt": "11000/110"}},
              {"meter": "M2", "list": "L2", "time": later, "outcome": "done",
               "registers": [["1.8.1", "000200.0", "kWh", later]]}]
    saved = tmp_path / "R-9.hhux"
    saved.write_bytes(encode_transfer("readings", {"upload_id": "R-9", "visits": visits},
                                      source=HHU, target="DEPOT-T", key=key, bundle_id="R-9"))
    assert _ingest(config, key_file, saved) == 0
    out = tmp_path / "all.csv"
    assert main(["export", "--config", str(config), "--format", "csv", "-o", str(out)]) == 0
    capsys.readouterr()
    for path in (tmp_path / "var" / "exports" / "R-9.csv", out):
        with open(path, newline="") as fh:
            basis = {r["time"]: r["value_basis"] for r in csv.DictReader(fh)}
        assert basis[later] == "primary", path


def test_a_name_the_system_refuses_is_refused_not_a_traceback(key_file, tmp_path, config,
                                                              capsys):
    too_long = tmp_path / ("a" * 5000 + ".hhux")
    assert _ingest(config, key_file, too_long) == 1
    err = capsys.readouterr().err
    assert "refused: File name too long" in err and "Traceback" not in err
    assert len(err.splitlines()[0]) < 600          # the name is shown shortened


def test_a_file_time_no_datetime_holds_counts_as_received_now(key, tmp_path, config,
                                                              monkeypatch):
    """Whoever wrote the file chose its mtime (tmpfs takes year 33658): not a crash."""
    import os

    from hhu_sync.ingest import saved

    path = tmp_path / "R-1.hhux"
    path.write_bytes(_upload(key))
    real_fstat = os.fstat

    def fstat(fd):
        st = real_fstat(fd)
        fields = list(st)
        fields[8] = 10 ** 12                        # st_mtime, as the tuple holds it
        return os.stat_result(fields, {"st_mtime": 1e12, "st_mode": st.st_mode})

    monkeypatch.setattr(saved.os, "fstat", fstat)
    store = _db(tmp_path)
    try:
        now = datetime.now(UTC)
        result = saved.ingest_saved(store, path, lambda h: key if h == HHU else None,
                                    now=now, exports=None, sender="DEPOT-T")
    finally:
        store.close()
    assert not result.refused and result.report is not None
    assert result.report.visits == 3


def test_a_file_that_is_not_a_readings_upload_names_no_key_it_never_read(tmp_path, config,
                                                                         capsys):
    """A Quick send (made by the depot) is refused for what it is; no seal was checked, so
    no key is named as 'used' (before: '…/hhus/DEPOT-T.key', a key never read)."""
    from hhu_sync.keys import KeyStore

    KeyStore(tmp_path / "var" / "keystore").enroll(HHU)
    bundle = tmp_path / "b.hhux"
    bundle.write_bytes(encode_transfer("quick_send", {"scheme": {}}, source="DEPOT-T",
                                       target=HHU, key=bytes(32), bundle_id="B-1"))
    assert main(["ingest", "--config", str(config), str(bundle)]) == 1
    err = capsys.readouterr().err
    assert f"{bundle}: refused: " in err and "not a readings upload" in err
    assert "key used" not in err and "DEPOT-T.key" not in err


def test_each_refusal_carries_a_code_the_cli_decides_by(key, tmp_path, config):
    """Callers decide by :class:`Refusal`, never by the wording of ``refused``."""
    from hhu_sync.ingest.saved import Refusal, ingest_saved

    def keys(hhu_id):
        return key if hhu_id == HHU else None

    good, wrong_kind, damaged, foreign = (tmp_path / n for n in ("g", "k", "d", "f"))
    good.write_bytes(_upload(key))
    wrong_kind.write_bytes(encode_transfer("quick_send", {"scheme": {}}, source="DEPOT-T",
                                           target=HHU, key=key, bundle_id="B-1"))
    damaged.write_bytes(b"not a transfer file")
    foreign.write_bytes(encode_transfer("readings", {"visits": []}, source="HHU-002",
                                        target="DEPOT-T", key=key, bundle_id="R-9"))
    bad_seal = tmp_path / "s"
    bad_seal.write_bytes(_upload(bytes(32)))
    bad_payload = tmp_path / "p"
    bad_payload.write_bytes(encode_transfer("readings", {"upload_id": "R-3", "visits": [
        {"meter": "M1", "list": "L1", "time": "now", "outcome": "done",
         "registers": "none"}]}, source=HHU, target="DEPOT-T", key=key, bundle_id="R-3"))
    other = tmp_path / "o"                   # R-1 again, with other readings
    other.write_bytes(encode_transfer("readings", {"upload_id": "R-1", "visits": []},
                                      source=HHU, target="DEPOT-T", key=key, bundle_id="R-1"))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    store = _db(tmp_path)
    now = datetime.now(UTC)

    def code(path):
        return ingest_saved(store, path, keys, now=now, exports=None, sender="D").refusal

    try:
        assert code(good) is None
        assert code(good) is None                            # already held is no refusal
        codes = {p.name: code(p) for p in (wrong_kind, damaged, foreign, bad_seal,
                                            bad_payload, other, fifo, tmp_path / "missing")}
    finally:
        store.close()
    assert codes == {"k": Refusal.NOT_READINGS, "d": Refusal.NOT_A_TRANSFER,
                     "f": Refusal.NO_KEY, "s": Refusal.BAD_SEAL, "p": Refusal.BAD_PAYLOAD,
                     "o": Refusal.OTHER_CONTENT, "fifo": Refusal.NOT_A_FILE,
                     "missing": Refusal.UNREADABLE}


def test_a_revoked_keys_file_name_gives_the_hhu_id_not_id_dot_key(key, tmp_path, config,
                                                                  capsys):
    """The key store names a revoked key ``revoked/ID.key.TIME``: given as --key-file, its
    HHU is ID (before: 'HHU-001.key', so the upload was refused as another HHU's)."""
    from hhu_sync.keys import write_private_file

    revoked = tmp_path / f"{HHU}.key.20261201T120000Z"
    write_private_file(revoked, key.hex().encode() + b"\n")
    saved = tmp_path / "R-1.hhux"
    saved.write_bytes(_upload(key))
    assert _ingest(config, revoked, saved) == 0, capsys.readouterr().err
    foreign = tmp_path / "f.hhux"
    foreign.write_bytes(encode_transfer("readings", {"visits": []}, source="HHU-002",
                                        target="DEPOT-T", key=key, bundle_id="R-9"))
    assert _ingest(config, revoked, foreign) == 1
    assert f"only {HHU}'s key given" in capsys.readouterr().err


def test_an_upload_with_intervals_says_their_counts_and_its_validation_findings():
    from hhu_sync.cli.ingest_cmd import _intervals
    from hhu_sync.ingest import IngestReport

    assert _intervals(IngestReport("R-1", HHU, readings_stored=4)) == ""   # version 1
    said = _intervals(IngestReport("R-2", HHU, intervals_stored=9108, events_stored=2,
                                   vee_findings=6))
    assert said == ("; 9108 intervals stored, 0 already held, 0 interval conflicts, "
                    "2 events stored, 0 already held, 6 validation findings")
    assert _intervals(IngestReport("R-3", HHU, vee_findings=1)).endswith(
        ", 1 validation finding")
