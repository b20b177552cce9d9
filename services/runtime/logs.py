"""One log format for every service, with the current request id and trace id on every line.

The gRPC call interceptor (and the gateway's request middleware) puts the caller's `x-request-id` into
`request_id_var`; every record logged while the call runs carries it, and the id of the trace it
belongs to, so one request can be followed across services.

LOG_FORMAT=text (the default, for `make run`) writes readable lines; LOG_FORMAT=json writes one JSON
object per line (python-json-logger) with time, level, logger, message, service, request_id, trace_id
and span_id, for a log shipper.

Personal data stays out of log lines by design (engines hide bound parameters, errors mask
recipients); as a last line of defence, email addresses and phone numbers are masked in every
message and traceback either format writes.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from services.runtime.emails import mask_emails

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

LOG_FORMATS = ("text", "json")
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s trace=%(trace_id)s] %(message)s"
_JSON_FIELDS = "%(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s %(span_id)s"


# 9 to 15 digits, optionally after '+', separated by single spaces or dashes: a phone number, not a
# timestamp (which the message part does not hold) nor digits inside an id or a hex string.
_PHONE = re.compile(r"(?<![\w.:+-])\+?\d(?:[ -]?\d){8,14}(?![\w.:-])")


def mask_personal_data(text: str) -> str:
    return _PHONE.sub("<phone>", mask_emails(text))


class _MaskingFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = mask_personal_data(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: object) -> str:
        return mask_personal_data(super().formatException(ei))  # type: ignore[arg-type]


class _MaskingJsonFormatter(JsonFormatter):
    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        record.message = mask_personal_data(record.message)
        super().add_fields(log_data, record, message_dict)

    def formatException(self, ei: object) -> str | list[str]:  # type: ignore[override]
        formatted = super().formatException(ei)
        return mask_personal_data(formatted) if isinstance(formatted, str) else formatted


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
            _MaskingJsonFormatter(
                _JSON_FIELDS,
                rename_fields={"levelname": "level", "name": "logger"},
                static_fields={"service": service},
                timestamp="time",
                json_ensure_ascii=False,
            )
        )
    else:
        handler.setFormatter(_MaskingFormatter(_FORMAT))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that narrate every connection at INFO drown the call log.
    for noisy in ("apscheduler.scheduler", "apscheduler.executors.default", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
