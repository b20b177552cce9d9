"""Services as separate processes (`python -m services.<name>`), the way operators run them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Self

from tests.support.network import wait_until_serving

REPO_ROOT = Path(__file__).resolve().parents[2]
# The metrics endpoints' default ports (9460-9463) would collide between tests running side by side:
# off unless a test gives a port.
METRICS_OFF = {f"{name}_METRICS_PORT": "" for name in ("GATEWAY", "CONSENT", "NOTIFIER", "CHAT")}


def run_module(
    module: str, environ: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Runs `python -m <module>` to completion with only `environ` (and PATH) set: what a service does
    on its own with a given configuration."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", **METRICS_OFF, **environ},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class ServiceProcess:
    """One service process with its own environment; its output goes to a file the test can read."""

    def __init__(self, name: str, environ: dict[str, str], *, port: int) -> None:
        self.name = name
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self._environ = {**os.environ, "PYTHONUNBUFFERED": "1", **METRICS_OFF, **environ}
        self._log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)  # noqa: SIM115
        self.process: subprocess.Popen | None = None

    def start(self) -> Self:
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            cwd=REPO_ROOT,
            env=self._environ,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_serving(self, timeout: float = 30.0) -> Self:
        try:
            wait_until_serving(self.address, timeout=timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.name} never served; its output:\n{self.output()}") from None
        return self

    @property
    def pid(self) -> int:
        """The started process's id."""
        if self.process is None:
            raise RuntimeError(f"{self.name} was not started")
        return self.process.pid

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait; SIGKILL if it does not exit in time. Answers the exit status."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def output(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def close(self) -> None:
        self.kill()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)
