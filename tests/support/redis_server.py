"""A private redis-server on a free port in a temporary directory, for tests that stop and restart
Redis (the machine's shared Redis is never stopped)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time

import redis

from tests.support.network import free_port


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.mkdtemp(prefix="redis-")
        self._process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed")
        self._process = subprocess.Popen(
            [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self._dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        return self

    def stop(self) -> None:
        """Kills the server (it keeps nothing on disk); start() brings it back on the same port."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None

    def keys(self, pattern: str) -> list[bytes]:
        client = redis.Redis.from_url(self.url)
        try:
            return [key if isinstance(key, bytes) else key.encode() for key in client.keys(pattern)]
        finally:
            client.close()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
