import pytest

from services.notifier.domain.model import Channel
from services.notifier.settings import NotifierSettings
from services.runtime.config import ConfigError, Environment


def settings(**environ: str) -> NotifierSettings:
    return NotifierSettings.from_env(Environment(environ))


def test_every_channel_is_off_without_configuration_and_says_what_is_missing():
    defaults = settings()
    assert (defaults.slack, defaults.monday, defaults.smtp) == (None, None, None)
    assert defaults.missing == {
        Channel.SLACK: "SLACK_WEBHOOK_URL",
        Channel.MONDAY: "MONDAY_API_URL",
        Channel.EMAIL: "SMTP_HOST",
    }
    assert (defaults.max_retries, defaults.retry_interval_seconds, defaults.cleanup_days) == (5, 300, 30)
    assert (defaults.breakers.fail_max, defaults.breakers.reset_timeout) == (5, 60)


def test_a_partly_configured_channel_names_the_first_missing_variable():
    partial = settings(MONDAY_API_URL="https://api.monday.com/v2", MONDAY_API_KEY="key")
    assert partial.monday is None
    assert partial.missing[Channel.MONDAY] == "MONDAY_BOARD_ID"


def test_fractional_retry_minutes_for_fast_tests():
    assert settings(DLQ_RETRY_MINUTES="0.01").retry_interval_seconds == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"SLACK_WEBHOOK_URL": "hooks.slack.com/services/x"}, "SLACK_WEBHOOK_URL"),
        ({"SMTP_HOST": "mail", "SMTP_FROM": "not-an-address"}, "SMTP_FROM"),
        ({"ESCALATION_EMAIL": "ops"}, "ESCALATION_EMAIL"),
        ({"SMTP_SECURITY": "tls13"}, "SMTP_SECURITY"),
        ({"SINK_TIMEOUT_SECONDS": "10", "DLQ_LEASE_SECONDS": "15"}, "DLQ_LEASE_SECONDS"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"CB_FAIL_MAX": "0"}, "CB_FAIL_MAX"),
    ],
)
def test_bad_values_name_their_variable(environ, variable):
    with pytest.raises(ConfigError) as caught:
        settings(**environ)
    assert caught.value.name == variable
