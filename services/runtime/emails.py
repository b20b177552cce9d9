"""Email addresses as every service stores and compares them (trimmed, lower-cased, validated), and
as logs and stored errors show them (masked)."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from services.runtime.errors import InvalidArgument


def normalise_email(raw: str, field: str = "email") -> str:
    """Trims, lower-cases and validates an address (syntax only, no DNS); raises InvalidArgument
    naming `field`."""
    candidate = raw.strip().lower()
    if not candidate:
        raise InvalidArgument(field, "is required")
    try:
        # Syntax only: no DNS, and the reserved `.test` domain (RFC 6761) is a syntactically valid
        # address like any other (the OpenAPI document's `format: email` generators use it).
        validated = validate_email(candidate, check_deliverability=False, test_environment=True)
    except EmailNotValidError as error:
        raise InvalidArgument(field, f"is not a valid email address: {error}") from None
    return validated.normalized.lower()


_ADDRESS_IN_TEXT = re.compile(r"([A-Za-z0-9._%+'-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")


def mask_email(address: str) -> str:
    """'anna@example.com' -> 'a***@example.com': enough to tell addresses apart in an error, not to
    know whose they are."""
    local, at, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if at else "***"


def mask_emails(text: str) -> str:
    """Every address in a text (a relay's refusal, a sink's error) masked as mask_email does."""
    return _ADDRESS_IN_TEXT.sub(lambda match: f"{match.group(1)[:1]}***@{match.group(2)}", text)
