"""Talking to meters directly from the depot: IEC 62056-21 over a serial line or TCP.

:class:`MeterClient` drives the sans-IO :class:`~hhu_sync.iec62056.ClientConnection`
over a :class:`Transport` (:class:`SerialTransport` for a pyserial port opened by URL);
:func:`plan_scheme` / :func:`program_scheme` turn a scheme into R1/W1 traffic and check
it by reading back. The HHU simulator reuses the same client in-process.
"""

from hhu_sync.meterio.client import (
    DriverSettings,
    DriverStats,
    MeterClient,
    MeterIOError,
    MeterRefused,
    MeterTimeout,
    PasswordRefused,
    ProgrammingSession,
    ReadoutResult,
    password_kind,
)
from hhu_sync.meterio.program import (
    ProgramPlan,
    ProgramReport,
    SchemeEncodingError,
    plan_scheme,
    program_scheme,
    verify_plan,
)
from hhu_sync.meterio.transport import SerialTransport, Transport

__all__ = [
    "DriverSettings", "DriverStats", "MeterClient", "MeterIOError", "MeterRefused",
    "MeterTimeout", "PasswordRefused", "ProgramPlan", "ProgramReport", "ProgrammingSession",
    "ReadoutResult", "SchemeEncodingError", "SerialTransport", "Transport", "password_kind",
    "plan_scheme", "program_scheme", "verify_plan",
]
