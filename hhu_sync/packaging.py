"""Package schemes and meter lists into sealed transfer files for one HHU.

This is where meter passwords leave the key store: each is encrypted to the target HHU
and bound to the bundle, so the transfer file never holds one in clear.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hhu_sync.errors import HhuSyncError
from hhu_sync.ids import check_name, new_bundle_id
from hhu_sync.keys import KeyStore
from hhu_sync.keys.store import KeySnapshot
from hhu_sync.model.meterlist import MeterList
from hhu_sync.model.scheme import Scheme
from hhu_sync.transfer import encode_transfer, encrypt_password


class PackagingError(HhuSyncError):
    """The inputs are valid but cannot be packaged for this HHU (target, secret, ...)."""


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


def pack_meter_list(mlist: MeterList, schemes: Mapping[str, Scheme], *, hhu: str,
                    hhu_key: bytes, secrets: KeyStore | KeySnapshot, source: str,
                    created: datetime | None = None) -> Package:
    """A meter list and every scheme it names, together, for one HHU."""
    check_name(hhu, "HHU id")
    if mlist.hhu and mlist.hhu != hhu:
        raise PackagingError(f"meter list {mlist.id!r} is for {mlist.hhu}, not {hhu}")
    missing = [s for s in mlist.scheme_ids if s not in schemes]
    if missing:
        raise PackagingError(f"meter list {mlist.id!r} names unknown scheme(s): "
                             + ", ".join(missing))
    bundle_id = new_bundle_id(created)
    payload = {
        "meter_list": mlist.to_dict(),
        "schemes": [_scheme_payload(schemes[s], hhu_key=hhu_key, bundle_id=bundle_id,
                                    target=hhu, secrets=secrets) for s in mlist.scheme_ids],
    }
    data = encode_transfer("meter_list", payload, source=source, target=hhu, key=hhu_key,
                           bundle_id=bundle_id, created=created)
    return Package("meter_list", bundle_id, hhu, data)
