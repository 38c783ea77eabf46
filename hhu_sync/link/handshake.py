"""The handshake (docs/link-protocol.md, section 4): HELLO, CHALLENGE, AUTH, WELCOME.

Both proofs are HMACs over the transcript of the frames so far; the dock offers the highest
protocol version it speaks in HELLO and the HHU answers the highest both speak in
CHALLENGE. One object per side holds the transcript and the key; the connection sends
what it builds and aborts on ``Refused``. Pure: randomness is the connection's.
"""

from __future__ import annotations

from collections.abc import Callable

from hhu_sync.ids import is_safe_name

from . import messages as m
from .auth import (
    DOCK_LABEL,
    HHU_LABEL,
    MAC_SIZE,
    NONCE_SIZE,
    check_mac,
    hello_from_wire,
    hello_to_wire,
    mac,
)
from .errors import LocalProtocolError, RemoteProtocolError
from .events import HelloInfo, LinkSettings
from .reasons import CODE_LIMIT, ReasonCode

__all__ = ["DockHandshake", "HhuHandshake", "Refused", "hello_rejected"]


class Refused(Exception):
    """The handshake cannot go on: abort with ``reason`` and ``code``, in the layout of
    ``version`` if one is given (else the connection's)."""

    def __init__(self, reason: str, code: ReasonCode, version: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.version = version


def _nonce(random: Callable[[int], bytes]) -> bytes:
    nonce = random(NONCE_SIZE)
    if len(nonce) != NONCE_SIZE:
        raise LocalProtocolError("random() returned the wrong number of bytes")
    return nonce


def _encodings(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c for c in names if c in m.ENCODINGS)


def hello_rejected(settings: LinkSettings, msg: m.AbortMsg, body: bytes) -> bool:
    """The dock's fallback flag: the HHU aborted our HELLO (no CHALLENGE yet) in the
    version-1 layout (no code) or with VERSION_UNSUPPORTED while we offered more than the
    minimum: it takes only an older HELLO (section 4, "Falling back")."""
    codeless = len(body) < 2 or body[1] >= CODE_LIMIT
    return settings.max_version > m.MIN_PROTOCOL_VERSION and (
        codeless or msg.code is ReasonCode.VERSION_UNSUPPORTED)


class DockHandshake:
    """The dock's half: HELLO out, CHALLENGE in, AUTH out, WELCOME in."""

    __slots__ = ("_settings", "_random", "_keys", "_transcript", "_key", "hhu_id")

    def __init__(self, settings: LinkSettings, random: Callable[[int], bytes],
                 keys: Callable[[str], bytes | None]) -> None:
        self._settings = settings
        self._random = random
        self._keys = keys
        self._transcript: list[bytes] = []
        self._key = b""
        self.hhu_id: str | None = None   # the HHU the CHALLENGE named, once its key is known

    def hello(self, req: int) -> m.Hello:
        s = self._settings
        return m.Hello(req, s.max_version, _nonce(self._random), s.window,
                       s.max_frame_payload, _encodings(s.compression))

    def sent(self, body: bytes) -> None:
        """Our HELLO or AUTH went out: it belongs to the transcript."""
        self._transcript.append(body)

    def on_challenge(self, msg: m.Challenge, body: bytes, req: int) -> m.Auth:
        """The AUTH (request id ``req``) that answers ``msg``; the version is ``msg.version``."""
        s = self._settings
        # the HHU answers with the version it will speak: ours or an older one we speak
        if not s.min_version <= msg.version <= s.max_version:
            raise Refused(f"unsupported protocol version {msg.version}",
                          ReasonCode.VERSION_UNSUPPORTED)
        # an id that breaks the identifier rule cannot be enrolled: not asked of keys()
        key = self._keys(msg.hhu_id) if is_safe_name(msg.hhu_id) else None
        if key is None:
            raise Refused(f"unknown HHU {msg.hhu_id!r}", ReasonCode.NOT_ENROLLED,
                          msg.version)
        self._key = bytes(key)
        self.hhu_id = msg.hhu_id
        self._transcript.append(bytes(body))
        head = m.Auth(req, b"\0" * MAC_SIZE).encode()[:-MAC_SIZE]
        return m.Auth(req, mac(self._key, DOCK_LABEL, *self._transcript, head))

    def on_welcome(self, msg: m.Welcome, body: bytes) -> HelloInfo:
        """The HHU's proof checked: what it announces."""
        head = bytes(body[:-MAC_SIZE])
        if not check_mac(self._key, HHU_LABEL, msg.mac, *self._transcript, head):
            raise Refused("HHU authentication failed", ReasonCode.AUTH_FAILED)
        hello = hello_from_wire(msg.hello)
        if hello.hhu_id != self.hhu_id:
            raise RemoteProtocolError("WELCOME: hello names another HHU")
        self._transcript = []
        return hello


class HhuHandshake:
    """The HHU's half: HELLO in, CHALLENGE out, AUTH in, WELCOME out."""

    __slots__ = ("_settings", "_random", "_key", "hello", "_hello_wire", "_transcript",
                 "_offered")

    def __init__(self, settings: LinkSettings, random: Callable[[int], bytes], key: bytes,
                 hello: HelloInfo) -> None:
        self._settings = settings
        self._random = random
        self._key = bytes(key)
        self.hello = hello
        self._hello_wire = hello_to_wire(hello)
        if len(self._hello_wire) > 0xFFFF:
            raise LocalProtocolError("HelloInfo too large for one frame")
        self._transcript: list[bytes] = []
        self._offered: tuple[str, ...] = ()

    @staticmethod
    def version(settings: LinkSettings, offered: int) -> int:
        """The version to speak with a dock that offers ``offered``: the highest both do."""
        if offered < settings.min_version:
            raise Refused(f"unsupported protocol version {offered}",
                          ReasonCode.VERSION_UNSUPPORTED, settings.min_version)
        return min(offered, settings.max_version)

    def on_hello(self, msg: m.Hello, body: bytes, version: int) -> bytes:
        """The CHALLENGE body that answers ``msg`` in ``version``."""
        self._offered = msg.compression
        ch = m.Challenge(msg.req, version, _nonce(self._random), self.hello.hhu_id).encode()
        self._transcript = [bytes(body), ch]
        return ch

    def on_auth(self, msg: m.Auth, body: bytes) -> tuple[bytes, tuple[str, ...]]:
        """The dock's proof checked: the WELCOME body and the compression agreed."""
        head = bytes(body[:-MAC_SIZE])
        if not check_mac(self._key, DOCK_LABEL, msg.mac, *self._transcript, head):
            raise Refused("authentication failed", ReasonCode.AUTH_FAILED)
        s = self._settings
        agreed = tuple(c for c in _encodings(s.compression) if c in self._offered)
        self._transcript.append(bytes(body))
        w_head = m.Welcome(
            msg.req, s.window, s.max_frame_payload, agreed, self._hello_wire, b"\0" * MAC_SIZE
        ).encode()[:-MAC_SIZE]
        proof = mac(self._key, HHU_LABEL, *self._transcript, w_head)
        self._transcript = []
        return w_head + proof, agreed
