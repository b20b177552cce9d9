"""Errors that use cases raise, independent of any transport.

The gRPC call interceptor turns each into its status code (INVALID_ARGUMENT names the field in a
google.rpc.BadRequest detail), and the gateway turns that into the HTTP status, so a use case says what
went wrong once, in domain terms.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of the errors a caller is meant to see; the message is shown to the caller as it is."""


class InvalidArgument(ServiceError):
    """The request is malformed; nothing was written."""

    def __init__(self, field: str, description: str, *more: tuple[str, str]) -> None:
        """`more`: further (field, description) pairs when several fields are wrong at once."""
        self.violations = ((field, description), *more)
        super().__init__("; ".join(f"{name}: {text}" for name, text in self.violations))
        self.field = field
        self.description = description


class NotFound(ServiceError):
    """The thing asked for does not exist."""


class PermissionDenied(ServiceError):
    """The caller proved no right to the request (e.g. a forged or expired signed link)."""


class FailedPrecondition(ServiceError):
    """The system is not in a state that allows the request (e.g. a channel is not configured)."""


class Unavailable(ServiceError):
    """A dependency the request really needs cannot be reached; the caller may retry."""
