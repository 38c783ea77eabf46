"""Serial I/O for the link: opening ports by URL, the driver pump, the dock session."""
