"""The link connection, by its old import path: the shared core (core.py) and its two
sides (dock_side.py, hhu_side.py). ``Connection(role, ...)`` builds the side of ``role``."""

from .core import DATA_EVENT_MAX, MAX_PAYLOAD, MAX_WINDOW, Connection
from .dock_side import DOCK_TRANSITIONS, DockConnection
from .hhu_side import HHU_TRANSITIONS, HhuConnection

__all__ = [
    "DATA_EVENT_MAX",
    "DOCK_TRANSITIONS",
    "HHU_TRANSITIONS",
    "MAX_PAYLOAD",
    "MAX_WINDOW",
    "Connection",
    "DockConnection",
    "HhuConnection",
]
