"""The readings pages: meters found by serial prefix, site or list, a page at a time in
serial order; a meter's page with its registers, its history (register by register,
newest first, paged by cursor), a chart per register and its visits; the same as JSON;
every parameter checked (400 naming it), unknown meters 404, values shown as text."""

from __future__ import annotations

import re

import pytest

from hhu_sync.model.meterlist import MeterEntry, MeterList
from tests.unit.store.helpers import upload, visit
from tests.unit.web.conftest import ON_BOTH_BACKENDS, log_in

pytestmark = ON_BOTH_BACKENDS

NOW = "2026-11-25T12:00:00+00:00"
SITE = "<b>Mill</b> Lane 3"
NOTE = "<script>alert('dog')</script>"


def _at(day: int) -> str:
    return f"2026-11-{day:02d}T10:00:00+00:00"


def _regs(day: int, base: float) -> list:
    t = _at(day)
    return [["1.8.1", f"{base + day:.1f}", "kWh", t], ["1.8.2", f"{base / 2 + day:.1f}", "kWh", t],
            ["1.6.0", f"{day / 10:.2f}", "kW", t]]


@pytest.fixture
def filled(store):
    """L1: M1 (at SITE), M2, MX-9; readings of M1 and M2 on the 20th, 22nd and 24th (three
    registers each), a no-access visit to MX-9 with NOTE; L2 places M2 at another site."""
    store.add_meter_list(MeterList("L1", "North", "HHU-001", None, "2026-12-01", "", (
        MeterEntry("M1", SITE, "", "read", None, None, ""),
        MeterEntry("M2", "Station Road 1", "", "read", None, None, ""),
        MeterEntry("MX-9", "Mill Lane 9", "", "read", None, None, ""))), NOW)
    (d,) = store.pending_deliveries("HHU-001", None, NOW)
    store.bind_delivery(d.delivery_id, "HHU-001", "B-1", b"sealed")
    store.delivery_done(d.delivery_id, "HHU-001", NOW)
    for n, day in enumerate((20, 22, 24)):
        visits = [visit("M1", time=_at(day), registers=_regs(day, 1000)),
                  visit("M2", time=_at(day), registers=_regs(day, 500))]
        if day == 24:
            visits.append(visit("MX-9", time=_at(day), outcome="no_access", notes=NOTE))
        store.ingest(upload(f"U-{n}", visits), NOW)
    store.add_meter_list(MeterList("L2", "South", "HHU-002", None, "2026-12-02", "", (
        MeterEntry("M2", "Quarry Way 2", "", "read", None, None, ""),)), NOW)
    return store


PAGES = ("/readings", "/meters/M1")
APIS = ("/api/readings", "/api/meters/M1", "/api/meters/M1/readings")


def test_every_readings_route_needs_a_session(client, filled):
    for path in APIS:
        r = client.get(path)
        assert r.status_code == 401 and r.json()["status"] == 401
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login"


def test_every_depot_role_may_view_them(client, filled):
    for name in ("dana", "otto", "ada"):
        log_in(client, name)
        assert all(client.get(p).status_code == 200 for p in PAGES + APIS)


def test_meters_by_serial_prefix_in_serial_order_with_count_and_latest(client, filled):
    log_in(client, "dana")
    body = client.get("/api/readings").json()
    assert body == {"next": None, "meters": [
        {"serial": "M1", "site": SITE, "readings": 9, "latest": _at(24)},
        {"serial": "M2", "site": "Quarry Way 2", "readings": 9, "latest": _at(24)},
        {"serial": "MX-9", "site": "Mill Lane 9", "readings": 0, "latest": None}]}
    assert [m["serial"] for m in client.get("/api/readings?meter=MX").json()["meters"]] == \
        ["MX-9"]
    assert client.get("/api/readings?meter=Q").json() == {"meters": [], "next": None}


def test_meters_a_page_at_a_time_each_once_and_in_order(client, filled):
    log_in(client, "dana")
    seen, after, pages = [], "", 0
    while True:
        body = client.get(f"/api/readings?limit=1&after={after}").json()
        seen += [m["serial"] for m in body["meters"]]
        pages += 1
        if body["next"] is None:
            break
        after = body["next"]
    assert seen == ["M1", "M2", "MX-9"] and pages == 3
    page = client.get("/readings?limit=2").text
    assert 'rel="next" href="/readings?meter=&amp;site=&amp;list=&amp;after=M2"' in page


