"""The dock side of one docking: authenticate, push bundles, pull and clear uploads.

A thin layer over :class:`LinkPump` that turns link events into return values and typed
errors, so the daemon's session reads like the procedure it is. Every step is a
coroutine on the caller's event loop (the daemon runs every cradle on one); the CLI uses
:class:`hhu_sync.io.driver.BlockingDockSession`, the same session behind a private loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import serial

from hhu_sync.errors import HhuSyncError, KeyStoreError
from hhu_sync.io.errors import LinkAborted, link_error, link_fatal
from hhu_sync.io.pump import LinkPump, PumpError
from hhu_sync.keys.names import hhu_id_of_key_file
from hhu_sync.link import (
    Abort,
    AckUpload,
    Authenticated,
    BundleRefused,
    BundleStored,
    Close,
    ConnectionClosed,
    DockConnection,
    GetUpload,
    HelloInfo,
    LinkError,
    LinkSettings,
    PutBundle,
    ReasonCode,
    Role,
    StartHandshake,
    State,
    UploadCleared,
    UploadReceived,
    UploadRefused,
)
from hhu_sync.link.reasons import AUTHENTICATION

CLOSE_DEADLINE_S = 5.0
#: handshake aborts that are an authentication failure: a wrong proof, an HHU not enrolled,
#: or no code at all (a version-1 HHU, which aborts a handshake only for those)
AUTHENTICATION_OR_UNKNOWN = AUTHENTICATION | {ReasonCode.UNSPECIFIED}


class AuthFailed(HhuSyncError):
    """The HHU is not the one the key belongs to, or one side's proof was wrong."""

    def __init__(self, message: str, code: ReasonCode = ReasonCode.UNSPECIFIED) -> None:
        super().__init__(message)
        self.code = code


class Refused(HhuSyncError):
    """The HHU refused a bundle or an upload request: ``code`` says why (decide by it),
    ``reason`` is the HHU's text for people."""

    def __init__(self, object_id: str, reason: str,
                 code: ReasonCode = ReasonCode.UNSPECIFIED) -> None:
        super().__init__(f"{object_id} refused: {reason or code.name}")
        self.object_id = object_id
        self.reason = reason
        self.code = code


class VersionRejected(LinkAborted):
    """No protocol version both sides accept. ``by_peer``: the HHU aborted our HELLO before
    any CHALLENGE (code-less, the version-1 layout, or VERSION_UNSUPPORTED), so it may
    take only an older HELLO (``offered`` was refused); else the HHU answered a version
    below our ``min_version``. Decided by codes and the phase, never by the text."""

    def __init__(self, message: str, *, offered: int, by_peer: bool) -> None:
        super().__init__(message, by_peer, ReasonCode.VERSION_UNSUPPORTED)
        self.args = (message,)
        self.offered = offered

    def __str__(self) -> str:
        return str(self.args[0])


def key_lookup_for(key_file: str | Path, key: bytes) -> Callable[[str], bytes | None]:
    """A dock key lookup knowing one HHU: the one the key file's name says
    (``ID.key``, or ``ID.key.TIME`` as the key store names a revoked key)."""
    hhu_id = hhu_id_of_key_file(key_file)
    if not hhu_id:
        raise KeyStoreError(f"{key_file}: cannot tell the HHU id from the file name")
    return lambda asked: key if asked == hhu_id else None


