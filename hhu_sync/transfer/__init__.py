"""Transfer files: the signed, sealed envelope that carries bundles and readings.

Pure: bytes in, bytes out. The byte layout is specified in ``docs/transfer-format.md``.
"""

from hhu_sync.transfer.codec import (
    FORMAT_MAJOR,
    FORMAT_MINOR,
    KINDS,
    MAGIC,
    Limits,
    Transfer,
    TransferHeader,
    decode_transfer,
    encode_transfer,
    peek_header,
)
from hhu_sync.transfer.secrets import decrypt_password, encrypt_password

__all__ = [
    "FORMAT_MAJOR",
    "FORMAT_MINOR",
    "KINDS",
    "MAGIC",
    "Limits",
    "Transfer",
    "TransferHeader",
    "decode_transfer",
    "decrypt_password",
    "encode_transfer",
    "encrypt_password",
    "peek_header",
]
