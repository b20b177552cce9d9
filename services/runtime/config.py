"""Settings read from the environment and validated before a service starts.

Each service declares a frozen settings dataclass with a `from_env(env)` constructor that reads its
variables through `Environment`. A malformed value raises `ConfigError`, whose message is the one line
the service prints before it refuses to start: the variable, what it expected and what it got.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from services.runtime.grpc_security import GrpcSecurity

T = TypeVar("T")
Number = TypeVar("Number", int, float)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


_SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD", re.IGNORECASE)
_URL = re.compile(r"^(\s*[A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)(.*)$", re.DOTALL)


class ConfigError(ValueError):
    """A variable holds a value the service cannot run with. The message never shows a secret: the
    value of a variable named like one, nor a URL's credentials, path or query (webhook URLs carry
    their token in the path)."""

    def __init__(self, name: str, expected: str, value: str) -> None:
        super().__init__(f"{name}: expected {expected}, got {shown_value(name, value)!r}")
        self.name = name


def shown_value(name: str, value: str) -> str:
    if _SECRET_NAME.search(name):
        return "<redacted>" if value else value
    match = _URL.match(value)
    if match is None:
        return value
    scheme, authority, rest = match.groups()
    if "@" in authority:
        authority = "<redacted>@" + authority.rsplit("@", 1)[1]
    return scheme + authority + ("/<redacted>" if rest.strip("/") else rest)


def parse_duration(text: str) -> float:
    """'30m' -> 1800.0; units s, m, h, d; fractions allowed ('0.5s'). Raises ValueError."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(text)
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(text)
    return seconds


_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")


def parse_host_port(raw: str) -> str:
    """'consent:50051', '127.0.0.1:50051' or '[::1]:50051', optionally as a gRPC DNS target
    ('dns:///consent:50051', which resolves to every address of the name); raises ValueError."""
    match = _HOST_PORT.match(raw.removeprefix("dns:///"))
    if not match or not 1 <= int(match.group(1)) <= 65535:
        raise ValueError(raw)
    return raw


def parse_http_url(raw: str) -> str:
    """An absolute http(s) URL; raises ValueError."""
    scheme, _, rest = raw.partition("://")
    if scheme.lower() not in ("http", "https") or not rest or rest.startswith("/"):
        raise ValueError(raw)
    return raw


class Environment:
    """Typed, validated access to environment variables. An empty value counts as unset.

    Any variable may instead name a file holding its value in `<NAME>_FILE` (the convention of Docker
    and Kubernetes secrets): `CONSENT_PSEUDONYM_KEY_FILE=/run/secrets/pseudonym-key`. The variable
    itself wins when both are set; an unreadable file is a ConfigError naming `<NAME>_FILE`.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        if not value:
            value = self._from_file(f"{name}_FILE")
        return value or None

    def raw(self, name: str) -> str | None:
        """The value as set, empty included (None when unset): for variables where empty means off."""
        return self._environ.get(name)

    def _from_file(self, variable: str) -> str:
        path = self._environ.get(variable, "").strip()
        if not path:
            return ""
        try:
            with open(path, encoding="utf-8") as file:
                return file.read().strip()
        except (OSError, UnicodeDecodeError):
            raise ConfigError(variable, "a readable file holding the value", path) from None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def parsed(self, name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
        """Reads a variable through `parse`; any ValueError becomes a ConfigError naming it."""
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError:
            raise ConfigError(name, expected, raw) from None

    def integer(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        expected = _range_text("an integer", minimum, maximum)

        def parse(raw: str) -> int:
            return _in_range(int(raw), minimum, maximum)

        return self.parsed(name, default, parse, expected)

    def number(
        self, name: str, default: float, *, minimum: float | None = None, maximum: float | None = None
    ) -> float:
        expected = _range_text("a number", minimum, maximum)

        def parse(raw: str) -> float:
            value = float(raw)
            if value != value:  # NaN passes every range comparison
                raise ValueError(raw)
            return _in_range(value, minimum, maximum)

        return self.parsed(name, default, parse, expected)

    def port(self, name: str, default: int) -> int:
        """A TCP port; 0 asks the OS for a free one (what tests use)."""
        return self.integer(name, default, minimum=0, maximum=65535)

    def flag(self, name: str, default: bool) -> bool:
        def parse(raw: str) -> bool:
            lowered = raw.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(raw)

        return self.parsed(name, default, parse, "true or false")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        def parse(raw: str) -> str:
            if raw.lower() not in choices:
                raise ValueError(raw)
            return raw.lower()

        return self.parsed(name, default, parse, "one of " + ", ".join(choices))

    def duration(self, name: str, default: float) -> float:
        """Seconds, from a duration such as '90s', '30m', '24h' or '2d'."""
        return self.parsed(name, default, parse_duration, "a duration such as 30s, 30m, 24h or 2d")

    def durations(self, name: str, default: tuple[float, ...]) -> tuple[float, ...]:
        """Comma-separated, strictly increasing durations, e.g. '30m,24h,72h'."""

        def parse(raw: str) -> tuple[float, ...]:
            values = tuple(parse_duration(part) for part in raw.split(","))
            if any(later <= earlier for earlier, later in itertools.pairwise(values)):
                raise ValueError(raw)
            return values

        expected = "increasing comma-separated durations such as 30m,24h,72h"
        return self.parsed(name, default, parse, expected)

    def csv(self, name: str) -> tuple[str, ...]:
        raw = self.optional(name)
        if raw is None:
            return ()
        return tuple(part.strip() for part in raw.split(",") if part.strip())


def _range_text(kind: str, minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{kind} from {minimum} to {maximum}"
    if minimum is not None:
        return f"{kind} of at least {minimum}"
    if maximum is not None:
        return f"{kind} of at most {maximum}"
    return kind


def _in_range(value: Number, minimum: float | None, maximum: float | None) -> Number:
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(value)
    return value


@dataclass(frozen=True)
class ServerSettings:
    """What every gRPC service needs: where to listen, how to shut down, where to keep local state."""

    host: str
    port: int
    max_workers: int
    shutdown_grace_seconds: float
    var_dir: str
    log_level: str
    security: GrpcSecurity
    log_format: str = "text"

    @classmethod
    def from_env(
        cls, env: Environment, *, port_variable: str, default_port: int, default_workers: int = 16
    ) -> ServerSettings:
        """`default_workers`: GRPC_MAX_WORKERS when unset (consent takes fewer, docs/configuration.md)."""
        from services.runtime.grpc_security import GrpcSecurity  # it reads its variables through this module

        return cls(
            host=env.text("GRPC_HOST", "127.0.0.1"),
            port=env.port(port_variable, default_port),
            max_workers=env.integer("GRPC_MAX_WORKERS", default_workers, minimum=1, maximum=1024),
            shutdown_grace_seconds=env.number("SHUTDOWN_GRACE_SECONDS", 10.0, minimum=0),
            var_dir=env.text("VAR_DIR", "./var"),
            log_level=env.choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")),
            security=GrpcSecurity.from_env(env),
            log_format=env.choice("LOG_FORMAT", "text", ("text", "json")),
        )

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"
