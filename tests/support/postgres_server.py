"""A private PostgreSQL server on a free port in a temporary directory, for tests that stop and restart
PostgreSQL (the machine's shared server is never stopped).

initdb refuses to run as root, so when the tests run as root the cluster belongs to the `postgres`
user and its commands run through `runuser`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile

from sqlalchemy.engine import URL

from services.runtime.db import normalise_url
from tests.support.databases import postgres_reachable
from tests.support.network import free_port


def postgres_binaries() -> str | None:
    """The directory holding initdb and pg_ctl (the newest installed version), or None."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return os.path.dirname(on_path)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return os.path.dirname(found[-1]) if found else None


class PrivatePostgres:
    def __init__(self) -> None:
        binaries = postgres_binaries()
        if binaries is None:
            raise RuntimeError("initdb/pg_ctl are not installed (the PostgreSQL server package)")
        self._bin = binaries
        self.port = free_port()
        self._dir = tempfile.mkdtemp(prefix="postgres-")
        self._data = os.path.join(self._dir, "data")
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self._dir, owner.pw_uid, owner.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.admin_url: URL = normalise_url(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
        self._run(
            "initdb", "-D", self._data, "-U", "postgres", "--auth=trust", "--no-sync", "--encoding=UTF8"
        )

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [*self._as_user, os.path.join(self._bin, program), *args],
            check=True,
            capture_output=True,
            cwd=self._dir,
            timeout=60,
        )

    def running(self) -> bool:
        status = subprocess.run(
            [*self._as_user, os.path.join(self._bin, "pg_ctl"), "-D", self._data, "status"],
            capture_output=True,
            cwd=self._dir,
            check=False,
        )
        return status.returncode == 0

    def start(self) -> PrivatePostgres:
        """Starts the server (again, on the same port and data) and waits until it answers; a no-op
        while it runs."""
        if self.running():
            return self
        options = f"-p {self.port} -k {self._dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", self._data, "-o", options, "-l", os.path.join(self._dir, "log"), "-w", "start"
        )
        if not postgres_reachable(self.admin_url):
            raise RuntimeError(f"the private PostgreSQL on port {self.port} started but does not answer")
        return self

    def stop(self) -> None:
        """Stops the server at once, cutting every connection (what a crash or failover looks like)."""
        self._run("pg_ctl", "-D", self._data, "-m", "immediate", "-w", "stop")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # it was not running
            self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
