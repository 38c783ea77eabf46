"""Frame bodies: one frozen dataclass per frame type, with a spec-driven codec.

A frame body is ``type (1 byte) || fields``; integers are big-endian. Field kinds:

=========  ===========================================================
``u8``      1-byte unsigned            ``u16``  2-byte unsigned
``u32``     4-byte unsigned            ``u64``  8-byte unsigned
``b16``     16 raw bytes (nonce)       ``b32``  32 raw bytes (SHA-256, HMAC)
``str8``    1-byte length + UTF-8      ``list8`` 1-byte count + that many ``str8``
``bin16``   2-byte length + bytes      ``text``  UTF-8 to the end of the body
``rest``    raw bytes to the end of the body
``code``    reason code, 1 byte < 0x20 (version 2); absent in version 1
=========  ===========================================================

A ``code`` is self-describing: a first byte of 0x20 or more is version-1 text, so such a
frame decodes as ``ReasonCode.UNSPECIFIED`` with all its bytes as the text; a code this
side does not know decodes as UNSPECIFIED too (logged). A version-1 peer is sent no code.

DATA and SACK are also decoded inline by the connection's fast path (same layout).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import Field, dataclass, fields
from typing import Any, ClassVar, TypeVar, dataclass_transform

from .errors import RemoteProtocolError
from .reasons import CODE_LIMIT, ReasonCode, reason_code

PROTOCOL_VERSION = 2   # the highest this side speaks (HELLO/CHALLENGE negotiate, section 4)
MIN_PROTOCOL_VERSION = 1   # still spoken: REFUSE and ABORT without a reason code

T_HELLO = 0x01
T_CHALLENGE = 0x02
T_AUTH = 0x03
T_WELCOME = 0x04
T_OFFER = 0x10
T_ACCEPT = 0x11
T_HELD = 0x12
T_REFUSE = 0x13
T_DONE = 0x14
T_COMMITTED = 0x15
T_BUSY = 0x16
T_GET = 0x20
T_UPSTART = 0x21
T_ACKUP = 0x22
T_CLEARED = 0x23
T_DATA = 0x30
T_SACK = 0x31
T_PING = 0x40
T_PONG = 0x41
T_CLOSE = 0x42
T_CLOSED = 0x43
T_ABORT = 0x7F

ENC_RAW = 0
ENC_ZLIB = 1
ENCODINGS = {"zlib": ENC_ZLIB}


class Message:
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]   # every subclass is a dataclass
    TYPE: ClassVar[int]
    NAME: ClassVar[str]
    SPEC: ClassVar[tuple[str, ...]]

    def encode(self, version: int = PROTOCOL_VERSION) -> bytes:
        """The body in the layout of ``version`` (only ``code`` fields depend on it)."""
        out = bytearray((self.TYPE,))
        for f, kind in zip(fields(self), self.SPEC, strict=True):
            if kind == "code" and version < 2:
                continue
            _put(out, kind, getattr(self, f.name), f.name)
        return bytes(out)


def _put(out: bytearray, kind: str, value: Any, name: str) -> None:
    if kind == "code":
        code = int(value)
        if not 0 <= code < CODE_LIMIT:
            raise ValueError(f"{name}: reason code {code} not below 0x{CODE_LIMIT:02x}")
        out.append(code)
    elif kind in _INT:
        out += int(value).to_bytes(_INT[kind], "big")
    elif kind in _FIXED:
        if len(value) != _FIXED[kind]:
            raise ValueError(f"{name}: need {_FIXED[kind]} bytes")
        out += value
    elif kind == "str8":
        raw = str(value).encode()
        if len(raw) > 255:
            raise ValueError(f"{name}: longer than 255 bytes")
        out.append(len(raw))
        out += raw
    elif kind == "list8":
        items = list(value)
        out.append(len(items))
        for item in items:
            _put(out, "str8", item, name)
    elif kind == "bin16":
        if len(value) > 0xFFFF:
            raise ValueError(f"{name}: longer than 65535 bytes")
        out += len(value).to_bytes(2, "big")
        out += value
    elif kind == "text":
        out += str(value).encode()
    else:  # rest
        out += value


_INT = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}
_FIXED = {"b16": 16, "b32": 32}


def _str(raw: bytes | bytearray, what: str) -> str:
    try:
        return bytes(raw).decode()
    except UnicodeDecodeError:
        raise RemoteProtocolError(f"{what}: not UTF-8") from None


def parse_body(body: bytes | bytearray) -> Message:
    """Decode a frame body (CRC already stripped). Raises RemoteProtocolError if malformed."""
    if not body:
        raise RemoteProtocolError("empty frame")
    cls = BY_TYPE.get(body[0])
    if cls is None:
        raise RemoteProtocolError(f"unknown frame type 0x{body[0]:02x}")
    values: list[object] = []
    i = 1
    n = len(body)
    for kind in cls.SPEC:
        if kind == "code":
            if i < n and body[i] < CODE_LIMIT:
                values.append(reason_code(body[i]))
                i += 1
            else:   # a version-1 peer: text follows at once
                values.append(ReasonCode.UNSPECIFIED)
        elif kind in _INT:
            w = _INT[kind]
            if i + w > n:
                raise RemoteProtocolError(f"{cls.NAME}: frame too short")
            values.append(int.from_bytes(body[i : i + w], "big"))
            i += w
        elif kind in _FIXED:
            w = _FIXED[kind]
            if i + w > n:
                raise RemoteProtocolError(f"{cls.NAME}: frame too short")
            values.append(bytes(body[i : i + w]))
            i += w
        elif kind == "str8":
            s, i = _parse_str8(body, i, cls.NAME)
            values.append(s)
        elif kind == "list8":
            if i >= n:
                raise RemoteProtocolError(f"{cls.NAME}: frame too short")
            count = body[i]
            i += 1
            items = []
            for _ in range(count):
                s, i = _parse_str8(body, i, cls.NAME)
                items.append(s)
            values.append(tuple(items))
        elif kind == "bin16":
            if i + 2 > n:
                raise RemoteProtocolError(f"{cls.NAME}: frame too short")
            w = int.from_bytes(body[i : i + 2], "big")
            i += 2
            if i + w > n:
                raise RemoteProtocolError(f"{cls.NAME}: frame too short")
            values.append(bytes(body[i : i + w]))
            i += w
        elif kind == "text":
            values.append(_str(body[i:], cls.NAME))
            i = n
        else:  # rest
            values.append(bytes(body[i:]))
            i = n
    if i != n:
        raise RemoteProtocolError(f"{cls.NAME}: {n - i} unexpected trailing bytes")
    return cls(*values)


def _parse_str8(body: bytes | bytearray, i: int, name: str) -> tuple[str, int]:
    if i >= len(body):
        raise RemoteProtocolError(f"{name}: frame too short")
    w = body[i]
    if i + 1 + w > len(body):
        raise RemoteProtocolError(f"{name}: frame too short")
    return _str(body[i + 1 : i + 1 + w], name), i + 1 + w


_M = TypeVar("_M", bound=Message)


@dataclass_transform(frozen_default=True)
def _msg(type_: int, name: str, *spec: str) -> Callable[[type[_M]], type[_M]]:
    """Class decorator: a frozen dataclass with its frame type, name and field kinds."""
    def wrap(cls: type[_M]) -> type[_M]:
        cls = dataclass(frozen=True)(cls)
        cls.TYPE = type_
        cls.NAME = name
        cls.SPEC = spec
        if len(fields(cls)) != len(spec):
            raise TypeError(f"{name}: spec does not match fields")
        BY_TYPE[type_] = cls
        return cls

    return wrap


BY_TYPE: dict[int, type[Message]] = {}


@_msg(T_HELLO, "HELLO", "u8", "u8", "b16", "u16", "u32", "list8")
class Hello(Message):
    req: int
    version: int
    nonce: bytes
    rx_window: int
    rx_max_payload: int
    compression: tuple[str, ...]


@_msg(T_CHALLENGE, "CHALLENGE", "u8", "u8", "b16", "str8")
class Challenge(Message):
    req: int
    version: int
    nonce: bytes
    hhu_id: str


@_msg(T_AUTH, "AUTH", "u8", "b32")
class Auth(Message):
    req: int
    mac: bytes


@_msg(T_WELCOME, "WELCOME", "u8", "u16", "u32", "list8", "bin16", "b32")
class Welcome(Message):
    req: int
    rx_window: int
    rx_max_payload: int
    compression: tuple[str, ...]
    hello: bytes  # msgpack, see hello_to_wire()
    mac: bytes


@_msg(T_OFFER, "OFFER", "u8", "u16", "u64", "b32", "str8")
class Offer(Message):
    req: int
    seq0: int
    size: int
    sha256: bytes
    bundle_id: str


@_msg(T_ACCEPT, "ACCEPT", "u8", "u64")
class Accept(Message):
    req: int
    offset: int


@_msg(T_HELD, "HELD", "u8")
class Held(Message):
    req: int


@_msg(T_REFUSE, "REFUSE", "u8", "code", "text")
class Refuse(Message):
    req: int
    code: ReasonCode
    reason: str


@_msg(T_DONE, "DONE", "u8")
class Done(Message):
    req: int


@_msg(T_COMMITTED, "COMMITTED", "u8")
class Committed(Message):
    req: int


@_msg(T_BUSY, "BUSY", "u8")
class Busy(Message):
    req: int


@_msg(T_GET, "GET", "u8", "u64", "str8")
class Get(Message):
    req: int
    offset: int
    upload_id: str


@_msg(T_UPSTART, "UPSTART", "u8", "u16", "u64", "b32")
class UpStart(Message):
    req: int
    seq0: int
    size: int
    sha256: bytes


@_msg(T_ACKUP, "ACKUP", "u8", "str8")
class AckUp(Message):
    req: int
    upload_id: str


@_msg(T_CLEARED, "CLEARED", "u8")
class Cleared(Message):
    req: int


@_msg(T_DATA, "DATA", "u16", "rest")
class Data(Message):
    seq: int
    payload: bytes


@_msg(T_SACK, "SACK", "u16", "rest")
class Sack(Message):
    cum: int
    bitmap: bytes


@_msg(T_PING, "PING", "u8")
class Ping(Message):
    req: int


@_msg(T_PONG, "PONG", "u8")
class Pong(Message):
    req: int


@_msg(T_CLOSE, "CLOSE", "u8")
class CloseReq(Message):
    req: int


@_msg(T_CLOSED, "CLOSED", "u8")
class CloseOk(Message):
    req: int


@_msg(T_ABORT, "ABORT", "code", "text")
class AbortMsg(Message):
    code: ReasonCode
    reason: str


#: dock -> HHU requests (carry a request id the response echoes)
REQUEST_TYPES = frozenset({T_HELLO, T_AUTH, T_OFFER, T_DONE, T_GET, T_ACKUP, T_PING, T_CLOSE})
#: HHU -> dock responses
RESPONSE_TYPES = frozenset(
    {T_CHALLENGE, T_WELCOME, T_ACCEPT, T_HELD, T_REFUSE, T_COMMITTED, T_BUSY, T_UPSTART,
     T_CLEARED, T_PONG, T_CLOSED}
)
