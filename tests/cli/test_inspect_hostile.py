"""`hhu-sync inspect` on files sealed with a real key but shaped by an attacker.

A valid seal proves a key holder made the file, not that hhu-sync did. Whatever the
payload's structure, decoding raises TransferError and nothing else, and ``inspect``
says which field is wrong (``payload.schemes[0].rates``) and exits non-zero: never a
traceback, never rich markup or terminal escapes from the file reaching the screen.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import io
import struct
import zlib
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hhu_sync.cli import main
from hhu_sync.errors import TransferError
from hhu_sync.transfer import MAGIC, decode_transfer, encrypt_password
from tests.unit.transfer.test_codec import scheme_dict

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A folder with the HHU's key file (module scope: hypothesis runs many examples)."""
    folder = tmp_path_factory.mktemp("inspect")
    key_file = folder / "HHU-001.key"
    key_file.write_text(KEY.hex() + "\n")
    key_file.chmod(0o600)
    return folder


def sealed(kind: str, payload, *, compress: bool = False, target: str = "HHU-001") -> bytes:
    """Any msgpack payload, with an honest header, digest and seal (the encoder would
    refuse a wrongly shaped bundle, so this builds the bytes itself)."""
    body = msgpack.packb(payload, use_bin_type=True)
    stored = zlib.compress(body) if compress else body
    source = "depot" if kind != "readings" else "HHU-001"
    head = msgpack.packb({
        "kind": kind, "bundle_id": "B-1", "created": "2026-11-25T10:00:00+00:00",
        "source": source, "target": target if kind != "readings" else "depot",
        "compression": "zlib" if compress else "none", "expanded_size": len(body),
        "manifest": []})
    out = struct.pack(">8sHHIQ", MAGIC, 1, 0, len(head), len(stored)) + head + stored
    out += hashlib.sha256(out).digest()
    return out + hmac.new(KEY, out, hashlib.sha256).digest()


def inspect(work: Path, data: bytes, *extra: str) -> tuple[int, str, str]:
    path = work / "t.hhux"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["inspect", str(path), "--key-file", str(work / "HHU-001.key"), *extra])
    return code, out.getvalue(), err.getvalue()


def meter_list_payload() -> dict:
    meter = {"serial": "M1", "site": "Site", "address": "", "task": "read",
             "scheme": "s1", "model": None, "notes": ""}
    return {"meter_list": {"id": "L1", "name": "Route", "hhu": "HHU-001", "crew": None,
                           "due": "2026-12-01", "notes": "", "meters": [meter]},
            "schemes": [scheme_dict()]}


def readings_payload() -> dict:
    return {"upload_id": "B-1", "hhu_id": "HHU-001", "operator": "crew",
            "visits": [{"meter": "M1", "time": "2026-11-25T10:15:00+00:00", "outcome": "ok",
                        "registers": [["1.8.1", "001846.0", "kWh", "2026-11-25T10:15:00Z"]],
                        "notes": ""}]}


@pytest.mark.parametrize(("kind", "mutate", "field"), [
    ("quick_send", lambda p: p.update(schemes=5), "payload.schemes"),
    ("quick_send", lambda p: p["schemes"][0].update(rates=3), "payload.schemes[0].rates"),
    ("quick_send", lambda p: p["schemes"][0]["rates"][0].update(registers="1.8.1"),
     "payload.schemes[0].rates[0].registers"),
    ("quick_send", lambda p: p["schemes"][0].update(version="7"),
     "payload.schemes[0].version"),
    ("quick_send", lambda p: p["schemes"][0].update(passwords=[{"level": 3}]),
     "payload.schemes[0].passwords[0].secret"),
    ("quick_send", lambda p: p["schemes"][0].pop("day_profiles"),
     "payload.schemes[0].day_profiles"),
    ("meter_list", lambda p: p["meter_list"].update(meters={"M1": {}}),
     "payload.meter_list.meters"),
    ("meter_list", lambda p: p.update(meter_list=[1, 2]), "payload.meter_list"),
    ("meter_list", lambda p: p["meter_list"]["meters"][0].update(serial=12),
     "payload.meter_list.meters[0].serial"),
    ("meter_list", lambda p: p["schemes"][0].update(ct_ratio=[1e400, 5]),
     "payload.schemes[0].ct_ratio[0]"),
    ("readings", lambda p: p.update(visits=7), "payload.visits"),
    ("readings", lambda p: p["visits"][0].update(registers=3), "payload.visits[0].registers"),
])
def test_a_wrongly_shaped_payload_is_refused_naming_the_field(work, kind, mutate, field):
    payload = meter_list_payload() if kind == "meter_list" else (
        readings_payload() if kind == "readings" else {"schemes": [scheme_dict()]})
    mutate(payload)
    data = sealed(kind, payload)
    if kind != "readings":               # readings fields are ingest's to check
        with pytest.raises(TransferError, match=field.replace("[", r"\[").replace(".", r"\.")):
            decode_transfer(data, KEY)
    for extra in ((), ("--json",)):
        code, out, err = inspect(work, data, *extra)
        assert code == 1 and "Traceback" not in err
        assert "t.hhux" in err and f"{field}:" in err, err


