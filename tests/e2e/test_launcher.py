"""`python -m services` (what `make run` starts): four services, one URL, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from tests.support.network import free_port
from tests.support.processes import REPO_ROOT

READY = "all four services are SERVING; the gateway is at"


@pytest.fixture
def launcher(tmp_path):
    ports = {
        f"{name}{kind}_PORT": str(free_port())
        for name in ("CONSENT", "NOTIFIER", "CHAT", "GATEWAY")
        for kind in ("", "_METRICS")
    }
    environ = {
        **os.environ,
        **ports,
        "CONSENT_ADDR": f"127.0.0.1:{ports['CONSENT_PORT']}",
        "NOTIFIER_ADDR": f"127.0.0.1:{ports['NOTIFIER_PORT']}",
        "CHAT_ADDR": f"127.0.0.1:{ports['CHAT_PORT']}",
        "VAR_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    for variable in ("REDIS_URL", "CONSENT_DATABASE_URL", "NOTIFIER_DATABASE_URL", "CHAT_DATABASE_URL"):
        environ.pop(variable, None)  # the embedded defaults, as on a newcomer's machine
    process = subprocess.Popen(
        [sys.executable, "-m", "services"], cwd=REPO_ROOT, env=environ, stdout=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while not any(READY in line for line in lines):
        assert process.poll() is None, "".join(lines)
        assert time.monotonic() < deadline, "".join(lines)
        lines.append(process.stdout.readline())
    children = psutil.Process(process.pid).children()
    yield process, lines, children, ports
    if process.poll() is None:
        process.kill()
    for child in children:
        if child.is_running():
            child.kill()


def test_the_stack_starts_says_where_the_gateway_is_and_ctrl_c_stops_everything(launcher):
    process, lines, children, ports = launcher
    ready = next(line for line in lines if READY in line)
    assert f"http://127.0.0.1:{ports['GATEWAY_PORT']}" in ready
    assert sorted(c.cmdline()[-1] for c in children) == [
        f"services.{n}" for n in ("chat", "consent", "gateway", "notifier")
    ]
    prefixes = {line.split("|")[0].strip() for line in lines if "|" in line}
    assert {"consent", "notifier", "chat", "gateway"} <= prefixes  # every service's log, labelled
    for name in ("CONSENT", "NOTIFIER", "CHAT", "GATEWAY"):  # each process its own metrics endpoint
        scraped = httpx.get(f"http://127.0.0.1:{ports[f'{name}_METRICS_PORT']}/metrics", timeout=10)
        assert scraped.status_code == 200
        assert "# TYPE process_cpu_seconds_total counter" in scraped.text

    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "stack    | stopped" in output
    _, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
    for name in ("consent", "notifier", "chat"):
        assert f"{name} received SIGTERM, shutting down" in output  # each stopped gracefully
        assert f"{name} stopped" in output
    assert "gateway stopped by SIGTERM" in output
    assert output.index("gateway stopped") < output.index("consent stopped")  # the gateway first


def test_no_service_outlives_a_launcher_that_is_killed(launcher):
    process, _, children, _ = launcher
    process.kill()
    process.wait()
    _, alive = psutil.wait_procs(children, timeout=30)
    assert alive == []
