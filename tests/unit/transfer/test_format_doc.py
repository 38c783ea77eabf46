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
