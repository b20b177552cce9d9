"""The rule-based responder: intents with Polish and English keywords and answers, from a data file."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.chat.domain.text import fold

DEFAULT_INTENTS = Path(__file__).resolve().parents[1] / "data" / "intents.toml"
# Messages with none of an intent's keywords are answered in English when they read as English.
_ENGLISH = re.compile(r"\b(?:the|please|i|you|my|we|what|how|is|are|can|do|need|want|would)\b")


@dataclass(frozen=True)
class Intent:
    name: str
    keywords_pl: tuple[re.Pattern, ...]
    keywords_en: tuple[re.Pattern, ...]
    reply_pl: str
    reply_en: str


@dataclass(frozen=True)
class Reply:
    intent: str
    text: str


def _patterns(keywords: list[str]) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(rf"(?<!\w){re.escape(fold(keyword))}") for keyword in keywords)


class RuleResponder:
    def __init__(
        self,
        intents: list[Intent],
        contact: tuple[str, str],
        fallback: tuple[str, str],
        followups: dict[int, str],
    ) -> None:
        self._intents = intents
        self._contact = contact
        self._fallback = fallback
        self.followups = followups

    @classmethod
    def from_file(cls, path: Path = DEFAULT_INTENTS) -> RuleResponder:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        intents = [
            Intent(
                name=item["name"],
                keywords_pl=_patterns(item["keywords_pl"]),
                keywords_en=_patterns(item["keywords_en"]),
                reply_pl=item["reply_pl"],
                reply_en=item["reply_en"],
            )
            for item in data["intent"]
        ]
        contact = (data["contact_received"]["reply_pl"], data["contact_received"]["reply_en"])
        fallback = (data["fallback"]["reply_pl"], data["fallback"]["reply_en"])
        followups = {int(number): text for number, text in data["followups"].items()}
        return cls(intents, contact, fallback, followups)

    def answer(
        self, message: str, history: Sequence[tuple[str, str]] = (), *, new_contact_details: bool = False
    ) -> Reply:
        """Answers from the rules; the history does not change a rule's answer."""
        folded = fold(message)
        best: tuple[int, Intent, bool] | None = None
        for intent in self._intents:
            polish = sum(bool(p.search(folded)) for p in intent.keywords_pl)
            english = sum(bool(p.search(folded)) for p in intent.keywords_en)
            hits = max(polish, english)
            if hits and (best is None or hits > best[0]):
                best = (hits, intent, english > polish)
        english = bool(_ENGLISH.search(folded))
        if new_contact_details:
            return Reply("contact_received", self._contact[1] if english else self._contact[0])
        if best is None:
            return Reply("fallback", self._fallback[1] if english else self._fallback[0])
        _, intent, in_english = best
        return Reply(intent.name, intent.reply_en if in_english else intent.reply_pl)

    def followup(self, number: int) -> str:
        return self.followups.get(number) or self.followups[max(self.followups)]
