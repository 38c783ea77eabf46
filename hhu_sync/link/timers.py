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
    """Deadlines by name; ``advance()`` moves the clocks to the driver's ``now``."""

    __slots__ = ("now", "_frame_clock", "_silence_clock", "_frame", "_silence")

    def __init__(self) -> None:
        self.now: float | None = None   # the driver's clock at its last report; None: none yet
        self._frame_clock = 0.0
        self._silence_clock = 0.0
        self._frame: dict[str, float] = {}     # name -> deadline on the frame clock
        self._silence: dict[str, float] = {}   # name -> deadline on the silence clock

    def __bool__(self) -> bool:
        return bool(self._frame or self._silence)

    def __contains__(self, name: str) -> bool:
        return name in self._silence or name in self._frame

    def set(self, name: str, seconds: float) -> None:
        """(Re)start ``name`` to run out ``seconds`` from now."""
        if name in FRAME_TIMERS:
            self._frame[name] = self._frame_clock + seconds
        else:
            self._silence[name] = self._silence_clock + seconds

    def cancel(self, name: str) -> None:
        self._silence.pop(name, None)
        self._frame.pop(name, None)

    def clear(self) -> None:
        self._silence.clear()
        self._frame.clear()

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
        frame = self._frame
        if frame:
            end = self._frame_clock + SLACK_S
            for deadline in frame.values():
                if deadline <= end:
                    return True
        return False

    def remaining(self) -> float | None:
        """Seconds of silence until the next timer runs out; None: no timer runs."""
        left: float | None = None
        if self._silence:
            left = min(self._silence.values()) - self._silence_clock
        if self._frame:
            f = min(self._frame.values()) - self._frame_clock
            if left is None or f < left:
                left = f
        return left

    def pop_expired(self, frame_only: bool = False) -> list[str]:
        """Remove the timers that ran out and return their names in firing ``ORDER``."""
        fired: list[str] = []
        end = self._frame_clock + SLACK_S
        for name, deadline in list(self._frame.items()):
            if deadline <= end:
                del self._frame[name]
                fired.append(name)
        if not frame_only:
            end = self._silence_clock + SLACK_S
            for name, deadline in list(self._silence.items()):
                if deadline <= end:
                    del self._silence[name]
                    fired.append(name)
        if len(fired) > 1:
            fired.sort(key=_RANK.__getitem__)
        return fired
