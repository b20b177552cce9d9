"""Keyed pseudonyms: audit entries name a subject by HMAC-SHA256 of its email, never by the email.

Erasing a person deletes their subject row (the only place the email is stored) and leaves every audit
entry whole; without the key a pseudonym cannot be turned back into an address.
"""

from __future__ import annotations

import hashlib
import hmac

MIN_KEY_BYTES = 32


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"a pseudonym key needs at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def __call__(self, normalised_email: str) -> str:
        return hmac.new(self._key, normalised_email.encode(), hashlib.sha256).hexdigest()
