"""Turn a queued delivery into a sealed transfer file for one HHU.

A delivery for a named HHU is packed as soon as it is queued; one for a crew is packed
when the first HHU of that crew docks (the file is sealed with that HHU's key). The
sealed file is kept in the database with its delivery, committed together: no spool
file to lose, orphan or find half-written after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass

from hhu_sync.errors import HhuSyncError
from hhu_sync.keys import KeyStore
from hhu_sync.keys.store import KeySnapshot
from hhu_sync.model.meterlist import MeterList
from hhu_sync.model.scheme import Scheme
from hhu_sync.packaging import pack_meter_list, pack_quick_send
from hhu_sync.store.base import Delivery, Store


class PackError(HhuSyncError):
    """A delivery could not be packed (HHU not enrolled, secret missing, list gone)."""


@dataclass(frozen=True)
class Packed:
    bundle_id: str
    data: bytes


class Packer:
    def __init__(self, store: Store, keystore: KeyStore, depot_id: str) -> None:
        self.store = store
        self.keystore = keystore
        self.depot_id = depot_id

    def ensure(self, delivery: Delivery, hhu_id: str) -> Packed | None:
        """The delivery's transfer file for ``hhu_id``; None if another HHU took it."""
        if delivery.packed and delivery.target_hhu == hhu_id:
            data = self.store.bundle(delivery.delivery_id)
            if data is not None and delivery.bundle_id is not None:
                return Packed(delivery.bundle_id, data)
        packed = self.build(delivery, hhu_id)
        if not self.store.bind_delivery(delivery.delivery_id, hhu_id, packed.bundle_id,
                                        packed.data):
            return None
        return packed

    def build(self, delivery: Delivery, hhu_id: str) -> Packed:
        """A freshly sealed transfer file for ``hhu_id`` (not yet bound to the delivery)."""
        scheme = mlist = None
        if delivery.kind == "quick_send":
            scheme = self.store.scheme(delivery.ref)
            if scheme is None:
                raise PackError(f"scheme {delivery.ref!r} is no longer in the library")
        else:
            mlist = self.store.get_list(delivery.ref)
            if mlist is None:
                raise PackError(f"meter list {delivery.ref!r} is not held")
        return self.seal(delivery.kind, hhu_id, scheme=scheme, mlist=mlist)

    def seal(self, kind: str, hhu_id: str, *, scheme: Scheme | None = None,
             mlist: MeterList | None = None,
             keys: KeyStore | KeySnapshot | None = None) -> Packed:
        """Seal a Quick send (``scheme``) or a meter list (``mlist``, with the schemes it
        names from the library) for ``hhu_id``: the outbox does this before the delivery
        exists, so the delivery and its transfer file are committed together.

        ``keys``: a :class:`~hhu_sync.keys.store.KeySnapshot` shared by a batch (else the
        key store itself)."""
        keys = keys or self.keystore
        key = keys.hhu_key(hhu_id)
        if key is None:
            raise PackError(f"{hhu_id} is not enrolled in the key store")
        try:
            if kind == "quick_send":
                assert scheme is not None, "a Quick send is sealed with its scheme"
                package = pack_quick_send(scheme, hhu=hhu_id, hhu_key=key,
                                          secrets=keys, source=self.depot_id)
            else:
                assert mlist is not None, "a meter list delivery is sealed with its list"
                package = pack_meter_list(mlist, self.store.library(), hhu=hhu_id, hhu_key=key,
                                          secrets=keys, source=self.depot_id)
        except (HhuSyncError, ValueError) as exc:
            raise PackError(str(exc)) from None
        return Packed(package.bundle_id, package.data)
