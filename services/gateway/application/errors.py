"""Errors as the gateway answers them: an HTTP status and a google.rpc.Status body.

Every error, the gateway's own and the services', has the body
`{"code": <gRPC code number>, "message": "...", "details": [...]}`; the HTTP status follows the
grpc-gateway mapping of the gRPC code.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from google.protobuf import any_pb2, json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2

from services.gateway.application.ports import UpstreamError

# grpc-gateway's runtime.HTTPStatusFromCode
HTTP_STATUS_OF_CODE = {
    code_pb2.OK: 200,
    code_pb2.CANCELLED: 499,
    code_pb2.UNKNOWN: 500,
    code_pb2.INVALID_ARGUMENT: 400,
    code_pb2.DEADLINE_EXCEEDED: 504,
    code_pb2.NOT_FOUND: 404,
    code_pb2.ALREADY_EXISTS: 409,
    code_pb2.PERMISSION_DENIED: 403,
    code_pb2.UNAUTHENTICATED: 401,
    code_pb2.RESOURCE_EXHAUSTED: 429,
    code_pb2.FAILED_PRECONDITION: 400,
    code_pb2.ABORTED: 409,
    code_pb2.OUT_OF_RANGE: 400,
    code_pb2.UNIMPLEMENTED: 501,
    code_pb2.INTERNAL: 500,
    code_pb2.UNAVAILABLE: 503,
    code_pb2.DATA_LOSS: 500,
}


@dataclass(frozen=True)
class Violation:
    """One field of a request that cannot be accepted, as google.rpc.BadRequest names it."""

    field: str
    description: str


class GatewayError(Exception):
    """An error answer: HTTP status, gRPC code, message, google.rpc details and extra headers."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        details: Sequence[any_pb2.Any] = (),
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = tuple(details)
        self.headers = tuple(headers)

    @classmethod
    def from_code(cls, code: int, message: str, details: Sequence[any_pb2.Any] = ()) -> GatewayError:
        return cls(HTTP_STATUS_OF_CODE.get(code, 500), code, message, details)

    def body(self) -> bytes:
        return json.dumps(
            {"code": self.code, "message": self.message, "details": [_detail(d) for d in self.details]},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()


def pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def bad_request(violations: Sequence[Violation]) -> GatewayError:
    """400 INVALID_ARGUMENT naming every field, with a google.rpc.BadRequest detail."""
    detail = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in violations
        ]
    )
    message = "; ".join(f"{v.field}: {v.description}" for v in violations)
    return GatewayError(400, code_pb2.INVALID_ARGUMENT, message, [pack(detail)])


def not_found(message: str = "no route for this path") -> GatewayError:
    return GatewayError(404, code_pb2.NOT_FOUND, message)


def method_not_allowed(allowed: Sequence[str]) -> GatewayError:
    return GatewayError(
        405,
        code_pb2.UNIMPLEMENTED,
        f"method not allowed; this path accepts {', '.join(allowed)}",
        headers=[("allow", ", ".join(allowed))],
    )


def payload_too_large(limit: int) -> GatewayError:
    return GatewayError(413, code_pb2.INVALID_ARGUMENT, f"request body exceeds {limit} bytes")


def unsupported_media_type(message: str) -> GatewayError:
    return GatewayError(415, code_pb2.INVALID_ARGUMENT, message)


def unauthenticated(message: str) -> GatewayError:
    return GatewayError(401, code_pb2.UNAUTHENTICATED, message)


def permission_denied(message: str) -> GatewayError:
    return GatewayError(403, code_pb2.PERMISSION_DENIED, message)


def internal_error() -> GatewayError:
    return GatewayError(500, code_pb2.INTERNAL, "internal error")


def _detail(detail: any_pb2.Any) -> dict:
    """A detail as JSON; one whose type this process does not know keeps its bytes in base64."""
    try:
        return json_format.MessageToDict(
            detail, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
    except (TypeError, KeyError, json_format.Error):
        return {"@type": detail.type_url, "value": base64.b64encode(detail.value).decode()}


def upstream_failure(service: str, error: UpstreamError, timeout: float) -> GatewayError:
    """The upstream's status as the gateway answers it. A status the service sent keeps its message
    and details; one the channel made up (refused connection, passed deadline, crashed servicer) gets a
    message that names the service instead of gRPC internals."""
    code = error.code
    if error.from_service:
        return GatewayError.from_code(code, error.message, error.details)
    if code == code_pb2.UNAVAILABLE:
        return GatewayError.from_code(code, f"the {service} service is unavailable, try again later")
    if code == code_pb2.DEADLINE_EXCEEDED:
        seconds = f"{timeout:g}" if timeout < 1 else str(math.ceil(timeout))
        return GatewayError.from_code(code, f"the {service} service did not answer within {seconds}s")
    if code in (code_pb2.UNKNOWN, code_pb2.INTERNAL, code_pb2.DATA_LOSS):
        return GatewayError.from_code(code, f"the {service} service failed")
    return GatewayError.from_code(code, error.message, error.details)
