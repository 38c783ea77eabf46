"""Callers act on a problem's code, never on its wording (house rule): a meter list
waiting for its schemes is told by ``ProblemCode.UNKNOWN_SCHEME``, the schemes it waits
for by ``subject``, whatever the message says."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from hhu_sync.model.catalog import load_catalog
from hhu_sync.model.meterlist import parse_meter_list_csv
from hhu_sync.model.problems import ModelError, Problem, ProblemCode
from hhu_sync.outbox.processor import OutboxProcessor
from tests.conftest import ROOT

CSV = ("# list: L1\n# crew: crew-south\n# due: 2026-12-11\n"
       "serial,site,address,model,task,scheme,notes\n"
       "23000101,a,a,AS230,read+program,night'rate,\n"
       "23000102,b,b,AS230,frobnicate,,\n")


def problems_of(text: str) -> list[Problem]:
    try:
        parse_meter_list_csv(text, "l.csv", load_catalog(ROOT / "config" / "meter-models.toml"),
                             schemes={})
    except ModelError as exc:
        return exc.problems
    raise AssertionError("expected problems")


def test_an_unknown_scheme_carries_its_code_and_the_id_it_names():
    unknown, other = problems_of(CSV)
    assert (unknown.code, unknown.subject) == (ProblemCode.UNKNOWN_SCHEME, "night'rate")
    assert "unknown scheme id" in unknown.message        # the message is kept for people
    assert other.code is ProblemCode.INVALID


def _waits(problems) -> bool:
    processor = SimpleNamespace(_waiting={}, clock=lambda: 0.0, config=SimpleNamespace(
        limits=SimpleNamespace(scheme_wait_seconds=60.0)))
    return OutboxProcessor._should_wait(processor, Path("l.csv"), problems)


def test_the_outbox_waits_by_code_not_by_wording():
    reworded = Problem("l.csv", 5, "scheme", "Schema 'x' fehlt", ProblemCode.UNKNOWN_SCHEME, "x")
    look_alike = Problem("l.csv", 5, "notes", "unknown scheme id, says the crew's note")
    assert _waits([reworded])
    assert not _waits([look_alike])
    assert not _waits([reworded, look_alike])


def test_problems_still_sort_and_compare_by_place_and_message():
    a = Problem("f", 1, "x", "m", ProblemCode.UNKNOWN_SCHEME, "s")
    assert a == Problem("f", 1, "x", "m") and sorted([Problem("g", 1, "x", "m"), a])[0] is a
