"""IEC 62056-21 (FLAG, ex IEC 1107) mode C, sans-IO, client and meter roles.

See ``docs/iec62056.md``. Typical client loop::

    conn = ClientConnection()
    conn.send(SignOnRequest(""))
    port.write(conn.data_to_send())
    while (ev := conn.next_event()) is NEED_DATA:
        conn.receive_data(port.read(...))   # or conn.handle_timeout(now) when the timer fires
"""

from hhu_sync.iec62056.cipher import p2_cipher
from hhu_sync.iec62056.connection import (
    ClientConnection,
    ClientSettings,
    ClientState,
    ConnectionStats,
    MeterConnection,
    MeterSettings,
    MeterState,
    Settings,
)
from hhu_sync.iec62056.datasets import DataSet, Obis, Value, index_datasets, parse_datasets
from hhu_sync.iec62056.errors import (
    Iec62056Error,
    LocalProtocolError,
    ParityError,
    RemoteProtocolError,
)
from hhu_sync.iec62056.events import (
    NEED_DATA,
    Ack,
    BaudChange,
    Break,
    CorruptFrame,
    ErrorResponse,
    Nak,
    OptionSelect,
    Password,
    PasswordAccepted,
    PasswordCommand,
    PasswordRejected,
    PasswordRequest,
    ProfileData,
    ProfileEmpty,
    ProfileRequest,
    Readout,
    ReadRequest,
    ReadResponse,
    Retransmit,
    SignOnRequest,
    TimedOut,
    WriteAccepted,
    WriteRequest,
)
from hhu_sync.iec62056.frames import (
    BAUD_CHARS,
    BAUD_RATES,
    Identification,
    add_even_parity,
    bcc,
    encode_command,
    encode_data,
    encode_option_select,
    encode_readout,
    encode_sign_on,
    parse_identification,
    parse_sign_on,
    strip_parity,
)

__all__ = [
    "BAUD_CHARS", "BAUD_RATES", "NEED_DATA", "Ack", "BaudChange", "Break", "ClientConnection",
    "ClientSettings", "ClientState", "ConnectionStats", "CorruptFrame", "DataSet",
    "ErrorResponse", "Iec62056Error", "Identification", "LocalProtocolError", "MeterConnection",
    "MeterSettings", "MeterState", "Nak", "Obis", "OptionSelect", "ParityError", "Password",
    "PasswordAccepted", "PasswordCommand", "PasswordRejected", "PasswordRequest", "ProfileData",
    "ProfileEmpty", "ProfileRequest", "ReadRequest", "ReadResponse", "Readout",
    "RemoteProtocolError", "Retransmit", "Settings", "SignOnRequest", "TimedOut", "Value",
    "WriteAccepted", "WriteRequest", "add_even_parity", "bcc", "encode_command", "encode_data",
    "encode_option_select", "encode_readout", "encode_sign_on", "index_datasets", "p2_cipher",
    "parse_datasets", "parse_identification", "parse_sign_on", "strip_parity",
]
