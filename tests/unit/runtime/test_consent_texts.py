"""The consent texts file: every text the widget can show has a version id, and the packaged file loads."""

from __future__ import annotations

import copy

import pytest

from services.runtime.consent_texts import LANGUAGES, PURPOSES, ConsentTextsError, catalogue, parse

VALID = {
    "current": "v2",
    "versions": [
        {"id": "v1", "texts": {lang: {p: f"old {p}" for p in PURPOSES} for lang in LANGUAGES}},
        {"id": "v2", "texts": {lang: {p: f"new {p}" for p in PURPOSES} for lang in LANGUAGES}},
    ],
}


def test_the_packaged_file_has_a_current_version_with_every_text():
    current = catalogue().current
    assert current.version
    assert len(current.version) <= 64
    for language in LANGUAGES:
        assert set(current.texts[language]) == set(PURPOSES)
        assert all(text.strip() for text in current.texts[language].values())


def test_an_old_version_keeps_its_own_texts():
    loaded = parse(VALID)
    assert loaded.current.version == "v2"
    assert loaded.text("v1", "marketing", "en") == "old marketing"
    assert loaded.text("v2", "processing") == "new processing"
    assert loaded.text("unknown", "processing") is None


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda doc: doc["versions"][1].pop("id"), "versions[1].id"),
        (lambda doc: doc["versions"][0].update(id=""), "versions[0].id"),
        (lambda doc: doc["versions"][0].update(id="x" * 65), "versions[0].id"),
        (lambda doc: doc["versions"][1].update(id="v1"), "versions[1].id"),
        (lambda doc: doc["versions"][0]["texts"]["en"].pop("marketing"), "versions[0].texts.en.marketing"),
        (lambda doc: doc["versions"][1]["texts"]["pl"].update(processing=" "), "texts.pl.processing"),
        (lambda doc: doc.update(current="v3"), "current"),
    ],
)
def test_a_text_without_a_version_or_a_version_without_texts_is_refused(change, named):
    document = copy.deepcopy(VALID)
    change(document)
    with pytest.raises(ConsentTextsError, match=named.replace("[", r"\[").replace("]", r"\]")):
        parse(document)
