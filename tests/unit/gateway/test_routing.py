"""Path templates of google.api.http, matched on the raw path and unescaped afterwards."""

from __future__ import annotations

import pytest

from services.gateway.application.routing import (
    InvalidPathVariable,
    MethodNotAllowed,
    PathTemplate,
    RouteMatch,
    RouteTable,
    TemplateError,
)


@pytest.mark.parametrize(
    ("raw_path", "email"),
    [
        (b"/api/unsubscribe/status/anna@example.com", "anna@example.com"),
        (b"/api/unsubscribe/status/anna%40example.com", "anna@example.com"),
        (b"/api/unsubscribe/status/a+b%40example.com", "a+b@example.com"),
        (b"/api/unsubscribe/status/a%2Bb@example.com", "a+b@example.com"),
        (b"/api/unsubscribe/status/a%2Fb", "a/b"),
        (b"/api/unsubscribe/status/%C5%BC%C3%B3%C5%82w", "żółw"),
    ],
)
def test_a_variable_is_unescaped_after_matching_the_raw_path(raw_path, email):
    assert PathTemplate("/api/unsubscribe/status/{email}").match(raw_path) == {"email": email}


def test_a_single_segment_variable_never_spans_segments():
    template = PathTemplate("/api/chatbot/conversations/{session_id}")
    assert template.match(b"/api/chatbot/conversations/a/b") is None
    assert template.match(b"/api/chatbot/conversations/") is None
    assert template.match(b"/api/chatbot/conversations") is None


def test_text_that_is_not_utf8_is_refused_naming_the_variable():
    with pytest.raises(InvalidPathVariable) as raised:
        PathTemplate("/api/x/{name}").match(b"/api/x/%FF%FE")
    assert raised.value.field == "name"


def test_wildcards_multi_segment_variables_nested_fields_and_verbs():
    assert PathTemplate("/v1/{name=shelves/*}/books").match(b"/v1/shelves/s1/books") == {"name": "shelves/s1"}
    rest = PathTemplate("/files/{path=**}")
    # reserved expansion: an encoded '/' stays encoded inside a multi-segment variable
    assert rest.match(b"/files/a/b%2Fc/d%20e") == {"path": "a/b%2Fc/d e"}
    assert PathTemplate("/v1/{book.name}").match(b"/v1/x") == {"book.name": "x"}
    assert PathTemplate("/v1/*/items").match(b"/v1/anything/items") == {}
    verb = PathTemplate("/v1/breakers/{name}:reset")
    assert verb.match(b"/v1/breakers/slack:reset") == {"name": "slack"}
    assert verb.match(b"/v1/breakers/slack") is None
    assert PathTemplate("/files/{path=**}").openapi_path == "/files/{path}"


@pytest.mark.parametrize(
    "text", ["api/x", "/api/{name", "/api/{na-me}", "/api//x", "/api/**/x", "/api/{a}/{b=**}/c", "/a b"]
)
def test_templates_the_gateway_cannot_serve_are_refused_at_start(text):
    with pytest.raises(TemplateError):
        PathTemplate(text)


def test_the_table_answers_the_route_the_allowed_methods_or_nothing():
    table = RouteTable(
        [
            ("POST", "/api/chatbot/chat", "send"),
            ("GET", "/api/admin/dlq/entries", "list"),
            ("GET", "/api/admin/dlq/entries/{id}", "get"),
            ("DELETE", "/api/admin/dlq/entries/{id}", "delete"),
            ("GET", "/api/admin/dlq/entries/stats", "literal wins"),
        ]
    )
    found = table.match("GET", b"/api/admin/dlq/entries/n-1")
    assert isinstance(found, RouteMatch)
    assert (found.target, found.variables) == ("get", {"id": "n-1"})
    assert table.match("GET", b"/api/admin/dlq/entries/stats").target == "literal wins"
    assert table.match("GET", b"/api/chatbot/chat") == MethodNotAllowed(("POST",))
    assert table.match("PUT", b"/api/admin/dlq/entries/n-1") == MethodNotAllowed(("GET", "DELETE"))
    assert table.match("GET", b"/api/chatbot/chat/") is None
    assert table.match("GET", b"/nothing") is None


def test_a_route_declared_twice_is_refused():
    with pytest.raises(TemplateError):
        RouteTable([("GET", "/a/{x}", 1), ("GET", "/a/{x}", 2)])
