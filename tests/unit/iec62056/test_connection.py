"""Client <-> meter connection pairs: readout, programming, retries, time-outs, echo."""

from __future__ import annotations

import pytest

from hhu_sync.iec62056 import (
    Ack,
    BaudChange,
    Break,
    ClientConnection,
    ClientSettings,
    ClientState,
    CorruptFrame,
    ErrorResponse,
    Identification,
    LocalProtocolError,
    MeterConnection,
    MeterState,
    Nak,
    OptionSelect,
    Password,
    PasswordAccepted,
    PasswordCommand,
    PasswordRejected,
    PasswordRequest,
    Readout,
    ReadRequest,
    ReadResponse,
    RemoteProtocolError,
    Retransmit,
    SignOnRequest,
    TimedOut,
    WriteAccepted,
    WriteRequest,
    add_even_parity,
    encode_readout,
    p2_cipher,
)

from .helpers import drain, pump, sent

IDENT = Identification("GEC", "5", "A1700")
SEED = "0123456789ABCDEF"


def signed_on(mode: str = "0", settings: ClientSettings | None = None):
    client, meter = ClientConnection(settings), MeterConnection()
    pump(sent(client, SignOnRequest("")), meter)
    pump(sent(meter, IDENT), client)
    pump(sent(client, OptionSelect(mode)), meter)
    drain(client)
    return client, meter


def programming(settings: ClientSettings | None = None):
    client, meter = signed_on("1", settings)
    pump(sent(meter, PasswordRequest(SEED)), client)
    pump(sent(client, Password("FEDC0003", "P2")), meter)
    pump(sent(meter, Ack()), client)
    return client, meter


def test_meter_sees_sign_on_with_address():
    meter = MeterConnection()
    assert pump(sent(ClientConnection(), SignOnRequest("35012345")), meter) == [
        SignOnRequest("35012345")]


def test_client_gets_identification():
    client, meter = ClientConnection(), MeterConnection()
    pump(sent(client, SignOnRequest("")), meter)
    assert pump(sent(meter, IDENT), client) == [IDENT]


def test_option_select_yields_baud_change_for_the_driver():
    client, meter = ClientConnection(), MeterConnection()
    pump(sent(client, SignOnRequest("")), meter)
    pump(sent(meter, IDENT), client)
    sent(client, OptionSelect("0"))
    assert drain(client) == [BaudChange(9600, 300)]


def test_meter_switches_after_option_select():
    client, meter = ClientConnection(), MeterConnection()
    pump(sent(client, SignOnRequest("")), meter)
    pump(sent(meter, IDENT), client)
    assert pump(sent(client, OptionSelect("0")), meter) == [OptionSelect("0", "5"),
                                                           BaudChange(9600, 300)]


def test_max_baud_caps_the_selected_rate():
    client, _ = signed_on("0", ClientSettings(max_baud=300))
    assert client.baud == 300


def test_readout_pair():
    client, meter = signed_on("0")
    (readout,) = pump(sent(meter, Readout("1.8.0(001846.0*kWh)\r\n")), client)
    assert readout.get("1.8.0").value == "001846.0"


def test_readout_ends_client_and_meter():
    client, meter = signed_on("0")
    pump(sent(meter, Readout("1.8.0(1)\r\n")), client)
    assert (client.state, meter.state) == (ClientState.DONE, MeterState.IDLE)


def test_garbage_after_readout_is_ignored():
    client, meter = signed_on("0")
    events = pump(encode_readout("1.8.0(1)") + b"\x00\xff/junk\x02more", client)
    assert [type(e) for e in events] == [Readout]


def test_readout_bad_bcc_names_offset():
    client, _ = signed_on("0")
    wire = bytearray(encode_readout("1.8.0(1)"))
    wire[-1] ^= 0x01
    client.receive_data(bytes(wire))
    with pytest.raises(RemoteProtocolError) as err:
        drain(client)
    assert err.value.offset == client.stats.bytes_received - 1


def test_password_request_reaches_client():
    client, meter = signed_on("1")
    assert pump(sent(meter, PasswordRequest(SEED)), client) == [PasswordRequest(SEED)]


