"""Who may do what: roles and actions as enums, and one table between them.

Every route names the action it performs; the table, not the route, says which roles
may. Depot staff see and requeue; office staff also resolve, cancel and upload; admins
also manage accounts and revoke handhelds.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    DEPOT = "depot"
    OFFICE = "office"
    ADMIN = "admin"


class Action(enum.StrEnum):
    VIEW = "view"                    # every page and read-only API call
    REQUEUE = "requeue"              # a meter list back on the queue
    CANCEL = "cancel"                # a meter list withdrawn
    RESOLVE = "resolve"              # an exception accepted or dismissed
    UPLOAD = "upload"                # a scheme or list into the outbox
    MANAGE_USERS = "manage_users"
    REVOKE_HHU = "revoke_hhu"


_DEPOT = frozenset({Role.DEPOT, Role.OFFICE, Role.ADMIN})
_OFFICE = frozenset({Role.OFFICE, Role.ADMIN})
_ADMIN = frozenset({Role.ADMIN})

ALLOWED: dict[Action, frozenset[Role]] = {
    Action.VIEW: _DEPOT,
    Action.REQUEUE: _DEPOT,
    Action.CANCEL: _OFFICE,
    Action.RESOLVE: _OFFICE,
    Action.UPLOAD: _OFFICE,
    Action.MANAGE_USERS: _ADMIN,
    Action.REVOKE_HHU: _ADMIN,
}


def may(role: Role | str, action: Action) -> bool:
    """True if ``role`` may perform ``action`` (an unknown role may do nothing)."""
    try:
        return Role(role) in ALLOWED[action]
    except ValueError:
        return False
