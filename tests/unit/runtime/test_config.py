import pytest

from services.runtime.config import ConfigError, Environment, ServerSettings, parse_duration


def test_unset_and_empty_values_fall_back_to_the_default():
    env = Environment({"EMPTY": "  "})
    assert env.integer("MISSING", 7) == 7
    assert env.integer("EMPTY", 7) == 7
    assert env.text("EMPTY", "x") == "x"


def test_integer_outside_its_range_names_the_variable_and_the_range():
    with pytest.raises(ConfigError) as caught:
        Environment({"CONSENT_PORT": "70000"}).port("CONSENT_PORT", 50051)
    assert str(caught.value) == "CONSENT_PORT: expected an integer from 0 to 65535, got '70000'"


def test_a_malformed_number_is_one_line_naming_the_variable():
    with pytest.raises(ConfigError) as caught:
        Environment({"SHUTDOWN_GRACE_SECONDS": "soon"}).number("SHUTDOWN_GRACE_SECONDS", 10, minimum=0)
    message = str(caught.value)
    assert message.startswith("SHUTDOWN_GRACE_SECONDS: expected a number")
    assert "\n" not in message


def test_nan_is_not_a_number_in_range():
    with pytest.raises(ConfigError):
        Environment({"X": "nan"}).number("X", 1.0, minimum=0)


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("On", True), ("0", False), ("no", False)])
def test_flags(raw, expected):
    assert Environment({"AUTO_MIGRATE": raw}).flag("AUTO_MIGRATE", not expected) is expected


def test_a_flag_that_is_neither_true_nor_false_is_refused():
    with pytest.raises(ConfigError, match="AUTO_MIGRATE: expected true or false"):
        Environment({"AUTO_MIGRATE": "maybe"}).flag("AUTO_MIGRATE", True)


@pytest.mark.parametrize(
    ("raw", "seconds"), [("90s", 90), ("30m", 1800), ("24h", 86400), ("2d", 172800), ("0.5s", 0.5)]
)
def test_durations(raw, seconds):
    assert parse_duration(raw) == seconds


def test_duration_lists_must_increase():
    env = Environment({"FOLLOWUP_DELAYS": "30m,24h,72h", "BAD": "24h,30m", "JUNK": "30m,soon"})
    assert env.durations("FOLLOWUP_DELAYS", ()) == (1800, 86400, 259200)
    with pytest.raises(ConfigError, match="BAD: expected increasing"):
        env.durations("BAD", ())
    with pytest.raises(ConfigError, match="JUNK"):
        env.durations("JUNK", ())


def test_choice_is_case_insensitive_and_names_the_choices():
    env = Environment({"LOG_LEVEL": "DEBUG", "BAD": "loud"})
    assert env.choice("LOG_LEVEL", "info", ("debug", "info")) == "debug"
    with pytest.raises(ConfigError, match="BAD: expected one of debug, info"):
        env.choice("BAD", "info", ("debug", "info"))


def test_server_settings_defaults_and_ipv6_address():
    settings = ServerSettings.from_env(Environment({}), port_variable="CONSENT_PORT", default_port=50051)
    assert (settings.host, settings.port, settings.address) == ("127.0.0.1", 50051, "127.0.0.1:50051")
    ipv6 = ServerSettings.from_env(
        Environment({"GRPC_HOST": "::1", "P": "1"}), port_variable="P", default_port=2
    )
    assert ipv6.address == "[::1]:1"


def test_a_value_may_come_from_the_file_named_by_name_file(tmp_path):
    secret = tmp_path / "pseudonym-key"
    secret.write_text("k" * 40 + "\n")
    env = Environment({"CONSENT_PSEUDONYM_KEY_FILE": str(secret)})
    assert env.optional("CONSENT_PSEUDONYM_KEY") == "k" * 40  # the trailing newline is not part of it
    both = Environment({"CONSENT_PSEUDONYM_KEY": "direct", "CONSENT_PSEUDONYM_KEY_FILE": str(secret)})
    assert both.optional("CONSENT_PSEUDONYM_KEY") == "direct"


def test_an_unreadable_secret_file_names_the_file_variable(tmp_path):
    env = Environment({"REDIS_URL_FILE": str(tmp_path / "missing")})
    with pytest.raises(ConfigError) as caught:
        env.optional("REDIS_URL")
    assert str(caught.value).startswith("REDIS_URL_FILE: expected a readable file holding the value")