def test_meters_by_site_start_ignoring_case_and_by_list(client, filled):
    log_in(client, "dana")
    by_site = client.get("/api/readings", params={"site": "mill"}).json()["meters"]
    assert [m["serial"] for m in by_site] == ["MX-9"]
    by_site = client.get("/api/readings", params={"site": "<B>mill"}).json()["meters"]
    assert [(m["serial"], m["site"]) for m in by_site] == [("M1", SITE)]
    by_list = client.get("/api/readings?list=L2").json()["meters"]
    assert [(m["serial"], m["site"], m["readings"]) for m in by_list] == \
        [("M2", "Quarry Way 2", 9)]
    both = client.get("/api/readings?list=L1&meter=M&limit=1&after=M1").json()
    assert [m["serial"] for m in both["meters"]] == ["M2"] and both["next"] == "M2"
    assert client.get("/api/readings?list=L9").json()["meters"] == []


@pytest.mark.parametrize(("query", "field"), [
    ("meter=%3Cb%3E", "meter"), ("meter=" + "M" * 33, "meter"), ("site=a%00b", "site"),
    ("site=" + "s" * 101, "site"), ("list=..", "list"), ("after=M%20", "after"),
    ("limit=0", "limit"), ("limit=201", "limit"), ("limit=ten", "limit")])
def test_a_bad_search_parameter_is_400_naming_it(client, filled, query, field):
    log_in(client, "dana")
    r = client.get(f"/api/readings?{query}")
    assert r.status_code == 400 and r.json()["error"].startswith(f"{field}: ")
    page = client.get(f"/readings?{query}")
    assert page.status_code == 400 and f"{field}: " in page.text


def test_a_meter_with_its_lists_registers_and_visits(client, filled):
    log_in(client, "dana")
    m = client.get("/api/meters/M2").json()
    assert [(p["list_id"], p["site"]) for p in m["places"]] == \
        [("L2", "Quarry Way 2"), ("L1", "Station Road 1")]
    assert [(r["obis"], r["readings"], r["first"], r["latest"], r["value"], r["unit"])
            for r in m["registers"]] == [
        ("1.6.0", 3, _at(20), _at(24), "2.40", "kW"),
        ("1.8.1", 3, _at(20), _at(24), "524.0", "kWh"),
        ("1.8.2", 3, _at(20), _at(24), "274.0", "kWh")]
    assert [(v["time"], v["list_id"], v["outcome"], v["hhu"]) for v in m["visits"]] == \
        [(_at(d), "L1", "done", "HHU-001") for d in (24, 22, 20)]
    alone = client.get("/api/meters/MX-9").json()
    assert alone["registers"] == [] and alone["visits"][0]["notes"] == NOTE


def test_a_meters_history_register_by_register_newest_first_paged(client, filled):
    log_in(client, "dana")
    rows, after = [], None
    while True:
        body = client.get("/api/meters/M1/readings",
                          params={"limit": 2, **({"after": after} if after else {})}).json()
        rows += [(r["obis"], r["time"]) for r in body["readings"]]
        after = body["next"]
        if after is None:
            break
    assert rows == [(o, _at(d)) for o in ("1.6.0", "1.8.1", "1.8.2") for d in (24, 22, 20)]
    one = client.get("/api/meters/M1/readings?obis=1.8.1&limit=2").json()
    assert [r["value"] for r in one["readings"]] == ["1024.0", "1022.0"]
    assert one["next"] == f"1.8.1|{_at(22)}"
    rest = client.get("/api/meters/M1/readings", params={"obis": "1.8.1",
                                                         "after": one["next"]}).json()
    assert [r["value"] for r in rest["readings"]] == ["1020.0"] and rest["next"] is None
    assert set(rest["readings"][0]) == {"obis", "time", "value", "unit", "status",
                                        "upload_id", "hhu", "multiplier", "value_basis",
                                        "value_primary", "scheme"}
    page = client.get("/meters/M1?obis=1.8.1&limit=2").text
    assert 'href="/meters/M1?obis=1.8.1&amp;after=1.8.1%7C2026-11-22T10%3A00%3A00%2B00%3A00"' \
        in page


@pytest.mark.parametrize(("path", "field"), [
    ("/api/meters/%3Cb%3E", "serial"), ("/api/meters/M1/readings?obis=%3Cx%3E", "obis"),
    ("/api/meters/M1/readings?after=1.8.1", "after"),
    ("/api/meters/M1/readings?obis=1.8.2&after=1.8.1%7C2026-11-22T10:00:00%2B00:00", "after"),
    ("/api/meters/M1/readings?limit=-1", "limit"), ("/meters/M1?after=x%7Cy", "after"),
    ("/meters/a%20b", "serial")])
def test_a_bad_meter_parameter_is_400_naming_it(client, filled, path, field):
    log_in(client, "dana")
    r = client.get(path)
    assert r.status_code == 400
    assert (r.json()["error"] if path.startswith("/api/") else r.text).count(f"{field}: ")


@pytest.mark.parametrize("path", ["/api/meters/NOPE", "/api/meters/NOPE/readings",
                                  "/meters/NOPE", "/api/meters/M1/readings?obis=9.9.9",
                                  "/meters/M1?obis=9.9.9", "/api/meters/MX-9/readings"])
