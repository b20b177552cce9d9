"""The confirmation email of a marketing grant (double opt-in), in Polish or English."""

from __future__ import annotations

from dataclasses import dataclass

LANGUAGES = ("pl", "en")

_SUBJECTS = {
    "pl": "NovaHouse: potwierdź zgodę na wiadomości marketingowe",
    "en": "NovaHouse: please confirm your consent to marketing emails",
}
_BODIES = {
    "pl": (
        "Dzień dobry,\n\n"
        "w czacie NovaHouse podano ten adres e-mail i zaznaczono zgodę na wiadomości marketingowe "
        "(np. przypomnienia o wycenie wykończenia wnętrza). Jeśli to Ty, potwierdź zgodę tutaj:\n\n"
        "{url}\n\n"
        "Link jest ważny {days} dni. Jeśli to nie Ty, zignoruj tę wiadomość: bez potwierdzenia nie "
        "wyślemy na ten adres żadnych wiadomości marketingowych.\n\n"
        "NovaHouse"
    ),
    "en": (
        "Hello,\n\n"
        "this email address was given in the NovaHouse chat together with consent to marketing emails "
        "(such as reminders about an interior finishing quote). If that was you, please confirm here:\n\n"
        "{url}\n\n"
        "The link is valid for {days} days. If it was not you, ignore this message: without your "
        "confirmation we send no marketing email to this address.\n\n"
        "NovaHouse"
    ),
}


@dataclass(frozen=True)
class ConfirmationEmail:
    subject: str
    body: str


def language(value: str) -> str:
    """'en', 'en-GB' -> 'en'; anything not English is Polish, the site's language."""
    return "en" if value.strip().lower()[:2] == "en" else "pl"


def confirmation_email(lang: str, url: str, days: int) -> ConfirmationEmail:
    lang = language(lang)
    return ConfirmationEmail(_SUBJECTS[lang], _BODIES[lang].format(url=url, days=days))