def test_p2_password_is_ciphered_on_the_wire():
    client, meter = signed_on("1")
    pump(sent(meter, PasswordRequest(SEED)), client)
    (cmd,) = pump(sent(client, Password("FEDC0003", "P2")), meter)
    assert cmd == PasswordCommand("P2", p2_cipher("FEDC0003", SEED))


def test_p1_password_in_clear():
    client, meter = signed_on("1")
    pump(sent(meter, PasswordRequest(SEED)), client)
    (cmd,) = pump(sent(client, Password("secret", "P1")), meter)
    assert cmd.data == "secret"


def test_password_ack_opens_programming():
    client, meter = programming()
    assert client.state is ClientState.PROGRAMMING


def test_wrong_password_nak_is_rejection():
    client, meter = signed_on("1")
    pump(sent(meter, PasswordRequest(SEED)), client)
    pump(sent(client, Password("wrong", "P1")), meter)
    assert pump(sent(meter, Nak()), client) == [PasswordRejected(None)]


def test_wrong_password_error_message_is_rejection_with_code():
    client, meter = signed_on("1")
    pump(sent(meter, PasswordRequest(SEED)), client)
    pump(sent(client, Password("wrong", "P1")), meter)
    assert pump(sent(meter, ErrorResponse("ER05")), client) == [PasswordRejected("ER05")]


def test_read_request_and_answer():
    client, meter = programming()
    assert pump(sent(client, ReadRequest("1.8.0")), meter) == [ReadRequest("1.8.0", "")]
    (answer,) = pump(sent(meter, ReadResponse("1.8.0(001846.0*kWh)")), client)
    assert answer.value == "001846.0"


def test_write_request_and_ack():
    client, meter = programming()
    assert pump(sent(client, WriteRequest("0.9.1", "10:30:00")), meter) == [
        WriteRequest("0.9.1", "10:30:00")]
    assert pump(sent(meter, Ack()), client) == [WriteAccepted("0.9.1")]


def test_error_answer_to_read():
    client, meter = programming()
    pump(sent(client, ReadRequest("9.9.9")), meter)
    assert pump(sent(meter, ErrorResponse("ER01")), client) == [ErrorResponse("ER01", "9.9.9")]


def test_break_ends_both():
    client, meter = programming()
    assert pump(sent(client, Break()), meter) == [Break()]
    assert (client.state, meter.state) == (ClientState.CLOSED, MeterState.IDLE)


def test_meter_break_closes_client():
    client, meter = programming()
    assert pump(sent(meter, Break()), client) == [Break()]


def test_nak_triggers_retransmit_of_same_bytes():
    client, meter = programming()
    wire = sent(client, ReadRequest("1.8.0"))
    pump(wire, meter)
    (event,) = pump(sent(meter, Nak()), client)
    assert event == Retransmit(wire, 1, event.reason)


def test_nak_retries_are_bounded():
    client, _ = programming(ClientSettings(max_retries=3))
    sent(client, ReadRequest("1.8.0"))
    for _ in range(3):
        pump(b"\x15", client)
    client.receive_data(b"\x15")
    with pytest.raises(RemoteProtocolError, match="gave up after 3"):
        drain(client)


def test_retransmits_are_counted():
    client, _ = programming()
    sent(client, WriteRequest("0.9.1", "10:00:00"))
    pump(b"\x15\x15", client)
    assert client.stats.retransmits == 2


def test_corrupt_answer_makes_client_ask_for_repeat():
    client, _ = programming()
    sent(client, ReadRequest("1.8.0"))
    (event,) = pump(b"\x021.8.0(1)\x03\x00", client)
    assert event.data == b"\x15"


def test_corrupt_command_reported_to_meter():
    _, meter = programming()
    (event,) = pump(b"\x01R1\x021.8.0()\x03\x00", meter)
    assert isinstance(event, CorruptFrame)


def test_meter_retransmits_on_nak():
    client, meter = programming()
    pump(sent(client, ReadRequest("1.8.0")), meter)
    wire = sent(meter, ReadResponse("1.8.0(1)"))
    (event,) = pump(b"\x15", meter)
    assert (event.data, event.attempt) == (wire, 1)


