"""The ASGI app: routes, the login, and the checks every request passes.

Every page and API call needs a live session (``Sessions``) whose user is enabled and
whose role may do the route's :class:`Action`; a state change (any method but GET and
HEAD) also needs the session's CSRF token, in the form field ``csrf`` or the header
``X-CSRF-Token``. Only ``/login``, ``/healthz`` and ``/static`` are open. Pages are
Jinja2 templates with autoescape on; no inline script anywhere (the CSP forbids it).
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from hhu_sync.dock.events import Cradle
from hhu_sync.safetext import escape_controls
from hhu_sync.store.accounts import AccountStore, UserRecord
from hhu_sync.store.base import Store
from hhu_sync.store.pending import StoreState
from hhu_sync.web.accounts import Accounts
from hhu_sync.web.feed import DockFeed
from hhu_sync.web.params import MAX_BODY_BYTES, BadInput, Field, Params
from hhu_sync.web.roles import Action, may
from hhu_sync.web.sessions import LoginThrottle, Session, Sessions

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
COOKIE = "hhu_session"
MAX_FORM_BYTES = 64 * 1024
LOGIN_FAILED = "Wrong user name or password."
LOCKED_OUT = "Too many failed logins: try again in {minutes} minutes."

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


@dataclass(frozen=True)
class WebSettings:
    secure_cookies: bool = False          # served over TLS: the cookie says Secure
    idle_s: float = 1800.0
    absolute_s: float = 12 * 3600.0


class SecurityHeaders:
    """Adds the CSP and its companions to every response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      *[h for h in SECURITY_HEADERS if h[0] not in names]]
            await send(message)

        await self.app(scope, receive, with_headers)


@dataclass
class Context:
    """What every handler reaches: the store, the rules, the clock."""

    store: AccountStore
    accounts: Accounts
    sessions: Sessions
    throttle: LoginThrottle
    settings: WebSettings
    templates: Jinja2Templates
    extra: dict[str, Any]
    closing: threading.Event = field(default_factory=threading.Event)   # server stopping


Handler = Callable[[Request, Session, UserRecord], Awaitable[Response]]


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _refuse(request: Request, status: int, message: str) -> Response:
    if _is_api(request):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    if status == 401:
        return RedirectResponse("/login", status_code=303)
    ctx: Context = request.app.state.ctx
    session = getattr(request.state, "session", None)     # known: the page has its menu
    return ctx.templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message,
                                "user": getattr(request.state, "user", None),
                                "csrf": session.csrf if session else ""},
        status_code=status)


async def _csrf_token(request: Request, max_files: int = 0) -> str | None:
    header = request.headers.get("x-csrf-token")
    if header is not None:
        return header
    if request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form(max_files=max_files, max_fields=100)
        value = form.get("csrf")
        return value if isinstance(value, str) else None
    return None


#: the action each guarded endpoint performs (the OpenAPI document says who may)
ACTIONS: dict[Callable[..., Any], Action] = {}
#: what each endpoint takes, declared (checked before the handler; in the OpenAPI document)
QUERIES: dict[Callable[..., Any], Params] = {}
BODIES: dict[Callable[..., Any], Params] = {}
#: the answers an endpoint gives beyond every route's (status code: what it means): its
#: success when not 200, and its own refusals (the OpenAPI document lists them)
RESPONSES: dict[Callable[..., Any], dict[str, str]] = {}


async def _gone(request: Request, exc: Exception) -> Response:
    """The client hung up while its request was read (any handler, any body): nobody
    is left to answer; one quiet line, not a traceback."""
    log.info("web: %s %s: the client hung up before its request was read",
             request.method, request.url.path)
    return Response(status_code=400)


