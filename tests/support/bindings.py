"""HTTP bindings for any message, for testing translation without a real annotated RPC."""

from __future__ import annotations

from types import SimpleNamespace

from services.gateway.application.contracts import HttpBinding


def synthetic_binding(
    message, *, body="*", response=None, response_body="", http_method="POST"
) -> HttpBinding:
    """A binding whose RPC takes `message` (and answers `response`, default the same message)."""
    method = SimpleNamespace(
        full_name="test.Service.Method",
        input_type=message.DESCRIPTOR,
        output_type=(response or message).DESCRIPTOR,
    )
    return HttpBinding("test", method, http_method, "/test", body, response_body)