def test_an_unknown_meter_or_register_is_404(client, filled, path):
    log_in(client, "dana")
    assert client.get(path).status_code == 404


def test_the_meter_page_draws_a_chart_per_register_and_skips_what_is_no_number(client,
                                                                               filled):
    with filled._tx() as db:        # a value the meter garbled, as an older depot kept it
        db.execute("INSERT INTO readings (meter, obis, time, value, unit, status, hhu, "
                   "upload_id) VALUES ('M1', '1.8.1', ?, '<i>n/a</i>', 'kWh', 'ok', "
                   "'HHU-001', 'U-0')", ("2026-11-21T10:00:00+00:00",))
    log_in(client, "dana")
    page = client.get("/meters/M1").text
    assert page.count('<svg class="chart"') == 3
    one = client.get("/meters/M1?obis=1.8.1").text
    chart = re.search(r'<svg class="chart".*?</svg>', one, re.S).group(0)
    assert chart.count("<circle") == 3 and "1 not a number, not drawn" in one
    assert "&lt;i&gt;n/a&lt;/i&gt;" in one and "<i>n/a</i>" not in one   # in the table
    assert "style=" not in page


def test_markup_in_a_site_or_a_note_is_shown_as_text(client, filled):
    log_in(client, "dana")
    for path in ("/readings", "/readings?list=L1", "/meters/M1", "/meters/MX-9"):
        text = client.get(path).text
        assert "<b>Mill" not in text and "<script>alert" not in text
    assert "&lt;b&gt;Mill&lt;/b&gt; Lane 3" in client.get("/readings?list=L1").text
    assert "&lt;script&gt;alert(&#39;dog&#39;)&lt;/script&gt;" in \
        client.get("/meters/MX-9").text


def test_the_nav_leads_to_readings_and_schemes(client, filled):
    log_in(client, "dana")
    page = client.get("/readings").text
    assert '<a href="/readings">Readings</a>' in page and '<a href="/schemes">Schemes</a>' in page


def test_a_flag_word_gets_no_chart_though_its_hex_digits_look_like_a_number(client, filled):
    with filled._tx() as db:
        db.execute("INSERT INTO readings (meter, obis, time, value, unit, status, hhu, "
                   "upload_id) VALUES ('M1', 'F.F', ?, '00000010', '', 'ok', 'HHU-001', "
                   "'U-0')", (_at(20),))
    log_in(client, "dana")
    assert client.get("/meters/M1").text.count('<svg class="chart"') == 3
    flags = client.get("/meters/M1?obis=F.F").text
    assert '<svg class="chart"' not in flags and "<td>00000010</td>" in flags


# -- the value basis: the page says what the billing file says ---------------------------

A1700 = "a1700-ci-tou-2026"                       # CT 400/5, VT 11000/110: 8000
HELD = {"ct": "400/5", "vt": "11000/110"}
DAY1, DAY2 = _at(21), _at(22)


@pytest.fixture
def ct_meter(store, catalog):
    """CT1 behind transformers on the A1700 scheme: read (100) and programmed with proof
    of its ratios on DAY1, so that reading counts secondary values (x 8000) and the one
    read on DAY2 (200) primary ones: the two must never share a line unconverted."""
    from hhu_sync.model.inputs import load_inputs
    from tests.conftest import EXAMPLES

    for n, scheme in enumerate(load_inputs([EXAMPLES], catalog).schemes.values()):
        store.accept_input(sha256=f"{n:064d}", name=f"{scheme.id}.toml", kind="scheme",
                           moved_to="", now=NOW, scheme=scheme)
    store.add_meter_list(MeterList("LCT", "CT", "HHU-001", None, "2026-12-01", "", (
        MeterEntry("CT1", "Foundry", "", "read+program", A1700, None, ""),)), NOW)
    first = {**visit("CT1", list_id="LCT", time=DAY1, value="000100.000"), "scheme": A1700,
             "verify": "ok", "ratios": HELD}
    store.ingest(upload("U-CT1", [first]), NOW)
    store.ingest(upload("U-CT2", [visit("CT1", list_id="LCT", time=DAY2,
                                        value="000200.000")]), NOW)
    return store