def test_payloads_nested_a_thousand_deep_or_with_huge_arrays_are_refused(work):
    deep: object = []
    for _ in range(1000):
        deep = [deep]
    for payload in ({"visits": [], "x": deep}, {"schemes": [scheme_dict(extra=deep)]}):
        code, _, err = inspect(work, sealed("readings" if "visits" in payload else "quick_send",
                                      payload), "--json")
        assert code == 1 and "nested deeper" in err
    # an array header claiming 4 billion items in a few bytes
    huge = b"\x81\xa6visits\xdd\xff\xff\xff\xff"
    head = sealed("readings", {"visits": []})
    code, _, err = inspect(work, _with_body(head, huge))
    assert code == 1 and "not valid msgpack" in err


def _with_body(template: bytes, body: bytes) -> bytes:
    """``template``'s header (size fixed to ``body``) around another payload."""
    hlen = struct.unpack_from(">I", template, 12)[0]
    header = msgpack.unpackb(template[24:24 + hlen])
    header["expanded_size"] = len(body)
    head = msgpack.packb(header)
    out = struct.pack(">8sHHIQ", MAGIC, 1, 0, len(head), len(body)) + head + body
    out += hashlib.sha256(out).digest()
    return out + hmac.new(KEY, out, hashlib.sha256).digest()


def test_extension_types_and_binary_keys_are_refused(work):
    for payload in ({"visits": [], "t": msgpack.ExtType(5, b"x")},
                    {"visits": [], b"k": 1}, {"visits": [], "t": msgpack.Timestamp(1, 0)}):
        code, _, err = inspect(work, sealed("readings", payload), "--json")
        assert code == 1 and "Traceback" not in err


def test_markup_and_terminal_escapes_in_a_payload_are_shown_inert(work):
    payload = meter_list_payload()
    payload["meter_list"]["meters"][0]["notes"] = "[/]\x1b[2J\x1b]0;owned\x07[bold]x\nforged"
    payload["meter_list"]["name"] = "[link=http://evil]click[/link]"
    code, out, err = inspect(work, sealed("meter_list", payload))
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J" in out and "[/]" in out and "[link=http://evil]click[/link]" in out


def test_a_password_that_is_not_utf8_is_reported_not_a_crash(work):
    payload = {"schemes": [scheme_dict()]}
    enc = encrypt_password(KEY, bundle_id="B-1", target="HHU-001", name="p", password="x")
    from hhu_sync.transfer.secrets import _aad, _aead
    enc["ct"] = _aead(KEY, "B-1").encrypt(enc["nonce"], b"\xff\xfe", _aad("B-1", "HHU-001", "p"))
    payload["schemes"][0]["passwords"] = [{"level": 1, "secret": "p", "enc": enc}]
    code, out, err = inspect(work, sealed("quick_send", payload), "--json")
    assert code == 0, err
    assert "DOES NOT decrypt" in out


# --- random structures -------------------------------------------------------------------

leaves = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1)
          | st.floats(allow_nan=True) | st.text(max_size=12) | st.binary(max_size=12))
values = st.recursive(leaves, lambda kids: st.lists(kids, max_size=4)
                      | st.dictionaries(st.text(max_size=12) | st.sampled_from(
                          ["schemes", "meter_list", "meters", "rates", "passwords", "visits",
                           "registers", "id", "enc"]), kids, max_size=4), max_leaves=24)


@st.composite
def mutated(draw):
    """A valid payload with one value somewhere replaced by a random structure."""
    kind = draw(st.sampled_from(["quick_send", "meter_list", "readings"]))
    payload = {"quick_send": lambda: {"schemes": [scheme_dict()]},
               "meter_list": meter_list_payload, "readings": readings_payload}[kind]()
    node = payload
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        node[key] = draw(values)
        break
    return kind, payload


def check_never_crashes(work: Path, kind: str, payload, compress: bool) -> None:
    data = sealed(kind, payload, compress=compress)
    try:
        decode_transfer(data, KEY)
    except TransferError:
        pass
    for extra in ((), ("--json",)):
        code, out, err = inspect(work, data, *extra)
        assert code in (0, 1), err
        assert "Traceback" not in err and "\x1b" not in out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.booleans())
def test_a_mutated_payload_never_crashes_decode_or_inspect(work, case, compress):
    kind, payload = case
    check_never_crashes(work, kind, copy.deepcopy(payload), compress)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["quick_send", "meter_list", "readings"]), values, st.booleans())
def test_any_msgpack_structure_never_crashes_decode_or_inspect(work, kind, payload, compress):
    check_never_crashes(work, kind, payload, compress)


def test_a_huge_upload_or_list_shows_a_bounded_table_and_says_how_many_more(work):
    """100,000 visits took rich 51 s and 8 MB of table: the text view shows the first
    rows and the count of the rest; --json still gives every one."""
    visit = {"meter": "M1", "list": "L1", "time": "2026-11-25T10:00:00+00:00",
             "outcome": "done", "notes": "",
             "registers": [["1.8.0", "1.0", "kWh", "2026-11-25T10:00:00+00:00"]]}
    code, out, _ = inspect(work, sealed("readings", {"visits": [visit] * 5_000},
                                        compress=True))
    assert code == 0 and out.count("\n") < 300
    assert "4,800 more visits" in out and "--json" in out
    payload = meter_list_payload()
    payload["meter_list"]["meters"] = payload["meter_list"]["meters"] * 5_000
    code, out, _ = inspect(work, sealed("meter_list", payload, compress=True))
    assert code == 0 and out.count("\n") < 300 and "4,800 more meters" in out
    code, out, _ = inspect(work, sealed("readings", {"visits": [visit] * 5_000},
                                        compress=True), "--json")
    assert code == 0 and out.count('"meter": "M1"') == 5_000
