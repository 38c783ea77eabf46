"""Fuzz: any readings payload gives rows or an UploadError, and nothing invalid is ok."""

from __future__ import annotations

import copy
import itertools
import os
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hhu_sync.ingest import UploadError, parse_upload
from hhu_sync.ingest.fields import UNITS
from hhu_sync.store import SqliteStore
from hhu_sync.store.postgres import PostgresStore
from tests.unit.store.conftest import BACKENDS, empty_pg
from tests.unit.store.helpers import RECEIVED, meter_list, sql

FUZZ = settings(max_examples=int(os.environ.get("HHU_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
T = "2026-11-25T10:00:00+00:00"
BASE = {"visits": [
    {"meter": "M1", "list": "L1", "time": T, "outcome": "done", "operator": "crew",
     "notes": "", "scheme": None, "verify": None, "error_flags": "00000000",
     "registers": [["1.8.0", "001846.0", "kWh", T], ["F.F", "00000000", "", T],
                   ["1.6.0", "0012.34", "kW", T, "2026-11-20T16:30:00+01:00", ""],
                   ["1.8.0*1", "000024.0", "kWh", T, "2026-11-01T00:00:00Z",
                    "2026-11-01T00:00:00Z"]]},
    {"meter": "M2", "list": "L1", "time": T, "outcome": "no_access", "notes": "dog"},
]}
NASTY = st.sampled_from([
    "", "NaN", "nan", "inf", "-inf", "Infinity", "1e5", "1E-3", "-1.0", "+1.0", "0x1F",
    "=HYPERLINK(\"http://x\")", "@SUM(A1)", "1\n2", "1\r\n", "\x00", "\u2028", "١٢٣",
    "9" * 13, "1." + "9" * 5, "1.8.0" * 1000, "1970-01-01T00:00:00Z", "2099-01-01T00:00:00Z",
    "2026-11-25T10:00:00", "2026-11-25", "2026-11-25T11:00:00+01:00", "KWH", "kwh",
    "2026-11-25T10:00:00+99:00", "1-0:1.8.0*255", "1.8.0*1", "M 1", "L404"])
ANY = (st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True)
       | st.text(max_size=40) | NASTY | st.binary(max_size=8)
       | st.lists(st.text(max_size=5), max_size=4))
_OK_VALUE = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,4})?|[0-9A-Fa-f]{1,16}", re.ASCII)
_counter = itertools.count()


def _paths(node, path=()):
    """Every place in ``node`` a value can be replaced."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*path, k)
            yield from _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield (*path, i)
            yield from _paths(v, (*path, i))


PATHS = list(_paths(BASE))


def _mutate(base: dict, changes: list[tuple[tuple, object]]) -> dict:
    data = copy.deepcopy(base)
    for path, value in changes:
        node = data
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue                       # an earlier change removed the way there
    return data


@pytest.fixture(scope="module", params=BACKENDS)
def store(request, tmp_path_factory):
    """One store a backend for every example (an empty one per example is too slow)."""
    if request.param == "sqlite":
        s = SqliteStore(tmp_path_factory.mktemp("fuzz") / "db.sqlite")
    else:
        url = request.getfixturevalue("pg_url")
        empty_pg(url)
        s = PostgresStore(url)
    s.add_meter_list(meter_list())
    yield s
    s.close()


def _check(store, payload) -> None:
    upload_id = f"U{next(_counter)}"
    try:
        up = parse_upload(payload, upload_id=upload_id, hhu_id="HHU-001", sha256="",
                          received_at=RECEIVED)
    except UploadError:
        return
    store.ingest(up, "2026-11-25T12:00:00+00:00")
    ceiling = RECEIVED + timedelta(minutes=5)
    for meter, obis, time, value, unit, status, value_time, reset_time, visit_time in \
            sql(store,
            "SELECT r.meter, r.obis, r.time, r.value, r.unit, r.status, r.value_time, "
            "r.reset_time, v.time FROM readings r JOIN visits v ON v.upload_id = r.upload_id "
            "AND v.seq = r.visit_seq WHERE r.upload_id=?", (upload_id,)):
        if status != "ok":
            continue
        # read on its visit, an OBIS code in its key form (no leading zeros, upper case)
        gap = datetime.fromisoformat(time) - datetime.fromisoformat(visit_time)
        assert abs(gap) <= timedelta(hours=1)
        assert not re.search(r"(^|[.:*-])0[0-9]|[a-z]", obis), obis
        # An independent oracle for what may be billed: plain text, plain numbers, UTC.
        for text in (meter, obis, time, value, unit):
            assert text.isprintable() and not text.startswith(("=", "+", "@"))
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}", meter)
        assert unit in UNITS and _OK_VALUE.fullmatch(value)
        assert not (unit.endswith("h") and value.startswith("-"))
        for stamp in (time, value_time or time, reset_time or time):
            when = datetime.fromisoformat(stamp)
            assert stamp.endswith("+00:00")
            assert datetime(2000, 1, 1, tzinfo=UTC) <= when <= ceiling


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), ANY), min_size=1, max_size=4))
def test_mutated_uploads_never_crash_and_never_bill_what_is_wrong(store, changes):
    _check(store, _mutate(BASE, changes))


@FUZZ
@given(st.recursive(ANY, lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(st.sampled_from(["visits", "meter", "registers", "time",
                                                       "outcome", "list", "obis", "value"])
                                      | st.text(max_size=6), kids, max_size=5),
                    max_leaves=20))
def test_random_payloads_give_rows_or_an_upload_error(store, payload):
    _check(store, payload if isinstance(payload, dict) else {"visits": payload})
