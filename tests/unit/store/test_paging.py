"""Keyset-paged reads: every row exactly once across pages, in the screens' order, a
next cursor until the last page, bad cursors refused; an HHU's row as status() has it."""

from __future__ import annotations

import pytest

from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.store.paging import MAX_PAGE, BadCursor, encode_cursor
from tests.unit.store.helpers import meter_list, upload, visit

NOW = "2026-11-25T12:00:00+00:00"


def _all(fetch, **kw) -> list[list[dict]]:
    pages, after = [], None
    while True:
        page = fetch(after=after, **kw)
        pages.append(page.rows)
        if page.next is None:
            return pages
        after = page.next


def _list(list_id: str, due: str) -> MeterList:
    return MeterList(list_id, list_id, "HHU-001", None, due, "",
                     (MeterEntry(f"M-{list_id}", "", "", "read", None, None, ""),))


def test_lists_come_due_first_a_page_at_a_time_each_once(store):
    for n in range(25):
        store.add_meter_list(_list(f"L{n:02d}", f"2026-12-{1 + n % 5:02d}"), NOW)
    pages = _all(store.lists_page, limit=10)
    assert [len(p) for p in pages] == [10, 10, 5]
    keys = [(r["due"], r["list_id"]) for p in pages for r in p]
    assert keys == sorted(keys) and len(set(keys)) == 25
    assert set(pages[0][0]) == {"list_id", "name", "hhu", "crew", "due", "state", "entries",
                                "delivered_to"}
    assert store.lists_by_state() == {"queued": 25}


def test_one_state_alone_and_an_exact_last_page_has_no_next(store):
    for n in range(4):
        store.add_meter_list(_list(f"L{n}", "2026-12-01"), NOW)
    store.cancel_list("L2", NOW)
    assert [r["list_id"] for r in store.lists_page(state="cancelled").rows] == ["L2"]
    page = store.lists_page(state="queued", limit=3)
    assert [r["list_id"] for r in page.rows] == ["L0", "L1", "L3"] and page.next is None


def test_hhus_by_id_with_the_same_activity_and_running_session_as_status(store):
    for n in range(7):
        store.touch_hhu(f"HHU-{n:03d}", dock="cradle-1", firmware="2.1", battery=50,
                        free_flash=1, now=NOW, crew="north")
    store.add_meter_list(meter_list("L1", ("M1",)), NOW)
    store.ingest(upload("U-1", [visit("M1")]), "2026-11-26T08:00:00+00:00")
    store.start_session("cradle-2", "2026-11-27T09:00:00+00:00", hhu_id="HHU-003")
    pages = _all(store.hhus_page, limit=3)
    assert [len(p) for p in pages] == [3, 3, 1]
    paged = {h["hhu_id"]: h for p in pages for h in p}
    assert list(paged) == sorted(paged)
    for hhu in store.status()["hhus"]:
        assert paged[hhu["hhu_id"]] == hhu
    assert paged["HHU-001"]["last_activity"] > NOW
    assert paged["HHU-003"]["session_running_since"] == "2026-11-27T09:00:00+00:00"


def test_inputs_newest_first_and_by_status(store):
    for n in range(12):
        store.record_input(f"{n:064x}", f"f{n}.toml", "scheme",
                           "rejected" if n % 3 == 0 else "accepted", "why", "",
                           f"2026-11-25T12:00:{n:02d}+00:00")
    pages = _all(store.inputs_page, limit=5)
    names = [r["name"] for p in pages for r in p]
    assert names == [f"f{n}.toml" for n in range(11, -1, -1)]
    assert [r["name"] for r in store.inputs_page(status="rejected").rows] == [
        "f9.toml", "f6.toml", "f3.toml", "f0.toml"]


def test_inputs_received_in_one_second_keep_the_order_they_were_recorded(store):
    for n, sha in enumerate(("f" * 64, "0" * 64, "8" * 64, "1" * 64)):
        store.record_input(sha, f"g{n}.toml", "scheme", "accepted", "", "", NOW)
    pages = _all(store.inputs_page, limit=3)
    assert [r["name"] for p in pages for r in p] == ["g3.toml", "g2.toml", "g1.toml",
                                                     "g0.toml"]
    with pytest.raises(BadCursor):
        store.inputs_page(after=encode_cursor(NOW, "x1"))


@pytest.mark.parametrize("cursor", ["not base64 at all!", encode_cursor("a"),
                                    encode_cursor("a", "b", "c"), "x" * 5000,
                                    "WzEsMl0"])          # [1,2]: not strings
def test_a_cursor_this_store_did_not_hand_out_is_refused(store, cursor):
    with pytest.raises(BadCursor):
        store.lists_page(after=cursor)


def test_a_page_is_bounded(store):
    for n in range(3):
        store.add_meter_list(_list(f"L{n}", "2026-12-01"), NOW)
    assert len(store.lists_page(limit=10**9).rows) == 3
    assert len(store.lists_page(limit=0).rows) == 1 and MAX_PAGE == 500


@pytest.mark.sqlite_only("SQLite query plans (EXPLAIN QUERY PLAN)")
def test_each_page_is_an_index_read(store):
    plans = {sql: " ".join(r[3] for r in store._rows("EXPLAIN QUERY PLAN " + sql, args))
             for sql, args in (
                 ("SELECT list_id FROM lists WHERE (due, list_id) > (?, ?) "
                  "ORDER BY due, list_id LIMIT 10", ("", "")),
                 ("SELECT name FROM inputs ORDER BY received_at DESC, rowid DESC LIMIT 10",
                  ()),
                 ("SELECT MAX(received_at) FROM uploads WHERE hhu_id = ?", ("H",)))}
    for sql, plan in plans.items():
        assert "USING" in plan and "TEMP B-TREE" not in plan, (sql, plan)
