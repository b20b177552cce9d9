"""The image, proven: `docker build` of the repository succeeds, and each service runs from it as a
non-root user on a read-only root filesystem (tmpfs /tmp): consent and notifier against the machine's
PostgreSQL, chat, and the gateway, which answers an unsubscribe and a chat. Host networking, loopback
only, ports of their own (other runs use the default ones)."""

from __future__ import annotations

import json
import uuid
from contextlib import ExitStack

import httpx
import pytest
from sqlalchemy import func, select

from services.chat.adapters.tables import conversations
from services.consent.adapters.tables import audit_log
from tests.support.databases import fresh_postgres_database, query
from tests.support.docker import Container, docker, unique_name
from tests.support.network import free_port, wait_until_http_ok, wait_until_serving

ADMIN_KEY = "image-test-admin-key-0123456789abcdefghij"
PSEUDONYM_KEY = "image-test-pseudonym-key-0123456789abcdefgh"
# Generous: the image is built once per session, and 2 shared cores may be busy.
MAX_IMAGE_BYTES = 450 * 1024 * 1024
# The first test builds the image (minutes when its dependencies change, on 2 shared cores).
pytestmark = pytest.mark.timeout(1800)


def test_the_image_is_reported_runs_as_non_root_and_holds_no_compiler_or_test_tools(image, capsys):
    with capsys.disabled():
        print(f"\nimage {image.tag}: {image.size_bytes / 1024 / 1024:.0f} MiB")
    assert image.size_bytes < MAX_IMAGE_BYTES
    config = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", image.tag).stdout)
    assert config["User"] == "10001:10001"
    absent = ("pytest", "grpc_tools", "hypothesis", "ruff", "schemathesis")
    probe = (
        "id -u; for tool in gcc cc c++ make; do command -v $tool && exit 3; done; "
        "python -c 'import importlib.util as u, sys; "
        f"found = [m for m in {absent!r} if u.find_spec(m)]; print(found); sys.exit(4 if found else 0)'; "
        "test ! -e /app/tests && test ! -e /app/.venv && test ! -e /app/var/consent.db"
    )
    isolated = ("run", "--rm", "--network", "none", "--read-only")
    result = docker(*isolated, image.tag, "sh", "-c", probe, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == "10001"


@pytest.fixture
def containers():
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


def test_each_service_serves_from_the_image_and_the_gateway_answers(
    image, postgres_admin, redis_url, containers
):
    ports = {name: free_port() for name in ("consent", "notifier", "chat", "gateway")}
    grpc_services = ("consent", "notifier", "chat")
    common = {
        "GRPC_HOST": "127.0.0.1",  # host networking: loopback only
        "GATEWAY_HOST": "127.0.0.1",
        "LOG_LEVEL": "info",
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": f"image-test-{uuid.uuid4().hex[:8]}",
        # The metrics ports' defaults (9460-9463) may be taken by other runs on this machine.
        **{f"{name.upper()}_METRICS_PORT": "" for name in ports},
    }
    addresses = {f"{name.upper()}_ADDR": f"127.0.0.1:{ports[name]}" for name in grpc_services}
    with ExitStack() as exits:
        urls = {
            name: exits.enter_context(fresh_postgres_database(postgres_admin, f"image_{name}"))
            for name in ("consent", "notifier", "chat")
        }
        environ = {
            "consent": {
                "CONSENT_PORT": str(ports["consent"]),
                "CONSENT_PSEUDONYM_KEY": PSEUDONYM_KEY,
                "NOTIFIER_ADDR": addresses["NOTIFIER_ADDR"],
            },
            "notifier": {"NOTIFIER_PORT": str(ports["notifier"])},
            "chat": {"CHAT_PORT": str(ports["chat"]), **addresses},
            "gateway": {
                "GATEWAY_PORT": str(ports["gateway"]),
                "ADMIN_API_KEY": ADMIN_KEY,
                "UNSUBSCRIBE_SECRET": "image-test-unsubscribe-secret-0123456789",
                **addresses,
            },
        }
        for name, url in urls.items():
            environ[name][f"{name.upper()}_DATABASE_URL"] = url.render_as_string(hide_password=False)
        for name in ("consent", "notifier", "chat", "gateway"):
            command = ["python", "-m", f"services.{name}"]
            container = Container(unique_name(name), image.tag, command, common | environ[name])
            containers.append(container.start())
            try:
                if name == "gateway":
                    wait_until_http_ok(f"http://127.0.0.1:{ports['gateway']}/api/health", timeout=60)
                else:
                    wait_until_serving(f"127.0.0.1:{ports[name]}", timeout=60)
            except TimeoutError:
                pytest.fail(f"{name} did not serve from the image; its log:\n{container.logs()}")

        with httpx.Client(base_url=f"http://127.0.0.1:{ports['gateway']}", timeout=15) as http:
            unsubscribe = {"email": "Anna@Example.com", "reason": "image"}
            unsubscribed = http.post("/api/unsubscribe", json=unsubscribe)
            assert unsubscribed.status_code == 200, unsubscribed.text
            assert unsubscribed.json()["success"] is True
            reply = http.post("/api/chatbot/chat", json={"session_id": "image-1", "message": "Dzień dobry"})
            assert reply.status_code == 200, reply.text
            assert reply.json()["reply"]
            deep = http.get("/api/health/deep", headers={"X-ADMIN-API-KEY": ADMIN_KEY})
            assert deep.status_code == 200, deep.text

        # What the containers wrote is in the machine's PostgreSQL.
        for name, table in (("consent", audit_log), ("chat", conversations)):
            assert query(urls[name], select(func.count()).select_from(table))[0][0] >= 1

        # docker stop sends SIGTERM: every service shuts down gracefully and exits 0.
        for container in reversed(containers):
            assert container.stop() == 0, container.logs()
