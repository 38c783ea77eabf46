"""A private PostgreSQL server to stop and start for real, without pytest.

The fault tests (``tests/pg_private.py``, which turns a failure into ``pytest.fail``) and
the chaos campaign's PostgreSQL mode (``bench/chaos.py --store postgresql``) both use it:
``initdb`` into a temporary folder, a free port on 127.0.0.1, fsync off (it holds nothing
worth keeping). The binaries are PostgreSQL's own (``/usr/lib/postgresql/*/bin``, or
``PG_BIN``). Run as root, the server runs as the ``postgres`` user (PostgreSQL refuses
root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NoReturn

import psycopg

START_S = 60          # pg_ctl waits this long for the server to accept connections


class ServerError(RuntimeError):
    """The server's binaries are missing, or one of its tools failed."""


def bin_dir() -> Path:
    named = os.environ.get("PG_BIN")
    found = [Path(named)] if named else sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
        if p.parent.name.isdigit() else 0)
    for folder in reversed(found):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise ServerError("no PostgreSQL server binaries (initdb, pg_ctl) under "
                      "/usr/lib/postgresql/*/bin or $PG_BIN: install postgresql (Debian's "
                      "package) to run the fault tests")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateServer:
    """One PostgreSQL server in a temporary folder, on its own port."""

    def __init__(self) -> None:
        try:
            self.bin = bin_dir()
        except ServerError as exc:
            self._fail(str(exc))
        self.root = Path(tempfile.mkdtemp(prefix="hhu-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._user: list[str] = []
        if os.geteuid() == 0:
            self._user = ["runuser", "-u", "postgres", "--"]
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")

    def _fail(self, message: str) -> NoReturn:
        """How a failure is reported: an exception here, ``pytest.fail`` in the tests."""
        raise ServerError(message)

    def _pg(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self._user, str(self.bin / tool), *args],
                              capture_output=True, text=True, timeout=START_S + 30)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            self._fail(f"{tool} {' '.join(args)} failed ({done.returncode}): "
                       f"{done.stderr.strip()}\n{log}")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=60")
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t",
                 str(START_S), "-o", options, "start")

    def stop(self) -> None:
        """A fast shutdown: every session ended at once, as in a failover."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", str(START_S),
                 "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def restart(self) -> None:
        self.stop()
        self.start()

    def database(self) -> str:
        """The URL of a new empty database (C collation, as the store expects)."""
        name = f"hhu_fault_{time.monotonic_ns()}"
        with psycopg.connect(f"{self.url}/postgres", autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\' '
                       "LC_COLLATE 'C' LC_CTYPE 'C'")
        return f"{self.url}/{name}"

    def remove(self) -> None:
        if self.running():
            subprocess.run([*self._user, str(self.bin / "pg_ctl"), "-D", str(self.data),
                            "-m", "immediate", "-w", "stop"], capture_output=True,
                           timeout=START_S)
        shutil.rmtree(self.root, ignore_errors=True)
