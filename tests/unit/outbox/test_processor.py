"""The outbox processor: accept, queue, archive; reject with a reason; never twice."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from hhu_sync.config import parse_config
from hhu_sync.keys import KeyStore
from hhu_sync.model.catalog import load_catalog
from hhu_sync.outbox import OutboxProcessor
from hhu_sync.store import ListState, SqliteStore
from hhu_sync.transfer import peek_header
from tests.conftest import EXAMPLES, ROOT

SECRETS = ("a1700-level1", "a1700-level3", "a1140-level2", "as230-level1")


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture
def depot(tmp_path):
    cfg = tmp_path / "hhu-sync.toml"
    cfg.write_text("[[hhus]]\nid = 'HHU-001'\ncrew = 'crew-north'\n"
                   "[[hhus]]\nid = 'HHU-002'\ncrew = 'crew-south'\n")
    config = parse_config({"hhus": [{"id": "HHU-001", "crew": "crew-north"},
                                    {"id": "HHU-002", "crew": "crew-south"}]}, cfg)
    keystore = KeyStore(config.paths.keystore)
    keystore.enroll("HHU-001")
    for name in SECRETS:
        keystore.set_secret(name, "pw-" + name)
    store = SqliteStore(config.paths.database)
    clock = Clock()
    # Files dropped by a test are taken at once: the wall clock says they have been
    # quiet for a minute (the guard against a writer that reopened a file has its test).
    proc = OutboxProcessor(config, store, load_catalog(ROOT / "config" / "meter-models.toml"),
                           keystore, clock=clock, wall=lambda: time.time() + 60)
    config.paths.outbox.mkdir(parents=True)
    proc.clock_ = clock
    yield proc
    store.close()


def drop(proc, name: str, sub: str = "", content: bytes | None = None) -> Path:
    folder = proc.outbox / sub
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if content is None:
        shutil.copyfile(EXAMPLES / name, path)
    else:
        path.write_bytes(content)
    return path


def test_a_scheme_joins_the_library_and_is_archived(depot):
    out = depot.process(drop(depot, "a1700-ci-tou.toml"))
    assert out.status == "accepted" and out.kind == "scheme"
    assert depot.store.scheme("a1700-ci-tou-2026") is not None
    assert out.moved_to.exists() and not out.path.exists()
    assert out.moved_to.parent.parent == depot.config.paths.archive


def test_a_meter_list_is_queued_and_packed_for_its_hhu(depot):
    for name in ("a1700-ci-tou.toml", "a1140-day-night.toml"):
        depot.process(drop(depot, name))
    out = depot.process(drop(depot, "route-north.toml"))
    assert out.status == "accepted" and out.kind == "meter_list"
    (d,) = depot.store.pending_deliveries("HHU-001", None, "9999")
    assert d.packed and d.target_hhu == "HHU-001"
    assert peek_header(depot.store.bundle(d.delivery_id)).target == "HHU-001"
    assert depot.store.list_state("route-north-2026-11") == ListState.QUEUED


def test_a_quick_send_folder_names_the_hhu(depot):
    out = depot.process(drop(depot, "a1700-ci-tou.toml", sub="quick-send/HHU-001"))
    assert out.status == "accepted" and out.kind == "quick_send"
    (d,) = depot.store.pending_deliveries("HHU-001", None, "9999")
    assert d.kind == "quick_send" and d.ref == "a1700-ci-tou-2026"


def test_an_invalid_file_is_rejected_with_its_reason_beside_it(depot):
    path = drop(depot, "bad.toml", content=b"[scheme]\nid = 'x'\nmodel = 'Z9'\n")
    out = depot.process(path)
    assert out.status == "rejected"
    reason = out.moved_to.with_name("bad.toml.reason.txt").read_text()
    assert "scheme.model: unknown meter model 'Z9'" in reason
    assert out.moved_to.read_bytes() == b"[scheme]\nid = 'x'\nmodel = 'Z9'\n"


def test_binary_garbage_is_rejected_not_lost(depot):
    out = depot.process(drop(depot, "junk.csv", content=bytes(range(256))))
    assert out.status == "rejected" and out.moved_to.read_bytes() == bytes(range(256))


def test_a_file_over_the_size_limit_is_rejected_whole_not_read_whole(depot):
    from hhu_sync.model.loader import MAX_INPUT_BYTES

    content = b"# " + b"x" * (MAX_INPUT_BYTES + 100) + b"\n"
    out = depot.process(drop(depot, "huge.toml", content=content))
    assert out.status == "rejected" and "larger than the 4 MiB limit" in out.detail
    assert out.moved_to.read_bytes() == content


def test_a_file_just_under_the_size_limit_is_read_to_its_end(depot):
    from hhu_sync.model.loader import MAX_INPUT_BYTES

    text = (EXAMPLES / "as230-flat.toml").read_bytes()
    pad = MAX_INPUT_BYTES - len(text) - 1
    out = depot.process(drop(depot, "big.toml", content=text + b"#" * pad + b"\n"))
    assert out.status == "accepted", out.detail


def test_the_same_content_dropped_twice_is_processed_once(depot):
    depot.process(drop(depot, "as230-flat.toml"))
    again = depot.process(drop(depot, "as230-flat.toml"))
    assert again.status == "duplicate"
    assert "already received as as230-flat.toml" in \
        again.moved_to.with_name(again.moved_to.name + ".reason.txt").read_text()


def test_every_duplicate_is_recorded_naming_the_file_it_repeats(depot):
    depot.process(drop(depot, "as230-flat.toml"))
    depot.process(drop(depot, "again.toml", content=(EXAMPLES / "as230-flat.toml").read_bytes()))
    twins = [drop(depot, name, content=(EXAMPLES / "a1140-day-night.toml").read_bytes())
             for name in ("twin-a.toml", "twin-b.toml")]
    outcomes = depot.process_batch(twins)              # one content twice in one batch
    assert sorted(o.status for o in outcomes) == ["accepted", "duplicate"]
    taken = next(o for o in outcomes if o.status == "accepted").path.name
    listed = depot.store.inputs_page(status="duplicate").rows
    assert {(r["name"], r["duplicate_of"]) for r in listed} == {
        ("again.toml", "as230-flat.toml"),
        ({"twin-a.toml", "twin-b.toml"}.difference({taken}).pop(), taken)}
    assert all(r["moved_to"] and r["reason"] for r in listed)


def test_a_list_waits_for_its_schemes_then_is_accepted(depot):
    path = drop(depot, "route-north.toml")
    assert depot.process(path).status == "deferred" and path.exists()
    for name in ("a1700-ci-tou.toml", "a1140-day-night.toml"):
        depot.process(drop(depot, name))
    assert depot.process(path).status == "accepted"


def test_a_list_whose_schemes_never_come_is_rejected_after_the_wait(depot):
    path = drop(depot, "route-north.toml")
    depot.process(path)
    depot.clock_.t += depot.config.limits.scheme_wait_seconds + 1
    out = depot.process(path)
    assert out.status == "rejected" and "unknown scheme id" in out.detail


def test_a_list_for_an_hhu_that_is_not_enrolled_is_rejected(depot):
    for name in ("as230-flat.toml",):
        depot.process(drop(depot, name))
    text = (EXAMPLES / "route-south.csv").read_bytes().replace(b"# crew: crew-south",
                                                               b"# hhu: HHU-009")
    out = depot.process(drop(depot, "r.csv", content=text))
    assert out.status == "rejected" and "HHU-009 is not enrolled" in out.detail


def test_a_crew_list_is_queued_for_the_crew(depot):
    depot.process(drop(depot, "as230-flat.toml"))
    out = depot.process(drop(depot, "route-south.csv"))
    assert out.status == "accepted"
    (d,) = depot.store.pending_deliveries("HHU-002", "crew-south", "9999")
    assert d.target_crew == "crew-south" and not d.packed


def test_a_crash_between_commit_and_move_is_finished_on_restart(depot):
    path = drop(depot, "as230-flat.toml")
    out = depot.process(path)
    shutil.move(out.moved_to, path)          # as if the move never happened
    again = depot.process(path)
    assert again.status == "accepted" and again.moved_to == out.moved_to
    assert not path.exists()


def test_a_crash_between_linking_into_the_archive_and_unlinking_is_finished_on_restart(depot):
    path = drop(depot, "as230-flat.toml")
    out = depot.process(path)
    os.link(out.moved_to, path)              # linked, then the daemon died before the unlink
    again = depot.process(path)
    assert again.status == "accepted" and again.detail == "recovered"
    assert again.moved_to == out.moved_to and out.moved_to.exists() and not path.exists()
    assert not list(depot.config.paths.rejected.glob("*"))


def test_names_are_never_overwritten_in_archive_or_rejected(depot):
    a = depot.process(drop(depot, "bad.toml", content=b"junk = 1\n"))
    b = depot.process(drop(depot, "bad.toml", content=b"junk = 2\n"))
    assert a.moved_to != b.moved_to and a.moved_to.exists() and b.moved_to.exists()


def test_a_file_written_within_the_debounce_time_is_deferred_not_taken_half_written(depot):
    path = drop(depot, "as230-flat.toml")
    depot.wall = time.time       # the file was written just now
    out = depot.process(path)
    assert out.status == "deferred" and "still being written" in out.detail
    assert path.exists() and not list(depot.config.paths.archive.rglob("*.toml"))
    depot.wall = lambda: time.time() + depot.config.limits.debounce_seconds
    assert depot.process(path).status == "accepted"


def test_a_file_recovered_into_the_archive_is_never_overwritten_by_a_namesake(depot):
    first = depot.process(drop(depot, "x.toml", content=(EXAMPLES / "as230-flat.toml")
                               .read_bytes()))
    shutil.move(first.moved_to, first.path)         # committed, then the daemon died
    restarted = OutboxProcessor(depot.config, depot.store, depot.catalog, depot.keystore,
                                wall=lambda: time.time() + 60)
    restarted.process(drop(depot, "a1140-day-night.toml"))   # lists the archive folder
    assert restarted.process(first.path).moved_to == first.moved_to     # recovered
    other = (EXAMPLES / "a1700-ci-tou.toml").read_bytes()
    again = restarted.process(drop(depot, "x.toml", content=other))
    assert again.status == "accepted" and again.moved_to != first.moved_to
    assert first.moved_to.read_bytes() == (EXAMPLES / "as230-flat.toml").read_bytes()
    assert again.moved_to.read_bytes() == other
