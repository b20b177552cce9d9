"""A service the gateway was never told about is reachable over HTTP from its annotation alone."""

from __future__ import annotations

import httpx
import pytest

from services.gateway.application.contracts import http_bindings
from services.gateway.bootstrap import load_bindings
from tests.support.billing_contract import billing_file, start_billing
from tests.support.gateway import ADMIN_KEY as _DEEP_KEY
from tests.support.gateway import GatewayServer

DEEP = {"X-ADMIN-API-KEY": _DEEP_KEY}  # the full report needs the admin key


@pytest.fixture
def billing():
    server, diagnostics, received = start_billing()
    yield f"127.0.0.1:{server.port}", received
    server.stop(0)
    diagnostics.close()


def test_an_annotated_rpc_of_a_new_service_is_served_documented_and_health_checked(upstream_environ, billing):
    address, received = billing
    bindings = [*load_bindings(), *http_bindings([billing_file()])]
    gateway = GatewayServer({**upstream_environ, "BILLING_ADDR": address}, bindings).start()
    try:
        with httpx.Client(base_url=gateway.url) as http:
            response = http.get("/api/billing/invoices/inv%2F7", params={"currency": "PLN"})
            unknown = http.get("/api/billing/invoices/inv-7", params={"amount": "1"})
            document = http.get("/api/openapi.json").json()
            deep = http.get("/api/health/deep", headers=DEEP).json()
    finally:
        gateway.stop()
    assert response.status_code == 200
    assert response.json() == {"invoice_id": "inv/7", "amount_cents": "1250", "paid": False}
    assert [(r.invoice_id, r.currency) for r in received] == [("inv/7", "PLN")]
    assert unknown.status_code == 400
    assert "/api/billing/invoices/{invoice_id}" in document["paths"]
    assert deep["services"]["billing"]["health"] == "SERVING"
