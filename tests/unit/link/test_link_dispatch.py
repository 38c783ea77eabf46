"""The link connection's two sides: their dispatch tables cover the wire and their state
tables, and ``Connection(role)`` builds the side of the role."""

from __future__ import annotations

import dataclasses

import pytest

from hhu_sync.link import (
    DOCK_TRANSITIONS,
    HHU_TRANSITIONS,
    Connection,
    DockConnection,
    HelloInfo,
    HhuConnection,
    LocalProtocolError,
    Phase,
    Role,
)
from hhu_sync.link import messages as m
from hhu_sync.link.timers import FRAME_TIMERS, ORDER, SILENCE_TIMERS

SIDES = [DockConnection, HhuConnection]


def _triggers(table: dict[tuple[str, str], str], kind: str) -> set[str]:
    return {trigger.split(":", 1)[1] for (_, trigger) in table if trigger.startswith(kind)}


def test_every_request_has_one_hhu_handler_and_every_answer_one_dock_handler():
    assert {c.TYPE for c in HhuConnection.MESSAGES} == m.REQUEST_TYPES
    # BUSY answers no request: it defers one (the request engine's), no handler of its own
    assert {c.TYPE for c in DockConnection.MESSAGES} == m.RESPONSE_TYPES - {m.T_BUSY}
    assert not m.REQUEST_TYPES & m.RESPONSE_TYPES
    # DATA, SACK and ABORT are the core's, for both sides
    core = {m.T_DATA, m.T_SACK, m.T_ABORT}
    assert set(m.BY_TYPE) == m.REQUEST_TYPES | m.RESPONSE_TYPES | core


def test_every_request_and_answer_carries_its_request_id_right_after_the_type():
    # the core reads it as body[1], whatever the frame
    for t in m.REQUEST_TYPES | m.RESPONSE_TYPES:
        cls = m.BY_TYPE[t]
        assert cls.SPEC[0] == "u8"
        assert dataclasses.fields(cls)[0].name == "req"


@pytest.mark.parametrize("side", SIDES, ids=lambda s: s.ROLE.value)
def test_every_frame_the_table_expects_has_a_handler_and_every_handler_a_transition(side):
    names = {c.NAME for c in side.MESSAGES}
    assert _triggers(side.TRANSITIONS, "rx:") == names


@pytest.mark.parametrize("side", SIDES, ids=lambda s: s.ROLE.value)
def test_every_command_the_table_takes_has_a_handler_and_every_handler_a_transition(side):
    names = {c.__name__ for c in side.COMMANDS}
    # the dock's operations queue: their transitions are taken when they start
    assert _triggers(side.TRANSITIONS, "cmd:") == names


@pytest.mark.parametrize("side", SIDES, ids=lambda s: s.ROLE.value)
def test_every_phase_of_the_table_is_a_phase(side):
    for (phase, _), nxt in side.TRANSITIONS.items():
        assert Phase(phase) and Phase(nxt)


def test_each_side_has_its_own_table():
    assert DockConnection.TRANSITIONS is DOCK_TRANSITIONS
    assert HhuConnection.TRANSITIONS is HHU_TRANSITIONS


def test_each_side_handles_the_timers_it_arms_and_both_the_transfers_timers():
    assert set(SILENCE_TIMERS) | set(FRAME_TIMERS) == set(ORDER)
    assert set(DockConnection.TIMERS) == {"rx", "tx", "req", "answer", "keepalive"}
    assert set(HhuConnection.TIMERS) == {"rx", "tx", "idle"}


def test_connection_builds_the_side_of_its_role():
    dock = Connection(Role.DOCK, keys=lambda hhu_id: None)
    hhu = Connection(Role.HHU, key=bytes(32), hello=HelloInfo("HHU-1", "fw", 1, 1))
    assert type(dock) is DockConnection and type(hhu) is HhuConnection
    assert isinstance(dock, Connection) and isinstance(hhu, Connection)
    assert (dock.role, hhu.role) == (Role.DOCK, Role.HHU)
    assert (dock.hhu_id, hhu.hhu_id) == (None, "HHU-1")
    assert not dock.hello_rejected and not hhu.hello_rejected


def test_a_side_built_for_the_other_role_is_refused():
    with pytest.raises(LocalProtocolError):
        DockConnection(Role.HHU, key=bytes(32), hello=HelloInfo("HHU-1", "fw", 1, 1))
    with pytest.raises(LocalProtocolError):
        Connection("dock", keys=lambda hhu_id: None)


def test_a_command_of_the_other_role_is_refused():
    from hhu_sync.link import AcceptBundle, StartHandshake

    dock = Connection(Role.DOCK, keys=lambda hhu_id: None)
    hhu = Connection(Role.HHU, key=bytes(32), hello=HelloInfo("HHU-1", "fw", 1, 1))
    with pytest.raises(LocalProtocolError, match="not a dock command"):
        dock.send(AcceptBundle("B", 0))
    with pytest.raises(LocalProtocolError, match="not a hhu command"):
        hhu.send(StartHandshake())
