"""Fleet files with [[links]]: what each link carries, and every bad field named with its
file."""

from __future__ import annotations

import argparse

import pytest

from hhu_firmware_sim.meter import FleetError, load_fleet
from hhu_firmware_sim.meter.cli import add_meter_commands, build_network, describe_lines
from hhu_firmware_sim.meter.links import MAX_LINKS, MAX_METERS, load_linked_fleet
from hhu_firmware_sim.meter.network import FleetNetwork
from hhu_firmware_sim.meter.session import Quirks

from .conftest import ROOT

FLEET = """
[[links]]
name = "gw1"
kind = "gateway"
sessions = 2

[[links]]
name = "bus1"
kind = "bus"
listen = "127.0.0.1:0"

[[links]]
name = "m1"
kind = "modem"
line = { baud = 9600, latency_ms = 150, connect_ms = 800, drops = [[0, 2000]], seed = 3 }

[[meters]]
serial = "35100001"
address = "1001"
link = "gw1"
quirks = ["garbage_after_etx"]

[[meters]]
serial = "35100002"
link = "gw1"

[[meters]]
serial = "35100003"
link = "bus1"

[[meters]]
serial = "35100004"
link = "m1"
access = false

[[meters]]
serial = "35100005"
"""


def write(tmp_path, text: str):
    path = tmp_path / "fleet.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_meters_sit_behind_the_links_they_name(tmp_path):
    fleet = load_linked_fleet(write(tmp_path, FLEET))
    assert [(link.name, link.kind, [m.serial for m in link.fleet.meters])
            for link in fleet.links] == [("gw1", "gateway", ["35100001", "35100002"]),
                                         ("bus1", "bus", ["35100003"]),
                                         ("m1", "modem", ["35100004"])]
    assert [m.serial for m in fleet.direct.meters] == ["35100005"]
    assert fleet.links[0].sessions == 2 and fleet.links[0].listen == ("127.0.0.1", 0)


def test_a_bus_echoes_and_a_link_takes_its_first_meters_quirks(tmp_path):
    gw1, bus1, m1 = load_linked_fleet(write(tmp_path, FLEET)).links
    assert gw1.fleet.quirks.garbage and not gw1.fleet.quirks.echo
    assert bus1.fleet.quirks.echo and not m1.fleet.quirks.echo


def test_a_links_line_is_read_for_the_line_simulator(tmp_path):
    line = load_linked_fleet(write(tmp_path, FLEET)).links[2].line
    assert line is not None
    assert line.kwargs() == {"baud": 9600, "latency_ms": 150.0, "connect_ms": 800.0,
                             "ber": 0.0, "drops": {0: 2000}, "drop_chance": 0.0,
                             "drop_within": 4096, "seed": 3, "piece_ms": 2.0}


def test_the_single_port_loader_still_reads_a_fleet_with_links(tmp_path):
    text = FLEET.replace("access = false\n", "")
    assert len(load_fleet(write(tmp_path, text)).meters) == 5


def _meters(n: int, link: str) -> str:
    return "".join(f'[[meters]]\nserial = "{40000000 + i}"\nlink = "{link}"\n'
                   for i in range(n))


BAD = [
    ('[[links]]\nname = "a"\nkind = "radio"\n' + _meters(1, "a"), "links[0].kind"),
    ('[[links]]\nkind = "bus"\n' + _meters(1, "a"), "links[0].name"),
    ('[[links]]\nname = "direct"\nkind = "bus"\n' + _meters(1, "direct"), "links[0].name"),
    ('[[links]]\nname = "a b"\nkind = "bus"\n' + _meters(1, "a b"), "links[0].name"),
    ('[[links]]\nname = "a"\nkind = "bus"\ncolour = 1\n' + _meters(1, "a"), "colour"),
    ('[[links]]\nname = "a"\nkind = "bus"\nsessions = 2\n' + _meters(1, "a"),
     "links[0].sessions"),
    ('[[links]]\nname = "a"\nkind = "gateway"\nsessions = 9\n' + _meters(1, "a"),
     "links[0].sessions"),
    ('[[links]]\nname = "a"\nkind = "gateway"\nlisten = "host:http"\n' + _meters(1, "a"),
     "links[0].listen"),
    ('[[links]]\nname = "a"\nkind = "gateway"\nlisten = "127.0.0.1:70000"\n'
     + _meters(1, "a"), "links[0].listen"),
    ('[[links]]\nname = "a"\nkind = "modem"\nline = { baud = "fast" }\n' + _meters(1, "a"),
     "links[0].line.baud"),
    ('[[links]]\nname = "a"\nkind = "modem"\nline = { speed = 1 }\n' + _meters(1, "a"),
     "speed"),
    ('[[links]]\nname = "a"\nkind = "modem"\nline = { drops = [[0]] }\n' + _meters(1, "a"),
     "links[0].line.drops[0]"),
    ('[[links]]\nname = "a"\nkind = "modem"\nline = { drop_chance = 2.0 }\n'
     + _meters(1, "a"), "links[0].line.drop_chance"),
    ('[[links]]\nname = "a"\nkind = "modem"\n[[links]]\nname = "a"\nkind = "bus"\n'
     + _meters(1, "a"), "links[1].name"),
    ('[[links]]\nname = "a"\nkind = "bus"\nlisten = "127.0.0.1:7100"\n'
     '[[links]]\nname = "b"\nkind = "bus"\nlisten = "127.0.0.1:7100"\n'
     + _meters(1, "a") + _meters(1, "b").replace("40000000", "40000001"), "links[1].listen"),
    ('[[links]]\nname = "a"\nkind = "modem"\n' + _meters(1, "b"), "meters[0].link"),
    ('[[links]]\nname = "a"\nkind = "modem"\n' + _meters(2, "a"), "meters[1].link"),
    ('[[links]]\nname = "a"\nkind = "bus"\n' + _meters(MAX_METERS["bus"] + 1, "a"),
     f"meters[{MAX_METERS['bus']}].link"),
    ('[[links]]\nname = "a"\nkind = "bus"\n[[links]]\nname = "b"\nkind = "bus"\n'
     + _meters(1, "a"), "links[1]"),
    ('[[links]]\nname = "a"\nkind = "modem"\nline = { drops = 5 }\n' + _meters(1, "a"),
     "links[0].line.drops"),
    ('[[links]]\nname = "a"\nkind = "modem"\nline = { latency_ms = inf }\n'
     + _meters(1, "a"), "links[0].line.latency_ms"),
    ('[[links]]\nname = "a"\nkind = "modem"\nline = { connect_ms = nan }\n'
     + _meters(1, "a"), "links[0].line.connect_ms"),
    ('[[links]]\nname = "a"\nkind = "modem"\nline = { drop_chance = nan }\n'
     + _meters(1, "a"), "links[0].line.drop_chance"),
    ('[[links]]\nname = "a"\nkind = "modem"\nline = { piece_ms = nan }\n'
     + _meters(1, "a"), "links[0].line.piece_ms"),
    ('links = 3\n' + _meters(1, "a"), "links"),
    ('[[links]]\nname = "a"\nkind = "bus"\n', "[[meters]]"),
]


