"""The A1700-style P2 password cipher (Elster ``/GEC5...`` meters), as in domain.md.

Not cryptography: it only keeps the clear password off the optical link. Kept separate
so both the client and the simulated meter use the one implementation.
"""

from __future__ import annotations

P2_LENGTH = 8


def p2_cipher(password: str, seed_hex: str) -> str:
    """16 upper-case hex digits answering the P0 ``seed_hex`` (16 hex digits).

    c[i] = pw[i] XOR seed[i] for i in 0..7; then, with last = c[7], for i in 0..7:
    c[i] = (c[i] + last) & 0xFF and last = c[i].
    """
    pw = password.encode("ascii")
    if len(pw) != P2_LENGTH:
        raise ValueError(f"a P2 password is {P2_LENGTH} characters, got {len(pw)}")
    try:
        seed = bytes.fromhex(seed_hex)
    except ValueError:
        raise ValueError(f"seed {seed_hex!r} is not hex") from None
    if len(seed) != P2_LENGTH:
        raise ValueError(f"a P2 seed is {P2_LENGTH} bytes, got {len(seed)}")
    c = [pw[i] ^ seed[i] for i in range(P2_LENGTH)]
    last = c[P2_LENGTH - 1]
    for i in range(P2_LENGTH):
        c[i] = (c[i] + last) & 0xFF
        last = c[i]
    return bytes(c).hex().upper()
