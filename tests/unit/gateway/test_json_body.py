"""The request body decoder: a key given twice is refused at any depth, and NaN/Infinity are no JSON."""

from __future__ import annotations

import pytest

from services.gateway.application.json_body import JSON_DECODER, DuplicateKey


@pytest.mark.parametrize(
    ("document", "key"),
    [
        ('{"email": "a@b.pl", "email": "c@d.pl"}', "email"),
        ('{"filter": {"channel": "slack", "channel": "email"}}', "channel"),
        ('{"entries": [{"id": "1"}, {"id": "2", "id": "3"}]}', "id"),
        ('[[{"a": {"b": 1, "b": 2}}]]', "b"),
    ],
)
def test_a_key_given_twice_is_refused_at_any_depth(document, key):
    with pytest.raises(DuplicateKey) as raised:
        JSON_DECODER.decode(document)
    assert raised.value.key == key


def test_the_same_key_in_sibling_objects_is_fine():
    document = JSON_DECODER.decode('{"a": {"id": 1}, "b": {"id": 2}, "list": [{"id": 3}, {"id": 4}]}')
    assert document == {"a": {"id": 1}, "b": {"id": 2}, "list": [{"id": 3}, {"id": 4}]}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_constants_are_refused(constant):
    with pytest.raises(ValueError, match="is not a JSON value"):
        JSON_DECODER.decode(f'{{"page_size": {constant}}}')
