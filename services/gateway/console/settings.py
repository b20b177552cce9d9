"""The console's own variables (documented in docs/console.md)."""

from __future__ import annotations

from dataclasses import dataclass

from limits import parse_many

from services.runtime.config import Environment


@dataclass(frozen=True)
class ConsoleSettings:
    session_minutes: float
    login_rate_limit: str

    @classmethod
    def from_env(cls, env: Environment) -> ConsoleSettings:
        return cls(
            session_minutes=env.number("CONSOLE_SESSION_MINUTES", 60.0, minimum=1, maximum=24 * 60),
            login_rate_limit=env.parsed(
                "CONSOLE_LOGIN_RATE_LIMIT",
                "5 per minute",
                _one_limit,
                "one rate limit such as '5 per minute'",
            ),
        )


def _one_limit(raw: str) -> str:
    items = parse_many(raw)
    if len(items) != 1 or items[0].amount < 1:
        raise ValueError(raw)
    return raw
