"""What an HTTP sink's answer means for delivery: shared by the Slack and Monday.com sinks."""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable

import requests

from services.notifier.domain.model import ErrorInfo, PermanentFailure, RateLimited, RetryableFailure

DEFAULT_RETRY_AFTER_SECONDS = 60.0
MAX_RETRY_AFTER_SECONDS = 3600.0
_MAX_TEXT = 500


def post(send: Callable[[], requests.Response]) -> requests.Response:
    """Makes the request; a timeout or connection failure is a RetryableFailure, any other status
    than 2xx is classified by `raise_for_delivery`."""
    try:
        response = send()
    except requests.Timeout as error:
        raise RetryableFailure(ErrorInfo("Timeout", 0, str(error)[:_MAX_TEXT])) from None
    except requests.ConnectionError as error:
        raise RetryableFailure(ErrorInfo("ConnectionError", 0, str(error)[:_MAX_TEXT])) from None
    except requests.RequestException as error:  # an invalid URL or the like: no retry can fix it
        raise PermanentFailure(ErrorInfo(type(error).__name__, 0, str(error)[:_MAX_TEXT])) from None
    raise_for_delivery(response)
    return response


def raise_for_delivery(response: requests.Response) -> None:
    """5xx retryable; 429 waits for Retry-After; any other 4xx (Slack's invalid_payload, a 401/403/404/410
    configuration error) permanent."""
    status = response.status_code
    if 200 <= status < 300:
        return
    info = ErrorInfo("HTTPError", status, response.text[:_MAX_TEXT])
    if status == 429:
        raise RateLimited(info, retry_after_seconds(response.headers.get("Retry-After")))
    if status >= 500:
        raise RetryableFailure(info)
    raise PermanentFailure(info)


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float:
    """Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), within [0, one hour]."""
    if not value:
        return DEFAULT_RETRY_AFTER_SECONDS
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER_SECONDS
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
