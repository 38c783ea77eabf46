"""Requeue and cancel a meter list: the one set of rules ``hhu-sync requeue``/``cancel``
and the web app both apply, so a list the CLI may change the browser may too, and the
other way round. The store decides what a change is; this says which list and what
state it went from and to."""

from __future__ import annotations

from dataclasses import dataclass

from hhu_sync.store.accounts import Change
from hhu_sync.store.base import Store, StoreError

ACTIONS = ("requeue", "cancel")


class UnknownList(StoreError):
    """The store holds no meter list of that id (callers say which store they asked)."""

    def __init__(self, list_id: str) -> None:
        super().__init__(f"no meter list {list_id!r}")
        self.list_id = list_id


@dataclass(frozen=True)
class ListChange:
    list_id: str
    action: str
    before: str
    after: str


def change_list(store: Store, list_id: str, action: str, now: str, *,
                user: str | None = None) -> ListChange:
    """``requeue`` or ``cancel`` the list ``list_id``; with ``user`` the audit log records
    who, in the change's own transaction (action ``list.requeue``/``list.cancel``, its
    state before and after). Raises :class:`UnknownList`, or the store's refusal
    (:class:`StoreError`; :class:`~hhu_sync.store.base.StorageUnavailable` for a fault)."""
    if action not in ACTIONS:
        raise ValueError(f"no list action {action!r} (one of {', '.join(ACTIONS)})")
    if store.list_state(list_id) is None:
        raise UnknownList(list_id)
    change = Change(user, f"list.{action}", list_id) if user is not None else None
    method = store.requeue_list if action == "requeue" else store.cancel_list
    before = method(list_id, now, change=change)
    return ListChange(list_id, action, before, store.list_state(list_id) or "")
