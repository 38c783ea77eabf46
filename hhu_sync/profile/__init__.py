"""Interval data (load profiles) and meter event logs, independent of dialect and wire.

The IEC 62056-21 dialects (``hhu_sync.iec62056``) decode into these types, upload
version 2 carries them, the store keeps them and VEE, billing and the exports read them.
"""
