"""MeterClient over in-process transports: readouts, passwords, time-outs, fall-backs."""

from __future__ import annotations

from datetime import datetime

import pytest

from hhu_firmware_sim.field_trip import InProcessProbe
from hhu_firmware_sim.meter import MeterSession, Quirks, SimMeter
from hhu_sync.meterio import (
    DriverSettings,
    MeterClient,
    MeterTimeout,
    PasswordRefused,
    SerialTransport,
    password_kind,
)

FAST = DriverSettings(reaction_s=0.0, max_reads=200)


def meter() -> SimMeter:
    m = SimMeter("35012345", passwords={1: "AAAAAAAA", 3: "FEDC0003"},
                 start=datetime(2026, 11, 1), flags=("battery_low",))
    m.at(datetime(2026, 11, 3, 12))
    return m


def client_for(m: SimMeter, quirks: Quirks | None = None,
               settings: DriverSettings = FAST) -> MeterClient:
    session = MeterSession(lambda a: m if a in ("", m.serial) else None, quirks)
    return MeterClient(InProcessProbe(session), settings)


class Silent:
    """A line with nothing on the far end; counts the reads it was asked for."""

    def __init__(self) -> None:
        self.reads = 0
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        self.written += data

    def read(self, timeout: float) -> bytes:
        self.reads += 1
        return b""

    def set_baud(self, baud: int) -> None:
        pass

    def pause(self, seconds: float) -> None:
        pass


class Echoing(InProcessProbe):
    """A probe that echoes every byte sent (RS-485 style) before the meter's answer."""

    def write(self, data: bytes) -> None:
        self._rx += data
        super().write(data)


def test_a_readout_returns_the_meter_registers_as_text():
    m = meter()
    result = client_for(m).readout("35012345")
    assert result.identification.ident == "A1700"
    assert result.readout.get("1.8.0").value == m.register_value("1.8.0")[0].text
    assert result.readout.get("F.F").value == "00000001"


def test_programming_opens_with_the_right_password_p1_or_p2():
    m = meter()
    client = client_for(m)
    for password in ("FEDC0003", "AAAAAAAA"):          # P2 (8 characters)
        with client.programming("35012345", password) as session:
            assert session.read_value("0.0.0") == "35012345"
    with client.programming("35012345", "FEDC0003", "P1") as session:
        assert session.read_value("128.6.0") == "30"


def test_a_wrong_password_is_refused_once_and_not_retried():
    m = meter()
    client = client_for(m)
    with pytest.raises(PasswordRefused):
        client.programming("35012345", "WRONGPWD")
    assert m.failed_logins == 1
    assert client.stats.retransmits == 0


def test_a_silent_meter_times_out_after_the_bounded_retries():
    line = Silent()
    client = MeterClient(line, DriverSettings(max_retries=2, reaction_s=0.0))
    with pytest.raises(MeterTimeout):
        client.readout("1")
    assert line.reads == 3                          # one read per attempt: 1 + 2 retries
    assert line.written == b"/?1!\r\n" * 3


def test_an_unaddressed_meter_stays_silent():
    with pytest.raises(MeterTimeout):
        client_for(meter()).readout("99999999")


def test_a_meter_that_ignores_its_proposed_baud_is_read_at_300_baud():
    m = meter()
    client = client_for(m, Quirks(ignore_baud=True))
    result = client.readout("35012345")
    assert result.baud == 300
    assert client.stats.baud_fallbacks == 1
    assert result.readout.get("1.8.0") is not None


def test_without_the_fallback_the_time_out_says_it_came_after_the_baud_change():
    client = client_for(meter(), Quirks(ignore_baud=True),
                        DriverSettings(reaction_s=0.0, baud_fallback=False, max_reads=50))
    with pytest.raises(MeterTimeout) as err:
        client.readout("35012345")
    assert err.value.after_baud_change and err.value.previous_baud == 300


def test_an_echoing_probe_with_the_echo_option():
    m = meter()
    session = MeterSession(lambda a: m)
    client = MeterClient(Echoing(session), DriverSettings(echo=True, reaction_s=0.0))
    assert client.readout("35012345").readout.get("C.1.0").value == "35012345"


def test_an_echoing_probe_is_detected_without_the_option():
    m = meter()
    session = MeterSession(lambda a: m)
    client = MeterClient(Echoing(session), DriverSettings(reaction_s=0.0))
    assert client.readout("35012345").readout.get("C.1.0").value == "35012345"
    assert client.stats.connections[-1].echo_bytes > 0


def test_garbage_after_etx_is_skipped():
    m = meter()
    result = client_for(m, Quirks(garbage=b"\x00\x7fJUNK\r\n")).readout("35012345")
    assert result.readout.get("1.8.1") is not None


def test_password_kind_auto_uses_p2_only_for_eight_characters():
    assert password_kind("FEDC0003") == "P2"
    assert password_kind("DEMO-L1") == "P1"
    assert password_kind("FEDC0003", "P1") == "P1"


class FakePort:
    """Enough of a pyserial port to watch what SerialTransport does with it."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.timeout = None
        self.baudrate = 300
        self.calls: list[str] = []
        self.chunks = chunks

    @property
    def in_waiting(self) -> int:
        return len(self.chunks[0]) if self.chunks else 0

    def read(self, size: int) -> bytes:
        self.calls.append("read")
        return self.chunks.pop(0) if self.chunks else b""

    def write(self, data: bytes) -> int:
        self.calls.append("write")
        return len(data)

    def flush(self) -> None:
        self.calls.append("flush")


def test_serial_transport_bounds_reads_and_switches_baud_after_flushing():
    now = [0.0]

    def clock() -> float:
        now[0] += 0.05
        return now[0]

    port = FakePort([b"", b"/GEC5A1700\r\n"])
    line = SerialTransport(port, clock=clock, sleep=lambda s: None)
    assert port.timeout is not None                  # never an unbounded read
    assert line.read(1.0) == b"/GEC5A1700\r\n"
    assert line.read(0.2) == b""                     # nothing: returns at the deadline
    port.calls.clear()
    line.set_baud(9600)
    assert port.calls == ["flush"] and port.baudrate == 9600
    assert line.baud_switches == 1


class LateOnce(InProcessProbe):
    """A slow meter: its answer to the first R1 comes only after the driver has given up
    waiting and repeated the request, and then it answers the repeat as well."""

    def __init__(self, session: MeterSession) -> None:
        super().__init__(session)
        self.held = b""
        self.pending = True

    def write(self, data: bytes) -> None:
        if self.pending and bytes(b & 0x7F for b in data[:3]) == b"\x01R1":
            self.pending = False
            self.bytes_sent += len(data)
            self.held = self.session.receive(data)       # answered, not yet on the line
            return
        super().write(data)

    def read(self, timeout: float) -> bytes:
        if self.held:                                    # silent this once: a time-out
            self._rx, self.held = bytearray(self.held) + self._rx, b""
            return b""
        return super().read(timeout)


def test_a_late_answer_to_a_repeated_request_is_not_taken_for_the_next_one():
    m = meter()
    with client_for(m).programming("35012345", "AAAAAAAA") as plain:
        want = [plain.read_value(a) for a in ("1.8.0", "0.9.1")]
    m = meter()
    session = MeterSession(lambda a: m if a in ("", m.serial) else None, None)
    client = MeterClient(LateOnce(session), FAST)
    with client.programming("35012345", "AAAAAAAA") as slow:
        got = [slow.read_value(a) for a in ("1.8.0", "0.9.1")]
        stats = slow.conn.stats
    assert want[0] != want[1] and got == want
    assert stats.retransmits == 1 and stats.stale_bytes > 0
