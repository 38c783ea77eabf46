"""``since = "last"`` is the depot's to resolve (issue 15, point 4): the HHU gets, per
meter, the end of the last interval the depot holds, or nothing when it holds none."""

from __future__ import annotations

import pytest

from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.packing import PackError, pack_meter_list, resolve_since_last


def _entry(serial, since, profile=True):
    return MeterEntry(serial, "", "", "read", None, None, "", profile, False, since)


def _list(*entries):
    return MeterList("L1", "L1", "H1", None, "2026-12-31", "", tuple(entries))


def test_last_becomes_the_end_of_the_last_interval_held_or_everything():
    mlist = _list(_entry("M1", "last"), _entry("M2", "last"), _entry("M3", "2026-11-01"),
                  _entry("M4", None, profile=False))
    resolved = resolve_since_last(mlist, {"M1": 1_764_547_200, "M3": 1})
    assert [m.since for m in resolved.meters] == ["2025-12-01T00:00:00Z", None,
                                                  "2026-11-01", None]


def test_a_list_without_last_is_returned_as_it_is():
    mlist = _list(_entry("M1", "2026-11-01"))
    assert resolve_since_last(mlist, {}) is mlist


def test_an_unresolved_last_is_never_packed():
    with pytest.raises(PackError, match="resolve"):
        pack_meter_list(_list(_entry("M1", "last")), {}, hhu="H1", hhu_key=b"k" * 32,
                        secrets=None, source="D1")


def test_the_packer_asks_the_store_for_the_earliest_channels_last_end():
    from hhu_sync.packing import last_ends_held

    class Held:
        def last_interval_ends(self, serial):
            return {"M1": {"1.8.0": 5400, "2.8.0": 3600}}.get(serial, {})

    mlist = _list(_entry("M1", "last"), _entry("M2", "last"), _entry("M3", "2026-11-01"))
    assert last_ends_held(Held(), mlist) == {"M1": 3600}
