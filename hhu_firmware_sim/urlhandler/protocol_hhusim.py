"""``hhusim://HHU-ID?flash=DIR&key=FILE[&...]``: a simulated HHU inside this process.

Opening the port starts the device's session as a task on the process's one simulator
loop (``simloop``, started on first open), joined to the port by a socket pair; closing
the port ends it. The port offers its end's descriptor (``sansio_fileno()``), so the
depot's pump watches it like any socket, and 32 cradles mean 32 tasks, not 32 threads;
pyserial's blocking ``read``/``write``/``in_waiting`` with time-outs work as well.

Options (all but flash and key optional):

    flash=DIR        the HHU's flash folder (created if missing)
    key=FILE         the HHU's key file (64 hex digits, mode 0600)
    capacity=N       flash capacity in bytes (default: what the flash recorded)
    firmware=S       firmware string announced in the hello
    battery=P        battery percentage announced
    ber=P            bit error rate on the device's line, both ways (0 to below 1)
    cut_after=N      hang up after N bytes (both directions counted)
    reboot_after=N   reboot after N bundle bytes received (flash survives)
    slow_ms=MS       delay before each device write (0 to 60,000)
    wrong_key=1      the device holds a wrong key (authentication fails)
    strict_v1=1      a version-1-only firmware: aborts a HELLO of any version but 1
    checkpoint=N     bytes between partial-bundle fsyncs, no rate limit (default 256 KiB)
    seed=S           seed for the bit errors
    field_trip=MODE  after each docking (port closed), go to the field: execute the meter
                     lists just received and leave readings in flash. MODE ``synthetic``
                     (made-up readings) or ``fleet:PATH`` (talk IEC 62056-21 to the
                     simulated meters of the fleet TOML file PATH; their state is kept in
                     ``fleet-state.json`` in the flash folder)
    fleet_state=FILE where a ``fleet:`` trip keeps the meters' state instead: HHUs given
                     the same FILE work one fleet, their trips taking turns

Why in-process: tests and benches get a real port object without TCP or ptys, and
every byte still goes through the same device session as ``hhu-sim serve``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import select
import socket
import struct
import termios
import threading
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serial.serialutil import (
    PortNotOpenError,
    SerialBase,
    SerialException,
    SerialTimeoutException,
)

from hhu_firmware_sim import simloop
from hhu_firmware_sim.ports import SocketLine
from hhu_firmware_sim.serving import close_socket

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

    from hhu_firmware_sim.device import SessionResult, SimulatedHHU

_JOIN_S = 5.0
_READ_CHUNK = 65536
_INT_OPTS = ("capacity", "battery", "cut_after", "reboot_after", "checkpoint", "seed")
#: counts that cannot be negative (a negative one would end the session at once, unseen)
_COUNT_OPTS = ("cut_after", "reboot_after", "checkpoint")
_FLOAT_OPTS = ("ber", "slow_ms")
MAX_SLOW_MS = 60_000.0     # slow_ms at most: a minute before each write
_KNOWN = {"flash", "key", "firmware", "wrong_key", "strict_v1", "seed", "field_trip",
          "fleet_state", *_INT_OPTS, *_FLOAT_OPTS}


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """Split ``hhusim://ID?opts`` into the HHU id and its options; refuse unknown ones."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "hhusim" or not parts.netloc:
        raise SerialException(f"expected hhusim://HHU-ID?flash=DIR&key=FILE, got {url!r}")
    opts = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query, True).items()}
    unknown = sorted(set(opts) - _KNOWN)
    if unknown:
        raise SerialException(f"hhusim: unknown option(s) {', '.join(unknown)}")
    for need in ("flash", "key"):
        if not opts.get(need):
            raise SerialException(f"hhusim: option {need}= is required")
    return parts.netloc, opts


