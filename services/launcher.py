"""The whole stack in one command: `python -m services` (what `make run` starts).

Starts consent, notifier, chat and the gateway as separate processes with the environment as it is
(so REDIS_URL and the *_DATABASE_URL variables, when set, are used), prefixes each one's log lines with
its name, and prints the gateway's URL once all four report SERVING. Ctrl-C (or SIGTERM) stops them
gracefully, the gateway first. Each child is told by the kernel to stop if the launcher itself dies
(PR_SET_PDEATHSIG), so no process survives it whatever happens.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from services.runtime.config import ConfigError, Environment
from services.runtime.healthcheck import grpc_serving, http_ok

STARTUP_TIMEOUT_SECONDS = 60.0
STOP_ORDER = ("gateway", "chat", "notifier", "consent")
_COLOURS = {"consent": "36", "notifier": "35", "chat": "32", "gateway": "33"}
_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    name: str
    ready: Callable[[], bool]
    process: subprocess.Popen | None = None
    pump: threading.Thread | None = field(default=None, repr=False)


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGTERM it when the launcher goes away."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _reachable(host: str) -> str:
    """Where to reach a server bound to `host` from this machine."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (not binding, reading)


def _children(env: Environment) -> list[Child]:
    """Each service's address from its own settings, so the launcher and the service agree (and a
    malformed setting is reported before anything starts)."""
    from services.chat.settings import ChatSettings
    from services.consent.settings import ConsentSettings
    from services.notifier.settings import NotifierSettings

    children = []
    for name, settings in (
        ("consent", ConsentSettings.from_env(env)),
        ("notifier", NotifierSettings.from_env(env)),
        ("chat", ChatSettings.from_env(env)),
    ):
        host, port = _reachable(settings.server.host), settings.server.port
        address = f"{host}:{port}"
        children.append(Child(name, functools.partial(_grpc_ready, address)))
    health_url = gateway_url(env) + "/api/health"
    children.append(Child("gateway", lambda: http_ok(health_url) is None))
    return children


def gateway_url(env: Environment) -> str:
    host = _reachable(env.text("GATEWAY_HOST", "127.0.0.1"))
    return f"http://{host}:{env.port('GATEWAY_PORT', 8080)}"


def _pump(name: str, stream: IO[bytes], out: IO[str], width: int) -> None:
    colour = _COLOURS.get(name) if out.isatty() else None
    label = f"{name:<{width}} |"
    prefix = f"\x1b[{colour}m{label}\x1b[0m " if colour else f"{label} "
    for raw in iter(stream.readline, b""):
        out.write(prefix + raw.decode(errors="replace"))
        out.flush()


def _say(message: str) -> None:
    print(f"{'stack':<8} | {message}", flush=True)


def _stop(children: list[Child], grace: float) -> None:
    by_name = {child.name: child for child in children}
    for name in STOP_ORDER:
        child = by_name.get(name)
        if child is None or child.process is None or child.process.poll() is not None:
            continue
        child.process.send_signal(signal.SIGTERM)
        try:
            child.process.wait(grace)
        except subprocess.TimeoutExpired:
            _say(f"{name} did not stop within {grace:.0f}s; killing it")
            child.process.kill()
            child.process.wait()
    for child in children:
        if child.pump is not None:
            child.pump.join(timeout=2)


def main() -> None:
    env = Environment()
    try:
        children = _children(env)
        grace = env.number("SHUTDOWN_GRACE_SECONDS", 10.0, minimum=0) + 5
    except ConfigError as error:
        print(f"stack: configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    width = max(len(child.name) for child in children)
    for child in children:
        child.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module names)
            [sys.executable, "-m", f"services.{child.name}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=_die_with_parent,  # only prctl: safe between fork and exec
            start_new_session=True,  # Ctrl-C reaches the launcher only, which stops them in order
        )
        child.pump = threading.Thread(
            target=_pump, args=(child.name, child.process.stdout, sys.stdout, width), daemon=True
        )
        child.pump.start()

    code = _supervise(children, stop, gateway_url(env))
    _say("stopping")
    _stop(children, grace)
    _say("stopped")
    sys.exit(code)


def _grpc_ready(address: str) -> bool:
    return grpc_serving(address) is None


def _supervise(children: list[Child], stop: threading.Event, url: str) -> int:
    """Waits until all are SERVING (then says where the gateway is), and then until asked to stop or a
    service exits on its own; answers the launcher's exit status."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    waiting = list(children)
    while not stop.wait(0.2):
        for child in children:
            process = child.process
            if process is not None and process.poll() is not None:
                _say(f"{child.name} exited with status {process.returncode}; stopping the others")
                return 1
        if waiting:
            waiting = [child for child in waiting if not child.ready()]
            if not waiting:
                _say(f"all four services are SERVING; the gateway is at {url} (Ctrl-C stops everything)")
            elif time.monotonic() > deadline:
                names = ", ".join(child.name for child in waiting)
                _say(f"{names} not SERVING after {STARTUP_TIMEOUT_SECONDS:.0f}s; stopping")
                return 1
    return 0
