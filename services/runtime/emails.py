"""Email addresses as every service stores and compares them: trimmed, lower-cased, validated."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from services.runtime.errors import InvalidArgument


def normalise_email(raw: str, field: str = "email") -> str:
    """Trims, lower-cases and validates an address (syntax only, no DNS); raises InvalidArgument
    naming `field`."""
    candidate = raw.strip().lower()
    if not candidate:
        raise InvalidArgument(field, "is required")
    try:
        validated = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidArgument(field, f"is not a valid email address: {error}") from None
    return validated.normalized.lower()
