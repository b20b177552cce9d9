"""The gateway as tests run it: in-process on uvicorn in a background thread (real HTTP on a free
port), or as `python -m services.gateway` processes; and private Redis servers a test may stop."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Self

import httpx
import uvicorn

from services.gateway.application.contracts import HttpBinding
from services.gateway.bootstrap import build_app, load_bindings, upstream_names, uvicorn_config
from services.gateway.settings import GatewaySettings
from services.runtime.config import Environment
from tests.support.network import free_port
from tests.support.processes import ServiceProcess

ADMIN_KEY = "test-admin-key-0123456789-0123456789"
UNSUBSCRIBE_SECRET = "test-unsubscribe-secret-0123456789"


def unique_prefix() -> str:
    """A Redis key prefix of its own for every gateway a test starts: the Redis server is shared."""
    return f"test:gateway:{uuid.uuid4().hex[:12]}"


class GatewayServer:
    """The gateway app served by uvicorn in a thread of the test process."""

    def __init__(self, environ: dict[str, str], bindings: Sequence[HttpBinding] | None = None) -> None:
        self.port = free_port()
        bindings = load_bindings() if bindings is None else bindings
        self.settings = GatewaySettings.from_env(
            Environment({**environ, "GATEWAY_PORT": str(self.port)}), upstream_names(bindings)
        )
        config = uvicorn_config(build_app(self.settings, bindings), self.settings)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="gateway", daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(15)


def gateway_in_front_of(addresses: Mapping[str, str], **environ: str) -> GatewayServer:
    """A started gateway over a running stack (its *_ADDR `addresses`): the admin key, the client
    addresses from 127.0.0.1 believed, a Redis prefix of its own, limits no test reaches; `environ`
    adds to or replaces these."""
    return GatewayServer(
        {
            **addresses,
            "ADMIN_API_KEY": ADMIN_KEY,
            "TRUSTED_PROXIES": "127.0.0.1/32",
            "REDIS_KEY_PREFIX": unique_prefix(),
            "CHAT_RATE_LIMIT": "1000 per minute",
            "API_RATE_LIMIT_MINUTE": "1000 per minute",
            "API_RATE_LIMIT_HOUR": "1000 per hour",
            **environ,
        }
    ).start()


class GatewayProcess(ServiceProcess):
    """`python -m services.gateway` with its own environment."""

    def __init__(self, environ: dict[str, str]) -> None:
        port = free_port()
        super().__init__("gateway", {**environ, "GATEWAY_PORT": str(port)}, port=port)
        self.url = f"http://127.0.0.1:{port}"

    def wait_serving(self, timeout: float = 30.0) -> Self:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"the gateway never served; its output:\n{self.output()}")
