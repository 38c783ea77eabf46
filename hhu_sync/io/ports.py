"""Opening serial ports: always by URL, cradles found by USB serial number.

Why URLs only (``serial.serial_for_url``): the same code then drives a real cradle
(``/dev/ttyUSB0``), a TCP bridge (``socket://``), a recorder (``spy://``) or a
simulated HHU (``hhusim://``, once its handler package is registered).
Why serial numbers: ``/dev/ttyUSBn`` numbering changes with plug order and reboots;
the FTDI/CP210x serial number printed on the cradle does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import serial
import serial.tools.list_ports

from hhu_sync.errors import HhuSyncError

DEFAULT_BAUDRATE = 115200
DEFAULT_TIMEOUT_S = 0.1


class PortError(HhuSyncError):
    """A port could not be found or opened."""


def register_handler_packages(names: Iterable[str]) -> None:
    """Let ``serial_for_url`` find URL handlers (``protocol_<scheme>``) in these packages."""
    for name in names:
        if name not in serial.protocol_handler_packages:
            serial.protocol_handler_packages.append(name)


def open_port(url: str, baudrate: int = DEFAULT_BAUDRATE,
              timeout: float | None = DEFAULT_TIMEOUT_S, **kwargs: Any) -> serial.SerialBase:
    """Open ``url`` (device path or pyserial URL) with a bounded read time-out."""
    if timeout is None:
        raise PortError("refusing an unbounded read time-out")
    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=timeout, **kwargs)
    except ValueError as exc:  # unknown URL scheme, bad option
        raise PortError(f"cannot open {url}: {exc}") from exc
    except serial.SerialException as exc:
        raise PortError(f"cannot open {url}: {exc}") from exc


def find_port(serial_number: str | None = None, *, vid: int | None = None,
              pid: int | None = None) -> str:
    """The device path of the one USB serial port matching all given criteria."""
    if serial_number is None and vid is None and pid is None:
        raise PortError("give a serial number and/or a USB vendor/product id")
    matches = [
        p for p in serial.tools.list_ports.comports()
        if (serial_number is None or p.serial_number == serial_number)
        and (vid is None or p.vid == vid)
        and (pid is None or p.pid == pid)
    ]
    wanted = ", ".join(
        f"{k}={v}" for k, v in (("serial", serial_number), ("vid", vid), ("pid", pid))
        if v is not None
    )
    if not matches:
        raise PortError(f"no serial port with {wanted}")
    if len(matches) > 1:
        names = ", ".join(p.device for p in matches)
        raise PortError(f"{len(matches)} serial ports match {wanted}: {names}")
    return matches[0].device
