"""The admin pages (admins only): accounts at ``/admin/users`` and ``/api/users``, and
revoking a handheld at ``/handhelds/ID/revoke`` and ``/api/handhelds/ID/revoke``.

Accounts go through :class:`~hhu_sync.web.accounts.Accounts`, the rules ``hhu-sync user``
applies (name, role, password rule, argon2, audit in the change's transaction; a new
password or a disabled account ends that user's sessions). A form posts ``password``
and ``password2``, which must agree; the API posts JSON (``name``, ``role``,
``password``). No answer carries a password hash. Revoking goes through
:func:`~hhu_sync.keys.revoke.revoke_handheld`, as ``hhu-sync revoke`` does. A form's POST
is answered 303 back to its page, an API POST with JSON; a refusal 400 (the message names
the field), an unknown user or HHU 404, a conflict 409.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from hhu_sync.config import Config
from hhu_sync.errors import KeyStoreError
from hhu_sync.ids import RULE, is_safe_name
from hhu_sync.store.accounts import UserRecord
from hhu_sync.store.base import StorageUnavailable, Store, StoreError
from hhu_sync.web.accounts import AccountError
from hhu_sync.web.app import Context, guarded, page
from hhu_sync.web.lists import _problem
from hhu_sync.web.params import Field, Params
from hhu_sync.web.passwords import PasswordRefused
from hhu_sync.web.roles import Action, Role
from hhu_sync.web.sessions import Session

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024      # a form or JSON body of these pages: refused unread above
MAX_USERS_SHOWN = 1000


class Refused(Exception):
    """A request refused with ``status`` and a message naming the field."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _ctx(request: Request) -> Context:
    return cast(Context, request.app.state.ctx)


def _api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def shown_user(user: UserRecord) -> dict[str, Any]:
    """A user as a page or the API shows one: never the hash."""
    return {"name": user.name, "role": user.role, "disabled": user.disabled,
            "created_at": user.created_at, "updated_at": user.updated_at}


_PASSWORD = Field("password", required=True, max_length=1024,
                  description="at least 10 characters, at most 1,024 bytes")
_PASSWORD2 = Field("password2", max_length=1024, description="a form's second entry")
NEW_USER = Params((
    Field("name", required=True, max_length=64, description="the user name"),
    Field("role", required=True, choices=tuple(r.value for r in Role)),
    _PASSWORD, _PASSWORD2,
))
NEW_PASSWORD = Params((_PASSWORD, _PASSWORD2))


def _fields(request: Request) -> dict[str, str]:
    """The declared body's fields that were given (a form's or the JSON object's)."""
    return {k: v for k, v in request.state.body.items() if v is not None}


def _password(fields: dict[str, str], api: bool) -> str:
    password = fields.get("password", "")
    if not password:
        raise Refused(400, "password: missing")
    if not api and fields.get("password2") != password:
        raise Refused(400, "password2: the two passwords differ")
    return password


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


