"""A simulated meter's reading password (fleet ``read_password``): level 0, it opens
programming mode for reads, the Elster profile select among them, and writes nothing."""

from __future__ import annotations

import pytest

from hhu_firmware_sim.meter import FleetError
from hhu_firmware_sim.meter.fleet import meter_from_dict
from hhu_sync.iec62056 import (
    ErrorResponse,
    PasswordAccepted,
    PasswordRejected,
    WriteAccepted,
    WriteRequest,
)
from tests.unit.meter.test_session import Link, login

BASE = {"serial": "35000001", "model": "A1700", "start": "2026-07-01T00:00:00"}


def test_the_reading_password_opens_reads_and_the_select_but_no_write():
    m, _ = meter_from_dict({**BASE, "read_password": "RD-07731"})
    link = Link(m)
    assert login(link, password="RD-07731", kind="P1") == [PasswordAccepted()]
    assert link.say(WriteRequest("551001", "0003")) == [WriteAccepted("551001")]
    assert link.say(WriteRequest("128.6.0", "15")) == [ErrorResponse("ER03", "128.6.0")]


def test_a_meter_with_a_reading_password_has_no_factory_default():
    m, _ = meter_from_dict({**BASE, "read_password": "RD-07731"})
    assert login(Link(m), password="00000000", kind="P1") == [PasswordRejected(None)]
    plain, _ = meter_from_dict(BASE)
    assert login(Link(plain), password="00000000", kind="P1") == [PasswordAccepted()]


def test_the_programming_passwords_still_write():
    m, _ = meter_from_dict({**BASE, "read_password": "RD-07731",
                            "passwords": {"1": "DEMO-L1"}})
    link = Link(m)
    login(link, password="DEMO-L1", kind="P1")
    assert link.say(WriteRequest("128.6.0", "15")) == [WriteAccepted("128.6.0")]


@pytest.mark.parametrize("entry, words", [
    ({"read_password": ""}, r"meters\[0\]\.read_password: 1 to 32 printable"),
    ({"read_password": 7731}, r"meters\[0\]\.read_password: 1 to 32 printable"),
    ({"read_password": "R", "passwords": {"0": "X"}}, "level 0 already"),
])
def test_a_bad_reading_password_in_the_fleet_is_named(entry, words):
    with pytest.raises(FleetError, match=words):
        meter_from_dict({**BASE, **entry})
