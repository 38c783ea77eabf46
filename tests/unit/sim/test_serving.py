"""The simulator's one socket server: a handler per connection, bounded, stopped as one."""

from __future__ import annotations

import asyncio
import socket
import threading

from hhu_firmware_sim import simloop
from hhu_firmware_sim.serving import SocketServer


def _client(server: SocketServer) -> socket.socket:
    sock = socket.create_connection(server.address, timeout=10)
    sock.settimeout(10)
    return sock


def _recv_all(sock: socket.socket) -> bytes:
    out = bytearray()
    while chunk := sock.recv(100):
        out += chunk
    return bytes(out)


async def _echo(conn: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    while data := await loop.sock_recv(conn, 100):
        await loop.sock_sendall(conn, data)


def test_each_connection_gets_its_own_handler_on_the_loop():
    with SocketServer(_echo) as server:
        a, b = _client(server), _client(server)
        a.sendall(b"one")
        b.sendall(b"two")
        assert (b.recv(3), a.recv(3)) == (b"two", b"one")
        a.close()
        b.close()


def test_stop_ends_every_handler_and_the_clients_see_the_end():
    with SocketServer(_echo) as server:
        a = _client(server)
        a.sendall(b"x")
        assert a.recv(1) == b"x"
    assert _recv_all(a) == b""
    a.close()


def test_over_the_bound_the_next_client_waits_until_a_connection_ends():
    order: list[str] = []
    release = threading.Event()

    def held(conn: socket.socket) -> None:
        n = conn.recv(1).decode()
        order.append(f"start {n}")
        if n == "1":
            release.wait(10)
        order.append(f"end {n}")
        conn.sendall(n.encode())

    with SocketServer(held, max_connections=1, blocking=True) as server:
        first, second = _client(server), _client(server)
        first.sendall(b"1")
        second.sendall(b"2")
        release.set()
        assert (first.recv(1), second.recv(1)) == (b"1", b"2")
        assert order == ["start 1", "end 1", "start 2", "end 2"]
        first.close()
        second.close()


def test_with_refuse_the_client_over_the_bound_is_answered_and_closed():
    release = threading.Event()

    def refuse(conn: socket.socket, peer: object) -> None:
        conn.sendall(b"busy")

    with SocketServer(lambda conn: release.wait(10), max_connections=1, refuse=refuse,
                      blocking=True) as server:
        first = _client(server)
        first.sendall(b"hold")
        assert _recv_all(_client(server)) == b"busy"
        release.set()
        first.close()


def test_an_adopted_socket_is_served_like_an_accepted_one():
    with SocketServer(_echo) as server:
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        simloop.submit(server.adopt(ours)).result(10)
        theirs.settimeout(10)
        theirs.sendall(b"pair")
        assert theirs.recv(4) == b"pair"
        theirs.close()


def test_a_server_started_twice_keeps_serving_after_a_collection():
    # `with SocketServer(...).start() as server:` starts it twice; the second start must
    # not leave the first accept loop unreferenced (collected, it closed the socket).
    import gc

    with SocketServer(_echo).start() as server:
        simloop.call(gc.collect)
        gc.collect()
        with _client(server) as c:
            c.sendall(b"still here")
            assert c.recv(10) == b"still here"


def test_within_the_refuse_grace_a_client_over_the_bound_gets_the_slot_that_frees():
    release = threading.Event()
    refused: list[object] = []

    def held(conn: socket.socket) -> None:
        if conn.recv(1) == b"1":
            release.wait(10)
        conn.sendall(b"served")

    with SocketServer(held, max_connections=1, refuse=lambda c, p: refused.append(p),
                      blocking=True, refuse_grace_s=10.0) as server:
        first = _client(server)
        first.sendall(b"1")
        second = _client(server)         # over the bound: in its grace, not refused
        second.sendall(b"2")
        release.set()                    # the first ends: its slot goes to the second
        assert _recv_all(first) == b"served"
        assert _recv_all(second) == b"served"
        first.close()
        second.close()
    assert refused == []


def test_past_the_refuse_grace_the_client_over_the_bound_is_refused():
    release = threading.Event()
    refused: list[object] = []
    with SocketServer(lambda conn: release.wait(10), max_connections=1,
                      refuse=lambda c, p: refused.append(p), blocking=True,
                      refuse_grace_s=0.05) as server:
        first = _client(server)
        first.sendall(b"hold")
        assert _recv_all(_client(server)) == b""
        release.set()
        first.close()
    assert len(refused) == 1
