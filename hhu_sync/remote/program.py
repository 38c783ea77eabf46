"""Remote programming and clock setting, inside a list's maintenance window.

The writes are :func:`~hhu_sync.meterio.plan_scheme` / :func:`~hhu_sync.meterio.
program_scheme`, the core ``hhu-sync meter program`` and the HHU's field trip use: the
same plan, the same commit, the same verify by read-back (R1 of every entry written). The
visit fields they give are the ones an HHU's programming visit carries (``scheme``,
``verify``, ``done`` / ``verify_failed``, the ratios read back), so the ingest records a
remote programming as it records a visit's.

What is decided here, and only here:

* :func:`window_gate`: whether a meter may be programmed now (the list allows it and
  the depot's clock is inside its window); outside, the runner leaves the meter for
  the window (its outcome :data:`OUTSIDE_WINDOW`, no visit, the run stays open).
* :func:`program_meter`: one programming session; a line lost midway raises (the runner
  tries the whole attempt again: the writes are absolute, a second pass writes the
  same), a refusal of the meter's is a ``verify_failed`` visit, a refused password a
  ``password_rejected`` one.
* :func:`set_clock`: a clock further off than the tolerance is set (W1 ``0.9.1`` then
  ``0.9.2``, :func:`~hhu_sync.meterio.clock.clock_writes`) and read back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hhu_sync.meterio import (
    MeterClient,
    MeterIOError,
    MeterRefused,
    PasswordRefused,
    SchemeEncodingError,
)
from hhu_sync.meterio.clock import DATE, TIME, TOLERANCE_S, clock_writes, parse_clock
from hhu_sync.meterio.program import CT_RATIO, VT_RATIO, plan_scheme, program_scheme
from hhu_sync.model.meterlist import PROGRAM_TASKS, MeterEntry, MeterList
from hhu_sync.model.scheme import Scheme

#: The runner's outcome for a program task outside its list's maintenance window: not
#: visited, left for the window (the run stays open until then).
OUTSIDE_WINDOW = "outside_window"


def programs(entry: MeterEntry) -> bool:
    return entry.task in PROGRAM_TASKS


def window_gate(mlist: MeterList, now: datetime) -> str | None:
    """None when ``mlist`` may program now; else why not (for the meter's notes)."""
    window = mlist.window
    if window is None:
        return "the list does not allow remote programming"
    if not window.contains(now):
        return (f"outside the maintenance window {window.shown()} "
                f"(now {window.local(now):%H:%M} {window.zone}); programmed in the window")
    return None


@dataclass(frozen=True)
class Credentials:
    """What programming an entry needs, found before the line is opened: the scheme,
    the password that writes, whether its model takes ratios; or why not."""

    scheme: Scheme | None
    password: str | None
    takes_ratios: bool
    problem: str | None = None


def credentials(entry: MeterEntry, scheme: Scheme | None,
                secret: Callable[[str], str] | None,
                takes_ratios: Callable[[str | None], bool]) -> Credentials:
    """The scheme's highest password (as the field trip opens the meter with), from the
    key store; a missing scheme or secret is the visit's problem, never a guess."""
    if scheme is None:
        return Credentials(None, None, False, f"scheme {entry.scheme!r} is not in the "
                           "depot's library")
    if not scheme.passwords:
        return Credentials(scheme, None, False, "the scheme names no password to open "
                           "the meter")
    top = max(scheme.passwords, key=lambda p: p.level)
    if secret is None:
        return Credentials(scheme, None, False, f"no key store to open {top.secret} with")
    try:
        password = secret(top.secret)
    except Exception as exc:  # noqa: BLE001 - a key store fault is this meter's only
        return Credentials(scheme, None, False, f"the password {top.secret} is not held "
                           f"({type(exc).__name__})")
    return Credentials(scheme, password, takes_ratios(scheme.model))


def program_meter(client: MeterClient, sign_on: str, cred: Credentials) -> dict[str, Any]:
    """Program ``cred.scheme`` and verify it by read-back; the visit fields this sets.
    Raises what the line raises (MeterTimeout, SerialException, OSError): the runner's
    attempt fails and is tried again. PasswordRefused is returned as its outcome."""
    if cred.scheme is None or cred.password is None:
        return {"outcome": "verify_failed", "verify": "failed",
                "scheme": cred.scheme.id if cred.scheme else None,
                "notes": f"not programmed: {cred.problem}"}
    scheme = cred.scheme
    failed = {"outcome": "verify_failed", "scheme": scheme.id, "verify": "failed"}
    proof: dict[str, Any] = {}
    try:
        plan = plan_scheme(scheme, takes_ratios=cred.takes_ratios)
        with client.programming(sign_on, cred.password) as session:
            try:
                report = program_scheme(session, plan)
            finally:
                if cred.takes_ratios:
                    proof = _ratios_held(session)
    except PasswordRefused as exc:
        return {"outcome": "password_rejected", "notes": f"programming: {exc}"}
    except (SchemeEncodingError, MeterRefused) as exc:
        return {**failed, **proof, "notes": f"programming: {exc}"}
    if not report.verified:
        where = ", ".join(a for a, _, _ in report.mismatches[:5])
        return {**failed, **proof, "notes": f"programming: read-back differs at {where}"}
    return {"outcome": "done", "scheme": scheme.id, "verify": "ok", **proof}


def _ratios_held(session: Any) -> dict[str, Any]:
    """The CT/VT ratios as R1 reads them after programming (the depot's proof of what
    the registers count); empty when the meter does not say."""
    try:
        return {"ratios": {"ct": session.read_value(CT_RATIO),
                           "vt": session.read_value(VT_RATIO)}}
    except (MeterRefused, MeterIOError):
        return {}


def clock_offset_s(meter_clock: str | None, now: datetime) -> float | None:
    """The meter's clock (the visit's ``meter_clock``, UTC) minus the depot's, seconds."""
    if meter_clock is None:
        return None
    return (datetime.fromisoformat(meter_clock) - now).total_seconds()


@dataclass(frozen=True)
class ClockSet:
    """A clock setting's result: set and read back within :data:`TOLERANCE_S`, or not."""

    ok: bool
    note: str


def set_clock(client: MeterClient, sign_on: str, password: str, offset_s: float,
              now: Callable[[], datetime]) -> ClockSet:
    """Set the meter's clock to the depot's (UTC, as meter clocks are taken) and read it
    back. MeterRefused (the password does not write the clock) is a note; what the line
    raises propagates (the runner keeps the visit it has and notes it)."""
    way = "fast" if offset_s > 0 else "slow"
    try:
        with client.programming(sign_on, password) as session:
            target = now().astimezone(UTC).replace(tzinfo=None, microsecond=0)
            for address, value in clock_writes(target):
                session.write(address, value)
            after = parse_clock(session.read_value(DATE), session.read_value(TIME))
            off = (after - now().astimezone(UTC).replace(tzinfo=None)).total_seconds()
    except (MeterRefused, PasswordRefused) as exc:
        return ClockSet(False, f"clock {abs(offset_s):.0f} s {way}, not set: {exc}")
    if abs(off) > TOLERANCE_S + 1:
        return ClockSet(False, f"clock {abs(offset_s):.0f} s {way}, set, but reads back "
                        f"{off:+.0f} s off")
    return ClockSet(True, f"clock {abs(offset_s):.0f} s {way}, set to the depot's "
                    "(read back)")
