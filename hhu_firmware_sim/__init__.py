"""A simulated handheld unit (HHU): flash, link protocol, faults."""
