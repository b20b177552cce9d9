"""The OpenAPI document: valid OpenAPI 3.1, and its schemas accept exactly what the gateway accepts."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from novahouse.notifier.v1 import notifier_pb2
from services.gateway.application.errors import GatewayError
from services.gateway.application.http import HttpReply, LocalRoute
from services.gateway.application.openapi import openapi_document
from services.gateway.application.openapi_schemas import INPUT, SchemaBuilder
from services.gateway.application.policies import RoutePolicies
from services.gateway.application.request_decoding import RequestTranslator
from services.gateway.application.routing import RouteTable
from services.gateway.bootstrap import load_bindings, upstream_entries
from services.gateway.settings import GatewaySettings
from services.runtime.config import Environment
from tests.support.bindings import synthetic_binding


async def _unused(_request) -> HttpReply:
    raise AssertionError


@pytest.fixture(scope="module")
def routes():
    policies = RoutePolicies(GatewaySettings.from_env(Environment({})).rate_limits)
    entries = upstream_entries(load_bindings(), policies)
    entries += [
        ("GET", "/api/health", LocalRoute("Health", _unused)),
        ("GET", "/api/health/deep", LocalRoute("DeepHealth", _unused)),
        ("GET", "/api/openapi.json", LocalRoute("OpenApi", _unused)),
        ("POST", "/api/admin/privacy/export", LocalRoute("PrivacyExport", _unused)),
        ("POST", "/api/admin/privacy/erase", LocalRoute("PrivacyErase", _unused)),
    ]
    return RouteTable(entries)


@pytest.fixture(scope="module")
def document(routes):
    return openapi_document(routes.entries(), title="test", version="1")


def test_the_document_is_valid_openapi_and_lists_every_route(document, routes):
    validate(document)
    assert document["openapi"] == "3.1.0"
    operations = {(m.upper(), path) for path, item in document["paths"].items() for m in item}
    assert operations == {(method, template.text) for method, template, _ in routes.entries()}
    assert len({op["operationId"] for item in document["paths"].values() for op in item.values()}) == 27


def test_operations_describe_parameters_security_and_errors(document):
    status = document["paths"]["/api/unsubscribe/status/{email}"]["get"]
    assert status["parameters"] == [
        {
            "name": "email",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "email", "minLength": 1, "maxLength": 254},
        }
    ]
    assert status["security"] == [{"adminApiKey": []}, {"emailToken": []}]
    assert {"401", "403", "404", "429", "503", "504"} <= set(status["responses"])
    entries = document["paths"]["/api/admin/dlq/entries"]["get"]
    params = {p["name"]: p["schema"] for p in entries["parameters"]}
    assert params["status"]["enum"][1] == "DEAD_LETTER_STATUS_PENDING"
    assert params["page_size"] == {
        "type": "integer",
        "format": "int32",
        "minimum": 0,  # the contract's rule, narrower than int32
        "maximum": 2**31 - 1,
    }
    chat = document["paths"]["/api/chatbot/chat"]["post"]
    assert "security" not in chat
    assert {"413", "415", "429"} <= set(chat["responses"])
    assert "X-RateLimit-Remaining" in chat["responses"]["200"]["headers"]
    assert "Retry-After" in document["components"]["responses"]["429"]["headers"]
    assert "requestBody" not in document["paths"]["/api/admin/breakers/{name}/reset"]["post"]


def test_response_schemas_say_what_is_always_printed(document):
    schemas = document["components"]["schemas"]
    stats = schemas["novahouse.notifier.v1.GetDeadLetterStatsResponse"]
    assert stats["required"] == ["counts", "pending", "failed", "delivered", "oldest_pending_age_seconds"]
    assert stats["properties"]["pending"] == {"type": "string", "pattern": "^-?[0-9]+$", "format": "int64"}
    status = schemas["novahouse.consent.v1.GetConsentStatusResponse"]
    assert "last_action_at" not in status["required"]  # a message field: absent when unset
    assert status["properties"]["last_action_at"]["format"] == "date-time"


def accepted_by_gateway(translator: RequestTranslator, document: object) -> bool:
    try:
        translator.build({}, [], json.dumps(document).encode())
    except GatewayError:
        return False
    return True


def body_validator(document: dict, path: str) -> Draft202012Validator:
    schema = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator({"components": document["components"], **schema})


SAMPLES = {
    # (a missing or null message passes the gateway; the contract's REQUIRED refuses it, so the
    # samples carry one)
    "/api/chatbot/chat": [
        {"message": "x"},
        {"message": "x", "session_id": "s"},
        {"message": 1},
        {"message": "x", "marketing_consent": None},
        {"message": "x", "rodo_consent": "true"},
        {"message": "x", "rodo_consent": False, "email": "a@b.pl"},
        {"email": "a@b.pl", "extra": 1},
        [],
        "message",
        {"session_id": ["s"]},
    ],
    # (a missing, null or PENDING status and negative days pass the gateway; the contract's rules
    # refuse them, so the samples keep to a status the contract allows)
    "/api/admin/dlq/purge": [
        {"status": "DEAD_LETTER_STATUS_FAILED", "older_than_days": 30},
        {"status": "FAILED"},
        {"status": 3},
        *(
            {"status": "DEAD_LETTER_STATUS_DELIVERED", "older_than_days": d}
            for d in (2**31, 0, 1.0, 1.5, "1", True)
        ),
    ],
    # (ids that are not numbers, e.g. ["a"], pass the gateway; the contract's rule refuses them)
    "/api/admin/dlq/retry": [{"ids": []}, {"ids": ["1", "2"]}, {"ids": "a"}, {"ids": [None]}, {"ids": [1]}],
}


@pytest.mark.parametrize("path", sorted(SAMPLES))
def test_request_body_schemas_accept_exactly_what_the_gateway_accepts(document, routes, path):
    route = routes.match("POST", path.encode()).target
    validator = body_validator(document, path)
    for sample in SAMPLES[path]:
        assert validator.is_valid(sample) == accepted_by_gateway(route.translator, sample), sample


def test_a_oneof_is_documented_as_at_most_one_member():
    schemas = SchemaBuilder(set())
    schema = {
        "components": {"schemas": schemas.components},
        **schemas.message(notifier_pb2.NotifyRequest.DESCRIPTOR, INPUT),
    }
    validator = Draft202012Validator(schema)
    translator = RequestTranslator(synthetic_binding(notifier_pb2.NotifyRequest), ())
    for sample in (
        {"slack": {"text": "a"}},
        {"slack": {"text": "a"}, "email": {"to": "x"}},
        {"slack": {"text": "a"}, "email": None},
        {"monday": {"item_name": "x", "bogus": 1}},
    ):
        assert validator.is_valid(sample) == accepted_by_gateway(translator, sample), sample


def _parameter(document, path: str, name: str) -> dict:
    return next(p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name)["schema"]


def test_the_document_carries_the_rules_the_contracts_declare(document):
    for path in ("/api/admin/dlq/entries", "/api/admin/consent/audit-log", "/api/admin/followups/due"):
        assert _parameter(document, path, "page_size")["minimum"] == 0  # (buf.validate.field).int32.gte
    assert _parameter(document, "/api/admin/dlq/entries/{id}", "id")["pattern"] == "^[0-9]{1,18}$"
    session = _parameter(document, "/api/chatbot/conversations/{session_id}", "session_id")
    assert session["pattern"] == "^[A-Za-z0-9_-]{1,128}$"
    schemas = document["components"]["schemas"]
    retry = schemas["novahouse.notifier.v1.RetryDeadLettersRequest"]["properties"]["ids"]
    assert retry["items"] == {"type": "string", "pattern": "^[0-9]{1,18}$"}  # repeated.items rules
    purge = schemas["novahouse.notifier.v1.PurgeDeadLettersRequest"]
    assert purge["required"] == ["status"]  # google.api.field_behavior = REQUIRED: present, not null
    assert purge["properties"]["status"] == {
        "type": "string",
        "enum": ["DEAD_LETTER_STATUS_DELIVERED", "DEAD_LETTER_STATUS_FAILED"],  # enum.in = [2, 3]
    }
    assert purge["properties"]["older_than_days"]["minimum"] == 0


def test_the_rules_in_the_document_are_the_ones_protovalidate_enforces():
    import protovalidate

    from novahouse.chat.v1 import chat_pb2

    refused = [
        notifier_pb2.ListDeadLettersRequest(page_size=-1),
        notifier_pb2.GetDeadLetterRequest(id="99999999999999999999999"),
        notifier_pb2.RetryDeadLettersRequest(ids=["1", ""]),
        chat_pb2.GetConversationRequest(session_id="a b"),
        notifier_pb2.PurgeDeadLettersRequest(),  # no status
        notifier_pb2.PurgeDeadLettersRequest(status=notifier_pb2.DEAD_LETTER_STATUS_PENDING),
        notifier_pb2.PurgeDeadLettersRequest(
            status=notifier_pb2.DEAD_LETTER_STATUS_FAILED, older_than_days=-1
        ),
    ]
    for message in refused:
        assert protovalidate.collect_violations(message), message
    accepted = [
        notifier_pb2.ListDeadLettersRequest(page_size=0),
        notifier_pb2.GetDeadLetterRequest(id="17"),
        chat_pb2.GetConversationRequest(session_id="s-1_A"),
        notifier_pb2.PurgeDeadLettersRequest(status=notifier_pb2.DEAD_LETTER_STATUS_DELIVERED),
    ]
    assert [protovalidate.collect_violations(m) for m in accepted] == [[]] * len(accepted)


def test_the_contracts_rules_are_in_the_document(document):
    schemas = document["components"]["schemas"]
    unsubscribe = schemas["novahouse.consent.v1.UnsubscribeRequest"]
    assert unsubscribe["required"] == ["email"]
    assert unsubscribe["properties"]["email"] == {
        "type": "string",
        "format": "email",
        "minLength": 1,
        "maxLength": 254,
    }
    # Free text: its length, and no control characters (every service refuses them).
    assert unsubscribe["properties"]["reason"] == {
        "type": ["string", "null"],
        "maxLength": 1000,
        "pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$",
    }
    chat = schemas["novahouse.chat.v1.SendMessageRequest"]
    assert chat["required"] == ["message"]
    assert chat["properties"]["message"]["maxLength"] == 4000
    # An optional email: an address or empty.
    assert chat["properties"]["email"]["anyOf"] == [{"format": "email"}, {"maxLength": 0}]
    # A consent flag needs the email (the contract's `requires`).
    valid = Draft202012Validator({"components": document["components"], **chat}).is_valid
    assert not valid({"message": "x", "rodo_consent": False})
    assert not valid({"message": "x", "marketing_consent": True, "email": ""})
    assert valid({"message": "x", "marketing_consent": True, "email": "a@b.pl"})
    assert valid({"message": "x", "marketing_consent": None})
    audit = {
        p["name"]: p["schema"] for p in document["paths"]["/api/admin/consent/audit-log"]["get"]["parameters"]
    }
    assert "" in audit["action"]["enum"]
    assert "consent-confirmed" in audit["action"]["enum"]
    assert audit["page_token"]["pattern"].startswith("^(?:YmVmb3JlOj")
    followup = schemas["novahouse.chat.v1.SendFollowupRequest"]
    assert followup["required"] == ["conversation_id", "followup_number"]
    assert followup["properties"]["followup_number"]["minimum"] == 1
    purge = document["paths"]["/api/admin/dlq/purge"]["post"]
    assert purge["requestBody"]["required"] is True  # status is REQUIRED
    assert document["paths"]["/api/admin/dlq/retry"]["post"]["requestBody"]["required"] is False


def test_the_privacy_and_link_routes_take_their_contracts_rules(document):
    erase = document["paths"]["/api/admin/privacy/erase"]["post"]["requestBody"]["content"]
    schema = erase["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/novahouse.privacy.v1.ErasePersonalDataRequest"}
    body = document["components"]["schemas"]["novahouse.privacy.v1.ErasePersonalDataRequest"]
    assert body["required"] == ["email"]
    assert body["properties"]["reason"]["maxLength"] == 1000
    confirm = document["paths"]["/api/consent/confirm/{token}"]
    [posted] = confirm["post"]["parameters"]
    assert posted["schema"]["maxLength"] == 512
    assert "pattern" in posted["schema"]
    assert confirm["post"]["requestBody"]["required"] is True
    [page] = confirm["get"]["parameters"]
    assert page["schema"] == {"type": "string", "minLength": 1}  # the page shows any token