@pytest.mark.parametrize(("text", "field"), BAD, ids=[f for _, f in BAD])
def test_a_bad_fleet_file_is_refused_naming_the_file_and_the_field(tmp_path, text, field):
    path = write(tmp_path, text)
    with pytest.raises(FleetError) as caught:
        load_linked_fleet(path)
    assert str(path) in str(caught.value)
    assert field in str(caught.value)


def test_more_links_than_the_bound_are_refused(tmp_path):
    text = "".join(f'[[links]]\nname = "l{i}"\nkind = "modem"\n'
                   for i in range(MAX_LINKS + 1)) + _meters(1, "l0")
    with pytest.raises(FleetError, match=f"at most {MAX_LINKS}"):
        load_linked_fleet(write(tmp_path, text))


def test_meters_with_no_link_need_a_listen_port(tmp_path):
    fleet = load_linked_fleet(write(tmp_path, FLEET))
    with pytest.raises(ValueError, match="35100005.*--listen"):
        FleetNetwork(fleet)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hhu-sim")
    add_meter_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_the_command_names_each_link_its_kind_url_and_meters(tmp_path):
    network = build_network(parse(["meter", "--fleet", str(write(tmp_path, FLEET)),
                                   "--listen", "127.0.0.1:0"]))
    try:
        lines = describe_lines(network)
        urls = {name: server.url for name, server in network.links.items()}
    finally:
        network.stop()
    assert lines == [
        f"link gw1 gateway {urls['gw1']} sessions=2 meters 35100001@1001, 35100002",
        f"link bus1 bus {urls['bus1']} sessions=1 meters 35100003",
        f"link m1 modem {urls['m1']} sessions=1 line meters 35100004",
        f"meters 35100005 listening on {urls['direct']}"]
    assert all(url.startswith("socket://127.0.0.1:") and not url.endswith(":0")
               for url in urls.values())


def test_a_quirk_given_on_the_command_line_goes_to_every_link_and_a_bus_still_echoes(
        tmp_path):
    network = build_network(parse(["meter", "--fleet", str(write(tmp_path, FLEET)),
                                   "--listen", "0", "--quirk", "slow_reaction"]))
    network.stop()
    quirks = {name: s.meters.quirks for name, s in network.links.items()}
    assert {q.reaction_s for q in quirks.values()} == {1.0}
    assert [name for name, q in quirks.items() if q.echo] == ["bus1"]
    assert quirks["gw1"] == Quirks(reaction_s=1.0)


def test_one_meter_from_the_flags_still_needs_listen():
    with pytest.raises(FleetError, match="--listen"):
        build_network(parse(["meter", "--serial", "S1"]))


def test_the_example_remote_fleet_loads():
    fleet = load_linked_fleet(ROOT / "config" / "remote-fleet.toml")
    assert {link.kind for link in fleet.links} == {"modem", "gateway", "bus"}
    assert not fleet.direct.meters


def test_a_link_port_already_taken_is_named_with_its_field(tmp_path):
    import socket

    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    text = (f'[[links]]\nname = "a"\nkind = "bus"\n[[links]]\nname = "b"\nkind = "bus"\n'
            f'listen = "127.0.0.1:{port}"\n' + _meters(1, "a")
            + _meters(1, "b").replace("40000000", "40000001"))
    path = write(tmp_path, text)
    try:
        with pytest.raises(FleetError, match=rf"{path}: links\[1\]\.listen: cannot listen "
                                             rf"on 127\.0\.0\.1:{port}"):
            FleetNetwork(load_linked_fleet(path))
    finally:
        taken.close()


@pytest.mark.parametrize("load", [load_fleet, load_linked_fleet])
def test_a_fleet_file_past_the_size_bound_is_refused_unread(tmp_path, monkeypatch, load):
    """``--fleet /dev/zero`` or a mistyped path to a disk image must not fill memory."""
    from hhu_firmware_sim.meter import fleet
    monkeypatch.setattr(fleet, "MAX_FLEET_BYTES", 1000)
    path = tmp_path / "huge.toml"
    with path.open("wb") as f:
        f.truncate(10**9)              # sparse: a gigabyte of NULs, no disk used
    with pytest.raises(FleetError, match="more than 1000 bytes") as caught:
        load(path)
    assert str(path) in str(caught.value)
