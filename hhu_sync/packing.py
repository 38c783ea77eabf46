"""Packing: schemes and meter lists sealed into transfer files for one HHU, in one place.

This is where meter passwords leave the key store: each is encrypted to the target HHU
and bound to the bundle, so the transfer file never holds one in clear. ``hhu-sync pack``
calls the two ``pack_*`` functions directly; the daemon goes through :class:`Packer`,
which finds a delivery's inputs in the store and keeps the sealed file with it.

A delivery for a named HHU is packed as soon as it is queued (by the outbox); one for a
crew is packed when the first HHU of that crew docks (the file is sealed with that HHU's
key). The sealed file is kept in the database with its delivery, committed together: no
spool file to lose, orphan or find half-written after a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from hhu_sync.errors import HhuSyncError, KeyStoreError
from hhu_sync.ids import check_name, new_bundle_id
from hhu_sync.keys import KeyStore
from hhu_sync.keys.store import KeySnapshot
from hhu_sync.model.meterlist import READ_PASSWORD_REF, SINCE_LAST, MeterList
from hhu_sync.model.scheme import Scheme
from hhu_sync.store.base import Delivery, Store
from hhu_sync.transfer import encode_transfer, encrypt_password


class PackError(HhuSyncError):
    """Valid inputs that cannot be packed for this HHU (not enrolled, secret missing,
    list for another HHU, scheme or list gone from the library)."""


@dataclass(frozen=True)
class Package:
    kind: str
    bundle_id: str
    target: str
    data: bytes


def _scheme_payload(scheme: Scheme, *, hhu_key: bytes, bundle_id: str, target: str,
                    secrets: KeyStore | KeySnapshot) -> dict[str, Any]:
    data = scheme.to_dict()
    data["passwords"] = [
        {"level": p.level, "secret": p.secret,
         "enc": encrypt_password(hhu_key, bundle_id=bundle_id, target=target, name=p.secret,
                                 password=secrets.secret(p.secret))}
        for p in scheme.passwords
    ]
    return data


def _list_payload(mlist: MeterList, *, hhu_key: bytes, bundle_id: str, target: str,
                  secrets: KeyStore | KeySnapshot) -> dict[str, Any]:
    """The list as the HHU gets it: each ``read_password_ref`` replaced by
    ``read_password`` = ``{"secret", "enc"}``, the secret sealed to the HHU as a scheme's
    passwords are (docs/transfer-format.md). A secret the key store lacks refuses the
    pack, naming the list, the entry and the field."""
    data = mlist.to_dict()
    sealed: dict[str, dict[str, Any]] = {}      # one record per secret: the same bytes
    for index, entry in enumerate(data["meters"]):
        ref = entry.pop(READ_PASSWORD_REF, None)
        if ref is None:
            continue
        if ref not in sealed:
            try:
                password = secrets.secret(ref)
            except KeyStoreError as exc:
                raise PackError(f"meter list {mlist.id!r}: meters[{index}] (meter "
                                f"{entry['serial']}).{READ_PASSWORD_REF}: {exc}") from None
            sealed[ref] = encrypt_password(hhu_key, bundle_id=bundle_id, target=target,
                                           name=ref, password=password)
        entry["read_password"] = {"secret": ref, "enc": sealed[ref]}
    return data


def pack_quick_send(scheme: Scheme, *, hhu: str, hhu_key: bytes, secrets: KeyStore | KeySnapshot,
                    source: str, created: datetime | None = None) -> Package:
    """One scheme to one named HHU, now."""
    check_name(hhu, "HHU id")
    bundle_id = new_bundle_id(created)
    payload = {"schemes": [_scheme_payload(scheme, hhu_key=hhu_key, bundle_id=bundle_id,
                                           target=hhu, secrets=secrets)]}
    data = encode_transfer("quick_send", payload, source=source, target=hhu, key=hhu_key,
                           bundle_id=bundle_id, created=created)
    return Package("quick_send", bundle_id, hhu, data)


def resolve_since_last(mlist: MeterList, last_ends: Mapping[str, int]) -> MeterList:
    """The list with every ``since = "last"`` replaced by the end of the last interval the
    depot holds for that meter (``last_ends``: UTC seconds by serial), or by None (read
    everything the meter holds) for a meter it holds none of. The HHU never sees "last":
    it cannot know what the depot holds."""
    if not any(m.since == SINCE_LAST for m in mlist.meters):
        return mlist
    meters = []
    for m in mlist.meters:
        if m.since == SINCE_LAST:
            end = last_ends.get(m.serial)
            since = (None if end is None else
                     datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            m = replace(m, since=since)
        meters.append(m)
    return replace(mlist, meters=tuple(meters))


def last_ends_held(store: Store, mlist: MeterList) -> dict[str, int]:
    """For each meter of ``mlist`` read ``since = "last"``, the end of the last interval
    the store holds on *every* channel it holds (the earliest channel's last end: a
    re-read overlap is only "already held", a gap would be lost)."""
    out = {}
    for m in mlist.meters:
        if m.since == SINCE_LAST:
            ends = store.last_interval_ends(m.serial)
            if ends:
                out[m.serial] = min(ends.values())
    return out


def pack_meter_list(mlist: MeterList, schemes: Mapping[str, Scheme], *, hhu: str,
                    hhu_key: bytes, secrets: KeyStore | KeySnapshot, source: str,
                    created: datetime | None = None) -> Package:
    """A meter list and every scheme it names, together, for one HHU."""
    check_name(hhu, "HHU id")
    if mlist.hhu and mlist.hhu != hhu:
        raise PackError(f"meter list {mlist.id!r} is for {mlist.hhu}, not {hhu}")
    missing = [s for s in mlist.scheme_ids if s not in schemes]
    if missing:
        raise PackError(f"meter list {mlist.id!r} names unknown scheme(s): "
                        + ", ".join(missing))
    if any(m.since == SINCE_LAST for m in mlist.meters):
        raise PackError(f"meter list {mlist.id!r}: since = \"last\" must be resolved "
                        "against the store before packing (resolve_since_last)")
    bundle_id = new_bundle_id(created)
    payload = {
        "meter_list": _list_payload(mlist, hhu_key=hhu_key, bundle_id=bundle_id, target=hhu,
                                    secrets=secrets),
        "schemes": [_scheme_payload(schemes[s], hhu_key=hhu_key, bundle_id=bundle_id,
                                    target=hhu, secrets=secrets) for s in mlist.scheme_ids],
    }
    data = encode_transfer("meter_list", payload, source=source, target=hhu, key=hhu_key,
                           bundle_id=bundle_id, created=created)
    return Package("meter_list", bundle_id, hhu, data)


class Packer:
    """Packs the daemon's deliveries: their inputs from the store, keys from the key store."""

    def __init__(self, store: Store, keystore: KeyStore, depot_id: str) -> None:
        self.store = store
        self.keystore = keystore
        self.depot_id = depot_id

    def ensure(self, delivery: Delivery, hhu_id: str) -> Package | None:
        """The delivery's transfer file for ``hhu_id``; None if another HHU took it."""
        if delivery.packed and delivery.target_hhu == hhu_id:
            data = self.store.bundle(delivery.delivery_id)
            if data is not None and delivery.bundle_id is not None:
                return Package(delivery.kind, delivery.bundle_id, hhu_id, data)
        package = self.build(delivery, hhu_id)
        if not self.store.bind_delivery(delivery.delivery_id, hhu_id, package.bundle_id,
                                        package.data):
            return None
        return package

    def build(self, delivery: Delivery, hhu_id: str) -> Package:
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
             keys: KeyStore | KeySnapshot | None = None) -> Package:
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
                return pack_quick_send(scheme, hhu=hhu_id, hhu_key=key,
                                       secrets=keys, source=self.depot_id)
            assert mlist is not None, "a meter list delivery is sealed with its list"
            mlist = resolve_since_last(mlist, last_ends_held(self.store, mlist))
            return pack_meter_list(mlist, self.store.library(), hhu=hhu_id, hhu_key=key,
                                   secrets=keys, source=self.depot_id)
        except PackError:
            raise
        except (HhuSyncError, ValueError) as exc:
            raise PackError(str(exc)) from None
