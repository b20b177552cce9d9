"""Smaller hardening of the HTTP surface: duplicate JSON keys and control characters are 400 naming the
field, and an unmatched path is logged without what it might name."""

from __future__ import annotations

import logging

import pytest

CHAT = "/api/chatbot/chat"


def violations(response) -> dict[str, str]:
    [detail] = response.json()["details"]
    return {v["field"]: v["description"] for v in detail["field_violations"]}


def test_a_key_given_twice_is_400_naming_it(http, chat):
    response = http.post(
        CHAT,
        content=b'{"message": "hi", "session_id": "mine", "session_id": "yours"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert violations(response) == {"session_id": "is given more than once"}
    nested = http.post(
        "/api/unsubscribe",
        content=b'{"email": "a@example.com", "reason": "x", "reason": "y"}',
        headers={"Content-Type": "application/json"},
    )
    assert nested.status_code == 400
    assert chat.servicer.calls == []


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f", "\x08"])
def test_control_characters_are_400_naming_the_field(http, character):
    response = http.post("/api/unsubscribe", json={"email": "ctl@example.com", "reason": f"a{character}b"})
    assert response.status_code == 400
    assert violations(response) == {"reason": "must not contain control characters"}


def test_line_breaks_and_tabs_are_text(http):
    response = http.post("/api/unsubscribe", json={"email": "ctl@example.com", "reason": "a\n\tb\r\n"})
    assert response.status_code == 200


def test_an_unmatched_path_is_logged_without_what_it_names(http, caplog):
    with caplog.at_level(logging.INFO, logger="services.gateway.access"):
        assert http.get("/api/unsubscribe/ola%40example.com/typo").status_code == 404
        assert http.get("/api/anna@example.com").status_code == 404
    lines = [r.getMessage() for r in caplog.records if r.name == "services.gateway.access"]
    assert any("GET /api/… 404" in line for line in lines)
    assert not any("example.com" in line for line in lines)
