import pytest

from services.chat.settings import ChatSettings
from services.runtime.config import ConfigError, Environment


def test_defaults_follow_the_spec():
    settings = ChatSettings.from_env(Environment({}))
    assert settings.followup_delays == (1800, 86400, 259200)
    assert (
        settings.lead_alert_threshold,
        settings.session_timeout_seconds,
        settings.cache_cleanup_seconds,
    ) == (
        70,
        1800,
        600,
    )
    assert (settings.consent_address, settings.notifier_address) == ("localhost:50051", "localhost:50052")
    assert settings.llm is None


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"FOLLOWUP_DELAYS": "30m,10m"}, "FOLLOWUP_DELAYS"),
        ({"FOLLOWUP_DELAYS": "30 minutes"}, "FOLLOWUP_DELAYS"),
        ({"LEAD_ALERT_THRESHOLD": "101"}, "LEAD_ALERT_THRESHOLD"),
        ({"CONSENT_ADDR": "consent"}, "CONSENT_ADDR"),
        ({"SESSION_TIMEOUT_MINUTES": "-1"}, "SESSION_TIMEOUT_MINUTES"),
        ({"LLM_API_URL": "api.openai.com"}, "LLM_API_URL"),
        ({"UPSTREAM_TIMEOUT_SECONDS": "10", "OUTBOX_LEASE_SECONDS": "15"}, "OUTBOX_LEASE_SECONDS"),
    ],
)
def test_bad_values_name_their_variable(environ, variable):
    with pytest.raises(ConfigError) as caught:
        ChatSettings.from_env(Environment(environ))
    assert caught.value.name == variable
