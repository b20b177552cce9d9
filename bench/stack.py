"""The processes a bench run drives, on free ports: PostgreSQL databases of their own and a private
redis-server when they can be had (SQLite files and in-memory limits otherwise, said in the output).

The services run as operators run them (`python -m services.<name>`, tests/support/processes.py);
the Redis server is private so that INFO commandstats counts this run's commands only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import psutil
import redis

from bench.load import LoadResult
from bench.pg import PgWireProxy, PostgresCpu, database_name
from services.runtime.db import normalise_url
from tests.support.databases import fresh_postgres_database, postgres_reachable
from tests.support.gateway import GatewayProcess
from tests.support.network import free_port, wait_until_http_ok
from tests.support.processes import REPO_ROOT, ServiceProcess, run_module
from tests.support.redis_server import PrivateRedis

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
UNLIMITED = "100000000 per hour"  # limits are counted, never reached
CONNECTION_SETUP = ("CLIENT", "HELLO", "SELECT", "AUTH")


class Backends:
    """Where the run keeps its data: a fresh PostgreSQL database per service and purpose, or SQLite."""

    def __init__(self, exits: ExitStack) -> None:
        self._exits = exits
        self.var_dir = exits.enter_context(tempfile.TemporaryDirectory(prefix="bench-"))
        raw = (
            os.environ.get("BENCH_DATABASE_URL")
            or os.environ.get("TEST_DATABASE_URL")
            or DEFAULT_DATABASE_URL
        )
        admin = normalise_url(raw)
        self._admin = admin if postgres_reachable(admin) else None
        self.database_kind = "postgresql" if self._admin is not None else "sqlite"
        self.redis: PrivateRedis | None = None
        if shutil.which("redis-server"):
            self.redis = PrivateRedis().start()
            exits.callback(self.redis.close)
        self.redis_kind = (
            "redis (private redis-server)" if self.redis else "memory (no redis-server installed)"
        )

    def database(self, label: str) -> str:
        if self._admin is not None:
            url = self._exits.enter_context(fresh_postgres_database(self._admin, f"bench_{label}"))
        else:
            url = normalise_url(f"sqlite:///{self.var_dir}/{label}.db")
        return url.render_as_string(hide_password=False)

    def postgres_cpu(self, url: str) -> PostgresCpu | None:
        """A meter of the CPU time of the PostgreSQL backends serving the database at `url` (bench/pg.py);
        None on SQLite (no server processes)."""
        if self._admin is None:
            return None
        return PostgresCpu(self._admin, database_name(url))

    def postgres_proxy(self) -> PgWireProxy | None:
        """A round-trip counting proxy to the PostgreSQL server (bench/pg.py); None on SQLite."""
        if self._admin is None:
            return None
        proxy = PgWireProxy(self._admin)
        self._exits.callback(proxy.close)
        return proxy

    def redis_commands(self) -> int:
        """Commands the private Redis has executed so far (INFO and CONFIG, the bench's own, excluded)."""
        if self.redis is None:
            return 0
        client = redis.Redis.from_url(self.redis.url)
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
        return sum(v["calls"] for k, v in stats.items() if k not in ("cmdstat_info", "cmdstat_config"))

    def round_trips(self, drive: Callable[[], LoadResult]) -> dict:
        """Commands clients sent per request while drive() ran, as MONITOR shows them: INFO commandstats
        also counts the commands a Lua script runs inside its one round trip, MONITOR marks those 'lua'.

        A client's pool opens a connection when its concurrency grows; that connection's handshake
        (CLIENT SETINFO, HELLO, SELECT, AUTH) is sent once for many requests, so it is counted apart."""
        assert self.redis is not None
        marker = f"bench-{uuid.uuid4().hex}"
        monitoring, marking = redis.Redis.from_url(self.redis.url), redis.Redis.from_url(self.redis.url)
        marking.ping()  # connected (and its handshake sent) before anything is counted
        sent: Counter[str] = Counter()
        driven: list[LoadResult] = []

        def drive_then_mark() -> None:
            try:
                driven.append(drive())
            finally:
                marking.echo(marker)

        with monitoring.monitor() as monitor:
            driver = threading.Thread(target=drive_then_mark)
            driver.start()
            for command in monitor.listen():
                if marker in command["command"]:
                    break
                if command["client_type"] != "lua":
                    sent[command["command"].split(" ", 1)[0].upper()] += 1
            driver.join()
        monitoring.close()
        marking.close()
        setup = sum(sent[name] for name in CONNECTION_SETUP)
        return {
            "per_request": round((sum(sent.values()) - setup) / driven[0].requests, 3),
            "connection_setup_commands": setup,
            "commands": dict(sent),
        }


def migrate(service: str, environ: dict[str, str]) -> None:
    done = run_module(f"services.{service}", environ, "migrate", timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{service} migrate failed:\n{done.stdout}{done.stderr}")


def start_service(exits: ExitStack, name: str, environ: dict[str, str]) -> ServiceProcess:
    port = free_port()
    variable = f"{name.upper()}_PORT"
    process = ServiceProcess(name, {**environ, variable: str(port)}, port=port).start()
    exits.callback(process.close)
    exits.callback(process.stop)
    return process.wait_serving(timeout=60)


def start_gateway(exits: ExitStack, environ: dict[str, str]) -> GatewayProcess:
    gateway = GatewayProcess(environ).start()
    exits.callback(gateway.close)
    exits.callback(gateway.stop)
    return gateway.wait_serving(timeout=60)


class CommandProcess:
    """Any other server the bench starts (the bare app, gunicorn), with its whole process tree."""

    def __init__(
        self, exits: ExitStack, command: list[str], environ: dict[str, str], health_url: str
    ) -> None:
        self._log = exits.enter_context(tempfile.NamedTemporaryFile(prefix="bench-", suffix=".log"))  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603
            command, cwd=REPO_ROOT, env={**os.environ, **environ}, stdout=self._log, stderr=subprocess.STDOUT
        )
        exits.callback(self.stop)
        try:
            wait_until_http_ok(health_url, timeout=60)
        except TimeoutError:
            raise RuntimeError(f"{command[2:]} never served:\n{Path(self._log.name).read_text()}") from None

    def pids(self) -> list[int]:
        parent = psutil.Process(self.process.pid)
        return [parent.pid, *(child.pid for child in parent.children(recursive=True))]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