class DockSession:
    """One docked HHU on an open port. Use ``handshake()`` first, ``close()`` last, then
    ``release()`` before the port is closed (the loop stops watching its descriptor).
    Create and use it on the loop's thread."""

    def __init__(self, port: serial.SerialBase, keys: Callable[[str], bytes | None], *,
                 settings: LinkSettings | None = None,
                 on_event: Callable[[Any], None] | None = None,
                 loop: asyncio.AbstractEventLoop | None = None,
                 gather_s: float = 0.0, gather_max_s: float | None = None,
                 on_answer: Callable[[], None] | None = None) -> None:
        """``on_answer``: called once, when the first bytes come from the cradle (an HHU
        is there: the handshake is under way). ``gather_s``, ``gather_max_s``: the
        pump's read gathering (LinkPump)."""
        self.conn = DockConnection(Role.DOCK, settings=settings or LinkSettings(), keys=keys)
        self.pump = LinkPump(port, self.conn, loop=loop, fatal=link_fatal, on_event=on_event,
                             gather_s=gather_s, gather_max_s=gather_max_s)
        self.pump.on_first_data = on_answer
        self.hello: HelloInfo | None = None
        self.hhu_id: str | None = None

    def _send(self, command: Any) -> None:
        try:
            self.pump.send(command)
        except PumpError as exc:
            raise link_error(exc) from exc

    async def _until(self, predicate: Callable[[Any], bool], deadline_s: float) -> Any:
        """Send nothing, wait for an event; the pump's own stops as link errors."""
        try:
            return await self.pump.run_until(predicate, deadline_s)
        except PumpError as exc:
            raise link_error(exc) from exc

    async def handshake(self, deadline_s: float) -> HelloInfo:
        """Authenticate the docked HHU; raises AuthFailed when either proof fails."""
        self._send(StartHandshake())
        try:
            ev = await self._until(lambda e: isinstance(e, Authenticated), deadline_s)
        except LinkAborted as exc:
            offered = self.conn.settings.max_version
            if self.conn.hello_rejected:
                raise VersionRejected(
                    f"the HHU refused link protocol version {offered} in HELLO "
                    f"({exc.reason or exc.code.name}): its firmware may take only an "
                    "older one", offered=offered, by_peer=True) from exc
            if exc.code is ReasonCode.VERSION_UNSUPPORTED and not exc.by_peer:
                s = self.conn.settings
                raise VersionRejected(
                    f"the HHU answered in CHALLENGE with a link protocol version this dock "
                    f"does not accept ({exc.reason}; it accepts {s.min_version}.."
                    f"{s.max_version})", offered=offered, by_peer=False) from exc
            if exc.code not in AUTHENTICATION_OR_UNKNOWN:   # silence, a protocol error...
                raise
            raise AuthFailed(f"authentication failed: {exc.reason}", exc.code) from exc
        self.hhu_id, self.hello = ev.hhu_id, ev.hello
        return ev.hello

    async def put(self, bundle_id: str, data: bytes, deadline_s: float) -> bool:
        """Send a bundle until the HHU confirms its commit; True if it already held it."""
        self._send(PutBundle(bundle_id, data))
        ev = await self._until(
            lambda e: isinstance(e, BundleStored | BundleRefused) and e.bundle_id == bundle_id,
            deadline_s)
        if isinstance(ev, BundleRefused):
            raise Refused(bundle_id, ev.reason, ev.code)
        return ev.already_held

    async def get(self, upload_id: str, deadline_s: float) -> bytes:
        """Fetch one upload (its SHA-256 checked by the link)."""
        self._send(GetUpload(upload_id))
        ev = await self._until(
            lambda e: isinstance(e, UploadReceived | UploadRefused) and e.upload_id == upload_id,
            deadline_s)
        if isinstance(ev, UploadRefused):
            raise Refused(upload_id, ev.reason, ev.code)
        return ev.data

    async def ack(self, upload_id: str, deadline_s: float) -> None:
        """Tell the HHU the upload is durably committed; returns once it deleted it."""
        self._send(AckUpload(upload_id))
        await self._until(
            lambda e: isinstance(e, UploadCleared) and e.upload_id == upload_id, deadline_s)

    def give_up(self, reason: str, code: ReasonCode) -> None:
        """Tell the HHU why the dock ends the link now (an ABORT with ``code``), so it need
        not wait for its idle limit; best effort, the line may already be gone."""
        if self.conn.state in (State.CLOSED, State.ERROR):
            return
        with contextlib.suppress(HhuSyncError, LinkError):
            self._send(Abort(reason, code))

    async def close(self, deadline_s: float = CLOSE_DEADLINE_S) -> bool:
        """Close politely; False when the HHU did not confirm (nothing is lost by that)."""
        try:
            self._send(Close())
            await self._until(lambda e: isinstance(e, ConnectionClosed), deadline_s)
        except (HhuSyncError, LinkError):
            return False
        return True

    def cut(self) -> None:
        """End any wait now with LinkCut (the daemon stopping, a session aborted)."""
        self.pump.close(wait=False)

    def release(self) -> Callable[[], None]:
        """Stop watching the port, at once and on the loop; returns what is left to do
        off the loop before the port may be closed (join a reader thread, if any)."""
        self.pump.close(wait=False)
        return self.pump.join_reader
