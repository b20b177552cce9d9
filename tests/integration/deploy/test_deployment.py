"""docker-compose.yml and the Dockerfile against the code: every service, port, healthcheck and
variable they name must exist, and docker-compose (Debian's 1.29, which validates without a Docker
engine) must accept the compose file. (.env.example and docs/configuration.md are checked by
tests/unit/test_configuration_docs.py.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REQUIRE_SERVICES
from tests.support.processes import REPO_ROOT
from tests.support.variables import all_variables, variables_by_service

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APPLICATIONS = {"consent", "notifier", "chat", "gateway"}
PORT_VARIABLE = {
    "consent": "CONSENT_PORT",
    "notifier": "NOTIFIER_PORT",
    "chat": "CHAT_PORT",
    "gateway": "GATEWAY_PORT",
}


def test_docker_compose_config_accepts_the_file(tmp_path):
    if shutil.which("docker-compose") is None:
        reason = "docker-compose is not installed (apt-get install docker-compose)"
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    environ = {key: value for key, value in os.environ.items() if key not in all_variables()}
    result = subprocess.run(
        ["docker-compose", "--project-directory", str(REPO_ROOT), "-f", str(REPO_ROOT / "docker-compose.yml"),
         "config"],
        capture_output=True, text=True, env=environ, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == APPLICATIONS | {"postgres", "redis"}
    assert resolved["services"]["postgres"]["image"] == "postgres:16"
    assert resolved["services"]["redis"]["image"] == "redis:7"


def test_every_application_service_runs_a_module_of_this_code():
    for name in APPLICATIONS:
        command = SERVICES[name]["command"]
        assert command[:2] == ["python", "-m"]
        module = command[2]
        assert module == f"services.{name}"
        assert (REPO_ROOT / module.replace(".", "/") / "__main__.py").exists()
        assert SERVICES[name]["build"] == "."


def test_every_variable_compose_sets_is_read_by_that_service():
    read = variables_by_service()
    for name in APPLICATIONS:
        unknown = set(SERVICES[name]["environment"]) - read[name]
        assert not unknown, f"{name} is given variables it never reads: {sorted(unknown)}"


def test_healthchecks_probe_each_service_on_its_own_port():
    for name in APPLICATIONS:
        port = SERVICES[name]["environment"][PORT_VARIABLE[name]]
        test = SERVICES[name]["healthcheck"]["test"]
        assert test[:4] == ["CMD", "python", "-m", "services.runtime.healthcheck"]
        if name == "gateway":
            assert test[4:] == ["http", f"http://127.0.0.1:{port}/api/health"]
        else:
            assert test[4:] == ["grpc", f"127.0.0.1:{port}"]
    assert (REPO_ROOT / "services/runtime/healthcheck.py").exists()


def test_only_the_gateway_is_published_on_its_port():
    published = {name: spec["ports"] for name, spec in SERVICES.items() if "ports" in spec}
    assert list(published) == ["gateway"]
    [mapping] = published["gateway"]
    assert mapping.endswith(f":{SERVICES['gateway']['environment']['GATEWAY_PORT']}")


def test_service_addresses_name_compose_services_and_their_ports():
    for name in APPLICATIONS:
        for variable, value in SERVICES[name]["environment"].items():
            if variable.endswith("_ADDR"):
                host, port = value.split(":")
                assert host in APPLICATIONS
                assert SERVICES[host]["environment"][PORT_VARIABLE[host]] == port


def test_services_start_only_after_what_they_need_is_healthy():
    for name in APPLICATIONS:
        for dependency, condition in SERVICES[name]["depends_on"].items():
            assert condition == {"condition": "service_healthy"}
            assert "healthcheck" in SERVICES[dependency]
    assert set(SERVICES["chat"]["depends_on"]) == {"postgres", "redis", "consent", "notifier"}


def test_the_postgres_init_script_creates_one_database_per_service():
    [volume] = [v for v in SERVICES["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v]
    script = (REPO_ROOT / volume.split(":")[0]).read_text()
    assert set(re.findall(r"CREATE DATABASE (\w+);", script)) == {"consent", "notifier", "chat"}
    for name in ("consent", "notifier", "chat"):
        url = SERVICES[name]["environment"][f"{name.upper()}_DATABASE_URL"]
        assert url.startswith("postgresql://")
        assert url.endswith(f"@postgres:5432/{name}")


def test_the_dockerfile_is_slim_non_root_and_generates_the_stubs():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    assert re.search(r"^USER novahouse$", dockerfile, re.MULTILINE)
    instructions = [
        line.split()[0] for line in dockerfile.splitlines() if line and not line.startswith((" ", "#"))
    ]
    copies = [line for line in dockerfile.splitlines() if line.startswith("COPY")]
    assert copies[0] == "COPY pyproject.toml ./"  # dependencies are installed before the code is copied
    assert "RUN python -m services.runtime.protogen protos ." in dockerfile
    assert instructions.index("USER") > instructions.index("RUN")


def test_secrets_and_local_state_are_not_committed():
    ignored = (REPO_ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored
    assert "/var/" in ignored
    assert not Path(REPO_ROOT / ".env").exists() or ".env" in ignored
