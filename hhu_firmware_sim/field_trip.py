"""The field trip: execute the meter lists held in an HHU's flash, store readings uploads.

A trip takes each committed meter-list bundle in flash, visits its meters in route
order, and leaves one sealed ``readings`` upload per list in flash for the next docking;
the list's bundle is then retired (a real HHU marks the route done). The ``synthetic``
trip makes up plausible register values from the meter serial and the time (until the
simulated IEC 62056-21 fleet drives it); the same upload format serves both.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hhu_firmware_sim.flash import FlashStore
from hhu_sync.errors import TransferError
from hhu_sync.transfer import decode_transfer, decrypt_password, encode_transfer

log = logging.getLogger("hhu_firmware_sim.field_trip")
Visitor = Callable[[dict[str, Any], dict[str, Any] | None, datetime], dict[str, Any]]


@dataclass(frozen=True)
class TripResult:
    lists: tuple[str, ...]
    uploads: tuple[str, ...]
    visits: int
    readings: int


def _digits(seed: str, n: int) -> int:
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % n


def synthetic_visit(entry: dict[str, Any], scheme: dict[str, Any] | None,
                    when: datetime) -> dict[str, Any]:
    """Register values that rise steadily with time, distinct per meter, always ``done``."""
    serial = entry["serial"]
    stamp = when.isoformat(timespec="seconds")
    rates = [r["number"] for r in scheme["rates"]] if scheme else [1, 2]
    hours = int(when.timestamp() // 3600)
    base = _digits(serial, 50_000)
    per_rate = [base // len(rates) + (hours * (k + 1)) % 10_000 / 10 for k in range(len(rates))]
    registers = [["1.8.0", f"{sum(per_rate):09.1f}", "kWh", stamp]]
    registers += [[f"1.8.{n}", f"{v:09.1f}", "kWh", stamp] for n, v in zip(rates, per_rate,
                                                                         strict=True)]
    registers += [["1.6.0", f"{_digits(serial + 'md', 9999) / 100:07.2f}", "kW", stamp],
                  ["F.F", "00000000", "", stamp]]
    programs = entry["task"] in ("program", "read+program") and scheme is not None
    return {"meter": serial, "time": stamp, "outcome": "done", "registers": registers,
            "error_flags": "00000000", "scheme": scheme["id"] if programs else None,
            "verify": "ok" if programs else None, "notes": ""}


def run_trip(flash: FlashStore, hhu_id: str, key: bytes, *, operator: str = "crew",
             start: datetime | None = None, visit: Visitor = synthetic_visit,
             minutes_per_visit: int = 20) -> TripResult:
    """Execute every meter list in flash; idempotent (an executed list leaves the flash)."""
    when = (start or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    lists, uploads, visits_total, readings_total = [], [], 0, 0
    for entry in flash.bundles():
        data = flash.read_bundle(entry.bundle_id)
        try:
            transfer = decode_transfer(data, key)
        except TransferError as exc:
            log.warning("bundle %s not usable: %s", entry.bundle_id, exc)
            continue
        if transfer.header.kind != "meter_list":
            continue
        payload = transfer.payload
        mlist = payload["meter_list"]
        schemes = {s["id"]: s for s in payload.get("schemes", [])}
        for s in schemes.values():            # the HHU can open the passwords it carries
            for pw in s.get("passwords", []):
                decrypt_password(key, pw["enc"], bundle_id=transfer.header.bundle_id,
                                 target=transfer.header.target, name=pw["secret"])
        visits = []
        for m in mlist["meters"]:
            v = visit(m, schemes.get(m.get("scheme")), when)
            v.setdefault("list", mlist["id"])
            v.setdefault("operator", operator)
            visits.append(v)
            when += timedelta(minutes=minutes_per_visit)
        upload_id = f"R-{entry.bundle_id}"[:64]
        body = {"upload_id": upload_id, "hhu_id": hhu_id, "operator": operator,
                "lists": [mlist["id"]], "visits": visits}
        if not flash.has_upload(upload_id):
            flash.store_upload(upload_id, encode_transfer(
                "readings", body, source=hhu_id, target=transfer.header.source, key=key,
                bundle_id=upload_id))
        flash.delete_bundle(entry.bundle_id)   # the route is done
        lists.append(mlist["id"])
        uploads.append(upload_id)
        visits_total += len(visits)
        readings_total += sum(len(v["registers"]) for v in visits)
        log.info("%s: list %s done, %d visits, upload %s", hhu_id, mlist["id"], len(visits),
                 upload_id)
    return TripResult(tuple(lists), tuple(uploads), visits_total, readings_total)