class Serial(SerialBase):
    """A pyserial port whose far end is a simulated HHU, a task on the simulator loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._sock: socket.socket | None = None
        self._session: concurrent.futures.Future[SessionResult] | None = None
        self._ended = threading.Event()
        self.device: SimulatedHHU | None = None
        self.session_result: SessionResult | None = None
        super().__init__(*args, **kwargs)

    # --- open / close --------------------------------------------------------------------

    def open(self) -> None:
        if self.is_open:
            raise SerialException("port is already open")
        if self.port is None:
            raise SerialException("port must be configured before it can be used")
        self.device = device = self._build_device(self.port)
        ours, theirs = socket.socketpair()
        ours.setblocking(False)       # reads and writes wait in select, bounded
        self._sock = ours
        self._ended = threading.Event()
        self.session_result = None
        self._session = simloop.submit(self._run(device, SocketLine(theirs)))
        self.is_open = True

    def sansio_fileno(self) -> int:
        """The descriptor an event loop may read and write directly (LinkPump does)."""
        if not self.is_open or self._sock is None:
            raise PortNotOpenError()
        return self._sock.fileno()

    @property
    def device_running(self) -> bool:
        """Whether the device's session is still going (it ends when the port closes)."""
        return self._session is not None and not self._ended.is_set()

    @staticmethod
    def _build_device(url: str) -> SimulatedHHU:
        # Imported here, not at module top: pyserial hides ImportErrors of handler modules
        # behind "protocol not known"; failing here names the real problem.
        from hhu_firmware_sim.device import Faults, load_device

        hhu_id, o = parse_url(url)
        try:
            ints = {k: int(o[k]) for k in _INT_OPTS if k in o}
            floats = {k: float(o[k]) for k in _FLOAT_OPTS if k in o}
        except ValueError as exc:
            raise SerialException(f"hhusim: bad option value: {exc}") from exc
        # here, not in the device's session: one that failed there would die unseen at its
        # first byte, a port that opens and an HHU that never answers
        if not 0.0 <= floats.get("ber", 0.0) < 1.0:
            raise SerialException(f"hhusim: bad option value: ber={o['ber']}: a bit error "
                                  "rate from 0 to below 1")
        for name in _COUNT_OPTS:
            if ints.get(name, 0) < 0:
                raise SerialException(f"hhusim: bad option value: {name}={o[name]}: a count "
                                      "of 0 or more")
        if not 0.0 <= floats.get("slow_ms", 0.0) <= MAX_SLOW_MS:
            raise SerialException(f"hhusim: bad option value: slow_ms={o['slow_ms']}: from 0 "
                                  f"to {MAX_SLOW_MS:g} ms")
        faults = Faults(cut_after=ints.get("cut_after"), ber=floats.get("ber", 0.0),
                        reboot_after=ints.get("reboot_after"),
                        slow_ms=floats.get("slow_ms", 0.0),
                        seed=ints.get("seed"),
                        strict_v1=o.get("strict_v1", "0") not in ("0", "", "false"))
        extra: dict[str, object] = {"faults": faults}
        if "firmware" in o:
            extra["firmware"] = o["firmware"]
        if "battery" in o:
            extra["battery_pct"] = ints["battery"]
        if "checkpoint" in o:
            extra["checkpoint_every"] = ints["checkpoint"]
            extra["checkpoint_interval_s"] = 0.0
        try:
            return load_device(hhu_id, o["key"], o["flash"], capacity=ints.get("capacity"),
                               wrong_key=o.get("wrong_key", "0") not in ("0", "", "false"),
                               **extra)
        except Exception as exc:  # key file, flash folder: report as a port that won't open
            raise SerialException(f"hhusim: cannot start {hhu_id}: {exc}") from exc

    async def _run(self, device: SimulatedHHU, line: SocketLine) -> SessionResult:
        try:
            return await device.serve(line, on_end=self._session_ended)
        finally:
            self._ended.set()

    def _session_ended(self, result: SessionResult) -> None:
        self.session_result = result

    def close(self) -> None:
        if self.is_open:
            self.is_open = False
            sock = self._sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)   # the device reads to the end, then stops
            if not simloop.on_sim_loop() and not self._ended.wait(_JOIN_S):
                if self._session is not None:
                    self._session.cancel()
                self._ended.wait(_JOIN_S)
            if sock is not None:
                close_socket(sock)
            self._field_trip()
        super().close()

    def _field_trip(self) -> None:
        """Undocked: the crew works its lists; readings wait in flash for the next dock."""
        if self.device is None or self.port is None:     # never opened
            return
        _, opts = parse_url(self.port)
        mode = opts.get("field_trip")
        if not mode:
            return
        if mode != "synthetic" and not (mode.startswith("fleet:") and len(mode) > 6):
            raise SerialException(f"hhusim: unknown field_trip mode {mode!r} "
                                  "(synthetic or fleet:PATH)")
        from hhu_firmware_sim.field_trip import fleet_trip, run_trip
        from hhu_firmware_sim.flash import FlashStore
        from hhu_firmware_sim.meter import FleetError
        from hhu_sync.keys import load_key_file

        flash = FlashStore(opts["flash"])
        key = load_key_file(opts["key"])
        if mode == "synthetic":
            run_trip(flash, self.device.hhu_id, key)
            return
        try:
            state = opts.get("fleet_state")
            fleet_trip(flash, self.device.hhu_id, key, mode[len("fleet:"):],
                       state_path=Path(state) if state else None)
        except FleetError as exc:
            raise SerialException(f"hhusim: field trip: {exc}") from exc

    def _reconfigure_port(self) -> None:
        """Baud rate and framing mean nothing on an in-process pipe."""

    # --- data ----------------------------------------------------------------------------

    def _open_socket(self) -> socket.socket:
        if not self.is_open or self._sock is None:
            raise PortNotOpenError()
        return self._sock

    @property
    def in_waiting(self) -> int:
        sock = self._open_socket()
        raw = fcntl.ioctl(sock.fileno(), termios.FIONREAD, struct.pack("i", 0))
        return int(struct.unpack("i", raw)[0])

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes within the port time-out; raises once the HHU hung up."""
        sock = self._open_socket()
        out = bytearray()
        timeout = self.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(out) < size:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                break
            try:
                chunk = sock.recv(min(size - len(out), _READ_CHUNK))
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                raise SerialException(f"the HHU hung up: {exc}") from exc
            if not chunk:
                if out:
                    break
                raise SerialException("the HHU hung up")
            out += chunk
            if deadline is not None and time.monotonic() >= deadline:
                break
        return bytes(out)

    def write(self, data: ReadableBuffer) -> int:
        sock = self._open_socket()
        view = memoryview(bytes(data))
        total = len(view)
        limit = self.write_timeout
        deadline = None if limit is None else time.monotonic() + limit
        while view:
            try:
                n = sock.send(view)
            except (BlockingIOError, InterruptedError):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise SerialTimeoutException("write timeout") from None
                select.select([], [sock], [], left)
                continue
            except OSError:
                raise SerialException("the HHU hung up") from None
            view = view[n:]
        return total

    def reset_input_buffer(self) -> None:
        sock = self._open_socket()
        with contextlib.suppress(BlockingIOError, InterruptedError, OSError):
            while sock.recv(_READ_CHUNK, socket.MSG_DONTWAIT):
                pass

    def reset_output_buffer(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()

    @property
    def out_waiting(self) -> int:
        return 0

    def _update_break_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True