def test_timeout_retries_sign_on_then_gives_up():
    client = ClientConnection(ClientSettings(max_retries=1))
    wire = sent(client, SignOnRequest(""))
    client.timeout()
    first = drain(client)
    client.timeout()
    assert (first, drain(client)) == ([Retransmit(wire, 1, "no answer in await identification")],
                                      [TimedOut("await identification", 300, False, None)])


def test_timeout_after_baud_change_suggests_fallback():
    client, _ = signed_on("0")
    client.timeout()
    assert drain(client) == [TimedOut("await readout", 9600, True, 300)]


def test_meter_timeout_returns_to_idle():
    _, meter = programming()
    meter.timeout()
    drain(meter)
    assert meter.state is MeterState.IDLE


def test_echo_is_skipped_when_enabled():
    client, meter = ClientConnection(ClientSettings(echo=True)), MeterConnection()
    wire = sent(client, SignOnRequest(""))
    pump(wire, meter)
    assert pump(wire + sent(meter, IDENT), client, bytewise=True) == [IDENT]


def test_echo_without_detection_is_reported():
    client = ClientConnection(ClientSettings(detect_echo=False))
    wire = sent(client, SignOnRequest(""))
    client.receive_data(wire)
    with pytest.raises(RemoteProtocolError, match="echo"):
        drain(client)


def test_echo_is_detected_from_the_sign_on_coming_back():
    """No flag: our own sign-on request coming back turns echo skipping on, so the
    echoes of everything sent later are skipped too."""
    client, meter = ClientConnection(), MeterConnection()
    wire = sent(client, SignOnRequest(""))
    pump(wire, meter)
    assert pump(wire + sent(meter, IDENT), client, bytewise=True) == [IDENT]
    option = sent(client, OptionSelect("1"))
    assert client.stats.echo_bytes == len(wire)
    pump(option, meter)
    answer = option + sent(meter, PasswordRequest("0123456789ABCDEF"))
    events = pump(answer, client, bytewise=True)
    assert PasswordRequest("0123456789ABCDEF") in events
    assert client.stats.echo_bytes == len(wire) + len(option)


def test_parity_bits_stripped_on_receive():
    client = ClientConnection()
    sent(client, SignOnRequest(""))
    assert pump(add_even_parity(IDENT.encode()), client) == [IDENT]


def test_add_parity_on_send():
    client = ClientConnection(ClientSettings(add_parity=True))
    assert sent(client, SignOnRequest("")) == add_even_parity(b"/?!\r\n")


def test_send_in_wrong_state_is_local_error():
    with pytest.raises(LocalProtocolError):
        sent(ClientConnection(), ReadRequest("1.8.0"))


def test_connection_refuses_use_after_error():
    client = ClientConnection()
    with pytest.raises(LocalProtocolError):
        sent(client, ReadRequest("1.8.0"))
    with pytest.raises(LocalProtocolError, match="unusable"):
        sent(client, SignOnRequest(""))


def test_new_sign_on_restarts_meter():
    _, meter = programming()
    assert pump(b"/?!\r\n", meter) == [BaudChange(300, 9600), SignOnRequest("")]


def test_meter_ignores_noise_while_idle():
    meter = MeterConnection()
    assert pump(b"\x00\xffhello\r\n/GEC5X\r\n", meter) == []


def test_minimum_reaction_time_exposed():
    client, meter = ClientConnection(), MeterConnection()
    pump(sent(client, SignOnRequest("")), meter)
    pump(sent(meter, Identification("ISk", "5", "MT174-0001")), client)
    assert client.min_reaction_time == 0.020


def test_password_accepted_event():
    client, meter = signed_on("1")
    pump(sent(meter, PasswordRequest(SEED)), client)
    pump(sent(client, Password("FEDC0003", "P2")), meter)
    assert pump(sent(meter, Ack()), client) == [PasswordAccepted()]


@pytest.mark.parametrize("role", [ClientConnection, MeterConnection])
def test_every_event_a_role_may_send_has_its_encoder_named_in_a_table(role):
    sendable = {event for _, event in role._SEND}
    assert sendable == set(role._ENCODE)
    assert all(callable(encode) for encode in role._ENCODE.values())
