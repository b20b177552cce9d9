"""Every environment variable the services read, found by loading each one's settings with an
Environment that records the names it is asked for (once with nothing set, once with every optional
feature switched on, since some variables are only read then)."""

from __future__ import annotations

from collections.abc import Mapping

from services.runtime.config import Environment
from services.runtime.observability import ObservabilitySettings

FEATURES_ON = {
    "SLACK_WEBHOOK_URL": "http://127.0.0.1:1/hook",
    "MONDAY_API_URL": "http://127.0.0.1:1/v2",
    "MONDAY_API_KEY": "key",
    "MONDAY_BOARD_ID": "1",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_FROM": "alerts@example.com",
    "LLM_API_URL": "http://127.0.0.1:1/v1/chat/completions",
}


class RecordingEnvironment(Environment):
    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__(environ)
        self.names: set[str] = set()

    def optional(self, name: str) -> str | None:
        self.names.add(name)
        return super().optional(name)


def variables_by_service() -> dict[str, set[str]]:
    from services.chat.settings import ChatSettings
    from services.consent.settings import ConsentSettings
    from services.gateway.bootstrap import load_bindings, upstream_names
    from services.gateway.settings import GatewaySettings
    from services.notifier.settings import NotifierSettings

    loaders = {
        "consent": ConsentSettings.from_env,
        "notifier": NotifierSettings.from_env,
        "chat": ChatSettings.from_env,
        "gateway": lambda env: GatewaySettings.from_env(env, upstream_names(load_bindings())),
    }
    found: dict[str, set[str]] = {}
    for service, load in loaders.items():
        found[service] = set()
        for environ in ({}, FEATURES_ON):
            env = RecordingEnvironment(environ)
            load(env)
            ObservabilitySettings.from_env(env, service)
            found[service] |= env.names
    return found


def all_variables() -> set[str]:
    return set().union(*variables_by_service().values())
