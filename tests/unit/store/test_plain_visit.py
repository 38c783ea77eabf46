"""A visit whose registers are all of the common form is checked column by column; the
rows, findings and errors are the register loop's, whatever the registers hold."""

from __future__ import annotations

from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from hhu_sync.ingest import UploadError
from hhu_sync.ingest import upload as upload_module
from tests.unit.store.helpers import upload

TIMES = ["2026-11-25T10:00:00+00:00", "2026-11-25T10:00:00Z", "2026-11-25T11:00:00+01:00",
         "2026-11-25T13:00:00+00:00", "2026-11-26T10:00:00+00:00", "bad"]
FIELD = {"obis": st.sampled_from(["1.8.1", "1-0:1.8.2*255", "F.F", "bad", "", 5]),
         "value": st.sampled_from(["000123.4", "7", "-1", "1e3", "", "1234567890123", None]),
         "unit": st.sampled_from(["kWh", "", "V", "XYZ", 1]),
         "time": st.sampled_from(TIMES)}
COMMON = st.tuples(st.sampled_from(["1.8.1", "1.8.2", "F.F"]),
                   st.sampled_from(["000123.4", "7", "00000000"]), st.sampled_from(["kWh", "V"]),
                   st.sampled_from(TIMES[:3])).map(list)     # of the column check's form
REGISTER = st.one_of(
    *[COMMON] * 12,
    st.tuples(FIELD["obis"], FIELD["value"], FIELD["unit"], FIELD["time"]).map(list),
    st.tuples(FIELD["obis"], FIELD["value"], FIELD["unit"], FIELD["time"]),
    st.tuples(FIELD["obis"], FIELD["value"], FIELD["unit"], FIELD["time"], FIELD["time"]),
    st.builds(lambda o, v: {"obis": o, "value": v, "time": TIMES[0]},
              FIELD["obis"], FIELD["value"]),
    st.just("x"))
VISIT = st.builds(
    lambda meter, regs, time, outcome: {"meter": meter, "list": "L1", "time": time,
                                        "outcome": outcome, "registers": regs},
    st.sampled_from(["M1", "bad meter"]), st.lists(REGISTER, max_size=5),
    st.sampled_from(TIMES[:3] + ["bad"]), st.sampled_from(["done", "no_access"]))


def parsed(visits):
    try:
        up = upload("U1", visits)
    except UploadError as exc:
        return str(exc)
    return up.visits, up.readings, up.findings


@settings(max_examples=300, deadline=None)
@given(st.lists(VISIT, max_size=4))
def test_the_column_check_gives_the_register_loop_s_rows(visits):
    columns = parsed(visits)
    with mock.patch.object(upload_module, "_plain_visit", lambda *args: None):
        loop = parsed(visits)
    assert columns == loop
