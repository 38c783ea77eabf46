"""hhu-sync: depot sync service for electricity-meter handheld units."""
__version__ = "0.1.0"
