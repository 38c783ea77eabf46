"""Remote lists: meters the depot reads itself over modems, gateways and RS-485 buses
(see :mod:`hhu_sync.remote.runner`, docs/remote.md)."""

from hhu_sync.remote.runner import RemoteRunner, RunReport, RunSettings, upload_id_of

__all__ = ["RemoteRunner", "RunReport", "RunSettings", "upload_id_of"]
