"""Builders for readings payloads and meter lists used by store and daemon tests."""

from __future__ import annotations

from datetime import UTC, datetime

from hhu_sync.ingest import parse_upload
from hhu_sync.model.meterlist import MeterEntry, MeterList


def visit(meter: str, *, list_id: str = "L1", outcome: str = "done", value: str = "100.0",
          time: str = "2026-11-25T10:00:00+00:00", obis: str = "1.8.1", notes: str = "",
          registers: list | None = None) -> dict:
    regs = registers if registers is not None else (
        [[obis, value, "kWh", time]] if outcome == "done"
        else [])
    return {"meter": meter, "list": list_id, "time": time, "outcome": outcome,
            "registers": regs, "error_flags": "00000000", "scheme": None, "verify": None,
            "operator": "crew-a", "notes": notes}


#: When the depot took the uploads these helpers build (after every default time here).
RECEIVED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def upload(upload_id: str, visits: list[dict], hhu: str = "HHU-001",
           received_at: datetime = RECEIVED):
    return parse_upload({"upload_id": upload_id, "hhu_id": hhu, "visits": visits},
                        upload_id=upload_id, hhu_id=hhu, sha256="0" * 64,
                        received_at=received_at)


def meter_list(list_id: str = "L1", serials=("M1", "M2"), hhu: str | None = "HHU-001",
               crew: str | None = None) -> MeterList:
    return MeterList(id=list_id, name=list_id, hhu=hhu, crew=crew, due="2026-12-01", notes="",
                     meters=tuple(MeterEntry(s, "", "", "read", None, None, "")
                                  for s in serials))


class _Result:
    """A query's rows, read the way a DB-API cursor's are."""

    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple]:
        return self.rows

    def __iter__(self):
        return iter(self.rows)


def sql(store, text: str, args: tuple | list = ()) -> _Result:
    """A look inside the store's tables (``?`` parameters), on either backend."""
    return _Result(store._rows(text, args))