async def _bounded(request: Request, limit: int) -> Request | None:
    """The request with its body read, at most ``limit`` bytes (None: larger, or a
    Content-Length that says so: refused unread), to be read again by the handler."""
    try:
        if int(request.headers.get("content-length") or 0) > limit:
            return None
    except ValueError:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    body, sent = b"".join(chunks), False

    async def receive() -> MutableMapping[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await request.receive()      # the client's disconnect, when it comes

    bounded = Request(request.scope, receive)
    await bounded.body()        # cached: the CSRF check's form, a declared body, the handler
    return bounded


def guarded(action: Action, *, query: Params | None = None, body: Params | None = None,
            max_body: int | None = None, max_files: int = 0,
            responses: Mapping[int, str] | None = None,
            ) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A route that needs a live session, an enabled user whose role may ``action``,
    and, for a state change, the session's CSRF token. ``query`` and ``body`` declare
    its parameters: checked here (400 naming the field), the values handed over in
    ``request.state.query`` and ``request.state.body`` (an API call's JSON object, a
    page's form fields but its CSRF token). ``max_body``: a change whose body is larger
    is refused (413) unread (a declared body: at most MAX_BODY_BYTES); ``max_files``:
    files its form may carry; ``responses``: the handler's own answers (status: what it
    means), for the OpenAPI document."""
    if max_body is None:           # every change is bounded: a declared body or not
        max_body = MAX_BODY_BYTES

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            ctx: Context = request.app.state.ctx
            session = await run_in_threadpool(ctx.sessions.find, request.cookies.get(COOKIE))
            user = await run_in_threadpool(ctx.store.user, session.user) if session else None
            if session is None or user is None or user.disabled:
                return _refuse(request, 401, "log in first")
            request.state.session, request.state.user = session, user
            if not may(user.role, action):       # before any body is read
                return _refuse(request, 403, f"role {user.role} may not {action}")
            if request.method not in ("GET", "HEAD"):
                bounded = await _bounded(request, max_body)
                if bounded is None:
                    return _refuse(request, 413, f"larger than {max_body} bytes")
                request = bounded
                token = await _csrf_token(request, max_files)
                if token is None or not hmac.compare_digest(
                        token.encode("utf-8", "replace"), session.csrf.encode()):
                    return _refuse(request, 403, "missing or wrong CSRF token")
            try:
                if query is not None:
                    request.state.query = query.parse_query(
                        request.query_params, request.query_params.getlist)
                if body is not None:
                    request.state.body = await _body(request, body)
            except BadInput as exc:
                return _refuse(request, 400, str(exc))
            except _TooLarge as exc:
                return _refuse(request, 413, str(exc))
            request.state.session, request.state.user = session, user
            return await handler(request, session, user)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        ACTIONS[endpoint] = action
        if query is not None:
            QUERIES[endpoint] = query
        if body is not None:
            BODIES[endpoint] = body
        if responses:
            RESPONSES[endpoint] = {str(code): text for code, text in responses.items()}
        return endpoint

    return wrap


class _TooLarge(Exception):
    pass


async def _body(request: Request, spec: Params) -> dict[str, Any]:
    """The declared body: an API call's JSON object (read at most MAX_BODY_BYTES), a
    page's form (already read, bounded, by the CSRF check) without its token."""
    if not _is_api(request):
        form = await request.form(max_files=0, max_fields=100)
        texts = [(k, v) for k, v in form.multi_items() if k != "csrf" and isinstance(v, str)]
        return spec.parse_query(dict(texts), lambda name: [v for k, v in texts if k == name])
    data = await request.body()             # read and bounded by guarded already
    if len(data) > MAX_BODY_BYTES:
        raise _TooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
    return spec.parse_body(data)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def page(request: Request, name: str, **values: Any) -> Response:
    ctx: Context = request.app.state.ctx
    session = getattr(request.state, "session", None)
    user = getattr(request.state, "user", None)
    return ctx.templates.TemplateResponse(
        request, name, {"user": user, "csrf": session.csrf if session else "", **values})


# -- open routes ------------------------------------------------------------------------

async def healthz(request: Request) -> Response:
    """``{"ok": true}``; while the daemon's store is unavailable (not open yet, or
    failing: a database server down), 503 with the store's health (state, since,
    attempts, the latest fault), so that a monitor sees the depot cannot commit."""
    ctx: Context = request.app.state.ctx
    health = getattr(ctx.store, "health", None)     # the daemon's store says; web alone not
    if health is None:
        return JSONResponse({"ok": True})
    state = health().as_dict()
    if state["state"] == StoreState.OPEN:
        return JSONResponse({"ok": True})
    return JSONResponse({"ok": False, "store": state}, status_code=503)


async def login_form(request: Request) -> Response:
    return page(request, "login.html", error=None)


async def login(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    bounded = await _bounded(request, MAX_FORM_BYTES)   # counted as it arrives
    if bounded is None:
        response = page(request, "login.html", error=LOGIN_FAILED)
        response.status_code = 413               # refused unread: a login form is small
        return response
    form = await bounded.form(max_files=0, max_fields=10)
    name, password = form.get("username"), form.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        name, password = "", ""
    keys = (f"user:{name[:256]}", f"addr:{_client(request)}")
    if ctx.throttle.locked(*keys):
        log.warning("web login refused (locked out): user %r from %s",
                    escape_controls(name[:64]), _client(request))
        response = page(request, "login.html", error=LOCKED_OUT.format(
            minutes=max(1, round(ctx.throttle.lockout_s / 60))))
        response.status_code = 429
        return response
    user = await run_in_threadpool(ctx.accounts.authenticate, name, password)
    if user is None:
        ctx.throttle.failed(*keys)
        log.info("web login failed: user %r from %s", escape_controls(name[:64]),
                 _client(request))
        response = page(request, "login.html", error=LOGIN_FAILED)
        response.status_code = 401
        return response
    ctx.throttle.succeeded(*keys)
    session = await run_in_threadpool(ctx.sessions.start, user.name)
    log.info("web login: %s from %s", user.name, _client(request))
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, session.token, httponly=True, samesite="strict",
                        secure=ctx.settings.secure_cookies, path="/",
                        max_age=int(ctx.settings.absolute_s))
    return response


# -- pages and their API ----------------------------------------------------------------

@guarded(Action.VIEW)
async def logout(request: Request, session: Session, user: UserRecord) -> Response:
    ctx: Context = request.app.state.ctx
    await run_in_threadpool(ctx.sessions.end, session.token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=ctx.settings.secure_cookies)
    return response


@guarded(Action.VIEW)
async def home(request: Request, session: Session, user: UserRecord) -> Response:
    return RedirectResponse("/docks", status_code=303)


@guarded(Action.VIEW)
async def openapi(request: Request, session: Session, user: UserRecord) -> Response:
    """This API described (OpenAPI 3.1): every /api route, who may call it, its errors."""
    from hhu_sync.web.openapi import document

    return JSONResponse(document(request.app.routes, ACTIONS, QUERIES, BODIES, RESPONSES))


@guarded(Action.VIEW)
async def me(request: Request, session: Session, user: UserRecord) -> Response:
    """The logged-in user, their role and what it may do."""
    return JSONResponse({"user": user.name, "role": user.role,
                         "may": [a.value for a in Action if may(user.role, a)],
                         "csrf": session.csrf})


def byte_size(n: float) -> str:
    """A byte count as the docks page's script writes it (``static/docks.js``): the
    first page and every live redraw read alike."""
    if n >= 1048576:
        return f"{n / 1048576:.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{int(n)} B"


def _cradles(ctx: Context) -> list[dict[str, Any]]:
    hub = ctx.extra.get("events")
    if hub is not None:
        return hub.board.snapshot()
    return [Cradle(d.name).as_dict() for d in ctx.extra.get("docks", ())]


#: a depot id, as the configuration's ``[depot] id`` takes it (hhu_sync.model.fields):
#: the ``?depot=`` of the views that show several depots' records (hhu_sync.web.depots)
DEPOT_FIELD = Field("depot", max_length=64, pattern=r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}",
                    description="one depot's only (its [depot] id); absent: every depot's")
