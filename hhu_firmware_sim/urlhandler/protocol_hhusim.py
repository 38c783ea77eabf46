"""``hhusim://HHU-ID?flash=DIR&key=FILE[&...]``: a simulated HHU inside this process.

Opening the port starts the device loop in a thread, joined to the port by two byte
pipes; closing the port stops it. Options (all but flash and key optional):

    flash=DIR        the HHU's flash folder (created if missing)
    key=FILE         the HHU's key file (64 hex digits, mode 0600)
    capacity=N       flash capacity in bytes (default: what the flash recorded)
    firmware=S       firmware string announced in the hello
    battery=P        battery percentage announced
    ber=P            bit error rate on the device's line, both ways
    cut_after=N      hang up after N bytes (both directions counted)
    reboot_after=N   reboot after N bundle bytes received (flash survives)
    slow_ms=MS       delay before each device write
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

Why in-process: tests and benches get a real port object without sockets or ptys,
and every byte still goes through the same device loop as ``hhu-sim serve``.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from hhu_firmware_sim.ports import BytePipe, PipePort

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

    from hhu_firmware_sim.device import SessionResult, SimulatedHHU

_JOIN_S = 5.0
_INT_OPTS = ("capacity", "battery", "cut_after", "reboot_after", "checkpoint")
_FLOAT_OPTS = ("ber", "slow_ms")
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
    """A pyserial port whose far end is a simulated HHU running in a thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._to_device: BytePipe | None = None
        self._from_device: BytePipe | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
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
        self._to_device, self._from_device = BytePipe(), BytePipe()
        self._stop = threading.Event()
        device_port = PipePort(rx=self._to_device, tx=self._from_device)
        self._thread = threading.Thread(target=self._run, args=(device, device_port),
                                        name=f"hhusim-{device.hhu_id}", daemon=True)
        self.is_open = True
        self._thread.start()

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
        faults = Faults(cut_after=ints.get("cut_after"), ber=floats.get("ber", 0.0),
                        reboot_after=ints.get("reboot_after"),
                        slow_ms=floats.get("slow_ms", 0.0),
                        seed=int(o["seed"]) if "seed" in o else None,
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

    def _run(self, device: SimulatedHHU, device_port: PipePort) -> None:
        try:
            self.session_result = device.run_session(device_port, stop=self._stop)
        finally:
            device_port.close()

    def close(self) -> None:
        if self.is_open:
            self.is_open = False
            self._stop.set()
            for pipe in (self._to_device, self._from_device):
                if pipe is not None:
                    pipe.close()
            if self._thread is not None:
                self._thread.join(_JOIN_S)
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

    @property
    def in_waiting(self) -> int:
        pipe = self._from_device
        if not self.is_open or pipe is None:
            raise PortNotOpenError()
        return pipe.available()

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes within the port time-out; raises once the HHU hung up."""
        pipe = self._from_device
        if not self.is_open or pipe is None:
            raise PortNotOpenError()
        out = bytearray()
        timeout = self.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(out) < size:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                chunk = pipe.read(size - len(out), left)
            except EOFError:
                if out:
                    break
                raise SerialException("the HHU hung up") from None
            if not chunk:
                break
            out += chunk
            if deadline is not None and time.monotonic() >= deadline:
                break
        return bytes(out)

    def write(self, data: ReadableBuffer) -> int:
        pipe = self._to_device
        if not self.is_open or pipe is None:
            raise PortNotOpenError()
        raw = bytes(data)
        try:
            pipe.write(raw)
        except EOFError:
            raise SerialException("the HHU hung up") from None
        return len(raw)

    def reset_input_buffer(self) -> None:
        pipe = self._from_device
        if not self.is_open or pipe is None:
            raise PortNotOpenError()
        pipe.clear()

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
