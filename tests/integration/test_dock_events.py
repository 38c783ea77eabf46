"""A docking tells what it does: phases in order, progress, commits, deliveries, acks and
its end, through the one fan-out the CLI's bars and the web app subscribe to."""

from __future__ import annotations

import socket

from hhu_sync.config import load_config
from hhu_sync.daemon import Daemon
from hhu_sync.dock.events import (
    BundleDelivered,
    Direction,
    HhuAuthenticated,
    Phase,
    PhaseChanged,
    SessionEnded,
    TransferProgress,
    UploadAcknowledged,
    UploadCommitted,
)
from tests.integration.test_daemon_docks import SCHEMES, Depot, dock


def _run(depot: Depot) -> tuple[list, list]:
    daemon = Daemon(load_config(depot.config), once=True)
    heard: list = []
    daemon.docks.events.subscribe(heard.append)
    summary = daemon.run(timeout=60)
    assert summary.finished
    return heard, daemon.docks.events.board.snapshot()


def _docking(heard: list) -> list:
    """The events of the one docking that moved something (an idle docking, an HHU
    with nothing to move, publishes only its authentication and end)."""
    dockings: list[list] = []
    for e in heard:
        if isinstance(e, PhaseChanged) and e.phase is Phase.AUTHENTICATING:
            dockings.append([])
        dockings[-1].append(e)
    moved = [d for d in dockings if any(isinstance(e, TransferProgress) for e in d)]
    assert len(moved) == 1, [[type(e).__name__ for e in d] for d in dockings]
    return moved[0]


def test_a_load_then_an_unload_publish_their_phases_in_order(tmp_path):
    depot = Depot(tmp_path, dock("cradle-1", "HHU-001"))
    depot.drop(*SCHEMES, "route-north.toml")
    heard, board = _run(depot)
    events = _docking(heard)
    phases = [e.phase for e in events if isinstance(e, PhaseChanged)]
    assert phases[:2] == [Phase.AUTHENTICATING, Phase.LOADING]
    hello = next(e for e in events if isinstance(e, HhuAuthenticated))
    assert (hello.hhu_id, hello.crew) == ("HHU-001", "crew-north")
    down = [e for e in events if isinstance(e, TransferProgress)]
    assert down and {e.direction for e in down} == {Direction.DOWN}
    assert down[-1].done == down[-1].total                  # the last one is always sent
    assert any(isinstance(e, BundleDelivered) for e in events)
    ended = [e for e in events if isinstance(e, SessionEnded)]
    assert ended[0].outcome == "done"
    cradle = board[0]
    assert (cradle["dock"], cradle["phase"], cradle["safe_to_remove"]) == (
        "cradle-1", "done", True)

    trip = depot.field_trip("HHU-001")
    assert trip.readings
    heard, board = _run(depot)
    events = _docking(heard)
    phases = [e.phase for e in events if isinstance(e, PhaseChanged)]
    assert phases == [Phase.AUTHENTICATING, Phase.UNLOADING, Phase.ACKNOWLEDGING]
    kinds = [type(e) for e in events if not isinstance(e, TransferProgress)]
    assert kinds.index(UploadCommitted) < kinds.index(UploadAcknowledged) \
        < kinds.index(SessionEnded)
    up = [e for e in events if isinstance(e, TransferProgress)]
    assert up and {e.direction for e in up} == {Direction.UP}
    assert board[0]["phase"] == "done" and board[0]["hhu_id"] == "HHU-001"


def test_a_cradle_where_nothing_answers_publishes_nothing(tmp_path):
    silent = socket.create_server(("127.0.0.1", 0))     # connects, never says a word
    try:
        depot = Depot(tmp_path, f'[[docks]]\nname = "cradle-1"\nport = '
                                f'"socket://127.0.0.1:{silent.getsockname()[1]}"\n')
        heard, board = _run(depot)
    finally:
        silent.close()
    assert heard == []
    assert board[0]["phase"] == "empty" and board[0]["safe_to_remove"]
