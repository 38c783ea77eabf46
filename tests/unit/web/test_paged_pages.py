"""The lists and handhelds pages a page at a time: ``?limit=`` and ``?after=`` (the
``next`` of the page before), every row once across the pages, the API's old keys kept;
bad paging parameters are 400 naming them."""

from __future__ import annotations

import pytest

from hhu_sync.model.meterlist import MeterEntry, MeterList
from tests.unit.web.conftest import log_in

NOW = "2026-11-25T12:00:00+00:00"


def _fill(store, n: int = 7) -> None:
    for i in range(n):
        store.touch_hhu(f"HHU-{i:03d}", dock="cradle-1", firmware="2.1", battery=50,
                        free_flash=1, now=NOW, crew="north")
        store.add_meter_list(MeterList(f"L{i}", "n", f"HHU-{i:03d}", None,
                                       f"2026-12-{1 + i % 3:02d}", "",
                                       (MeterEntry("M1", "", "", "read", None, None, ""),)),
                             NOW)


def _walk(client, path: str, key: str) -> list[list[str]]:
    pages, url = [], f"{path}?limit=3"
    while True:
        body = client.get(url).json()
        pages.append([r["list_id" if key == "lists" else "hhu_id"] for r in body[key]])
        if body["next"] is None:
            return pages
        url = f"{path}?limit=3&after={body['next']}"


@pytest.mark.parametrize(("path", "key"), [("/api/lists", "lists"),
                                           ("/api/handhelds", "hhus")])
def test_every_row_once_a_page_at_a_time(client, store, path, key):
    _fill(store)
    log_in(client, "dana")
    pages = _walk(client, path, key)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert len({r for p in pages for r in p}) == 7
    whole = client.get(path).json()              # the default page holds them all
    assert whole["next"] is None and len(whole[key]) == 7


def test_the_lists_by_state_count_every_list_whatever_the_page(client, store):
    _fill(store)
    log_in(client, "dana")
    body = client.get("/api/lists?limit=2").json()
    assert body["by_state"]["queued"] == 7 and len(body["lists"]) == 2


def test_the_pages_link_to_the_next(client, store):
    _fill(store)
    log_in(client, "dana")
    nxt = client.get("/api/lists?limit=3&state=queued").json()["next"]
    page = client.get("/lists?limit=3&state=queued").text
    assert f'href="/lists?state=queued&amp;after={nxt}"' in page
    nxt = client.get("/api/handhelds?limit=3").json()["next"]
    assert f'href="/handhelds?after={nxt}"' in client.get("/handhelds?limit=3").text


@pytest.mark.parametrize("path", ["/api/lists", "/api/handhelds", "/lists", "/handhelds"])
@pytest.mark.parametrize(("query", "field"), [("limit=0", "limit"), ("limit=501", "limit"),
                                              ("limit=many", "limit"),
                                              ("after=not-a-cursor", "after"),
                                              ("after=" + "A" * 3000, "after")])
def test_bad_paging_is_400_naming_the_parameter(client, store, path, query, field):
    log_in(client, "dana")
    r = client.get(f"{path}?{query}")
    assert r.status_code == 400
    assert f"{field}:" in (r.json()["error"] if path.startswith("/api/") else r.text)
