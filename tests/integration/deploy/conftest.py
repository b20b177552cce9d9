"""The image the Docker tests share: built once per session under a tag of its own, removed after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.docker import IMAGE_REPOSITORY, BuiltImage, build_image, docker, require_engine


@pytest.fixture(scope="session")
def image() -> Iterator[BuiltImage]:
    require_engine()
    built = build_image(f"{IMAGE_REPOSITORY}:test-{uuid.uuid4().hex[:10]}")
    yield built
    docker("rmi", built.tag, check=False)  # the tag only: the layers stay cached for the next build
