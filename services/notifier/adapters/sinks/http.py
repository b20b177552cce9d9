"""The HTTP sinks' client, and what an answer means for delivery: shared by the Slack and Monday.com sinks.

Each sink has one connection pool (urllib3's, the library requests is built on), whose kept-alive
connection every delivery reuses: no handshake and no per-call session bookkeeping. Proxies (HTTPS_PROXY,
NO_PROXY, …) and the CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, else certifi's) are read from the
environment once, the way requests reads them on every call; certificates and host names are verified.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.utils import DEFAULT_CA_BUNDLE_PATH, select_proxy
from urllib3.exceptions import HTTPError, LocationValueError, NewConnectionError, ProtocolError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from services.notifier.domain.model import ErrorInfo, PermanentFailure, RateLimited, RetryableFailure

DEFAULT_RETRY_AFTER_SECONDS = 60.0
MAX_RETRY_AFTER_SECONDS = 3600.0
_MAX_TEXT = 500


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # case-insensitive (urllib3's HTTPHeaderDict)
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class HttpClient:
    """POSTs JSON to one URL through the sink's own connection pool."""

    def __init__(self, url: str, timeout: float, headers: Mapping[str, str] | None = None) -> None:
        self._url = url
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._invalid = ""
        try:
            bundle, proxy = _environment(url)
        except ValueError as error:  # an unparseable URL: every delivery fails for good, with its reason
            self._invalid = str(error)
            bundle, proxy = DEFAULT_CA_BUNDLE_PATH, None
        options: dict[str, Any] = {
            "num_pools": 1,
            "maxsize": 2,
            "retries": False,
            "cert_reqs": "CERT_REQUIRED",
        }
        options["ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"] = bundle
        self.pool: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        )

    def post(self, payload: object) -> Reply:
        """A timeout or connection failure is a RetryableFailure, any other status than 2xx is classified
        by `raise_for_delivery`."""
        if self._invalid:
            raise PermanentFailure(ErrorInfo("InvalidURL", 0, self._invalid[:_MAX_TEXT]))
        try:
            response = self.pool.request(
                "POST",
                self._url,
                body=json.dumps(payload).encode(),
                headers=self._headers,
                timeout=self._timeout,
                retries=False,
                redirect=False,
            )
        except LocationValueError as error:  # an invalid URL: no retry can fix it
            raise PermanentFailure(ErrorInfo("InvalidURL", 0, str(error)[:_MAX_TEXT])) from None
        except NewConnectionError as error:  # refused, unresolvable (a subclass of the timeout below)
            raise RetryableFailure(ErrorInfo("ConnectionError", 0, str(error)[:_MAX_TEXT])) from None
        except Urllib3Timeout as error:
            raise RetryableFailure(ErrorInfo("Timeout", 0, str(error)[:_MAX_TEXT])) from None
        except (ProtocolError, HTTPError) as error:  # dropped connections, TLS and proxy failures
            raise RetryableFailure(ErrorInfo("ConnectionError", 0, str(error)[:_MAX_TEXT])) from None
        reply = Reply(response.status, response.headers, response.data.decode("utf-8", errors="replace"))
        raise_for_delivery(reply)
        return reply

    def close(self) -> None:
        self.pool.clear()


def _environment(url: str) -> tuple[str, str | None]:
    """The CA bundle and the proxy requests would use for `url`; ValueError for a URL it cannot parse."""
    environment = requests.Session().merge_environment_settings(url, {}, None, None, None)
    verify = environment["verify"]
    return (verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH), select_proxy(
        url, environment["proxies"]
    )


def raise_for_delivery(reply: Reply) -> None:
    """5xx retryable; 429 waits for Retry-After; any other status (Slack's invalid_payload, a 401/403/404/410
    configuration error, a redirect) permanent."""
    status = reply.status
    if 200 <= status < 300:
        return
    info = ErrorInfo("HTTPError", status, reply.text[:_MAX_TEXT])
    if status == 429:
        raise RateLimited(info, retry_after_seconds(reply.headers.get("Retry-After")))
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
