"""Coverage-guided fuzzing (atheris / libFuzzer) of every decoder of outside input:
the link, transfer files, outbox files and readings uploads.

    pip install atheris
    python bench/fuzz_decoders.py transfer -runs=200000 -max_len=4096
    python bench/fuzz_decoders.py transfer-sealed -runs=200000 -max_len=4096
    python bench/fuzz_decoders.py link -runs=200000 -max_len=2048
    python bench/fuzz_decoders.py outbox -runs=200000 -max_len=8192
    python bench/fuzz_decoders.py upload -runs=200000 -max_len=8192

A run fails (and libFuzzer writes the crashing input to crash-*) on any exception other
than the decoders' own clean refusals: TransferError, and RemoteProtocolError from the
link. The link target drives a whole HHU-side and dock-side connection, so the fuzzer's
bytes reach the message parsers behind the framing; a CRC-valid frame is built from half
of the inputs so that the parsers, not only the CRC check, are exercised.

``outbox`` gives the fuzzer's bytes to the outbox's check as a scheme or meter list (TOML
or CSV, in the library or as a Quick send): it must report problems, never raise.
``upload`` decodes the bytes as msgpack (half of the time over a valid upload, so that the
field checks behind the shape checks are reached) and checks them as a readings payload:
only UploadError may come out, and every reading it keeps must be one a bill can take.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
import sys
from datetime import UTC, datetime
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Imports first, then instrument_all(): every loaded function reports its coverage.
import msgpack

from hhu_sync.errors import TransferError
from hhu_sync.ingest import UploadError, parse_upload
from hhu_sync.link import (
    NEED_DATA,
    Connection,
    HelloInfo,
    RemoteProtocolError,
    Role,
    StartHandshake,
    encode_frame,
)
from hhu_sync.model.catalog import load_catalog
from hhu_sync.model.inputs import load_inputs
from hhu_sync.transfer import MAGIC, decode_transfer

atheris.instrument_all()
KEY = bytes(range(32))
ROOT = Path(__file__).resolve().parents[1]
CATALOG = load_catalog(ROOT / "config" / "meter-models.toml")
RECEIVED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
T = "2026-11-25T10:00:00+00:00"
VALID_UPLOAD = {"visits": [{"meter": "M1", "list": "L1", "time": T, "outcome": "done",
                            "operator": "crew", "notes": "", "error_flags": "00000000",
                            "registers": [["1.8.0", "001846.0", "kWh", T],
                                          ["1.6.0", "0012.34", "kW", T, T, ""]]}]}
_BILLABLE_VALUE = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,4})?|[0-9A-F]{1,16}", re.ASCII)


def fuzz_transfer(data: bytes) -> None:
    try:
        decode_transfer(data, KEY)
    except TransferError:
        pass


def fuzz_transfer_sealed(data: bytes) -> None:
    """Past the digest and the seal: a correctly sealed file around fuzzed contents."""
    fdp = atheris.FuzzedDataProvider(data)
    header = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
    payload = fdp.ConsumeBytes(fdp.remaining_bytes())
    body = struct.pack(">8sHHIQ", MAGIC, 1, 0, len(header), len(payload)) + header + payload
    body += hashlib.sha256(body).digest()
    body += hmac.new(KEY, body, hashlib.sha256).digest()
    fuzz_transfer(body)


def _drain(conn: Connection) -> None:
    for _ in range(10_000):
        if conn.next_event() is NEED_DATA:
            return
    raise AssertionError("next_event() did not settle")


def fuzz_link(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    hhu_side = fdp.ConsumeBool()
    framed = fdp.ConsumeBool()
    rest = fdp.ConsumeBytes(fdp.remaining_bytes())
    if hhu_side:
        conn = Connection(Role.HHU, key=KEY, hello=HelloInfo("HHU-1", "fw", 1 << 20, 90),
                          random=lambda n: b"\x01" * n)
    else:
        conn = Connection(Role.DOCK, keys=lambda _id: KEY, random=lambda n: b"\x02" * n)
        conn.send(StartHandshake())
    try:
        conn.receive_data(encode_frame(rest) if framed and rest else rest)
        _drain(conn)
        conn.data_to_send()
        if conn.next_deadline() is not None:
            conn.handle_timeout()
            _drain(conn)
    except RemoteProtocolError:
        pass


def fuzz_outbox(data: bytes) -> None:
    """Any bytes as an outbox file: problems, never an exception (load_inputs' contract)."""
    fdp = atheris.FuzzedDataProvider(data)
    suffix = (".toml", ".csv")[fdp.ConsumeIntInRange(0, 1)]
    folder = ("", "quick-send/HHU-001/")[fdp.ConsumeIntInRange(0, 1)]
    path = Path(f"/outbox/{folder}fuzz{suffix}")
    load_inputs([path], CATALOG, {}, {path: fdp.ConsumeBytes(fdp.remaining_bytes())})


def fuzz_upload(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        try:
            payload = msgpack.unpackb(fdp.ConsumeBytes(fdp.remaining_bytes()), raw=False,
                                      strict_map_key=False, max_bin_len=1 << 16,
                                      max_str_len=1 << 16, max_array_len=1 << 12,
                                      max_map_len=1 << 12)
        except Exception:  # noqa: BLE001 - the codec refuses what msgpack cannot read
            return
    else:   # a valid upload with one value replaced by the fuzzer's
        payload = {"visits": [dict(VALID_UPLOAD["visits"][0])]}
        visit = payload["visits"][0]
        field = ("meter", "list", "time", "outcome", "notes", "registers")[
            fdp.ConsumeIntInRange(0, 5)]
        visit[field] = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 64))
        if fdp.ConsumeBool():
            reg = ["1.8.0", "001846.0", "kWh", T]
            reg[fdp.ConsumeIntInRange(0, 3)] = fdp.ConsumeUnicode(fdp.remaining_bytes())
            visit["registers"] = [reg]
    try:
        upload = parse_upload(payload, upload_id="R-1", hhu_id="HHU-001", sha256="0" * 64,
                              received_at=RECEIVED)
    except UploadError:
        return
    for i, row in enumerate(upload.readings):
        if i in upload.not_stored:
            continue
        value = row[3]
        assert _BILLABLE_VALUE.fullmatch(value), f"reading kept with value {value!r}"
        assert row[2].endswith("+00:00"), f"reading kept with time {row[2]!r}"


TARGETS = {"transfer": fuzz_transfer, "transfer-sealed": fuzz_transfer_sealed,
           "link": fuzz_link, "outbox": fuzz_outbox, "upload": fuzz_upload}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(TARGETS)}}} [libFuzzer options]")
    target = TARGETS[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
