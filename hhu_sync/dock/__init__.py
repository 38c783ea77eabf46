"""The dock side of the daemon: packing deliveries, sessions with docked HHUs, polling."""
