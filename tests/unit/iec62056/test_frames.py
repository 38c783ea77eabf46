"""Byte-level building blocks: BCC, parity, sign-on, identification, option select."""

from __future__ import annotations

import pytest

from hhu_sync.iec62056 import (
    BAUD_RATES,
    LocalProtocolError,
    ParityError,
    RemoteProtocolError,
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


def test_bcc_break_vector():
    assert encode_command("B0") == b"\x01B0\x03q"


def test_bcc_read_vector():
    assert encode_command("R1", "1.8.0(1)") == b"\x01R1\x021.8.0(1)\x03k"


def test_bcc_is_xor_after_start_through_etx():
    assert bcc(b"R1\x021.8.0(1)\x03") == ord("k")


def test_data_block_framing():
    assert encode_data("(ER01)") == b"\x02(ER01)\x03" + bytes([bcc(b"(ER01)\x03")])


def test_readout_ends_with_bang_crlf_etx():
    assert encode_readout("1.8.0(1)").startswith(b"\x021.8.0(1)\r\n!\r\n\x03")


def test_data_refuses_control_bytes():
    with pytest.raises(LocalProtocolError):
        encode_data("a\x03b")


@pytest.mark.parametrize("address,wire", [("", b"/?!\r\n"), ("35012345", b"/?35012345!\r\n")])
def test_sign_on_request(address, wire):
    assert encode_sign_on(address) == wire


def test_sign_on_parses_address():
    assert parse_sign_on(b"/?ABC 12!") == "ABC 12"


def test_sign_on_address_too_long_is_local_error():
    with pytest.raises(LocalProtocolError):
        encode_sign_on("1" * 33)


def test_option_select_readout_9600():
    assert encode_option_select("5", "0") == b"\x06050\r\n"


def test_option_select_programming():
    assert encode_option_select("5", "1") == b"\x06051\r\n"


def test_mode_c_baud_table():
    assert [BAUD_RATES[str(i)] for i in range(7)] == [300, 600, 1200, 2400, 4800, 9600, 19200]


IDENTS = [
    # line, manufacturer, baud char, enhanced, ident, reaction s
    (b"/ISk5MT174-0001", "ISk", "5", None, "MT174-0001", 0.020),
    (b"/LGZ52ZMD120APt.G03", "LGZ", "5", None, "2ZMD120APt.G03", 0.200),
    (b"/GEC5A1700", "GEC", "5", None, "A1700", 0.200),
    (b"/LGZ5\\2ZMD3104407.B32", "LGZ", "5", "2", "ZMD3104407.B32", 0.200),
    (b"/ELS6AS230", "ELS", "6", None, "AS230", 0.200),
    (b"/KFM5KAIFA-METER", "KFM", "5", None, "KAIFA-METER", 0.200),
    (b"/EMH4\\@01LZQJL0014F", "EMH", "4", "@", "01LZQJL0014F", 0.200),
    (b"/ABb0X", "ABb", "0", None, "X", 0.020),
]


@pytest.mark.parametrize("line,maker,baud,enhanced,ident,reaction", IDENTS)
def test_identification_parsed_by_structure(line, maker, baud, enhanced, ident, reaction):
    info = parse_identification(line)
    assert (info.manufacturer, info.baud_char, info.enhanced, info.ident,
            info.min_reaction_time) == (maker, baud, enhanced, ident, reaction)


@pytest.mark.parametrize("line", [row[0] for row in IDENTS])
def test_identification_round_trips(line):
    assert parse_identification(line).encode() == line + b"\r\n"


def test_identification_baud_from_table():
    assert parse_identification(b"/ISk5MT174-0001").baud == 9600


def test_identification_mode_b_letter_has_no_mode_c_baud():
    assert parse_identification(b"/XYZEident").baud is None


@pytest.mark.parametrize("line,offset", [
    (b"/G1C5x", 1),            # manufacturer not letters
    (b"/GEC", 4),              # no baud character
    (b"/GEC5", 5),             # no identification text
    (b"/GEC5\\", 5),           # backslash without W
    (b"/GEC5" + b"x" * 17, 21),  # identification text too long
    (b"/GEC5a b", 6),          # space inside
])
def test_bad_identification_names_offset(line, offset):
    with pytest.raises(RemoteProtocolError) as err:
        parse_identification(line)
    assert err.value.offset == offset


def test_echoed_sign_on_gets_a_hint():
    with pytest.raises(RemoteProtocolError, match="echo"):
        parse_identification(b"/?!")


def test_parity_added_is_even():
    assert add_even_parity(b"/?!\r\n") == bytes([0xAF, 0x3F, 0x21, 0x8D, 0x0A])


def test_parity_strip_restores_seven_bit():
    assert strip_parity(add_even_parity(b"\x01R1\x021.8.0(1)\x03k")) == b"\x01R1\x021.8.0(1)\x03k"


def test_parity_check_names_offset():
    with pytest.raises(ParityError) as err:
        strip_parity(b"\xaf\xbf", check=True, offset=10)
    assert err.value.offset == 11
