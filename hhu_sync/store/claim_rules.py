"""Who reads which meter of a remote run: per-meter claims with a lease (issue 17, point 5).

Several daemons sharing one PostgreSQL store work the same run of a remote list meter by
meter. A meter is read by the runner that holds its claim; the claim has a lease the
runner renews while it works (at each attempt and at each look of its daemon). A daemon
that dies stops renewing: once the lease has lapsed another runner takes the meter over.
On a port one runner at a time holds across depots too: a meter is not claimed while
another runner holds a live claim on a meter of the same port, in this run or in the
run of another list (two depots running two lists behind one gateway would meet on
its port, which carries one conversation or a few: the second waits for the next look). The decision
is made here, once, over what the backends read inside their transaction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ClaimState(enum.StrEnum):
    CLAIMED = "claimed"      # a runner holds it (reading, or its lease lapsed)
    DONE = "done"            # its visit is stored (by whoever settled it)
    SKIPPED = "skipped"      # not visited: the run's budget was spent, or not storable


#: states of a meter that is not to be read again in this run
SETTLED = (ClaimState.DONE, ClaimState.SKIPPED)


class ClaimVerdict(enum.StrEnum):
    """What ``Store.claim_remote_meter`` answers (callers decide on this, not wording)."""

    CLAIMED = "claimed"      # the caller's now: new, already its, or taken over
    BUSY = "busy"            # another runner's live claim, on the meter or on its port
    SETTLED = "settled"      # done or skipped already (or the run is gone): not read


class ClaimStep(enum.StrEnum):
    """The write a verdict needs."""

    NONE = "none"
    NEW = "new"              # no claim yet: insert one
    RENEW = "renew"          # the caller's own claim: a fresh lease
    TAKE_OVER = "take_over"  # another runner's lapsed claim: the caller's now


@dataclass(frozen=True)
class HeldClaim:
    """A meter's claim as the claiming transaction reads it."""

    runner: str
    state: str
    lease_until: float


def decide(held: HeldClaim | None, runner: str, at: float, *, port_busy: bool
           ) -> tuple[ClaimVerdict, ClaimStep]:
    """The verdict on ``runner`` claiming a meter at ``at`` (unix seconds), given its
    claim (None: none yet) and whether another runner holds a live claim on its port."""
    if held is not None and held.state in SETTLED:
        return ClaimVerdict.SETTLED, ClaimStep.NONE
    live = held is not None and held.lease_until > at
    if held is not None and held.runner == runner and live:
        return ClaimVerdict.CLAIMED, ClaimStep.RENEW
    if held is not None and live:
        return ClaimVerdict.BUSY, ClaimStep.NONE
    if port_busy:
        return ClaimVerdict.BUSY, ClaimStep.NONE
    if held is None:
        return ClaimVerdict.CLAIMED, ClaimStep.NEW
    if held.runner == runner:
        return ClaimVerdict.CLAIMED, ClaimStep.RENEW
    return ClaimVerdict.CLAIMED, ClaimStep.TAKE_OVER


@dataclass(frozen=True)
class MeterClaim:
    """One meter of a run as the claims table holds it: who has (or read) it, its lease,
    and once settled its outcome (a visit's outcome, ``held``, ``not_visited`` ...)."""

    delivery_id: int
    seq: int                 # the meter's place on the list
    serial: str
    port: str
    runner: str
    state: str               # ClaimState
    lease_until: float       # unix seconds
    claimed_at: str
    takeovers: int           # times it was taken from a runner whose lease lapsed
    outcome: str | None
    attempts: int
    upload_id: str | None
    notes: str
    finished_at: str | None


@dataclass(frozen=True)
class RemoteRunSummary:
    """A run of a remote list (its delivery) for the web app: where it stands."""

    delivery_id: int
    list_id: str
    name: str
    state: str               # the list's state for its latest run, else "ended"
    queued_at: str
    started_at: str | None   # when a runner began it
    runner: str | None       # who began it (the hhu id its uploads carry)
    meters: int              # entries on the list
    settled: int             # meters done or skipped
    claimed: int             # meters a runner holds now
    readers: tuple[str, ...]  # every runner that holds or settled a meter of it
