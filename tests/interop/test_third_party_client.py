"""The simulated meter serves a third-party IEC 62056-21 client, not only our own.

The client is pwitab's ``iec62056-21`` (PyPI, version 0.0.1: the 0.0.2 wheel lacks its own
``messages`` and ``transports`` modules), written independently from the standard.
"""

from __future__ import annotations

from iec62056_21 import messages
from iec62056_21.client import Iec6205621Client

from hhu_firmware_sim.meter import MeterServer, SimMeter


def connect(server: MeterServer) -> Iec6205621Client:
    client = Iec6205621Client.with_tcp_transport(server.address, device_address="")
    client.transport.timeout = 5
    client.connect()
    return client


def test_a_third_party_client_reads_the_standard_readout():
    meter = SimMeter("35012345")
    with MeterServer(meter) as server:
        client = connect(server)
        try:
            readout = client.standard_readout()
        finally:
            client.disconnect()
    theirs = {ds.address: ds.value for line in readout.data_block.data_lines
              for ds in line.data_sets}
    ours = {ds.address: ds.values[0].text for ds in meter.readout()}
    assert theirs["0.0.0"] == "35012345"
    for key in ("0.0.0", "C.1.0", "F.F", "1.8.0", "0.1.0"):
        assert theirs[key] == ours[key], key


def test_a_third_party_client_signs_into_programming_mode_and_reads_a_register():
    meter = SimMeter("35012345", passwords={1: "00000000"})
    with MeterServer(meter) as server:
        client = connect(server)
        try:
            challenge = client.access_programming_mode()
            assert challenge.command == "P"
            # The library's own send_password() builds DataSet(value=...) without the
            # address its DataSet requires (a bug in 0.0.1); send the same P1 message by hand.
            password = messages.DataSet(address="", value="00000000")
            client.transport.send(messages.CommandMessage("P", 1, password).to_bytes())
            assert client.transport.recv(1) == b"\x06"        # ACK: password accepted
            answer = client.read_single_value("0.0.0")
            client.send_break()
        finally:
            client.disconnect()
    assert (answer.address, answer.value) == ("0.0.0", "35012345")
