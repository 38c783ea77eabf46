"""Client connection against the simulated meter's session: readout, programming, R1/W1
read-back that really changes the TOU engine, passwords, quirks."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from hhu_firmware_sim.meter import Fleet, LoadProfile, MeterSession, Quirks, SimMeter
from hhu_sync.iec62056 import (
    NEED_DATA,
    BaudChange,
    Break,
    ClientConnection,
    ClientSettings,
    ErrorResponse,
    OptionSelect,
    Password,
    PasswordAccepted,
    PasswordRejected,
    Readout,
    ReadRequest,
    ReadResponse,
    Retransmit,
    SignOnRequest,
    TimedOut,
    WriteAccepted,
    WriteRequest,
)
from tests.unit.iec62056.helpers import sent

PW = "FEDC0003"


class Link:
    """Client and meter session wired together in-process."""

    def __init__(self, meters, quirks: Quirks | None = None, settings=None) -> None:
        fleet = meters if isinstance(meters, Fleet) else Fleet([meters])
        self.session = MeterSession(fleet.find, quirks)
        self.client = ClientConnection(settings)
        self.echo = bool(quirks and quirks.echo)

    def say(self, event) -> list:
        wire = sent(self.client, event)
        events = []
        while True:
            reply = (wire if self.echo else b"") + self.session.receive(wire)
            wire = b""
            self.client.receive_data(reply)
            while (ev := self.client.next_event()) is not NEED_DATA:
                if isinstance(ev, Retransmit):
                    wire += ev.data
                events.append(ev)
            if not wire:
                return events


def a1700(**kw) -> SimMeter:
    kw.setdefault("passwords", {1: "AAAAAAAA", 3: PW})
    return SimMeter("35012345", start=datetime(2026, 1, 5), load=LoadProfile.constant(6), **kw)


def login(link: Link, address: str = "", password: str = PW, kind: str = "P2") -> list:
    link.say(SignOnRequest(address))
    link.say(OptionSelect("1"))
    return link.say(Password(password, kind))


def test_readout_over_session():
    link = Link(a1700())
    link.say(SignOnRequest(""))
    (readout,) = [e for e in link.say(OptionSelect("0")) if isinstance(e, Readout)]
    assert readout.get("0.0.0").value == "35012345"


def test_p2_login_accepted():
    assert login(Link(a1700())) == [PasswordAccepted()]


def test_p1_login_accepted():
    assert login(Link(a1700()), password="AAAAAAAA", kind="P1") == [PasswordAccepted()]


def test_wrong_password_rejected():
    assert login(Link(a1700()), password="BBBBBBBB") == [PasswordRejected(None)]


def test_wrong_password_error_reply_mode():
    m = a1700(wrong_password_reply="error")
    assert login(Link(m), password="BBBBBBBB") == [PasswordRejected("ER03")]


def test_lockout_after_failures():
    m, link = a1700(lockout_after=2), None
    link = Link(m)
    login(link, password="BBBBBBBB")
    link.say(Password("BBBBBBBB", "P2"))
    assert link.say(Password(PW, "P2")) == [PasswordRejected("ER05")]


def test_lockout_expires_with_simulated_time():
    m = a1700(lockout_after=1, lockout_minutes=30)
    login(Link(m), password="BBBBBBBB")
    m.advance(31 * 60)
    assert login(Link(m)) == [PasswordAccepted()]


def test_write_needs_level():
    m = a1700(write_level=3)
    link = Link(m)
    login(link, password="AAAAAAAA", kind="P1")
    assert link.say(WriteRequest("128.6.0", "15")) == [ErrorResponse("ER03", "128.6.0")]


def test_r1_of_energy_register():
    link = Link(a1700())
    login(link)
    (answer,) = link.say(ReadRequest("1.8.0"))
    assert answer.datasets[0].unit == "kWh"


def test_unknown_register_error():
    link = Link(a1700())
    login(link)
    assert link.say(ReadRequest("9.9.9")) == [ErrorResponse("ER01", "9.9.9")]


def test_write_read_back_day_profile():
    link = Link(a1700())
    login(link)
    link.say(WriteRequest("128.2.2", "night;0000=2,0700=1"))
    (answer,) = link.say(ReadRequest("128.2.2"))
    assert answer == ReadResponse("128.2.2(night;0000=2,0700=1)", answer.datasets)


def test_malformed_write_refused():
    link = Link(a1700())
    login(link)
    assert link.say(WriteRequest("128.2.2", "night;7am=2")) == [
        ErrorResponse("ER02", "128.2.2")]


def program_two_rates(link: Link) -> list:
    writes = [("128.1.1", "1.8.1;Day"), ("128.1.2", "1.8.2;Night"),
              ("128.2.1", "std;0000=2,0700=1,2200=2"),
              ("128.3.1", "wk;std,std,std,std,std,std,std"),
              ("128.9.0", "1")]
    return [ev for addr, value in writes for ev in link.say(WriteRequest(addr, value))]


def test_programmed_table_really_drives_energy():
    m = a1700()
    link = Link(m)
    login(link)
    assert all(isinstance(e, WriteAccepted) for e in program_two_rates(link))
    m.at(datetime(2026, 1, 6))  # 7 h night, 15 h day, 2 h night at 6 kW
    assert (m.energy["1.8.1"], m.energy["1.8.2"]) == (Decimal(90), Decimal(54))


def test_commit_of_inconsistent_table_refused():
    link = Link(a1700())
    login(link)
    link.say(WriteRequest("128.3.1", "wk;nope,std,std,std,std,std,std"))
    assert link.say(WriteRequest("128.9.0", "1")) == [ErrorResponse("ER04", "128.9.0")]


def test_commit_status_reads_back():
    link = Link(a1700())
    login(link)
    link.say(WriteRequest("128.2.9", "x;0000=1"))
    assert link.say(ReadRequest("128.9.0"))[0].value == "0"


def test_demand_period_write_read_back():
    link = Link(a1700())
    login(link)
    link.say(WriteRequest("128.6.0", "15"))
    assert link.say(ReadRequest("128.6.0"))[0].value == "15"


def test_billing_reset_command():
    m = a1700()
    link = Link(m)
    login(link)
    link.say(WriteRequest("128.9.1", "1"))
    assert m.reset_count == 1


def test_clock_write():
    m = a1700()
    link = Link(m)
    login(link)
    link.say(WriteRequest("0.9.1", "10:30:00"))
    assert m.now == datetime(2026, 1, 5, 10, 30)


def test_break_ends_session():
    link = Link(a1700())
    login(link)
    link.say(Break())
    assert link.session.meter is None


def test_fleet_answers_by_address():
    fleet = Fleet([SimMeter("A1", address="11"), SimMeter("B2", address="22")])
    link = Link(fleet)
    assert link.say(SignOnRequest("22"))[0].ident == "A1700"
    assert link.session.meter.serial == "B2"


def test_fleet_ignores_unaddressed_sign_on():
    link = Link(Fleet([SimMeter("A1"), SimMeter("B2")]))
    assert link.say(SignOnRequest("")) == []


def test_garbage_after_etx_quirk():
    link = Link(a1700(), Quirks.from_names(["garbage_after_etx"]))
    link.say(SignOnRequest(""))
    events = link.say(OptionSelect("0"))
    assert [type(e) for e in events] == [BaudChange, Readout]
    assert link.client.stats.junk_bytes > 0


def test_echo_quirk_needs_client_echo_option():
    link = Link(a1700(), Quirks(echo=True), ClientSettings(echo=True))
    assert login(link) == [PasswordAccepted()]


def test_ignore_baud_quirk_then_fallback():
    m = a1700()
    link = Link(m, Quirks(ignore_baud=True))
    link.say(SignOnRequest(""))
    assert [type(e) for e in link.say(OptionSelect("0"))] == [BaudChange]  # only NULs came
    link.client.timeout()
    timed_out = link.client.next_event()
    assert isinstance(timed_out, TimedOut) and timed_out.after_baud_change
    retry = Link(m, Quirks(ignore_baud=True), ClientSettings(max_baud=timed_out.previous_baud))
    retry.session = link.session
    retry.say(SignOnRequest(""))
    assert [type(e) for e in retry.say(OptionSelect("0"))] == [Readout]


def test_meter_session_survives_protocol_error():
    session = MeterSession(Fleet([a1700()]).find)
    session.receive(b"/?!\r\n")
    session.receive(b"\x02" + b"x" * 70000)
    assert session.receive(b"/?!\r\n").startswith(b"/GEC5")


@pytest.mark.parametrize("name", ["nope"])
def test_unknown_quirk_refused(name):
    with pytest.raises(ValueError):
        Quirks.from_names([name])
