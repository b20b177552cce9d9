"""Waiting for what happens in the background (deliveries, relays, scheduled jobs) without fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def eventually(
    fetch: Callable[[], T], condition: Callable[[T], object], timeout: float = 20.0, interval: float = 0.2
) -> T:
    """The first value of fetch() that satisfies condition; fails after timeout with the last one."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if condition(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s; last value: {value!r}")
        time.sleep(interval)
