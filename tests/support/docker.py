"""The image and containers, for the tests that prove the deployment (a Docker engine is needed).

Without a reachable engine those tests are skipped, unless TEST_REQUIRE_DOCKER=1 (`.ci/run`, which
starts dockerd itself) makes that a failure. Containers always use host networking and bind loopback,
so no traffic leaves the machine; the image is built once per session with `docker build --network host`
(the stand-in `python:3.11-slim` comes from deploy/docker/build-base-image.sh when no registry is
reachable).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field

import pytest

from tests.support.processes import REPO_ROOT

# Each test session builds under a tag of its own: other runs on the same engine build and tag too.
IMAGE_REPOSITORY = "novahouse-chat-backend"
BASE_IMAGE = "python:3.11-slim"
REQUIRE_DOCKER = os.environ.get("TEST_REQUIRE_DOCKER", "") == "1"


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])} failed:\n{result.stdout}\n{result.stderr}")
    return result


def engine_reachable() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def require_engine() -> None:
    if engine_reachable():
        return
    reason = "no Docker engine reachable (apt-get install docker.io; dockerd &)"
    if REQUIRE_DOCKER:
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    size_bytes: int
    build_output: str


def build_image(tag: str) -> BuiltImage:
    """The base image if it is missing, then the repository's Dockerfile, as `.ci/run` builds it."""
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        subprocess.run([str(REPO_ROOT / "deploy/docker/build-base-image.sh")], check=True, timeout=1200)
    result = docker("build", "--network", "host", "-t", tag, str(REPO_ROOT), timeout=1800)
    size = int(docker("image", "inspect", "-f", "{{.Size}}", tag).stdout.strip())
    return BuiltImage(tag, size, result.stdout)


@dataclass
class Container:
    """One `docker run -d` of the image on the host network, read-only with a tmpfs /tmp."""

    name: str
    image: str
    command: list[str]
    environ: dict[str, str]
    extra: list[str] = field(default_factory=list)

    def start(self) -> Container:
        env_args = [arg for key, value in self.environ.items() for arg in ("-e", f"{key}={value}")]
        docker(
            "run", "-d", "--name", self.name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
            "--tmpfs", "/app/var:uid=10001,gid=10001,mode=0700", *env_args, *self.extra, self.image,
            *self.command,
        )  # fmt: skip
        return self

    def running(self) -> bool:
        result = docker("inspect", "-f", "{{.State.Running}}", self.name, check=False)
        return result.stdout.strip() == "true"

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def stop(self, grace: int = 20) -> int:
        """`docker stop` (SIGTERM, then SIGKILL after `grace`): answers the exit code."""
        docker("stop", "-t", str(grace), self.name, timeout=grace + 30, check=False)
        return int(docker("inspect", "-f", "{{.State.ExitCode}}", self.name).stdout.strip())

    def remove(self) -> None:
        docker("rm", "-f", self.name, check=False)


def unique_name(label: str) -> str:
    return f"nh-test-{label}-{uuid.uuid4().hex[:8]}"
