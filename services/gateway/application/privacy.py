"""The data-subject rights as two admin routes the gateway answers by calling every service that holds
personal data (docs/privacy.md):

    POST /api/admin/privacy/export {"email"}            -> one JSON document, a part per service
    POST /api/admin/privacy/erase  {"email", "reason"}  -> what each service erased

Each service serves novahouse.privacy.v1.PrivacyService over its own data; the gateway validates the
request once, then calls them. Export asks all of them at once and answers only a complete document.
Erasure goes chat first (its outbox may still hold calls carrying the address to the other two), then
the notifier, then consent, and tries every one even if an earlier one failed; any that did not finish
is named in a 503 and a repeat of the request completes the erasure (every step is idempotent).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Sequence
from typing import Protocol

from google.rpc import code_pb2

from services.gateway.application.auth import ADMIN_KEY_HEADER, Access, AdminAuth
from services.gateway.application.dispatch import (
    BodyTooLarge,
    HttpReply,
    HttpRequest,
    forwarded_credentials,
    is_json,
)
from services.gateway.application.errors import (
    GatewayError,
    Violation,
    bad_request,
    payload_too_large,
    unsupported_media_type,
)
from services.gateway.application.ports import UpstreamError
from services.runtime.emails import normalise_email
from services.runtime.errors import InvalidArgument
from services.runtime.identity import CallerIdentity

ERASURE_ORDER = ("chat", "notifier", "consent")
MAX_REASON_LENGTH = 1000
MIN_TIMEOUT_SECONDS = 30.0  # erasure and export read whole tables on the services' side


class PrivacyUpstreams(Protocol):
    async def export_personal_data(
        self, service: str, email: str, metadata: Sequence[tuple[str, str]], timeout: float
    ) -> str:
        """The service's JSON document; raises UpstreamError."""
        ...

    async def erase_personal_data(
        self, service: str, email: str, reason: str, metadata: Sequence[tuple[str, str]], timeout: float
    ) -> dict[str, int]:
        """The service's counts; raises UpstreamError."""
        ...


class PrivacyRoutes:
    def __init__(
        self,
        upstreams: PrivacyUpstreams,
        auth: AdminAuth,
        services: Sequence[str],
        *,
        timeout: float,
        max_body_bytes: int,
    ) -> None:
        self._upstreams = upstreams
        self._auth = auth
        self._services = [name for name in ERASURE_ORDER if name in services]
        self._timeout = max(timeout, MIN_TIMEOUT_SECONDS)
        self._max_body_bytes = max_body_bytes

    async def export(self, request: HttpRequest) -> HttpReply:
        try:
            email, _ = await self._accept(request, with_reason=False)
        except GatewayError as error:
            return HttpReply.error(error)
        metadata = _metadata(request)
        results = await asyncio.gather(
            *(
                self._upstreams.export_personal_data(name, email, metadata, self._timeout)
                for name in self._services
            ),
            return_exceptions=True,
        )
        failed: dict[str, BaseException] = {}
        for name, result in zip(self._services, results, strict=True):
            if isinstance(result, BaseException) and _failed(result):
                failed[name] = result
        if failed:
            return _unavailable("the export is incomplete, nothing is answered", failed)
        document: dict = {"email": email, "exported_at": dt.datetime.now(dt.UTC).isoformat()}
        for name, result in zip(self._services, results, strict=True):
            document[name] = json.loads(str(result))
        return HttpReply(200, _json(document))

    async def erase(self, request: HttpRequest) -> HttpReply:
        try:
            email, reason = await self._accept(request, with_reason=True)
        except GatewayError as error:
            return HttpReply.error(error)
        metadata = _metadata(request)
        erased: dict[str, dict[str, int]] = {}
        failed: dict[str, BaseException] = {}
        for name in self._services:
            try:
                erased[name] = await self._upstreams.erase_personal_data(
                    name, email, reason, metadata, self._timeout
                )
            except UpstreamError as error:
                failed[name] = error
        if failed:
            return _unavailable("not yet erased", failed, erased)
        return HttpReply(200, _json({"erased": erased, "complete": True}))

    async def _accept(self, request: HttpRequest, *, with_reason: bool) -> tuple[str, str]:
        """Admin key, then a JSON object body with a valid email (and reason); raises GatewayError."""
        self._auth.authorize(Access.ADMIN, request.headers.get(ADMIN_KEY_HEADER), None, None)
        content_type = request.headers.get("content-type")
        if content_type is None or not is_json(content_type):
            raise unsupported_media_type("Content-Type must be application/json")
        try:
            raw = await request.read_body()
        except BodyTooLarge:
            raise payload_too_large(self._max_body_bytes) from None
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise bad_request([Violation("body", "is not valid JSON")]) from None
        if not isinstance(body, dict):
            raise bad_request([Violation("body", "must be a JSON object")])
        violations = []
        email = body.get("email")
        try:
            if not isinstance(email, str):
                raise InvalidArgument("email", "is required (a string)")
            email = normalise_email(email)
        except InvalidArgument as error:
            violations.append(Violation("email", error.description))
        reason = body.get("reason") if with_reason else ""
        reason = "" if reason is None else reason  # null is the default, as in every JSON request
        if not isinstance(reason, str):
            violations.append(Violation("reason", "must be a string"))
        elif len(reason) > MAX_REASON_LENGTH:
            violations.append(Violation("reason", f"is longer than {MAX_REASON_LENGTH} characters"))
        if violations:
            raise bad_request(violations)
        return str(email), str(reason)


def _metadata(request: HttpRequest) -> Sequence[tuple[str, str]]:
    """The caller's identity, and the admin key again: the services check it too (ACCESS_ADMIN)."""
    client = request.client
    identity = CallerIdentity(client.key, client.user_agent, client.request_id)
    return (*identity.as_metadata(), *forwarded_credentials(request.headers))


def _failed(result: object) -> bool:
    if isinstance(result, UpstreamError):
        return True
    if isinstance(result, BaseException):
        raise result
    return False


def _reason(error: BaseException) -> str:
    if isinstance(error, UpstreamError) and error.code == code_pb2.UNAVAILABLE and not error.from_service:
        return "the service is unavailable"
    if isinstance(error, UpstreamError) and error.code == code_pb2.DEADLINE_EXCEEDED:
        return "the service did not answer in time"
    return str(error) or "the service failed"


def _unavailable(
    what: str, failed: dict[str, BaseException], done: dict[str, dict[str, int]] | None = None
) -> HttpReply:
    named = ", ".join(f"{name} ({_reason(error)})" for name, error in failed.items())
    body: dict = {
        "code": code_pb2.UNAVAILABLE,
        "message": f"{what}: {named}; repeat the request to complete it",
        "details": [],
        "not_erased" if done is not None else "not_exported": list(failed),
    }
    if done is not None:
        body["erased"] = done
    return HttpReply(503, _json(body), [("retry-after", "5")])


def _json(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
