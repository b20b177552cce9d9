"""docker-compose.yml started for real, unedited: the `secrets` one-shot generates the development secrets
into their volumes and says so, `provision` creates one role per service owning only its database, and
the stack answers through the gateway.

All traffic stays on loopback: an override file (written here) puts every service on the host network
with ports of its own, and points the stores at servers on this machine instead of the postgres:16 and
redis:7 images no registry here can provide: the machine's PostgreSQL (provision connects to it as its
superuser, so the roles and their passwords are real) and a redis-server started with the password the
`secrets` step generated. The `postgres` and `redis` services become stand-ins that report healthy when
those servers answer, so the file's order of start-up is kept.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.conftest import REQUIRE_SERVICES
from tests.support.docker import docker
from tests.support.network import free_port, wait_until_http_ok
from tests.support.polling import eventually
from tests.support.processes import REPO_ROOT

# A stand-in store: waits forever; its healthcheck asks whether the real server on this machine answers.
WAIT = "import signal, sys\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\nsignal.pause()"
REACHABLE = "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 2)"
# The first test builds the image (minutes when its dependencies change, on 2 shared cores).
pytestmark = pytest.mark.timeout(1800)


def compose_binary() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        reason = "docker-compose is not installed (apt-get install docker-compose)"
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def override(
    project: str, image: str, ports: dict[str, int], pg_port: int, redis_port: int, admin_url: str
) -> dict:
    prefix = f"{project}_"
    grpc = {name: f"127.0.0.1:{ports[name]}" for name in ("consent", "notifier", "chat")}

    def stand_in(port: int) -> dict:
        return {
            "image": image,
            "entrypoint": ["python", "-c", WAIT],
            "command": [],
            "user": "10001",
            "healthcheck": {"test": ["CMD", "python", "-c", REACHABLE, str(port)], "interval": "2s"},
        }

    def application(name: str, port_variable: str, healthcheck: list[str], **environment: str) -> dict:
        return {
            "environment": {
                port_variable: str(ports[name]),
                "GRPC_HOST": "127.0.0.1",
                "GATEWAY_HOST": "127.0.0.1",
                f"{name.upper()}_METRICS_PORT": "",  # the defaults may be taken by other runs here
                "REDIS_KEY_PREFIX": project,
                **environment,
            },
            "healthcheck": {
                "test": ["CMD", "python", "-m", "services.runtime.healthcheck", *healthcheck],
                "interval": "2s",
                "start_period": "5s",
                "timeout": "30s",  # starting Python to probe takes seconds on a busy machine
            },
        }

    services = {
        "secrets": {
            "environment": {
                "POSTGRES_HOST": "127.0.0.1",
                "POSTGRES_PORT": str(pg_port),
                "DATABASE_PREFIX": prefix,
                "REDIS_HOST": "127.0.0.1",
                "REDIS_PORT": str(redis_port),
            }
        },
        "postgres": stand_in(pg_port),
        "redis": stand_in(redis_port),
        "provision": {"environment": {"POSTGRES_ADMIN_URL": admin_url, "DATABASE_PREFIX": prefix}},
        "consent": application(
            "consent", "CONSENT_PORT", ["grpc", grpc["consent"]], NOTIFIER_ADDR=grpc["notifier"]
        ),
        "notifier": application("notifier", "NOTIFIER_PORT", ["grpc", grpc["notifier"]]),
        "chat": application(
            "chat",
            "CHAT_PORT",
            ["grpc", grpc["chat"]],
            CONSENT_ADDR=grpc["consent"],
            NOTIFIER_ADDR=grpc["notifier"],
        ),
        "gateway": application(
            "gateway",
            "GATEWAY_PORT",
            ["http", f"http://127.0.0.1:{ports['gateway']}/api/health"],
            CONSENT_ADDR=grpc["consent"],
            NOTIFIER_ADDR=grpc["notifier"],
            CHAT_ADDR=grpc["chat"],
        ),
    }
    for service in services.values():
        service["network_mode"] = "host"
        service["image"] = image  # this session's build, whatever other runs tagged meanwhile
    return {"services": services}


class Compose:
    """docker-compose.yml merged with the host-network override. Host networking cannot publish ports,
    and a list cannot be emptied by an override file, so the gateway's `ports` are dropped from the
    merged file (`docker-compose config`) that the stack then runs from."""

    def __init__(self, project: str, image: str, override_file: Path) -> None:
        self.project = project
        self.image = image
        self._files = ["-f", str(REPO_ROOT / "docker-compose.yml"), "-f", str(override_file)]
        merged = yaml.safe_load(self("config").stdout)
        assert merged["services"]["gateway"].pop("ports")
        merged_file = override_file.with_name("docker-compose.merged.yml")
        merged_file.write_text(yaml.safe_dump(merged))
        self._files = ["-f", str(merged_file)]

    def __call__(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        command = [compose_binary(), "--project-directory", str(REPO_ROOT), "-p", self.project, *self._files]
        result = subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)}:\n{result.stdout}\n{result.stderr}")
        return result

    def read_secret(self, volume: str, name: str) -> str:
        mount = f"{self.project}_secrets-{volume}:/s:ro"
        return docker(
            "run", "--rm", "--network", "none", "-u", "0", "-v", mount, self.image, "cat", f"/s/{name}"
        ).stdout.strip()


@pytest.fixture
def redis_with_password():
    servers: list[subprocess.Popen] = []

    def start(port: int, password: str) -> None:
        config = f'port {port}\nbind 127.0.0.1\nsave ""\nappendonly no\nrequirepass {password}\n'
        server = shutil.which("redis-server") or "redis-server"
        process = subprocess.Popen(
            [server, "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        assert process.stdin is not None
        process.stdin.write(config.encode())
        process.stdin.close()
        servers.append(process)
        client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_connect_timeout=0.5)
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

    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed") if REQUIRE_SERVICES else pytest.skip("no redis-server")
    yield start
    for process in servers:
        process.kill()
        process.wait()


def drop_provisioned(admin_url: str, prefix: str) -> None:
    engine = create_engine(
        make_url(admin_url).set(drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as connection:
            for name in ("consent", "notifier", "chat"):
                connection.execute(text(f'DROP DATABASE IF EXISTS "{prefix}{name}" WITH (FORCE)'))
                connection.execute(text(f'DROP ROLE IF EXISTS "{prefix}{name}"'))
    finally:
        engine.dispose()


def test_compose_up_from_a_fresh_clone_generates_secrets_and_answers_through_the_gateway(
    image, postgres_admin, redis_with_password, tmp_path
):
    project = f"nhtest{uuid.uuid4().hex[:8]}"
    admin_url = postgres_admin.set(drivername="postgresql").render_as_string(hide_password=False)
    ports = {name: free_port() for name in ("consent", "notifier", "chat", "gateway")}
    redis_port = free_port()
    override_file = tmp_path / "docker-compose.host-network.yml"
    settings = override(project, image.tag, ports, postgres_admin.port or 5432, redis_port, admin_url)
    override_file.write_text(yaml.safe_dump(settings))
    compose = Compose(project, image.tag, override_file)
    try:
        # First start: the secrets are generated and the log says so, and how to replace them.
        first = compose("up", "--no-build", "secrets")
        assert "Generated DEVELOPMENT secrets (first start)" in first.stdout
        assert "gateway/admin-api-key" in first.stdout
        assert "docs/deployment.md" in first.stdout
        redis_with_password(redis_port, compose.read_secret("stores", "redis-password"))

        gateway = f"http://127.0.0.1:{ports['gateway']}"
        try:
            compose("up", "-d", "--no-build")
            wait_until_http_ok(f"{gateway}/api/health", timeout=180)
        except (AssertionError, TimeoutError) as error:
            pytest.fail(f"{error}\nthe stack's logs:\n" + compose("logs", "--no-color", check=False).stdout)

        admin_key = compose.read_secret("gateway", "admin-api-key")
        assert len(admin_key) >= 32
        with httpx.Client(base_url=gateway, timeout=15) as http:
            answer = http.post("/api/unsubscribe", json={"email": "compose@example.com", "reason": "compose"})
            assert answer.status_code == 200, answer.text
            assert answer.json()["success"] is True
            reply = http.post("/api/chatbot/chat", json={"session_id": "compose-1", "message": "Dzień dobry"})
            assert reply.status_code == 200, reply.text
            assert reply.json()["reply"]
            # The generated admin key is the one the gateway holds; a wrong one is refused.
            path = "/api/unsubscribe/status/compose@example.com"
            status = http.get(path, headers={"X-ADMIN-API-KEY": admin_key})
            assert status.status_code == 200, status.text
            assert status.json()["is_unsubscribed"] is True
            assert http.get(path, headers={"X-ADMIN-API-KEY": "x" * 40}).status_code in (401, 403)
            # Deep health asks each service with a 1 s deadline, which a busy machine can miss once.
            eventually(
                lambda: http.get("/api/health/deep", headers={"X-ADMIN-API-KEY": admin_key}),
                lambda deep: deep.status_code == 200,
                timeout=30,
                interval=2,
            )

        # One role per service: consent's role opens its own database, not chat's.
        consent_url = make_url(compose.read_secret("consent", "database-url")).set(
            drivername="postgresql+psycopg2"
        )
        assert consent_url.username == f"{project}_consent"
        own = create_engine(consent_url)
        try:
            with own.connect() as connection:
                assert connection.execute(text("SELECT current_user")).scalar() == f"{project}_consent"
        finally:
            own.dispose()
        foreign = create_engine(consent_url.set(database=f"{project}_chat"))
        try:
            with pytest.raises(OperationalError, match="permission denied"):
                foreign.connect()
        finally:
            foreign.dispose()

        # Consent signs the links in emails with the secret the gateway verifies them with.
        link_secret = compose.read_secret("gateway", "unsubscribe-secret")
        assert compose.read_secret("consent", "unsubscribe-secret") == link_secret

        # Secrets never reach the logs; a second start keeps them.
        logs = compose("logs", "--no-color").stdout
        assert admin_key not in logs
        assert consent_url.password not in logs
        again = compose("up", "--no-build", "secrets")
        assert "none generated" in again.stdout
        assert compose.read_secret("gateway", "admin-api-key") == admin_key
    finally:
        compose("down", "-v", "--timeout", "20", check=False)
        drop_provisioned(admin_url, f"{project}_")
