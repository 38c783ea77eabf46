"""Issues 13 and 16: the export worker's one-loop paths write what the reference paths write.

The worker reads an upload's rows joined and enriched in one loop
(:meth:`Enricher.upload_rows`, its visits' parts worked out once a visit), takes list
entries as site and scheme (:func:`meter_entries_from_dict`), converts CMEP times of UTC
by their digits and skips the sort of rows already in key order. Each is compared here
with the path it replaces: the SQL join enriched a reading at a time, the meter list
made whole, ``datetime`` and ``strftime``, ``sorted``; and whole files with the files the
reference rows give the writers (quotes, commas, line breaks and formula heads in sites
and notes, no list or another list, time zones, schemes with ratios and proofs).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hhu_sync.export.cmep as cmep
from hhu_sync.export import write_cmep, write_csv
from hhu_sync.export.formats import _KEY, _in_key_order
from hhu_sync.export.rows import ExportRow, as_row
from hhu_sync.model.catalog import load_catalog
from hhu_sync.model.inputs import load_inputs
from hhu_sync.model.meterlist import (
    MeterEntry,
    MeterList,
    meter_entries_from_dict,
    meter_list_from_dict,
)
from hhu_sync.store import SqliteStore
from hhu_sync.store import sqlite as sqlite_backend
from tests.bench.test_export_bytes import awkward_store
from tests.conftest import EXAMPLES, ROOT
from tests.unit.store.helpers import upload

NOW = "2026-11-28T12:00:00+00:00"
STAMP = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def reference_rows(db, upload_id: str) -> list[ExportRow]:
    """An upload's export rows as the store-wide export makes them: the SQL join, each
    reading enriched by :meth:`Enricher.rows`."""
    enrich = sqlite_backend.export_enricher(db)
    return enrich.rows(db.execute(
        sqlite_backend._EXPORT_SQL + "WHERE r.upload_id = ? ORDER BY r.meter, r.obis, r.time",
        (upload_id,)).fetchall())


def test_an_upload_s_rows_in_one_loop_are_its_joined_rows_enriched(tmp_path):
    store, uploads = awkward_store(tmp_path / "store.db")
    db = store._db()
    compared = 0
    for upload_id in uploads:
        got = sqlite_backend.upload_export_rows(db, upload_id)
        assert got == reference_rows(db, upload_id), upload_id
        assert all(type(r) is ExportRow for r in got)
        compared += len(got)
    assert sqlite_backend.upload_export_rows(db, "NO-SUCH-UPLOAD") == []
    store.close()
    assert compared > 300


_AWKWARD = st.sampled_from(["", "plain", "a,b", 'say "hi"', "two\nlines", "=1+1", "+44",
                            "-3", "@home", " lead", "tab\there", "naïve", "back\\slash",
                            "\u2028", "x" * 300])
_ZONES = st.sampled_from(["+00:00", "+01:00", "-05:30", "+14:00", ""])


def _files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir())}


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sites=st.lists(_AWKWARD, min_size=4, max_size=4),
       notes=st.lists(_AWKWARD, min_size=6, max_size=6),
       zones=st.lists(_ZONES, min_size=6, max_size=6),
       lists=st.lists(st.sampled_from(["L1", "L1", "L2", ""]), min_size=6, max_size=6),
       schemes=st.lists(st.sampled_from([None, "a1700-ci-tou-2026", "a1140-day-night"]),
                        min_size=4, max_size=4),
       ratios=st.lists(st.sampled_from([None, {"ct": "400/5", "vt": "11000/110"},
                                        {"ct": "1/1", "vt": "1/1"},
                                        {"ct": "x/5", "vt": "1/1"}]),
                       min_size=6, max_size=6))
def test_export_stored_writes_the_files_the_reference_rows_write(
        tmp_path_factory, monkeypatch, sites, notes, zones, lists, schemes, ratios):
    monkeypatch.setattr(cmep, "datetime", type("Fixed", (datetime,), {
        "now": classmethod(lambda cls, tz=None: STAMP)}))
    from hhu_sync.dock.readings import export_stored

    tmp = tmp_path_factory.mktemp("store")
    store = SqliteStore(tmp / "s.db")
    catalog = load_catalog(ROOT / "config" / "meter-models.toml")
    for n, scheme in enumerate(load_inputs([EXAMPLES], catalog).schemes.values()):
        store.accept_input(sha256=f"{n:064d}", name=f"{scheme.id}.toml", kind="scheme",
                           moved_to="", now=NOW, scheme=scheme)
    meters = ["M1", "M,2", "M3", 'M"4']
    store.add_meter_list(MeterList("L1", "L1", "HHU-001", None, "2026-12-01", "", tuple(
        MeterEntry(m, site, "", "read", scheme, None, "")
        for m, site, scheme in zip(meters, sites, schemes, strict=True))))
    visits = []
    for n in range(6):
        time = f"2026-11-{20 + n:02d}T{7 + n:02d}:1{n}:00{zones[n]}"
        v = {"meter": meters[n % 4], "list": lists[n], "time": time, "outcome": "done",
             "registers": [["1.8.1", f"{100 + n}.5", "kWh", time],
                           ["1.8.2", f"00{n}", "kWh", time],
                           ["2.8.0", "-0.5", "kvarh", time],
                           ["0.9.1", "1e3", "V", time]],
             "error_flags": "00000000" if n % 5 else "00000001", "scheme": None,
             "verify": None, "operator": "crew-a", "notes": notes[n]}
        if ratios[n] is not None:
            v["ratios"] = ratios[n]
        visits.append(v)
    store.ingest(upload("U1", visits), NOW)
    rows = reference_rows(store._db(), "U1")
    store.close()
    mine, theirs = tmp / "mine", tmp / "theirs"
    export_stored(database=str(tmp / "s.db"), upload_id="U1", folder=str(mine),
                  sender="DEPOT")
    theirs.mkdir()
    ordered = sorted(map(as_row, rows), key=_KEY)
    write_csv(ordered, theirs / "U1.csv")
    write_cmep(ordered, theirs / "U1.cmep", sender="DEPOT")
    assert _files(mine) == _files(theirs)
    assert len(_files(mine)) == 2


# -- a CMEP time of UTC by its digits ----------------------------------------------------

def _reference_times(iso) -> tuple[str, str]:
    """:func:`cmep._both_times` as it was: parsed, converted to UTC, strftime."""
    try:
        when = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return "", ""
    if when.tzinfo is None or when.year < 1000:
        return cmep.cmep_time(iso), cmep._utc_text(iso)
    utc = when.astimezone(UTC)
    if utc.year < 1000:
        return cmep.cmep_time(iso), cmep._utc_text(iso)
    text = utc.strftime("%Y%m%d%H%M%S%f")
    return text[:12], text


_DIGITS = st.text(alphabet=st.sampled_from("0123456789"), min_size=1, max_size=5)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(
    st.builds(lambda y, mo, d, h, mi, s, frac, zone: f"{y}-{mo}-{d}T{h}:{mi}:{s}{frac}{zone}",
              st.sampled_from(["2026", "0999", "1000", "9999", "0001", "2024", "٢٠٢٦"]),
              st.sampled_from(["01", "02", "12", "13", "00", "1"]),
              st.sampled_from(["01", "28", "29", "30", "31", "32"]),
              st.sampled_from(["00", "23", "24", "07"]),
              st.sampled_from(["00", "59", "60"]),
              st.sampled_from(["00", "59", "60", "5"]),
              st.sampled_from(["", ".123456", ".123", ".5", ".1234567", ".000000"]),
              st.sampled_from(["+00:00", "Z", "+01:00", "-00:00", "+00:00:00", "", " +00:00",
                               "+0000", "+00:00x"])),
    st.builds(lambda *parts: "".join(parts), _DIGITS, st.sampled_from("-T:+. "), _DIGITS,
              st.sampled_from(["+00:00", ""])),
    st.text(max_size=30)))
def test_a_cmep_time_of_utc_by_its_digits_is_the_converted_one(iso):
    assert cmep._both_times(iso) == _reference_times(iso)


# -- list entries as site and scheme -------------------------------------------------------

_ENTRY = st.fixed_dictionaries(
    {"serial": st.sampled_from(["M1", "M2", "M3"])},
    optional={"site": _AWKWARD, "address": st.just(""), "task": st.just("read"),
              "scheme": st.sampled_from([None, "a1140-day-night"]), "model": st.none(),
              "notes": st.just(""), "profile": st.booleans(), "other": st.just(1)})


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_ENTRY, _ENTRY.map(lambda e: {
    **e, "site": "s", "address": "", "task": "read", "scheme": None, "model": None,
    "notes": ""})), max_size=5),
    st.sets(st.sampled_from(["id", "name", "hhu", "crew", "due", "notes", "meters"])))
def test_list_entries_as_site_and_scheme_are_those_of_the_list_made_whole(meters, dropped):
    base = MeterList("L1", "L1", "H", None, "2026-12-01", "", ()).to_dict()
    data = {k: v for k, v in {**base, "meters": meters}.items() if k not in dropped}
    data = json.loads(json.dumps(data))
    try:
        whole = meter_list_from_dict(data)
    except (ValueError, KeyError, TypeError):
        with pytest.raises((ValueError, KeyError, TypeError)):
            meter_entries_from_dict(data)
        return
    entries = meter_entries_from_dict(data)
    by_serial = {m.serial: m for m in whole.meters}
    for serial in ("M1", "M2", "M3", "M4"):
        made, taken = by_serial.get(serial), entries.get(serial)
        if made is None:
            assert taken is None
        else:
            assert taken is not None
            assert (taken.site, taken.scheme) == (made.site, made.scheme)


# -- no sort of rows in key order ------------------------------------------------------------

_ROW = st.tuples(st.sampled_from(["M1", "M2", "m", "M1 "]), st.sampled_from(["1.8.1", "1.8.0"]),
                 st.sampled_from(["t1", "t2"]), st.sampled_from(["1", "2"]),
                 st.sampled_from(["kWh"]), st.sampled_from(["ok", "suspect"]),
                 st.just("H"), st.just("U1"), st.sampled_from(["", None]))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_ROW, _ROW.map(lambda r: ExportRow(*r))), max_size=12),
       st.booleans())
def test_rows_in_key_order_are_what_the_sort_gives(rows, ordered):
    if ordered:
        rows = sorted(rows, key=_KEY)
    expected = sorted(map(as_row, rows), key=_KEY)
    got = _in_key_order(rows)
    assert got == expected
    assert [type(r) for r in got] == [ExportRow] * len(got)
    assert _in_key_order(iter(rows)) == expected