DOCKS_QUERY = Params((DEPOT_FIELD,))


def _other_depot(request: Request) -> str | None:
    """The ``?depot=`` asked for when it is not this server's own depot."""
    ctx: Context = request.app.state.ctx
    asked = request.state.query["depot"]
    return asked if asked is not None and asked != ctx.extra.get("depot") else None


@guarded(Action.VIEW, query=DOCKS_QUERY)
async def docks_page(request: Request, session: Session, user: UserRecord) -> Response:
    from hhu_sync.web.depots import depot_choices, recorded_docks
    ctx: Context = request.app.state.ctx
    own = ctx.extra.get("depot")
    other = _other_depot(request)
    store = cast(Store, ctx.store)          # the daemon's whole store, not accounts alone
    choices = await run_in_threadpool(depot_choices, store, other or own)
    if other is not None:
        recorded = await run_in_threadpool(recorded_docks, store, other)
        return page(request, "docks.html", cradles=[], recorded=recorded, live=False,
                    own=own, **choices)
    return page(request, "docks.html", cradles=_cradles(ctx), recorded=None,
                live=ctx.extra.get("events") is not None, own=own, **choices)


@guarded(Action.VIEW, query=DOCKS_QUERY)
async def docks_api(request: Request, session: Session, user: UserRecord) -> Response:
    """Every cradle of this server's depot (``depot``: its id): its HHU, phase,
    transfers (bytes, rate, time left), safe to remove. ``?depot=`` another depot:
    its docks as its HHUs recorded them (``recorded``; its cradles are not live here)."""
    from hhu_sync.web.depots import recorded_docks
    ctx: Context = request.app.state.ctx
    other = _other_depot(request)
    if other is not None:
        recorded = await run_in_threadpool(recorded_docks, cast(Store, ctx.store), other)
        return JSONResponse({"live": False, "depot": other, "cradles": [],
                             "recorded": recorded})
    return JSONResponse({"live": ctx.extra.get("events") is not None,
                         "depot": ctx.extra.get("depot"), "cradles": _cradles(ctx)})


