"""What PostgreSQL spends on a load: CPU time of the backends serving one database, and round trips.

CPU: the server runs on this machine (the bench's databases are on loopback), so a backend's CPU time is
in /proc/<pid>/stat like any process's. A sampler thread asks pg_stat_activity every 0.2 s which backends
serve the database (other projects' tests use the same server: only this database's backends count) and
remembers each one's CPU time when first and last seen; a backend first seen during the load counts from
zero (its connection set-up is the load's too).

Round trips: a PostgreSQL wire-protocol proxy on loopback that counts the messages clients send. A
client waits for the server's answer after each simple Query ('Q', what psycopg2 sends for every
execute, BEGIN and COMMIT included) and after each Sync ('S', the extended protocol's end of a batch),
so Q + S is the round trips. The proxy answers an SSLRequest with 'N' itself so that the traffic stays
readable. It is only used for a probe load (its own CPU and latency would distort the timed runs).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from bench.measure import cpu_seconds

_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104
_CANCEL_REQUEST = 80877102


@dataclass(frozen=True)
class PostgresUsage:
    cpu_seconds: float
    backends: int  # how many backends served the database during the load


class PostgresCpu:
    """CPU time of the backends serving `database` between start() and stop()."""

    def __init__(self, admin_url: URL, database: str, interval: float = 0.2) -> None:
        self._engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_size=1)
        self._database = database
        self._interval = interval
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _pids(self) -> list[int]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
                {"d": self._database},
            )
            return [row[0] for row in rows]

    def _sample(self, first: bool) -> None:
        for pid in self._pids():
            try:
                now = cpu_seconds(pid)
            except OSError:  # ended meanwhile
                continue
            self._first.setdefault(pid, now if first else 0.0)
            self._last[pid] = now

    def start(self) -> PostgresCpu:
        self._sample(first=True)

        def loop() -> None:
            while not self._stop.wait(self._interval):
                self._sample(first=False)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> PostgresUsage:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample(first=False)
        self._engine.dispose()
        spent = sum(self._last[pid] - self._first[pid] for pid in self._last)
        return PostgresUsage(spent, len(self._last))


def database_name(url: str) -> str:
    return make_url(url).database or ""


class PgWireProxy:
    """A loopback TCP proxy to a PostgreSQL server that counts the frontend messages by type."""

    def __init__(self, target: URL) -> None:
        self._target = (target.host or "127.0.0.1", target.port or 5432)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, url: str) -> str:
        """The same database through the proxy."""
        return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)

    def round_trips(self) -> int:
        counts = self.counts()
        return counts["Q"] + counts["S"]

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self._target)
        except OSError:
            client.close()
            return
        for conn in (client, server):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_pipe, args=(server, client), daemon=True).start()
        try:
            self._frontend(client, server)
        finally:
            for conn in (client, server):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def _frontend(self, client: socket.socket, server: socket.socket) -> None:
        # Start-up: length-prefixed packets without a type byte, until the StartupMessage itself.
        while True:
            header = _read(client, 4)
            if header is None:
                return
            (length,) = struct.unpack("!I", header)
            body = _read(client, length - 4)
            if body is None:
                return
            code = struct.unpack("!I", body[:4])[0] if len(body) >= 4 else 0
            if code in (_SSL_REQUEST, _GSS_REQUEST):
                client.sendall(b"N")  # no encryption: the messages stay countable
                continue
            server.sendall(header + body)
            if code == _CANCEL_REQUEST:
                return
            break
        buffer = b""
        while True:
            data = client.recv(65536)
            if not data:
                return
            server.sendall(data)
            buffer += data
            seen: Counter[str] = Counter()
            while len(buffer) >= 5:
                (length,) = struct.unpack("!I", buffer[1:5])
                if len(buffer) < 1 + length:
                    break
                seen[chr(buffer[0])] += 1
                buffer = buffer[1 + length :]
            if seen:
                with self._lock:
                    self._counts.update(seen)


def _read(conn: socket.socket, size: int) -> bytes | None:
    chunks = b""
    while len(chunks) < size:
        data = conn.recv(size - len(chunks))
        if not data:
            return None
        chunks += data
    return chunks


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


def settle(seconds: float = 0.3) -> None:
    """Lets the last sample of a sampler or the proxy's counts catch up with a finished load."""
    time.sleep(seconds)
