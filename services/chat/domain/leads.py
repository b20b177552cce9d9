"""Lead capture and scoring: what a visitor's messages reveal, and how much it is worth.

Scoring rules (points add up, at most 100):

| signal    | points | recognised from |
|-----------|--------|-----------------|
| email     | 25     | an address in a message or sent with it |
| phone     | 25     | a Polish phone number (9 digits, optionally +48) |
| budget    | 20     | an amount with zł/PLN/EUR/tys./k, or "budżet"/"budget" with a number |
| area      | 15     | a surface such as "60 m2", "75 m²", "90 metrów", "120 sqm" |
| timeline  | 15     | "od zaraz", "w przyszłym miesiącu", "za 3 tygodnie", a month, "ASAP", "next month" |

A lead exists once an email or phone number is known; it is announced when its score first reaches
LEAD_ALERT_THRESHOLD (70 by default: e.g. email, phone and budget).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from services.chat.domain.text import fold
from services.runtime.emails import normalise_email
from services.runtime.errors import InvalidArgument

POINTS = {"email": 25, "phone": 25, "budget": 20, "area": 15, "timeline": 15}

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\d+])(?:(?:\+|00)48[\s-]?)?(\d{3})[\s-]?(\d{3})[\s-]?(\d{3})(?!\d)")
_AMOUNT = r"\d[\d\s.,]*"
_BUDGET = re.compile(
    rf"{_AMOUNT}\s*(?:zl|pln|eur|euro|tys\b|tysiecy|k\b)|(?:budzet|budget)\D{{0,20}}\d", re.IGNORECASE
)
_AREA = re.compile(rf"{_AMOUNT}\s*(?:m2|m\^2|m²|mkw|m kw|metr|sqm|square met)", re.IGNORECASE)
_TIMELINE_PHRASES = [
    "od zaraz", "jak najszybciej", "asap", "w tym miesiacu", "w przyszlym miesiacu", "za miesiac",
    r"za \d+ (?:tygodni|miesiac)", "w ciagu", "do konca", "na wiosne", "na lato", "na jesien", "latem",
    "wiosna", "styczni", "lutym", "lutego", "marcu", "marca", "kwietni", "maju", "maja", "czerwc", "lipc",
    "sierpni", "wrzesni", "pazdziernik", "listopad", "grudni", "next month", "this month", r"within \d+",
    r"in \d+ weeks", "as soon as possible",
    "by (?:january|february|march|april|may|june|july|august|september|october|november|december)",
]  # fmt: skip
_TIMELINE = re.compile("|".join(_TIMELINE_PHRASES), re.IGNORECASE)


@dataclass(frozen=True)
class LeadSignals:
    email: str | None = None
    phone: str | None = None
    budget: bool = False
    area: bool = False
    timeline: bool = False

    @property
    def score(self) -> int:
        found = {
            "email": self.email is not None,
            "phone": self.phone is not None,
            "budget": self.budget,
            "area": self.area,
            "timeline": self.timeline,
        }
        return min(100, sum(POINTS[name] for name, present in found.items() if present))

    @property
    def has_contact(self) -> bool:
        return self.email is not None or self.phone is not None

    def merged(self, newer: LeadSignals) -> LeadSignals:
        """What is known after a new message: new contact details replace old ones, flags accumulate."""
        return replace(
            self,
            email=newer.email or self.email,
            phone=newer.phone or self.phone,
            budget=self.budget or newer.budget,
            area=self.area or newer.area,
            timeline=self.timeline or newer.timeline,
        )


def extract_signals(text: str, email: str | None = None) -> LeadSignals:
    """The signals in one message; `email` is one the widget sent along (already normalised)."""
    folded = fold(text)
    found_email = email
    if found_email is None:
        for candidate in _EMAIL.findall(text):
            try:
                found_email = normalise_email(candidate)
                break
            except InvalidArgument:
                continue
    phone = _PHONE.search(text)
    return LeadSignals(
        email=found_email,
        phone="+48" + "".join(phone.groups()) if phone else None,
        budget=bool(_BUDGET.search(folded)),
        area=bool(_AREA.search(folded)),
        timeline=bool(_TIMELINE.search(folded)),
    )
