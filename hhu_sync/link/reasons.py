"""Reason codes of REFUSE and ABORT frames, and the link phase names.

Both sides decide by the code; the text beside it is for people and may say anything
(another wording, another language, nothing). See docs/link-protocol.md section 8.1.
"""

from __future__ import annotations

import enum
import logging

log = logging.getLogger(__name__)

#: a code byte is below this; a first byte at or above it is version-1 text (no code)
CODE_LIMIT = 0x20


class ReasonCode(enum.IntEnum):
    """Why a request was refused or a link aborted (one byte on the wire, < 0x20)."""

    UNSPECIFIED = 0        # no code: a version-1 peer, or a code this side does not know
    FLASH_FULL = 1         # H: no room for the bundle (may be freed by acknowledged uploads)
    DIGEST_MISMATCH = 2    # H/D: the object's bytes do not match its SHA-256
    TOO_LARGE = 3          # H: the offer is larger than the HHU's max_object_size
    UNKNOWN_OBJECT = 4     # H: no such upload / no bundle being received
    BAD_OFFSET = 5         # H: GET offset beyond the upload's size
    CONFLICT = 6           # H: a different bundle with this id is held
    INVALID_ID = 7         # H: the object id breaks the identifier rule
    STORAGE_ERROR = 8      # H: the flash failed to store or read the object
    RETRY_LIMIT = 9        # both: a data frame was resent retry_limit times without ack
    TIMED_OUT = 10         # both: a request went unanswered (resends, BUSY bound)
    IDLE_TIMEOUT = 11      # H: no progress for idle_timeout seconds
    SESSION_LIMIT = 12     # D: the dock's time limit for one docking has passed
    PROTOCOL_ERROR = 13    # both: a malformed or unexpected frame
    AUTH_FAILED = 14       # both: the peer's MAC is wrong
    NOT_ENROLLED = 15      # D: the dock has no key for the HHU id
    NOT_AUTHENTICATED = 16  # H: a request other than HELLO/AUTH before WELCOME
    VERSION_UNSUPPORTED = 17  # both: no common protocol version
    CANCELLED = 18         # both: the application gave up (operator, shutdown)
    INTERNAL = 19          # both: an internal failure of the sender
    CONNECTION_LOST = 20   # local only, never sent: end of stream before CLOSED
    BUSY_LIMIT = 21        # D: the HHU answered BUSY for longer than idle_timeout


#: aborts that mean silence or a slow line, not a failed proof: the next docking retries
RETRYABLE = frozenset({ReasonCode.RETRY_LIMIT, ReasonCode.TIMED_OUT, ReasonCode.IDLE_TIMEOUT,
                       ReasonCode.SESSION_LIMIT, ReasonCode.BUSY_LIMIT,
                       ReasonCode.CONNECTION_LOST})
#: of those, the ones where the peer (or the line) went silent or too slow: a time-out
SILENCE = RETRYABLE - {ReasonCode.CONNECTION_LOST}
#: aborts that mean the peer is not who it says, or is not known
AUTHENTICATION = frozenset({ReasonCode.AUTH_FAILED, ReasonCode.NOT_ENROLLED})


def reason_code(value: int) -> ReasonCode:
    """The code for a received byte; an unknown one is UNSPECIFIED (logged), never an error,
    so a newer peer's codes do not break an older dock."""
    try:
        return ReasonCode(value)
    except ValueError:
        log.warning("link: unknown reason code %d, handled as UNSPECIFIED", value)
        return ReasonCode.UNSPECIFIED


class Phase(enum.StrEnum):
    """The connection's fine state (``Connection.phase``); the strings are the table's."""

    IDLE = "IDLE"
    HELLO_SENT = "HELLO_SENT"
    AUTH_SENT = "AUTH_SENT"
    CHALLENGED = "CHALLENGED"
    READY = "READY"
    OFFER_SENT = "OFFER_SENT"
    PUT_SENDING = "PUT_SENDING"
    DONE_SENT = "DONE_SENT"
    GET_SENT = "GET_SENT"
    GET_RECEIVING = "GET_RECEIVING"
    ACKUP_SENT = "ACKUP_SENT"
    PING_SENT = "PING_SENT"
    CLOSE_SENT = "CLOSE_SENT"
    OFFERED = "OFFERED"
    RECEIVING = "RECEIVING"
    RECEIVED = "RECEIVED"
    VERDICT = "VERDICT"
    UPLOAD_REQUESTED = "UPLOAD_REQUESTED"
    ACK_REQUESTED = "ACK_REQUESTED"
    CLOSED = "CLOSED"
    ERROR = "ERROR"


class State(enum.StrEnum):
    """The connection's coarse state (``Connection.state``)."""

    IDLE = "IDLE"
    HANDSHAKE = "HANDSHAKE"
    READY = "READY"
    CLOSED = "CLOSED"
    ERROR = "ERROR"
