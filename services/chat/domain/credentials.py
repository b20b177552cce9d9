"""Session credentials: what proves a visitor owns a conversation.

The first reply of a conversation carries a random token (256 bits); only its SHA-256 is stored, so a
leaked database does not hand out sessions. A plain hash suffices: the token is random, not a password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32
SESSION_ID_BYTES = 16  # server-issued session ids: 128 random bits


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_session_id() -> str:
    """A session id the server picks: 's-' and 22 URL-safe characters (valid as a client's would be)."""
    return "s-" + secrets.token_urlsafe(SESSION_ID_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str | None) -> bool:
    """Constant-time; a conversation without a stored hash (from before credentials) matches nothing."""
    if not token or stored_hash is None:
        return False
    return hmac.compare_digest(token_hash(token), stored_hash)
