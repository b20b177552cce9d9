"""Issue 12 from outside, against the four service processes (PostgreSQL when the run has it): a
visitor's address in chat, consent and the notifier's alerts is exported, then erased; afterwards no
database dump holds it, the consent log verifies over HTTP and from the command line, and the
suppression keeps the address from marketing when it comes back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import ExitStack

import pytest

from tests.support.databases import dump_text
from tests.support.polling import eventually
from tests.support.system import ADMIN, Stack

EMAIL = "zofia.erase@example.com"
VISITOR = {"X-Forwarded-For": "203.0.113.90", "User-Agent": "Mozilla/5.0 (e2e privacy)"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, sinks_environ):
    with ExitStack() as exits:
        running = Stack(exits, str(tmp_path_factory.mktemp("e2e-privacy")), sinks_environ)
        yield running
        running.close()


def _urls(stack: Stack) -> dict[str, str]:
    return {
        name: stack.environ[name][f"{name.upper()}_DATABASE_URL"] for name in ("consent", "chat", "notifier")
    }


def test_export_then_erase_through_the_gateway(stack, http, sinks):
    slack, _, _ = sinks
    answer = http.post(
        "/api/chatbot/chat",
        json={
            "message": f"Kontakt: {EMAIL}, 601 234 567, budżet 300 tys zł",
            "session_id": "e2e-privacy",
            "email": EMAIL,
            "rodo_consent": True,
        },
        headers=VISITOR,
    )
    assert answer.status_code == 200, answer.text
    eventually(lambda: [d for d in slack.delivered() if EMAIL in json.dumps(d)], bool, timeout=30)
    eventually(
        lambda: http.get(f"/api/unsubscribe/status/{EMAIL}", headers=ADMIN).status_code, lambda s: s == 200
    )

    exported = http.post("/api/admin/privacy/export", json={"email": EMAIL}, headers=ADMIN)
    assert exported.status_code == 200, exported.text
    document = exported.json()
    assert any(EMAIL in m["text"] for c in document["chat"]["conversations"] for m in c["messages"])
    assert document["notifier"]["notifications"]
    assert document["consent"]["audit_log"][0]["ip_address"] == "203.0.113.90"

    erased = http.post("/api/admin/privacy/erase", json={"email": EMAIL, "reason": "Art. 17"}, headers=ADMIN)
    assert erased.status_code == 200, erased.text
    for name, url in _urls(stack).items():
        assert EMAIL not in dump_text(url).lower(), name

    verified = http.get("/api/admin/consent/audit-log/verify", headers=ADMIN).json()
    assert verified["ok"] is True
    command = subprocess.run(
        [sys.executable, "-m", "services.consent", "verify-audit"],
        env={**os.environ, **stack.environ["consent"]},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert command.returncode == 0, command.stderr
    assert json.loads(command.stdout)["head_hash"] == verified["head_hash"]
    assert http.get(f"/api/unsubscribe/status/{EMAIL}", headers=ADMIN).status_code == 404
