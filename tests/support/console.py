"""Logging in to the operators' console over plain HTTP, and reading its forms."""

from __future__ import annotations

import re

import httpx

_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def login(client: httpx.Client, key: str) -> httpx.Response:
    """GET the login form, POST the key with the form's token; answers the POST's response."""
    form = client.get("/admin/login")
    assert form.status_code == 200, form.text
    token = _LOGIN_TOKEN.search(form.text).group(1)
    return client.post("/admin/login", data={"login_token": token, "key": key})


def csrf_of(client: httpx.Client, page: str = "/admin/") -> str:
    found = client.get(page)
    assert found.status_code == 200, found.text
    return _CSRF.search(found.text).group(1)
