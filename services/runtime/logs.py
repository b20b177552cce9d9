"""One log format for every service, with the current request id and trace id on every line.

The gRPC call interceptor (and the gateway's request middleware) puts the caller's `x-request-id` into
`request_id_var`; every record logged while the call runs carries it, and the id of the trace it
belongs to, so one request can be followed across services.

LOG_FORMAT=text (the default, for `make run`) writes readable lines; LOG_FORMAT=json writes one JSON
object per line (python-json-logger) with time, level, logger, message, service, request_id, trace_id
and span_id, for a log shipper.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

LOG_FORMATS = ("text", "json")
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s trace=%(trace_id)s] %(message)s"
_JSON_FIELDS = "%(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s %(span_id)s"


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        else:
            record.trace_id = record.span_id = "-"
        return True


def configure_logging(level: str = "info", *, log_format: str = "text", service: str = "") -> None:
    """Sends every logger's records to stderr in the shared format; safe to call more than once."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                _JSON_FIELDS,
                rename_fields={"levelname": "level", "name": "logger"},
                static_fields={"service": service},
                timestamp="time",
                json_ensure_ascii=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that narrate every connection at INFO drown the call log.
    for noisy in ("apscheduler.scheduler", "apscheduler.executors.default", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
