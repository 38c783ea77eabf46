"""The scheme library pages: every scheme with its version, model and file; one scheme
drawn (each season's week as a timetable of rate stretches, a legend of rates, special
days, demand, billing reset, displays); the same as JSON; never a password's secret."""

from __future__ import annotations

import json

import pytest

from hhu_sync.model.loader import load_toml
from hhu_sync.model.scheme import parse_scheme
from tests.conftest import EXAMPLES
from tests.unit.web.conftest import log_in

NOW = "2026-11-20T09:00:00+00:00"
SECRETS = ("a1700-level1", "a1700-level3", "a1140-level2")
MARKUP = "<script>alert('tariff')</script>"


def _scheme(catalog, file: str, head: dict):
    data, locate = load_toml(EXAMPLES / file)
    data["scheme"].update(head)
    return parse_scheme(data, file, catalog, locate)


@pytest.fixture
def library(store, catalog):
    for n, (name, head) in enumerate((
            ("a1700-ci-tou.toml", {}),
            ("a1140-day-night.toml", {"name": MARKUP}),
            ("as230-flat.toml", {}))):
        scheme = _scheme(catalog, name, head)
        store.accept_input(sha256=f"{n:064d}", name=f"<img src=x>{name}", kind="scheme",
                           moved_to="", now=NOW, scheme=scheme)
    return store


ROUTES = ("/schemes", "/schemes/a1700-ci-tou-2026", "/api/schemes",
          "/api/schemes/a1700-ci-tou-2026")


def test_every_scheme_route_needs_a_session(client, library):
    for path in ROUTES:
        r = client.get(path)
        if path.startswith("/api/"):
            assert r.status_code == 401 and r.json()["status"] == 401
        else:
            assert r.status_code == 303 and r.headers["location"] == "/login"


def test_the_library_with_versions_models_and_files(client, library):
    log_in(client, "dana")
    rows = client.get("/api/schemes").json()["schemes"]
    assert [(r["scheme_id"], r["version"], r["model"], r["received"]) for r in rows] == [
        ("a1140-day-night", 1, "A1140", NOW), ("a1700-ci-tou-2026", 3, "A1700", NOW),
        ("as230-flat", 1, "AS230", NOW)]
    assert rows[0]["source"] == "<img src=x>a1140-day-night.toml"
    page = client.get("/schemes").text
    assert '<a href="/schemes/a1700-ci-tou-2026">a1700-ci-tou-2026</a>' in page
    assert "&lt;img src=x&gt;a1140-day-night.toml" in page and "<img src=x>" not in page


def test_a_scheme_drawn_season_by_season_with_its_rates_and_special_days(client, library):
    log_in(client, "dana")
    page = client.get("/schemes/a1700-ci-tou-2026").text
    assert page.count('<svg class="timetable"') == 3          # two seasons, special days
    assert 'data-season="summer"' in page and 'data-season="winter"' in page
    assert "From 04-01 until 10-01" in page and "From 10-01 until 04-01" in page
    for css, name in (("rate-1", "Day"), ("rate-2", "Peak"), ("rate-3", "Night")):
        assert f'<rect class="{css}" width="16" height="16"/></svg> <strong>' in page
        assert f"</strong> {name}" in page
    # winter workdays: peak (rate 2) 16:00-19:00
    assert 'class="rate-2" x="630.0"' in page and 'data-start="16:00" data-end="19:00"' in page
    assert "30 minutes" in page and "day 1 of the month at 00:00" in page
    assert '<span class="badge">1.8.3</span>' in page and "every 6 s" in page
    assert "12-25" in page and "every year" in page
    assert "style=" not in page


def test_a_scheme_as_json_without_its_passwords(client, library):
    log_in(client, "dana")
    body = client.get("/api/schemes/a1700-ci-tou-2026").json()
    assert "passwords" not in body["scheme"]
    assert body["scheme"]["demand_period_minutes"] == 30
    assert body["library"]["version"] == 3
    winter = next(s for s in body["seasons"] if s["season"] == "winter")
    assert winter["until"] == "04-01" and winter["week"] == "winter"
    assert winter["rows"][0]["label"] == "Mon"
    assert winter["rows"][0]["segments"] == [
        {"start": 0, "end": 420, "rate": 3}, {"start": 420, "end": 960, "rate": 1},
        {"start": 960, "end": 1140, "rate": 2}, {"start": 1140, "end": 1440, "rate": 1}]
    assert [d["label"] for d in body["special_days"]] == ["01-01", "12-25", "12-26"]


def test_no_password_secret_in_any_page_or_answer(client, library):
    log_in(client, "otto")
    ids = [r["scheme_id"] for r in client.get("/api/schemes").json()["schemes"]]
    texts = [client.get(p).text for p in ("/schemes", "/api/schemes")]
    for sid in ids:
        texts += [client.get(f"/schemes/{sid}").text, client.get(f"/api/schemes/{sid}").text]
    assert library.scheme("a1700-ci-tou-2026").passwords      # the store holds them
    for text in texts:
        assert not any(secret in text for secret in SECRETS)
        assert "password\": " not in text and '"secret"' not in text


def test_markup_in_a_schemes_name_is_shown_as_text(client, library):
    log_in(client, "dana")
    page = client.get("/schemes/a1140-day-night").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;tariff&#39;)" in page
    assert json.loads(client.get("/api/schemes/a1140-day-night").text)["scheme"]["name"] \
        == MARKUP


@pytest.mark.parametrize("path", ["/schemes/%3Cb%3E", "/api/schemes/%3Cb%3E",
                                  "/api/schemes/" + "s" * 65])
def test_a_malformed_scheme_id_is_400_naming_it(client, library, path):
    log_in(client, "dana")
    r = client.get(path)
    assert r.status_code == 400 and "scheme_id: " in r.text


@pytest.mark.parametrize("path", ["/schemes/nope", "/api/schemes/nope"])
def test_an_unknown_scheme_is_404(client, library, path):
    log_in(client, "dana")
    assert client.get(path).status_code == 404
