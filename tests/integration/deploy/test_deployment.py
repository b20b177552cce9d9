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
ONE_SHOTS = {"secrets", "provision"}
DATABASES = ("consent", "notifier", "chat")
SECRETS = {
    "consent": {"CONSENT_DATABASE_URL", "CONSENT_PSEUDONYM_KEY", "UNSUBSCRIBE_SECRET", "INTERNAL_API_KEY"},
    "notifier": {"NOTIFIER_DATABASE_URL", "REDIS_URL", "INTERNAL_API_KEY"},
    "chat": {"CHAT_DATABASE_URL", "REDIS_URL", "INTERNAL_API_KEY"},
    "gateway": {"REDIS_URL", "ADMIN_API_KEY", "UNSUBSCRIBE_SECRET", "INTERNAL_API_KEY"},
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
    assert set(resolved["services"]) == APPLICATIONS | ONE_SHOTS | {"postgres", "redis"}
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
        # NAME_FILE names a file holding NAME (services.runtime.config.Environment).
        unknown = {v.removesuffix("_FILE") for v in SERVICES[name]["environment"]} - read[name]
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
    for name in APPLICATIONS | {"postgres", "redis", "provision"}:
        for dependency, condition in SERVICES[name]["depends_on"].items():
            if dependency in ONE_SHOTS:
                assert condition == {"condition": "service_completed_successfully"}
                assert SERVICES[dependency]["restart"] == "no"
            else:
                assert condition == {"condition": "service_healthy"}
                assert "healthcheck" in SERVICES[dependency]
    assert set(SERVICES["chat"]["depends_on"]) == {"provision", "redis", "consent", "notifier"}
    assert set(SERVICES["provision"]["depends_on"]) == {"postgres"}
    assert set(SERVICES["postgres"]["depends_on"]) == set(SERVICES["redis"]["depends_on"]) == {"secrets"}


def test_each_service_reads_only_its_own_secrets_from_files_never_from_the_compose_file():
    mounts = {name: [v.split(":") for v in SERVICES[name].get("volumes", [])] for name in SERVICES}
    for name in APPLICATIONS:
        [(volume, target, mode)] = mounts[name]
        assert (volume, target, mode) == (f"secrets-{name}", "/secrets", "ro")
        environment = SERVICES[name]["environment"]
        for secret in SECRETS[name]:
            assert secret not in environment  # no default, no value from .env: generated or replaced
            assert environment[f"{secret}_FILE"].startswith("/secrets/")
    generated = {volume for volume, target in (m[:2] for m in mounts["secrets"])}
    assert generated == {f"secrets-{name}" for name in APPLICATIONS} | {"secrets-stores"}
    assert SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/secrets/postgres-password"
    assert "POSTGRES_PASSWORD" not in SERVICES["postgres"]["environment"]
    assert "--requirepass" in " ".join(SERVICES["redis"]["command"])


def test_provision_creates_one_role_per_service_database():
    script = (REPO_ROOT / "deploy/compose/init.py").read_text()
    assert 'SERVICES_WITH_DATABASES = ("consent", "notifier", "chat")' in script
    assert "NOSUPERUSER NOCREATEDB NOCREATEROLE" in script
    assert "REVOKE ALL ON DATABASE {} FROM PUBLIC" in script


def test_the_dockerfile_is_slim_non_root_and_generates_the_stubs():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    assert re.search(r"^USER 10001:10001$", dockerfile, re.MULTILINE)  # numeric: runAsNonRoot can check it
    assert "pip uninstall --yes grpcio-tools" in dockerfile  # the runtime stage holds no stub compiler
    instructions = [
        line.split()[0] for line in dockerfile.splitlines() if line and not line.startswith((" ", "#"))
    ]
    copies = [line for line in dockerfile.splitlines() if line.startswith("COPY")]
    assert copies[0] == "COPY pyproject.toml ./"  # dependencies are installed before the code is copied
    assert "/opt/venv/bin/python -m services.runtime.protogen protos ." in dockerfile
    assert instructions.index("USER") > instructions.index("RUN")


def test_secrets_and_local_state_are_not_committed():
    ignored = (REPO_ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored
    assert "/var/" in ignored
    assert not Path(REPO_ROOT / ".env").exists() or ".env" in ignored
