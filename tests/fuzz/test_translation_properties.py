"""Properties of the gateway's JSON ⇄ protobuf translation (services/gateway/application/: json_values,
request_decoding, response_rendering), for the real request and response types of every route and for
a test message with every kind of field: what the gateway prints it reads back unchanged, and whatever a
client sends is either a message or the documented 400 naming the field, never another exception."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.application.errors import GatewayError
from services.gateway.application.request_decoding import RequestTranslator
from services.gateway.application.response_rendering import ResponseRenderer
from services.gateway.application.routing import PathTemplate
from services.gateway.bootstrap import load_bindings
from tests.fuzz.protobuf_strategies import TEXT, all_types, messages
from tests.support.bindings import synthetic_binding

BINDINGS = load_bindings()
REQUEST_TYPES = sorted({b.method.input_type for b in BINDINGS}, key=lambda d: d.full_name)
RESPONSE_TYPES = sorted({b.method.output_type for b in BINDINGS}, key=lambda d: d.full_name)
TYPES = [*REQUEST_TYPES, all_types()]
# Deterministic: these properties guard the suite, they do not explore anew on every run.
PROPERTY = settings(
    max_examples=50, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)


def body_translator(descriptor) -> RequestTranslator:
    return RequestTranslator(synthetic_binding(_Named(descriptor)), ())


class _Named:
    """What synthetic_binding needs of a generated message class: its DESCRIPTOR."""

    def __init__(self, descriptor) -> None:
        self.DESCRIPTOR = descriptor


def refusal(build) -> GatewayError | None:
    """The GatewayError build() raises, or None if it builds a message; any other exception fails."""
    try:
        build()
    except GatewayError as error:
        return error
    return None


def named_fields(error: GatewayError) -> list[str]:
    """The fields a 400 names; fails unless the error is the documented INVALID_ARGUMENT with a
    google.rpc.BadRequest naming at least one field."""
    assert (error.status, error.code) == (400, code_pb2.INVALID_ARGUMENT)
    [detail] = error.details
    bad_request = error_details_pb2.BadRequest()
    assert detail.Unpack(bad_request)
    fields = [violation.field for violation in bad_request.field_violations]
    assert fields, error.message
    assert all(field in error.message for field in fields)
    return fields


def names_one_of(field: str, keys: set[str]) -> bool:
    """Whether a violation's field is one of `keys` or lies inside one ('child.single_int32', 'ids[2]')."""
    return any(field == key or field.startswith((f"{key}.", f"{key}[")) for key in keys)


@pytest.mark.parametrize("descriptor", TYPES, ids=lambda d: d.name)
@PROPERTY
@given(data=st.data())
def test_what_the_gateway_prints_it_reads_back_unchanged(descriptor, data):
    message = data.draw(messages(descriptor))
    printed = ResponseRenderer(synthetic_binding(_Named(descriptor))).render(message)
    assert body_translator(descriptor).build({}, [], printed) == message


@pytest.mark.parametrize("descriptor", RESPONSE_TYPES, ids=lambda d: d.name)
@PROPERTY
@given(data=st.data())
def test_every_response_prints_as_json_that_parses_back_to_it(descriptor, data):
    message = data.draw(messages(descriptor))
    printed = ResponseRenderer(synthetic_binding(_Named(descriptor))).render(message)
    assert json_format.Parse(printed, type(message)()) == message


@pytest.mark.parametrize("descriptor", TYPES, ids=lambda d: d.name)
@PROPERTY
@given(data=st.data())
def test_any_json_body_is_a_message_or_a_400_naming_the_field(descriptor, data):
    """Random JSON, and valid documents with one field replaced by random JSON (which reaches the
    checks of nested fields): a message, or a 400 whose fields are in the document."""
    valid = json.loads(
        ResponseRenderer(synthetic_binding(_Named(descriptor))).render(data.draw(messages(descriptor)))
    )
    key = data.draw(st.sampled_from([*sorted(valid), "unknown_field"]))
    document = data.draw(st.one_of(JSON_VALUES, st.just({**valid, key: data.draw(JSON_VALUES)})))
    error = refusal(lambda: body_translator(descriptor).build({}, [], json.dumps(document).encode()))
    if error is not None:
        sent = set(document) if isinstance(document, dict) else set()
        assert all(names_one_of(field, sent | {"body"}) for field in named_fields(error))


@pytest.mark.parametrize("descriptor", TYPES, ids=lambda d: d.name)
@PROPERTY
@given(body=st.binary(max_size=60))
def test_any_bytes_as_a_body_are_a_message_or_a_400(descriptor, body):
    error = refusal(lambda: body_translator(descriptor).build({}, [], body))
    if error is not None:
        named_fields(error)


QUERY_BINDINGS = [b for b in BINDINGS if b.body != "*"]


@pytest.mark.parametrize("binding", QUERY_BINDINGS, ids=lambda b: b.method.name)
@PROPERTY
@given(data=st.data())
def test_any_path_and_query_text_is_a_message_or_a_400_naming_the_parameter(binding, data):
    variables = PathTemplate(binding.path_template).field_paths
    translator = RequestTranslator(binding, variables)
    names = st.sampled_from(sorted(translator.query_fields)) if translator.query_fields else TEXT
    query = data.draw(st.lists(st.tuples(names | TEXT, TEXT), max_size=4))
    path = {name: data.draw(TEXT) for name in variables}
    error = refusal(lambda: translator.build(path, query, None))
    if error is not None:
        assert set(named_fields(error)) <= {name for name, _ in query} | set(path)