@guarded(Action.VIEW)
async def docks_events(request: Request, session: Session, user: UserRecord) -> Response:
    """Server-sent events: ``snapshot`` (every cradle) first, then ``cradle`` (one
    cradle's new state) whenever a docking moves on, at most every SSE_COALESCE_S per
    cradle; a comment every SSE_KEEPALIVE_S keeps proxies from closing the stream
    (:mod:`hhu_sync.web.feed`: one feed for every browser)."""
    ctx: Context = request.app.state.ctx
    hub = ctx.extra.get("events")
    if hub is None:
        return JSONResponse({"error": "this server has no cradles (hhu-sync web alone)",
                             "status": 404}, status_code=404)
    feed = ctx.extra.get("feed")
    if feed is None:
        feed = ctx.extra["feed"] = DockFeed(hub, ctx.closing)
    return StreamingResponse(feed.stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


@guarded(Action.VIEW)
async def audit_page(request: Request, session: Session, user: UserRecord) -> Response:
    ctx: Context = request.app.state.ctx
    entries = await run_in_threadpool(ctx.store.audit_log, 200)
    return page(request, "audit.html", entries=entries)


AUDIT_QUERY = Params((
    Field("limit", int, minimum=1, maximum=1000, default=200),
    Field("before", int, minimum=0, maximum=2**63 - 1, description="an audit id"),
))


@guarded(Action.VIEW, query=AUDIT_QUERY)
async def audit_api(request: Request, session: Session, user: UserRecord) -> Response:
    """Who did what and when, newest first (``?limit=``, ``?before=`` an audit id)."""
    ctx: Context = request.app.state.ctx
    query = request.state.query
    entries = await run_in_threadpool(ctx.store.audit_log, query["limit"], query["before"])
    return JSONResponse([e.__dict__ for e in entries])


def create_app(store: AccountStore, *, settings: WebSettings | None = None,
               clock: Callable[[], float] = time.time,
               extra: dict[str, Any] | None = None) -> Starlette:
    """The app over ``store``; ``clock`` (seconds) drives session expiry and throttling."""
    from hhu_sync.web import (  # they use this module's guarded and page
        depots,
        exceptions,
        handhelds,
        lists,
        profile_page,
        readings,
        remote,
        schemes,
    )
    from hhu_sync.web.admin import ROUTES as ADMIN_ROUTES
    from hhu_sync.web.outbox import ROUTES as OUTBOX_ROUTES

    settings = settings or WebSettings()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=True)
    env.filters["bytes"] = byte_size
    templates = Jinja2Templates(env=env)
    routes = [
        Route("/healthz", healthz),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", home),
        Route("/docks", docks_page),
        Route("/api/docks", docks_api),
        Route("/api/docks/events", docks_events),
        Route("/audit", audit_page),
        Route("/api/me", me),
        Route("/api/openapi.json", openapi),
        Route("/api/audit", audit_api),
        *handhelds.ROUTES,
        *depots.ROUTES,
        *lists.ROUTES,
        *exceptions.ROUTES,
        *profile_page.ROUTES,
        *readings.ROUTES,
        *remote.ROUTES,
        *schemes.ROUTES,
        *OUTBOX_ROUTES,
        *ADMIN_ROUTES,
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={ClientDisconnect: _gone})
    app.state.ctx = Context(store=store, accounts=Accounts(store),
                            sessions=Sessions(store, clock, idle_s=settings.idle_s,
                                              absolute_s=settings.absolute_s),
                            throttle=LoginThrottle(clock), settings=settings,
                            templates=templates, extra=extra or {})
    app.add_middleware(SecurityHeaders)
    return app
