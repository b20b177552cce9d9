"""LOG_FORMAT: text (the default) and json, both with the request id and the trace id."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from services.runtime.config import ConfigError, Environment, ServerSettings
from services.runtime.logs import configure_logging, request_id_var


@pytest.fixture
def stderr(capsys):
    """What the configured handler writes to sys.stderr (as pytest captures it)."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield lambda: capsys.readouterr().err
    root.handlers[:], level = saved
    root.setLevel(level)


def _log_a_request():
    log = logging.getLogger("services.test")
    log.info("outside any request")
    token = request_id_var.set("req-42")
    tracer = TracerProvider().get_tracer("test")
    try:
        with tracer.start_as_current_span("work") as span:
            log.warning("inside a span: %s", "ünïcode")
            try:
                raise ValueError("boom")
            except ValueError:
                log.exception("failed")
            context = span.get_span_context()
    finally:
        request_id_var.reset(token)
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def test_json_format_writes_one_object_per_line_with_every_field(stderr):
    configure_logging("info", log_format="json", service="consent")
    trace_id, span_id = _log_a_request()
    lines = stderr().splitlines()
    records = [json.loads(line) for line in lines]  # every line parses, tracebacks included
    assert [r["message"] for r in records] == ["outside any request", "inside a span: ünïcode", "failed"]
    for record in records:
        assert {"time", "level", "logger", "message", "service", "request_id", "trace_id", "span_id"} <= set(
            record
        )
        assert record["service"] == "consent"
        assert record["logger"] == "services.test"
    assert records[0]["request_id"] == "-"
    assert records[0]["trace_id"] == "-"
    assert records[1]["level"] == "WARNING"
    assert records[1]["request_id"] == "req-42"
    assert records[1]["trace_id"] == trace_id
    assert records[1]["span_id"] == span_id
    assert "ValueError: boom" in records[2]["exc_info"]
    assert records[0]["time"].endswith("+00:00")


def test_text_format_stays_the_default_and_gains_the_trace_id(stderr):
    configure_logging("info")
    trace_id, _ = _log_a_request()
    lines = stderr().splitlines()
    assert "services.test [- trace=-] outside any request" in lines[0]
    assert f"services.test [req-42 trace={trace_id}] inside a span" in lines[1]


def test_log_format_is_validated_naming_the_variable():
    settings = ServerSettings.from_env(Environment({"LOG_FORMAT": "JSON"}), port_variable="P", default_port=1)
    assert settings.log_format == "json"
    assert ServerSettings.from_env(Environment({}), port_variable="P", default_port=1).log_format == "text"
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        ServerSettings.from_env(Environment({"LOG_FORMAT": "xml"}), port_variable="P", default_port=1)
