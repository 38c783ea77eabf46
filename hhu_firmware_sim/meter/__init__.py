"""Simulated electricity meters speaking IEC 62056-21 mode C (see docs/iec62056.md)."""

from hhu_firmware_sim.meter.fleet import Fleet, FleetError, load_fleet, meter_from_dict
from hhu_firmware_sim.meter.meter import FLAG_BITS, LoadProfile, SimMeter, Snapshot
from hhu_firmware_sim.meter.programming import ProgrammingError
from hhu_firmware_sim.meter.server import MeterServer
from hhu_firmware_sim.meter.session import MeterSession, Quirks
from hhu_firmware_sim.meter.tou import TouTable

__all__ = [
    "FLAG_BITS", "Fleet", "FleetError", "LoadProfile", "MeterServer", "MeterSession",
    "ProgrammingError", "Quirks", "SimMeter", "Snapshot", "TouTable", "load_fleet",
    "meter_from_dict",
]
