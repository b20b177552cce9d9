"""The route table comes from the contracts' google.api.http annotations and nothing else."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from google.api import http_pb2
from google.protobuf import descriptor_pool

from novahouse.api.v1 import access_pb2
from services.gateway.adapters.stubs import contract_files
from services.gateway.application.auth import Access
from services.gateway.application.contracts import (
    ContractError,
    binding_from_rule,
    http_bindings,
    service_key,
)
from services.gateway.application.policies import RoutePolicies
from services.gateway.bootstrap import load_bindings, upstream_names
from services.gateway.settings import GatewaySettings
from services.runtime.access import declared_access
from services.runtime.config import Environment
from tests.support.billing_contract import billing_file

SPEC_ROUTES = {
    ("POST", "/api/chatbot/chat", "novahouse.chat.v1.ChatService.SendMessage"),
    ("GET", "/api/chatbot/conversations/{session_id}", "novahouse.chat.v1.ChatService.GetConversation"),
    ("POST", "/api/unsubscribe", "novahouse.consent.v1.ConsentService.Unsubscribe"),
    ("POST", "/api/revoke-consent", "novahouse.consent.v1.ConsentService.RevokeConsent"),
    ("GET", "/api/unsubscribe/status/{email}", "novahouse.consent.v1.ConsentService.GetConsentStatus"),
    # Signed links in emails (issue 11): the gateway takes form bodies and answers HTML on these two.
    ("POST", "/api/unsubscribe/one-click/{token}", "novahouse.consent.v1.ConsentService.UnsubscribeOneClick"),
    ("POST", "/api/consent/confirm/{token}", "novahouse.consent.v1.ConsentService.ConfirmConsent"),
    ("GET", "/api/admin/consent/audit-log", "novahouse.consent.v1.ConsentService.ListAuditLog"),
    ("GET", "/api/admin/consent/audit-log/verify", "novahouse.consent.v1.ConsentService.VerifyAuditLog"),
    ("POST", "/api/admin/followups/send", "novahouse.chat.v1.ChatService.SendFollowup"),
    ("GET", "/api/admin/followups/due", "novahouse.chat.v1.ChatService.ListDueFollowups"),
    ("POST", "/api/admin/followups/run", "novahouse.chat.v1.ChatService.RunDueFollowups"),
    ("GET", "/api/admin/dlq/entries", "novahouse.notifier.v1.NotifierService.ListDeadLetters"),
    ("GET", "/api/admin/dlq/entries/{id}", "novahouse.notifier.v1.NotifierService.GetDeadLetter"),
    ("GET", "/api/admin/dlq/stats", "novahouse.notifier.v1.NotifierService.GetDeadLetterStats"),
    ("POST", "/api/admin/dlq/retry", "novahouse.notifier.v1.NotifierService.RetryDeadLetters"),
    ("POST", "/api/admin/dlq/redrive", "novahouse.notifier.v1.NotifierService.RedriveDeadLetters"),
    ("POST", "/api/admin/dlq/purge", "novahouse.notifier.v1.NotifierService.PurgeDeadLetters"),
    ("GET", "/api/admin/breakers", "novahouse.notifier.v1.NotifierService.ListBreakers"),
    ("POST", "/api/admin/breakers/{name}/reset", "novahouse.notifier.v1.NotifierService.ResetBreaker"),
}


def test_the_generated_contracts_give_the_routes_of_the_spec():
    bindings = load_bindings()
    assert {(b.http_method, b.path_template, b.rpc_name) for b in bindings} == SPEC_ROUTES
    assert upstream_names(bindings) == ["chat", "consent", "notifier"]
    unsubscribe = next(b for b in bindings if b.path_template == "/api/unsubscribe")
    assert unsubscribe.rpc_path == "/novahouse.consent.v1.ConsentService/Unsubscribe"
    assert unsubscribe.body == "*"


def test_routes_get_their_limits_and_authentication_from_the_binding():
    policies = RoutePolicies(GatewaySettings.from_env(Environment({})).rate_limits)
    by_path = {b.path_template: policies.for_binding(b) for b in load_bindings()}
    assert [p.name for p in by_path["/api/chatbot/chat"].rate_policies] == ["chat"]
    assert [p.name for p in by_path["/api/unsubscribe"].rate_policies] == ["api-hour", "api-minute"]
    assert by_path["/api/unsubscribe"].access is Access.PUBLIC
    assert by_path["/api/admin/breakers"].access is Access.ADMIN
    status = by_path["/api/unsubscribe/status/{email}"]
    assert status.access is Access.ADMIN_OR_EMAIL_TOKEN
    assert status.auth_parameters == {"token"}
    assert status.token_field == "email"


def test_a_new_service_with_an_annotation_becomes_a_route_of_its_own_upstream():
    [binding] = http_bindings([billing_file()])
    assert (binding.service_key, binding.http_method, binding.path_template) == (
        "billing",
        "GET",
        "/api/billing/invoices/{invoice_id}",
    )
    policy = RoutePolicies(GatewaySettings.from_env(Environment({})).rate_limits).for_binding(binding)
    assert policy.access is Access.PUBLIC
    assert [p.name for p in policy.rate_policies] == ["api-hour", "api-minute"]


def test_every_route_gets_the_access_its_contract_declares():
    """Route policy equals the RPC's option: ADMIN is the admin key, PUBLIC is public (the consent
    status route narrowed to the admin key or a signed token); nothing depends on the path."""
    policies = RoutePolicies(GatewaySettings.from_env(Environment({})).rate_limits)
    bindings = load_bindings()
    assert {b.access for b in bindings} == {access_pb2.ACCESS_PUBLIC, access_pb2.ACCESS_ADMIN}
    for binding in bindings:
        policy = policies.for_binding(binding)
        declared = binding.method.GetOptions().Extensions[access_pb2.access]
        assert binding.access == declared
        if declared == access_pb2.ACCESS_ADMIN:
            assert policy.access is Access.ADMIN, binding.rpc_name
        elif binding.rpc_name.endswith("GetConsentStatus"):
            assert policy.access is Access.ADMIN_OR_EMAIL_TOKEN
        else:
            assert policy.access is Access.PUBLIC, binding.rpc_name


def test_every_rpc_of_every_contract_declares_its_access():
    for file in contract_files():
        for service in file.services_by_name.values():
            for method in service.methods:
                assert declared_access(method) != access_pb2.ACCESS_UNSPECIFIED, method.full_name


@pytest.mark.parametrize("rpc", ["consent.v1.ConsentService.RecordConsent",
    "consent.v1.ConsentService.CheckConsent", "notifier.v1.NotifierService.Notify",
    "runtime.v1.DiagnosticsService.GetDiagnostics"])  # fmt: skip
def test_internal_rpcs_are_never_routes(rpc):
    method = descriptor_pool.Default().FindMethodByName(f"novahouse.{rpc}")
    assert declared_access(method) == access_pb2.ACCESS_INTERNAL
    assert all(b.rpc_name != method.full_name for b in load_bindings())


def test_an_http_route_without_an_access_option_or_to_an_internal_rpc_stops_the_gateway():
    with pytest.raises(ContractError, match=r"needs an \(novahouse.api.v1.access\) option"):
        http_bindings([billing_file(access=None)])
    with pytest.raises(ContractError, match="INTERNAL RPCs cannot have an HTTP route"):
        http_bindings([billing_file(access=access_pb2.ACCESS_INTERNAL)])
    [admin] = http_bindings([billing_file(access=access_pb2.ACCESS_ADMIN)])
    policy = RoutePolicies(GatewaySettings.from_env(Environment({})).rate_limits).for_binding(admin)
    assert admin.path_template.startswith("/api/billing")  # not under /api/admin/, admin all the same
    assert policy.access is Access.ADMIN


@pytest.mark.parametrize(
    ("package", "key"),
    [
        ("novahouse.consent.v1", "consent"),
        ("novahouse.billing.v2beta1", "billing"),
        ("novahouse.a.b.v1", "a_b"),
    ],
)
def test_the_service_key_comes_from_the_package(package, key):
    assert service_key(package) == key


def test_annotations_the_gateway_cannot_serve_are_refused_at_start():
    method = SimpleNamespace(
        full_name="x.S.M",
        input_type=SimpleNamespace(fields_by_name={"a": object()}),
        output_type=SimpleNamespace(fields_by_name={"b": object()}),
    )
    with pytest.raises(ContractError):
        binding_from_rule("x", method, http_pb2.HttpRule(get="/x", body="*"))
    with pytest.raises(ContractError):
        binding_from_rule("x", method, http_pb2.HttpRule(post="/x", body="nope"))
    with pytest.raises(ContractError):
        binding_from_rule("x", method, http_pb2.HttpRule(post="/x", response_body="nope"))
    with pytest.raises(ContractError):
        binding_from_rule("x", method, http_pb2.HttpRule(body="*"))
    custom = binding_from_rule(
        "x", method, http_pb2.HttpRule(custom=http_pb2.CustomHttpPattern(kind="head", path="/x"))
    )
    assert custom.http_method == "HEAD"
