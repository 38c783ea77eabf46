"""Passwords: argon2id hashes (argon2-cffi), a length rule, and a check that takes as
long for an unknown user as for a known one (no user enumeration by timing)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

from hhu_sync.errors import HhuSyncError

MIN_LENGTH = 10
MAX_BYTES = 1024          # bounded work per attempt, whatever a client posts

#: argon2id, RFC 9106's second recommendation (64 MiB, three passes, four lanes): what
#: every stored hash is made with; a hash carries its own parameters, so raising these
#: later still verifies the old ones.
SHIPPED = RFC_9106_LOW_MEMORY
_HASHER = PasswordHasher.from_parameters(SHIPPED)
_DUMMY = _HASHER.hash("not a password of anyone's, only spends the same time")


class PasswordRefused(HhuSyncError):
    """A new password breaks the rule (too short, too long, not text)."""


def check_rule(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordRefused(f"password too short: at least {MIN_LENGTH} characters")
    if len(password.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise PasswordRefused(f"password too long: at most {MAX_BYTES} bytes")


def hash_password(password: str) -> str:
    check_rule(password)
    return _HASHER.hash(password)


def verify(stored: str | None, password: str) -> bool:
    """True if ``password`` matches ``stored``; an unknown user (None) costs the same."""
    if len(password.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        password = ""
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
