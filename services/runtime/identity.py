"""Who is behind a request, as the use cases see it (no transport types here)."""

from __future__ import annotations

from dataclasses import dataclass

CLIENT_IP_KEY = "x-client-ip"
CLIENT_USER_AGENT_KEY = "x-client-user-agent"
REQUEST_ID_KEY = "x-request-id"
# Credentials a client may present, forwarded by the gateway from the HTTP headers of the same name.
ADMIN_KEY_KEY = "x-admin-api-key"
SESSION_TOKEN_KEY = "x-session-token"  # noqa: S105 (a metadata key, not a secret)


@dataclass(frozen=True)
class CallerIdentity:
    """The end client's address and user agent, and the request id that ties the logs together."""

    ip_address: str = ""
    user_agent: str = ""
    request_id: str = ""

    def as_metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC metadata that passes this identity on to the next service."""
        pairs = (
            (CLIENT_IP_KEY, self.ip_address),
            (CLIENT_USER_AGENT_KEY, self.user_agent),
            (REQUEST_ID_KEY, self.request_id),
        )
        return tuple((key, value) for key, value in pairs if value)
