"""The consent texts a visitor is shown, versioned in one data file (data/consent_texts.json here).

The chat widget displays the current version's texts (the gateway serves them at
/widget/consent-texts.json) and sends that version's id with the consent flags; the chat service records
it in the consent audit log (its CONSENT_TEXT_VERSION defaults to the current id), and the operators'
console shows, for an audit entry, the exact text that version stands for. A published version is never
edited: a changed text is a new version, so an audit entry keeps proving what the person saw (GDPR
Art. 7(1)). Loading refuses a file in which any text lacks a version id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

PURPOSES = ("processing", "marketing")
LANGUAGES = ("pl", "en")
MAX_VERSION_LENGTH = 64  # the consent audit's consent_text_version column


class ConsentTextsError(ValueError):
    """The data file is malformed; the message names what is wrong."""


@dataclass(frozen=True)
class ConsentTexts:
    """One version: its id and, per language, the text of each purpose."""

    version: str
    texts: dict[str, dict[str, str]]

    def as_json(self) -> dict[str, Any]:
        return {"version": self.version, "texts": self.texts}


@dataclass(frozen=True)
class Catalogue:
    current: ConsentTexts
    versions: dict[str, ConsentTexts]

    def text(self, version: str, purpose: str, language: str = "pl") -> str | None:
        """The text a version showed for a purpose, or None for a version the file does not know."""
        found = self.versions.get(version)
        return found.texts.get(language, {}).get(purpose) if found else None


def parse(document: Any) -> Catalogue:
    """A catalogue from the file's JSON; raises ConsentTextsError naming the faulty part."""
    if not isinstance(document, dict) or not isinstance(document.get("versions"), list):
        raise ConsentTextsError("versions: expected a list of versions")
    versions: dict[str, ConsentTexts] = {}
    for index, entry in enumerate(document["versions"]):
        version = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(version, str) or not version.strip() or len(version) > MAX_VERSION_LENGTH:
            raise ConsentTextsError(f"versions[{index}].id: every text needs a version id (1-64 characters)")
        if version in versions:
            raise ConsentTextsError(f"versions[{index}].id: {version!r} appears twice")
        texts = entry.get("texts")
        for language in LANGUAGES:
            for purpose in PURPOSES:
                value = texts.get(language, {}).get(purpose) if isinstance(texts, dict) else None
                if not isinstance(value, str) or not value.strip():
                    raise ConsentTextsError(f"versions[{index}].texts.{language}.{purpose}: missing")
        versions[version] = ConsentTexts(
            version, {language: {p: texts[language][p] for p in PURPOSES} for language in LANGUAGES}
        )
    current = document.get("current")
    if current not in versions:
        raise ConsentTextsError(f"current: {current!r} is not one of the versions")
    return Catalogue(versions[current], versions)


@cache
def catalogue() -> Catalogue:
    """The packaged file's catalogue (read once)."""
    raw = resources.files("services.runtime").joinpath("data", "consent_texts.json").read_text("utf-8")
    return parse(json.loads(raw))