def test_every_value_says_its_basis_and_multiplier_as_the_export_does(client, ct_meter):
    log_in(client, "dana")
    body = client.get("/api/meters/CT1/readings?obis=1.8.1").json()
    said = [(r["time"], r["value"], r["value_basis"], r["multiplier"], r["value_primary"],
             r["scheme"]) for r in body["readings"]]
    assert said == [(DAY2, "000200.000", "primary", "8000", "200.000", A1700),
                    (DAY1, "000100.000", "secondary", "8000", "800000.000", A1700)]
    billed = {(r.obis, r.time): (r.value_basis, r.multiplier, r.value_primary)
              for r in ct_meter.readings()}
    for r in client.get("/api/meters/CT1/readings").json()["readings"]:
        assert (r["value_basis"], r["multiplier"], r["value_primary"]) == \
            billed[(r["obis"], r["time"])]
    (reg,) = [r for r in client.get("/api/meters/CT1").json()["registers"]
              if r["obis"] == "1.8.1"]
    assert (reg["value"], reg["value_basis"], reg["value_primary"]) == \
        ("000200.000", "primary", "200.000")
    page = client.get("/meters/CT1?obis=1.8.1").text
    assert "secondary × 8000" in page and "primary (× 8000 in meter)" in page
    assert "<td>800000.000</td>" in page


def test_the_chart_draws_secondary_values_converted_to_primary_never_beside_them(client,
                                                                                ct_meter):
    log_in(client, "dana")
    page = client.get("/meters/CT1?obis=1.8.1").text
    chart = re.search(r'<svg class="chart".*?</svg>', page, re.S).group(0)
    tips = re.findall(r"<circle[^>]*><title>([^<]*)</title>", chart)
    assert tips == [f"{DAY1}: 800000.000 kWh, primary", f"{DAY2}: 200.000 kWh, primary"]
    assert "primary values: 1 secondary value × 8000" in page
    assert "000100.000 kWh" not in chart          # the secondary value is never drawn raw
    # the axis says the basis, from the picture's left edge (never cut off by it)
    assert '<text class="chart-unit" x="4" y="14" text-anchor="start">kWh, primary</text>' \
        in chart


def test_a_value_of_unknown_basis_is_left_off_a_primary_chart_and_counted(client, ct_meter):
    # a third visit proves other ratios than the scheme's: its value's basis is unknown
    other = {**visit("CT1", list_id="LCT", time=_at(23), value="000300.000"),
             "ratios": {"ct": "200/5", "vt": "11000/110"}}
    ct_meter.ingest(upload("U-CT3", [other]), NOW)
    log_in(client, "dana")
    page = client.get("/meters/CT1?obis=1.8.1").text
    chart = re.search(r'<svg class="chart".*?</svg>', page, re.S).group(0)
    assert chart.count("<circle") == 2 and "300" not in chart
    assert "1 of unknown basis, not drawn" in page


def test_a_meter_without_a_scheme_is_drawn_as_read_and_said_to_be_of_unknown_basis(client,
                                                                                  filled):
    log_in(client, "dana")
    page = client.get("/meters/M1?obis=1.8.1").text
    assert "kWh, as read, basis unknown" in page and "primary or secondary unknown" in page
    assert re.search(r'<svg class="chart".*?</svg>', page, re.S).group(0).count("<circle") == 3


def test_a_meter_with_more_registers_than_charts_says_how_many_are_drawn(client, filled):
    regs = [[f"1.8.{n}", f"{n}.0", "kWh", _at(20)] for n in range(10)]
    filled.ingest(upload("U-MANY", [visit("M2", time=_at(20), registers=regs)]), NOW)
    log_in(client, "dana")
    page = client.get("/meters/M2").text
    assert page.count('<svg class="chart"') == 8
    assert "8 of 11 registers drawn" in page          # 1.6.0 and 1.8.0..1.8.9
    assert "registers drawn" not in client.get("/meters/M1").text     # all 3 drawn
    assert "registers drawn" not in client.get("/meters/M2?obis=1.8.9").text


def test_the_page_reads_bases_by_the_configured_catalog_as_the_export_does(store, clock,
                                                                          ct_meter, tmp_path):
    from types import SimpleNamespace

    from starlette.testclient import TestClient

    from hhu_sync.web.app import create_app
    from tests.conftest import ROOT

    # a catalog in which no model takes ratios: the proof of them is no proof of primary
    text = (ROOT / "config" / "meter-models.toml").read_text()
    catalog = tmp_path / "models.toml"
    catalog.write_text(text.replace("takes_ratios = true", "takes_ratios = false"))
    config = SimpleNamespace(paths=SimpleNamespace(catalog=catalog))
    app = create_app(store, clock=clock, extra={"config": config})
    with TestClient(app, base_url="http://127.0.0.1:8080", follow_redirects=False) as c:
        log_in(c, "dana")
        rows = c.get("/api/meters/CT1/readings?obis=1.8.1").json()["readings"]
    billed = {r.time: r.value_basis for r in store.readings(catalog=catalog)}
    assert [(r["time"], r["value_basis"]) for r in rows] == [
        (DAY2, billed[DAY2]), (DAY1, billed[DAY1])] == [(DAY2, "unknown"), (DAY1, "secondary")]
