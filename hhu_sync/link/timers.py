"""The link's named timers, on the driver's clock (the core never reads one).

Two kinds (docs/architecture.md, "The link timers"):

* *silence* timers (``rx``, ``tx``, ``req``, ``keepalive``) wait for the line to go quiet:
  they run down only while nothing is received, so a long frame still arriving on a slow
  line is no reason to resend;
* *frame* timers (``answer``, ``idle``) wait for a frame that moves the session on: they
  also run down while bytes arrive, so junk or useless frames cannot hold them still.

Each kind has its own clock, the time the driver reported (``now``) summed up since the
first report: the frame clock over all of it, the silence clock only over the silent
part. A timer is a deadline on its kind's clock, so moving the clocks is two additions
per driver call, whatever runs.
"""

from __future__ import annotations

__all__ = ["FRAME_TIMERS", "ORDER", "SILENCE_TIMERS", "SLACK_S", "Timers"]

SILENCE_TIMERS = ("rx", "tx", "req", "keepalive")
FRAME_TIMERS = ("answer", "idle")
#: the order in which timers that ran out together fire
ORDER = ("rx", "tx", "req", "answer", "keepalive", "idle")
SLACK_S = 1e-6   # a timer this close to its end has run out (float sums)
_RANK = {name: i for i, name in enumerate(ORDER)}


class Timers:
    """Deadlines by name; ``advance()`` moves the clocks to the driver's ``now``.

    The soonest deadline of each kind is kept up to date when a timer is set or dropped
    (a few times per frame), so the calls made per read (``advance``, ``remaining``) cost
    a comparison, not a search.
    """

    __slots__ = ("now", "_frame_clock", "_silence_clock", "_frame", "_silence",
                 "_frame_next", "_silence_next")

    def __init__(self) -> None:
        self.now: float | None = None   # the driver's clock at its last report; None: none yet
        self._frame_clock = 0.0
        self._silence_clock = 0.0
        self._frame: dict[str, float] = {}     # name -> deadline on the frame clock
        self._silence: dict[str, float] = {}   # name -> deadline on the silence clock
        self._frame_next = _NEVER              # the soonest of each (_NEVER: none)
        self._silence_next = _NEVER

    def __bool__(self) -> bool:
        return bool(self._frame or self._silence)

    def __contains__(self, name: str) -> bool:
        return name in self._silence or name in self._frame

    def set(self, name: str, seconds: float) -> None:
        """(Re)start ``name`` to run out ``seconds`` from now."""
        # (a side runs one timer of each kind most of the time: no search then)
        if name in FRAME_TIMERS:
            frame = self._frame
            deadline = frame[name] = self._frame_clock + seconds
            if len(frame) == 1 or deadline <= self._frame_next:
                self._frame_next = deadline
            else:
                self._frame_next = min(frame.values())
        else:
            silence = self._silence
            deadline = silence[name] = self._silence_clock + seconds
            if len(silence) == 1 or deadline <= self._silence_next:
                self._silence_next = deadline
            else:
                self._silence_next = min(silence.values())

    def cancel(self, name: str) -> None:
        if self._silence.pop(name, None) is not None:
            self._silence_next = min(self._silence.values(), default=_NEVER)
        elif self._frame.pop(name, None) is not None:
            self._frame_next = min(self._frame.values(), default=_NEVER)

    def clear(self) -> None:
        self._silence.clear()
        self._frame.clear()
        self._frame_next = self._silence_next = _NEVER

    def advance(self, now: float, silent: bool) -> bool:
        """The driver's clock reads ``now``; ``silent``: nothing was received since its last
        report. Returns True if a frame timer ran out (only possible when not silent: the
        silent time is the caller's to fire, in handle_timeout()).

        The first report only sets the clock; one that goes back moves nothing.
        """
        last = self.now
        self.now = now
        if last is None or now <= last:
            return False
        dt = now - last
        self._frame_clock += dt
        if silent:
            self._silence_clock += dt
            return False
        return self._frame_next <= self._frame_clock + SLACK_S

    def remaining(self) -> float | None:
        """Seconds of silence until the next timer runs out; None: no timer runs."""
        left = self._silence_next - self._silence_clock
        frame = self._frame_next - self._frame_clock
        if frame < left:
            left = frame
        return None if left == _NEVER else left

    def deadline(self) -> float | None:
        """When, on the driver's clock, the next timer runs out (from 0 before any report)."""
        left = self._silence_next - self._silence_clock
        frame = self._frame_next - self._frame_clock
        if frame < left:
            left = frame
        return None if left == _NEVER else (self.now or 0.0) + left

    def pop_expired(self, frame_only: bool = False) -> list[str]:
        """Remove the timers that ran out and return their names in firing ``ORDER``."""
        fired: list[str] = []
        if self._frame_next <= self._frame_clock + SLACK_S:
            fired += _pop_due(self._frame, self._frame_clock + SLACK_S)
            self._frame_next = min(self._frame.values(), default=_NEVER)
        if not frame_only and self._silence_next <= self._silence_clock + SLACK_S:
            fired += _pop_due(self._silence, self._silence_clock + SLACK_S)
            self._silence_next = min(self._silence.values(), default=_NEVER)
        if len(fired) > 1:
            fired.sort(key=_RANK.__getitem__)
        return fired


_NEVER = float("inf")


def _pop_due(deadlines: dict[str, float], end: float) -> list[str]:
    due = [name for name, deadline in deadlines.items() if deadline <= end]
    for name in due:
        del deadlines[name]
    return due
