"""The readings and schemes pages in a real browser: a meter's chart and a scheme's week
timetable are drawn (server-side SVG, visible, nothing the CSP refuses), and markup in a
site or a note stays text."""

from __future__ import annotations

import pytest

from hhu_sync.config import parse_config
from hhu_sync.model.loader import load_toml
from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.model.scheme import parse_scheme
from hhu_sync.store import SqliteStore
from hhu_sync.web.accounts import Accounts
from hhu_sync.web.server import WebServer
from tests.browser.conftest import shoot
from tests.conftest import EXAMPLES
from tests.unit.store.helpers import upload, visit

PASSWORD = "correct horse battery"
NOW = "2026-11-25T12:00:00+00:00"
NOTE = "<img src=x onerror=alert(1)>"


def _at(day: int) -> str:
    return f"2026-11-{day:02d}T10:00:00+00:00"


@pytest.fixture
def served(tmp_path, catalog):
    store = SqliteStore(tmp_path / "depot.db")
    Accounts(store).add("dana", "depot", PASSWORD, actor="test")
    data, locate = load_toml(EXAMPLES / "a1700-ci-tou.toml")
    scheme = parse_scheme(data, "a1700-ci-tou.toml", catalog, locate)
    store.accept_input(sha256="0" * 64, name="a1700-ci-tou.toml", kind="scheme", moved_to="",
                       now=NOW, scheme=scheme)
    store.add_meter_list(MeterList("L1", "North", "HHU-001", None, "2026-12-01", "", (
        MeterEntry("E23A0001", "<b>Unit 4</b> Riverside", "", "read", scheme.id, None,
                   ""),)), NOW)      # behind CTs/VTs (x 8000), never programmed: secondary
    for n, day in enumerate(range(1, 25, 3)):
        regs = [["1.8.1", f"{1200 + 37.5 * n + (n % 3) * 9:.1f}", "kWh", _at(day)],
                ["1.8.2", f"{400 + 11.25 * n:.2f}", "kWh", _at(day)],
                ["1.6.0", f"{40 + (n * 7) % 13:.1f}", "kW", _at(day)]]
        store.ingest(upload(f"U-{n}", [visit("E23A0001", time=_at(day), registers=regs,
                                             notes=NOTE if n == 7 else "")]), NOW)
    config = parse_config({"web": {"listen": "127.0.0.1:0"}}, tmp_path / "c.toml")
    server = WebServer(config, store).start()
    yield server
    server.stop()
    store.close()


def _log_in(page, base: str) -> None:
    page.goto(base + "login")
    page.fill("input[name=username]", "dana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/docks")


def test_a_meters_chart_and_a_schemes_timetable_are_drawn(served, page):
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text)
            if "Content Security Policy" in m.text else None)
    _log_in(page, served.url)
    page.click("text=Readings")
    page.fill("input[name=site]", "<b>unit")
    page.click("text=Search")
    assert page.locator("table.meters tbody td").nth(1).inner_text() == \
        "<b>Unit 4</b> Riverside"
    page.click("text=E23A0001")
    page.wait_for_url("**/meters/E23A0001")
    charts = page.locator("svg.chart")
    assert charts.count() == 3
    first = charts.first
    assert first.is_visible()
    box = first.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    assert first.locator("circle").count() == 8
    assert first.locator("polyline.chart-line").is_visible()
    # every value says its basis; the chart draws them converted to primary, as billed
    assert page.locator("table.history tbody tr").first.locator(".basis").inner_text() == \
        "secondary × 8000"
    assert "primary values: 8 secondary values × 8000" in \
        page.locator("figure.chart-box").first.inner_text()
    assert page.locator("td.visit-note", has_text="onerror").inner_text() == NOTE
    shoot(page, "meter")

    page.click("text=Schemes")
    page.click("text=a1700-ci-tou-2026")
    page.wait_for_url("**/schemes/a1700-ci-tou-2026")
    winter = page.locator("section[data-season=winter] svg.timetable")
    assert winter.is_visible()
    peak = winter.locator("g[data-day=Mon] rect.rate-2")
    assert peak.count() == 1 and peak.is_visible()
    assert (peak.get_attribute("data-start"), peak.get_attribute("data-end")) == \
        ("16:00", "19:00")
    # the peak's colour comes from app.css (the CSP allows no inline style)
    assert peak.evaluate("e => getComputedStyle(e).fill") == "rgb(192, 57, 43)"
    assert page.locator("section[data-season=summer] g[data-day=Mon] rect.rate-2").count() == 0
    assert "a1700-level1" not in page.content()
    shoot(page, "scheme")
    assert refused == [] and page.dialogs == []
