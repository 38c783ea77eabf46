"""Fuzz the outbox: any name, any bytes, any kind of file; never a raise, nothing lost.

Whatever is dropped, :meth:`OutboxProcessor.process` returns, and the file ends either
accepted (in archive/) or moved aside (in rejected/, with its reason), except a meter
list that waits for its schemes. A secret reached through a link is never quoted.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hhu_sync.config import parse_config
from hhu_sync.keys import KeyStore
from hhu_sync.model.catalog import load_catalog
from hhu_sync.outbox import OutboxProcessor
from hhu_sync.store import SqliteStore
from tests.conftest import EXAMPLES, ROOT

FUZZ = settings(max_examples=int(os.environ.get("HHU_FUZZ_EXAMPLES", "120")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
SECRET = b"secret-key-material-never-quoted"
EXAMPLE_BYTES = [p.read_bytes() for p in sorted(EXAMPLES.glob("*.toml"))
                 + sorted(EXAMPLES.glob("*.csv"))]

names = st.binary(min_size=1, max_size=250).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b".."))
suffixes = st.sampled_from([b"", b".toml", b".csv", b".TOML", b".txt", b".xlsx"])


@st.composite
def contents(draw) -> bytes:
    kind = draw(st.sampled_from(["random", "mutated", "deep", "example"]))
    if kind == "random":
        return draw(st.binary(max_size=2000))
    if kind == "deep":
        opener = draw(st.sampled_from([b"[", b"{a=", b"a."]))
        return b"x = " + opener * draw(st.integers(50, 3000)) + b"\n"
    base = draw(st.sampled_from(EXAMPLE_BYTES))
    if kind == "example":
        return base
    at = draw(st.integers(0, len(base)))
    return base[:at] + draw(st.binary(max_size=60)) + base[at + draw(st.integers(0, 40)):]


def _depot(root: Path) -> OutboxProcessor:
    config = parse_config({"hhus": [{"id": "HHU-001", "crew": "crew-north"}],
                           "limits": {"outbox_workers": 0}}, root / "hhu-sync.toml")
    keystore = KeyStore(config.paths.keystore)
    keystore.enroll("HHU-001")
    config.paths.outbox.mkdir(parents=True)
    (config.paths.outbox / "quick-send" / "HHU-001").mkdir(parents=True)
    return OutboxProcessor(config, SqliteStore(config.paths.database),
                           load_catalog(ROOT / "config" / "meter-models.toml"), keystore,
                           wall=lambda: time.time() + 60)


_DEPOTS: dict[Path, OutboxProcessor] = {}


@FUZZ
@given(name=names, suffix=suffixes, content=contents(),
       kind=st.sampled_from(["file"] * 6 + ["symlink", "dirlink", "fifo", "folder",
                                            "hardlink"]),
       where=st.sampled_from(["", "quick-send/HHU-001", "quick-send", "sub"]))
def test_anything_dropped_ends_accepted_or_moved_aside(tmp_path, name, suffix, content, kind,
                                                       where):
    if tmp_path not in _DEPOTS:           # one depot for all the examples of a run
        _DEPOTS[tmp_path] = _depot(tmp_path)
        (tmp_path / "secret").write_bytes(SECRET)
    depot = _DEPOTS[tmp_path]
    secret = tmp_path / "secret"
    folder = depot.outbox / where
    folder.mkdir(parents=True, exist_ok=True)
    raw = (name + suffix)[-250:]
    path = Path(os.fsdecode(os.fsencode(folder) + b"/" + raw))
    if os.path.lexists(path):
        return
    if kind == "file":
        with open(path, "wb") as fh:
            fh.write(content)
    elif kind == "symlink":
        path.symlink_to(secret)
    elif kind == "dirlink":
        path.symlink_to(secret.parent, target_is_directory=True)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        os.link(secret, path)
    out = depot.process(path)
    assert out.status in ("accepted", "rejected", "duplicate", "deferred"), out
    if out.status == "deferred":                  # a list waiting for its schemes
        assert path.exists()
        path.unlink()
        return
    assert not os.path.lexists(path) and os.path.lexists(out.moved_to), out
    if out.status != "accepted":
        reason = out.moved_to.with_name(out.moved_to.name + ".reason.txt").read_bytes()
        assert SECRET not in reason and len(os.fsencode(out.moved_to.name)) <= 255
        assert all(len(line) <= 400 for line in reason.decode().splitlines())
    assert secret.read_bytes() == SECRET
