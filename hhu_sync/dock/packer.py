"""Turn a queued delivery into a sealed transfer file for one HHU, in the spool.

A delivery for a named HHU is packed as soon as it is queued; one for a crew is packed
when the first HHU of that crew docks (the file is sealed with that HHU's key).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hhu_sync.errors import HhuSyncError, TransferError
from hhu_sync.fsutil import atomic_write
from hhu_sync.keys import KeyStore
from hhu_sync.packaging import pack_meter_list, pack_quick_send
from hhu_sync.store.base import Delivery
from hhu_sync.transfer import peek_header


class PackError(HhuSyncError):
    """A delivery could not be packed (HHU not enrolled, secret missing, list gone)."""


@dataclass(frozen=True)
class Packed:
    bundle_id: str
    path: Path


class Packer:
    def __init__(self, store, keystore: KeyStore, spool: Path, depot_id: str) -> None:
        self.store = store
        self.keystore = keystore
        self.spool = spool
        self.depot_id = depot_id

    def ensure(self, delivery: Delivery, hhu_id: str) -> Packed | None:
        """The delivery's transfer file for ``hhu_id``; None if another HHU took it.

        A spool file that is missing or damaged (spool writes are not fsynced: they can
        always be made again) is packed afresh, under a new bundle id.
        """
        if delivery.bundle_path and delivery.target_hhu == hhu_id:
            path = Path(delivery.bundle_path)
            if _intact(path, delivery.bundle_id):
                return Packed(delivery.bundle_id, path)
        packed = self.build(delivery, hhu_id, durable=True)
        if not self.store.bind_delivery(delivery.delivery_id, hhu_id, packed.bundle_id,
                                        str(packed.path)):
            packed.path.unlink(missing_ok=True)
            return None
        return packed

    def build(self, delivery: Delivery, hhu_id: str, *, durable: bool = False) -> Packed:
        """Write a freshly sealed transfer file for ``hhu_id`` to the spool (not bound)."""
        key = self.keystore.hhu_key(hhu_id)
        if key is None:
            raise PackError(f"{hhu_id} is not enrolled in the key store")
        try:
            if delivery.kind == "quick_send":
                scheme = self.store.scheme(delivery.ref)
                if scheme is None:
                    raise PackError(f"scheme {delivery.ref!r} is no longer in the library")
                package = pack_quick_send(scheme, hhu=hhu_id, hhu_key=key, secrets=self.keystore,
                                          source=self.depot_id)
            else:
                mlist = self.store.get_list(delivery.ref)
                if mlist is None:
                    raise PackError(f"meter list {delivery.ref!r} is not held")
                package = pack_meter_list(mlist, self.store.library(), hhu=hhu_id, hhu_key=key,
                                          secrets=self.keystore, source=self.depot_id)
        except PackError:
            raise
        except (HhuSyncError, ValueError) as exc:
            raise PackError(str(exc)) from None
        self.spool.mkdir(parents=True, exist_ok=True)
        path = self.spool / f"{package.bundle_id}.hhux"
        atomic_write(path, package.data, durable=durable)
        return Packed(package.bundle_id, path)


def _intact(path: Path, bundle_id: str | None) -> bool:
    try:
        return peek_header(path.read_bytes()).bundle_id == bundle_id
    except (OSError, TransferError):
        return False