async def _run(request: Request, user: UserRecord, what: str, fn: Any, *args: Any,
               **kwargs: Any) -> Any:
    """``fn`` on a worker thread, its refusals as :class:`Refused`."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except (AccountError, PasswordRefused) as exc:
        status = 404 if str(exc).startswith("no user") else 400
        raise Refused(status, str(exc)) from None
    except StorageUnavailable as exc:
        log.warning("web %s by %s: %s", what, user.name, exc)
        raise Refused(503, "the database is unavailable: nothing changed, try again "
                           "later") from None
    except StoreError as exc:
        raise Refused(409, str(exc)) from None


def _done(request: Request, location: str, body: dict[str, Any], status: int = 200
          ) -> Response:
    if _api(request):
        return JSONResponse(body, status_code=status)
    return RedirectResponse(location, status_code=303)


async def _refused(request: Request, exc: Refused) -> Response:
    if _api(request) or not request.url.path.startswith("/admin/users"):
        return _problem(request, exc.status, str(exc))
    response = await _users_page(request, error=str(exc))
    response.status_code = exc.status
    return response


# -- users ------------------------------------------------------------------------------

async def _users_page(request: Request, error: str | None = None) -> Response:
    users = await run_in_threadpool(_ctx(request).store.users)
    return page(request, "users.html", users=[shown_user(u) for u in users[:MAX_USERS_SHOWN]],
                roles=[r.value for r in Role], error=error)


@guarded(Action.MANAGE_USERS)
async def users_page(request: Request, session: Session, user: UserRecord) -> Response:
    return await _users_page(request)


@guarded(Action.MANAGE_USERS)
async def users_api(request: Request, session: Session, user: UserRecord) -> Response:
    """Every user: name, role, disabled, when made and changed (never a password hash)."""
    users = await run_in_threadpool(_ctx(request).store.users)
    return JSONResponse({"users": [shown_user(u) for u in users[:MAX_USERS_SHOWN]]})


@guarded(Action.MANAGE_USERS, body=NEW_USER, max_body=MAX_BODY_BYTES,
         responses={201: "added: the user (never a password or its hash)"})
async def add_user(request: Request, session: Session, user: UserRecord) -> Response:
    """Add a user (``name``, ``role``: depot, office or admin, ``password``; a form
    also ``password2``), as ``hhu-sync user add`` does; 409 if the name is taken."""
    try:
        fields = _fields(request)
        name, role = fields.get("name", "").strip(), fields.get("role", "")
        if not name:
            raise Refused(400, "name: missing")
        if role not in {r.value for r in Role}:
            raise Refused(400, f"role: one of {', '.join(r.value for r in Role)}")
        password = _password(fields, _api(request))
        added = await _run(request, user, "user add", _ctx(request).accounts.add, name, role,
                           password, actor=user.name)
    except Refused as exc:
        return await _refused(request, exc)
    log.info("web: %s added user %s (%s)", user.name, added.name, added.role)
    return _done(request, "/admin/users", shown_user(added), 201)


def _target(request: Request) -> str:
    return cast(str, request.path_params["name"])


@guarded(Action.MANAGE_USERS, body=NEW_PASSWORD, max_body=MAX_BODY_BYTES)
async def set_password(request: Request, session: Session, user: UserRecord) -> Response:
    """Set a user's password (``password``; a form also ``password2``): logs them out
    everywhere (``hhu-sync user passwd``)."""
    name = _target(request)
    try:
        fields = _fields(request)
        password = _password(fields, _api(request))
        await _run(request, user, "user passwd", _ctx(request).accounts.set_password, name,
                   password, actor=user.name)
    except Refused as exc:
        return await _refused(request, exc)
    log.info("web: %s set the password of %s", user.name, name)
    return _done(request, "/admin/users", {"name": name, "password": "changed",
                                           "sessions": "ended"})


async def _set_disabled(request: Request, user: UserRecord, disabled: bool) -> Response:
    name = _target(request)
    try:
        if disabled and name == user.name:
            raise Refused(409, "name: you cannot disable your own account")
        await _run(request, user, "user disable", _ctx(request).accounts.set_disabled, name,
                   disabled, actor=user.name)
    except Refused as exc:
        return await _refused(request, exc)
    log.info("web: %s %s user %s", user.name, "disabled" if disabled else "enabled", name)
    return _done(request, "/admin/users", {"name": name, "disabled": disabled})


@guarded(Action.MANAGE_USERS, max_body=MAX_BODY_BYTES)
async def disable_user(request: Request, session: Session, user: UserRecord) -> Response:
    """Disable a user: they are logged out at once (``hhu-sync user disable``)."""
    return await _set_disabled(request, user, True)


@guarded(Action.MANAGE_USERS, max_body=MAX_BODY_BYTES)
async def enable_user(request: Request, session: Session, user: UserRecord) -> Response:
    """Enable a disabled user again (``hhu-sync user enable``)."""
    return await _set_disabled(request, user, False)


# -- revoking a handheld ----------------------------------------------------------------

def _config(request: Request) -> Config | None:
    return _ctx(request).extra.get("config")


@guarded(Action.REVOKE_HHU)
async def revoke_form(request: Request, session: Session, user: UserRecord) -> Response:
    hhu_id = request.path_params["hhu_id"]
    if not is_safe_name(hhu_id):
        return _problem(request, 400, f"hhu_id: {hhu_id!r} is not an HHU id ({RULE})")
    return page(request, "revoke.html", hhu_id=hhu_id)


def _revoke(config: Config, store: Store, hhu_id: str, user: str) -> dict[str, Any]:
    from hhu_sync.keys import KeyStore
    from hhu_sync.keys.revoke import revoke_handheld

    try:
        done = revoke_handheld(KeyStore(config.paths.keystore), store, hhu_id, _now(),
                               user=user)
    except ValueError as exc:
        raise Refused(400, f"hhu_id: {exc}") from None
    except KeyStoreError:
        # not enrolled (or the key store unreadable): its path stays in the log
        raise Refused(404, f"{hhu_id} is not enrolled: no key of it in the key store") \
            from None
    return {"hhu_id": hhu_id, "revoked": True, **(done.counts or {})}


@guarded(Action.REVOKE_HHU, max_body=MAX_BODY_BYTES)
async def revoke(request: Request, session: Session, user: UserRecord) -> Response:
    """Revoke a lost or stolen HHU (``hhu-sync revoke``): its key leaves the key store,
    what is queued for it is cancelled, its crew's deliveries go back to the crew."""
    hhu_id = request.path_params["hhu_id"]
    config = _config(request)
    if config is None:
        return _problem(request, 503, "this server has no key store configured")
    try:
        body = await _run(request, user, "revoke", _revoke, config,
                          cast(Store, _ctx(request).store), hhu_id, user.name)
    except Refused as exc:
        return _problem(request, exc.status, str(exc))
    log.warning("web: %s revoked %s", user.name, hhu_id)
    return _done(request, "/handhelds", body)


ROUTES = [
    Route("/admin/users", users_page, methods=["GET"]),
    Route("/admin/users", add_user, methods=["POST"]),
    Route("/api/users", users_api, methods=["GET"]),
    Route("/api/users", add_user, methods=["POST"]),
    *[Route(f"{base}/users/{{name}}/{verb}", fn, methods=["POST"])
      for base in ("/admin", "/api")
      for verb, fn in (("password", set_password), ("disable", disable_user),
                       ("enable", enable_user))],
    Route("/handhelds/{hhu_id}/revoke", revoke_form, methods=["GET"]),
    Route("/handhelds/{hhu_id}/revoke", revoke, methods=["POST"]),
    Route("/api/handhelds/{hhu_id}/revoke", revoke, methods=["POST"]),
]


