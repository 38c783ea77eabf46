"""The simulator's one way to serve TCP: listen, accept, one handler per connection,
bounded, stop.

Every socket server of the simulator (an HHU, a line, a meter, a bench's relay) is a
:class:`SocketServer` on the process's simulator loop (``simloop``): accepting costs no
thread, each connection is one handler coroutine, and ``stop()`` ends them all. At most
``max_connections`` are served at once; one more waits in the listen backlog (a cradle
has one cable: the next dock is accepted when this one ends) or, given ``refuse``, is
handed to it and closed (a meter that answers "busy"), after ``refuse_grace_s`` in which
a connection that is ending may still free its slot (a client that hangs up and calls
again at once is not refused for the server's being slower than it to see the hang-up).
A blocking handler (``blocking``) runs in a worker thread instead, for sessions written
against blocking sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from hhu_firmware_sim import simloop

log = logging.getLogger(__name__)

Handler = Callable[[socket.socket], Awaitable[None]]
BlockingHandler = Callable[[socket.socket], Any]
Refuse = Callable[[socket.socket, Any], None]
STOP_WAIT_S = 5.0


def nodelay(sock: socket.socket) -> socket.socket:
    """No Nagle delay: a simulated cable passes each byte on as it comes."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def close_socket(sock: socket.socket) -> None:
    """Both directions shut, then closed: the peer sees end of stream at once."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class SocketServer:
    """Serve ``handler`` (a coroutine taking the accepted, non-blocking socket) on
    ``listen``; ``start()`` and ``stop()`` from any thread, or use it as a context."""

    def __init__(self, handler: Handler | BlockingHandler,
                 listen: tuple[str, int] = ("127.0.0.1", 0), *,
                 max_connections: int | None = None, refuse: Refuse | None = None,
                 blocking: bool = False, refuse_grace_s: float = 0.0) -> None:
        if max_connections is not None and max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        if refuse_grace_s < 0:
            raise ValueError("refuse_grace_s must be >= 0")
        self.refuse_grace_s = refuse_grace_s
        self.handler = handler
        self.max_connections = max_connections
        self.refuse = refuse
        self.blocking = blocking
        self.active = 0
        self._sock = socket.create_server(listen)
        self._sock.setblocking(False)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._main: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: set[asyncio.Task[None]] = set()     # over the bound, in their grace
        self._slot: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """The ``socket://`` URL a pyserial client opens to reach this server."""
        return f"socket://{self.address[0]}:{self.address[1]}"

    def _full(self) -> bool:
        return self.max_connections is not None and self.active >= self.max_connections

    def start(self) -> SocketServer:
        """Begin accepting on the simulator loop."""
        simloop.call(self._begin)
        return self

    def _begin(self) -> None:
        if self._main is not None:
            # Started already (``with server.start():`` starts twice): a second accept
            # loop would replace the first, whose task, no longer referenced, is then
            # collected, and its ``finally`` closes the listening socket under the other.
            return
        loop = asyncio.get_running_loop()
        self._slot = asyncio.Event()
        self._main = loop.create_task(self._accept_loop())

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._slot is not None
        try:
            while True:
                await self._accept_one(loop, self._slot)
        except OSError:
            return
        finally:
            self._sock.close()

    async def _free_slot(self, slot: asyncio.Event) -> None:
        while self._full():
            slot.clear()
            await slot.wait()

    async def _accept_one(self, loop: asyncio.AbstractEventLoop, slot: asyncio.Event) -> None:
        if self.refuse is None:
            await self._free_slot(slot)     # the next client waits in the backlog
        conn, peer = await loop.sock_accept(self._sock)
        nodelay(conn)
        if self.refuse is None:
            await self._free_slot(slot)     # an adopted connection took the slot meanwhile
        elif self._full():          # it answers, then the line closes
            if self.refuse_grace_s > 0:
                task = loop.create_task(self._grace(loop, conn, peer))
                self._waiting.add(task)
                task.add_done_callback(self._waiting.discard)
            else:
                self._refuse(conn, peer)
            return
        self._admit(loop, conn)

    def _refuse(self, conn: socket.socket, peer: Any) -> None:
        assert self.refuse is not None
        try:
            conn.setblocking(True)
            self.refuse(conn, peer)
        except OSError:
            pass
        finally:
            close_socket(conn)

    async def _grace(self, loop: asyncio.AbstractEventLoop, conn: socket.socket,
                     peer: Any) -> None:
        """Over the bound: admitted if a slot frees within the grace, else refused."""
        assert self._slot is not None
        deadline = loop.time() + self.refuse_grace_s
        try:
            while self._full():     # another waiter may take the slot that freed
                left = deadline - loop.time()
                if left <= 0:
                    self._refuse(conn, peer)
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._free_slot(self._slot), left)
        except asyncio.CancelledError:
            close_socket(conn)
            raise
        self._admit(loop, conn)

    def _admit(self, loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
        self.active += 1
        self._tasks.add(loop.create_task(self._run(conn)))

    async def adopt(self, conn: socket.socket) -> None:
        """Serve a socket connected some other way (one end of an in-process pair, no
        TCP) as if accepted, under the same bound: waits for a free slot, or, with
        ``refuse``, is refused when full (ConnectionRefusedError)."""
        assert self._slot is not None, "start() the server first"
        if self.refuse is not None and self._full():
            close_socket(conn)
            raise ConnectionRefusedError("all connections taken")
        await self._free_slot(self._slot)
        self._admit(asyncio.get_running_loop(), conn)

    async def _run(self, conn: socket.socket) -> None:
        try:
            if self.blocking:
                await self._in_thread(conn)
            else:
                await self.handler(conn)
        except asyncio.CancelledError:
            raise
        except Exception:   # one connection's failure never ends the server
            log.exception("simulator connection handler failed")
        finally:
            close_socket(conn)
            self.active -= 1
            self._tasks.discard(asyncio.current_task())
            if self._slot is not None:
                self._slot.set()

    async def _in_thread(self, conn: socket.socket) -> None:
        """A blocking handler in a thread of its own (a shared pool could run out of
        threads and leave an admitted connection unserved)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def finished() -> None:
            if not done.done():
                done.set_result(None)

        def work() -> None:
            try:
                self.handler(conn)
            except Exception:   # one connection's failure never ends the server
                log.exception("simulator connection handler failed")
            finally:
                with contextlib.suppress(RuntimeError):    # the loop is gone
                    loop.call_soon_threadsafe(finished)

        conn.setblocking(True)
        threading.Thread(target=work, name="sim-connection", daemon=True).start()
        await done

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        """Stop accepting, end every connection's handler, close the listening socket."""
        if self._main is None:
            with contextlib.suppress(OSError):
                self._sock.close()
            return
        if simloop.on_sim_loop():
            self._cancel()
            return
        with contextlib.suppress(TimeoutError):
            simloop.submit(self._shutdown(timeout)).result(timeout + 1.0)

    def close(self) -> None:
        """Stop, or, never started, just close the listening socket."""
        self.stop()

    def _cancel(self) -> list[asyncio.Task[None]]:
        tasks = [t for t in (self._main, *self._tasks, *self._waiting) if t is not None]
        if self._main is not None:
            self._main.cancel()
        for task in self._waiting:
            task.cancel()
        if not self.blocking:
            for task in self._tasks:
                task.cancel()
        return tasks

    async def _shutdown(self, timeout: float) -> None:
        tasks = self._cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def __enter__(self) -> SocketServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
