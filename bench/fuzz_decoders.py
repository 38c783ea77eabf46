"""Coverage-guided fuzzing (atheris / libFuzzer) of the link and transfer-file decoders.

    pip install atheris
    python bench/fuzz_decoders.py transfer -runs=200000 -max_len=4096
    python bench/fuzz_decoders.py transfer-sealed -runs=200000 -max_len=4096
    python bench/fuzz_decoders.py link -runs=200000 -max_len=2048

A run fails (and libFuzzer writes the crashing input to crash-*) on any exception other
than the decoders' own clean refusals: TransferError, and RemoteProtocolError from the
link. The link target drives a whole HHU-side and dock-side connection, so the fuzzer's
bytes reach the message parsers behind the framing; a CRC-valid frame is built from half
of the inputs so that the parsers, not only the CRC check, are exercised.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Imports first, then instrument_all(): every loaded function reports its coverage.
from hhu_sync.errors import TransferError
from hhu_sync.link import (
    NEED_DATA,
    Connection,
    HelloInfo,
    RemoteProtocolError,
    Role,
    StartHandshake,
    encode_frame,
)
from hhu_sync.transfer import MAGIC, decode_transfer

atheris.instrument_all()
KEY = bytes(range(32))


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
        if conn.next_timeout() is not None:
            conn.handle_timeout()
            _drain(conn)
    except RemoteProtocolError:
        pass


TARGETS = {"transfer": fuzz_transfer, "transfer-sealed": fuzz_transfer_sealed,
           "link": fuzz_link}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(TARGETS)}}} [libFuzzer options]")
    target = TARGETS[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
