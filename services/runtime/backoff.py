"""Exponential backoff with jitter, for everything that retries a dependency."""

from __future__ import annotations

import random

MIN_DELAY_SECONDS = 0.05


def backoff_seconds(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after the `attempts`-th failure: base·2^(n-1), capped, then a random 50-100 % of
    that ("equal jitter"), so workers retrying a recovered dependency do not stampede it."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return max(MIN_DELAY_SECONDS, delay * (rng or random).uniform(0.5, 1.0))
