"""One log format for every service, with the current request id on every line.

The gRPC call interceptor puts the caller's `x-request-id` into `request_id_var`; every record logged
while the call runs carries it, so one request can be followed across services.

Personal data stays out of log lines by design (engines hide bound parameters, errors mask
recipients); as a last line of defence, email addresses and phone numbers are masked in every
message and traceback the handler writes.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar

from services.runtime.emails import mask_emails

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"


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


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str = "info") -> None:
    """Sends every logger's records to stderr in the shared format; safe to call more than once."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_MaskingFormatter(_FORMAT))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that narrate every connection at INFO drown the call log.
    for noisy in ("apscheduler.scheduler", "apscheduler.executors.default", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
