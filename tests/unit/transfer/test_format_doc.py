"""The test vector in docs/transfer-format.md decodes as the page says."""

from __future__ import annotations

import re

from hhu_sync.transfer import decode_transfer
from tests.conftest import ROOT


def test_the_documented_vector_decodes_with_the_documented_key():
    text = (ROOT / "docs" / "transfer-format.md").read_text()
    block = text.split("## Test vector", 1)[1].split("```", 2)[1]
    data = bytes.fromhex(re.sub(r"\s+", "", block))
    assert len(data) == 499
    t = decode_transfer(data, bytes(range(32)))
    assert t.header.kind == "readings" and t.header.bundle_id == "U-1"
    assert t.payload["visits"][0]["registers"][0] == [
        "1.8.1", "001846.0", "kWh", "2026-11-25T10:15:00+00:00"]


def test_the_documented_reading_password_record_opens_with_the_documented_key():
    import msgpack

    from hhu_sync.transfer import decrypt_password
    from hhu_sync.transfer.secrets import encrypt_password

    text = (ROOT / "docs" / "transfer-format.md").read_text()
    section = text.split("Vector (`tests/unit/transfer/test_format_doc.py` checks it)", 1)[1]
    _, ct_block, _, record_block, _ = section.split("```", 4)
    ct = bytes.fromhex(re.sub(r"\s+", "", ct_block))
    record = msgpack.unpackb(bytes.fromhex(re.sub(r"\s+", "", record_block)), raw=False)
    key = bytes(range(32))
    assert record["secret"] == "a1700-read" and record["enc"]["ct"] == ct
    assert decrypt_password(key, record["enc"], bundle_id="B-1", target="HHU-001",
                            name="a1700-read") == "RD-07731"
    assert encrypt_password(key, bundle_id="B-1", target="HHU-001", name="a1700-read",
                            password="RD-07731", nonce=bytes(range(12)))["ct"] == ct
