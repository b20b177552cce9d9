"""The console's words in English and Polish. The language comes from `?lang=`, then the language
cookie, then Accept-Language; English when nothing says Polish."""

from __future__ import annotations

LANGUAGES = ("en", "pl")

_PAIRS: dict[str, tuple[str, str]] = {
    "title": ("NovaHouse operators' console", "Konsola operatora NovaHouse"),
    "overview": ("Overview", "Przegląd"),
    "dlq": ("Dead-letter queue", "Kolejka nieodebranych"),
    "breakers": ("Breakers", "Bezpieczniki"),
    "consent": ("Consent", "Zgody"),
    "followups": ("Follow-ups", "Przypomnienia"),
    "logout": ("Log out", "Wyloguj"),
    "login": ("Log in", "Zaloguj"),
    "admin_key": ("Admin key", "Klucz administratora"),
    "login_intro": (
        "Enter the gateway's admin key (ADMIN_API_KEY) to open the console.",
        "Podaj klucz administratora bramy (ADMIN_API_KEY), aby otworzyć konsolę.",
    ),
    "wrong_key": ("Wrong admin key.", "Nieprawidłowy klucz administratora."),
    "too_many_logins": (
        "Too many login attempts; try again in {0} s.",
        "Zbyt wiele prób logowania; spróbuj ponownie za {0} s.",
    ),
    "login_expired": (
        "The login form expired; please try again.",
        "Formularz logowania wygasł; spróbuj ponownie.",
    ),
    "session_expired": ("Your session ended; log in again.", "Sesja wygasła; zaloguj się ponownie."),
    "logged_out": ("You are logged out.", "Wylogowano."),
    "forbidden": ("Request refused", "Żądanie odrzucone"),
    "csrf_missing": (
        "The form's security token is missing or wrong. Reload the page and submit it again.",
        "Brak lub błędny token bezpieczeństwa formularza. Odśwież stronę i wyślij ponownie.",
    ),
    "origin_refused": (
        "The request came from another site: {0}.",
        "Żądanie przyszło z innej witryny: {0}.",
    ),
    "back": ("Back to the console", "Powrót do konsoli"),
    "services": ("Services", "Usługi"),
    "service": ("Service", "Usługa"),
    "health": ("Health", "Stan"),
    "dependencies": ("Dependencies", "Zależności"),
    "unavailable": ("unavailable", "niedostępna"),
    "panel_down": ("This panel cannot be shown: {0}", "Tego panelu nie można pokazać: {0}"),
    "state": ("State", "Stan"),
    "since": ("Since", "Od"),
    "failures": ("Failures", "Błędy"),
    "reset": ("Reset", "Resetuj"),
    "name": ("Name", "Nazwa"),
    "channel": ("Channel", "Kanał"),
    "status": ("Status", "Status"),
    "count": ("Count", "Liczba"),
    "pending": ("Pending", "Oczekujące"),
    "failed": ("Failed", "Nieudane"),
    "delivered": ("Delivered", "Dostarczone"),
    "oldest_pending": ("Oldest pending", "Najstarsze oczekujące"),
    "jobs": ("Scheduled jobs", "Zadania harmonogramu"),
    "job": ("Job", "Zadanie"),
    "next_run": ("Next run", "Następne uruchomienie"),
    "paused": ("paused", "wstrzymane"),
    "rate_limits": ("Rate-limit storage", "Magazyn limitów"),
    "storage": ("Storage", "Magazyn"),
    "strategy": ("Strategy", "Strategia"),
    "followups_due": ("Follow-ups due", "Zaległe przypomnienia"),
    "chart_title": (
        "Deliveries and failures per channel, last 24 hours",
        "Dostarczenia i błędy według kanału, ostatnie 24 godziny",
    ),
    "chart_truncated": (
        "Only the newest notifications are counted.",
        "Policzono tylko najnowsze powiadomienia.",
    ),
    "all": ("all", "wszystkie"),
    "filter": ("Filter", "Filtruj"),
    "attempts": ("Attempts", "Próby"),
    "last_error": ("Last error", "Ostatni błąd"),
    "created": ("Created", "Utworzono"),
    "next_attempt": ("Next attempt", "Następna próba"),
    "delivered_at": ("Delivered at", "Dostarczono"),
    "payload": ("Payload (addresses masked)", "Treść (adresy zamaskowane)"),
    "retry_now": ("Retry now", "Ponów teraz"),
    "retry_all": ("Retry all pending now", "Ponów wszystkie oczekujące"),
    "redrive_failed": ("Redrive failed", "Przywróć nieudane"),
    "redrive": ("Redrive", "Przywróć"),
    "purge": ("Purge", "Wyczyść"),
    "purge_older": ("older than (days)", "starsze niż (dni)"),
    "purge_confirm": (
        "Delete {0} entries older than {1} days? This cannot be undone.",
        "Usunąć wpisy {0} starsze niż {1} dni? Tego nie można cofnąć.",
    ),
    "confirm": ("Yes, delete them", "Tak, usuń"),
    "cancel": ("Cancel", "Anuluj"),
    "next_page": ("Next page", "Następna strona"),
    "no_entries": ("No entries.", "Brak wpisów."),
    "details": ("details", "szczegóły"),
    "entry": ("Entry", "Wpis"),
    "idempotency_key": ("Idempotency key", "Klucz idempotencji"),
    "lookup": ("Look up", "Sprawdź"),
    "email": ("Email address", "Adres e-mail"),
    "unsubscribed": ("Unsubscribed", "Wypisany"),
    "marketing": ("Marketing consent", "Zgoda marketingowa"),
    "rodo": ("Processing consent (RODO)", "Zgoda na przetwarzanie (RODO)"),
    "last_action": ("Last action", "Ostatnia czynność"),
    "audit": ("Audit history", "Historia audytu"),
    "action": ("Action", "Czynność"),
    "when": ("When", "Kiedy"),
    "source": ("Source", "Źródło"),
    "reason": ("Reason", "Powód"),
    "text_version": ("Consent text (version)", "Treść zgody (wersja)"),
    "yes": ("yes", "tak"),
    "no": ("no", "nie"),
    "privacy": ("Audit chain, export and erasure", "Łańcuch audytu, eksport i usunięcie"),
    "privacy_missing": (
        "The privacy routes (verify the audit chain, export, erase) are not available on this gateway "
        "yet. Until they are, use the runbook in docs/.",
        "Trasy prywatności (weryfikacja łańcucha audytu, eksport, usunięcie) nie są jeszcze dostępne w "
        "tej bramie. Do tego czasu użyj procedury z docs/.",
    ),
    "verify_chain": ("Verify the audit chain", "Zweryfikuj łańcuch audytu"),
    "export": ("Export (JSON)", "Eksportuj (JSON)"),
    "erase": ("Erase", "Usuń dane"),
    "erase_confirm": (
        "I understand that erasure removes this person's data from every service.",
        "Rozumiem, że usunięcie kasuje dane tej osoby we wszystkich usługach.",
    ),
    "erase_needs_confirm": ("Tick the confirmation first.", "Najpierw zaznacz potwierdzenie."),
    "result": ("Result", "Wynik"),
    "session_id": ("Session", "Sesja"),
    "idle": ("Idle for", "Bezczynność"),
    "conversation": ("Conversation", "Rozmowa"),
    "followup_number": ("Follow-up no.", "Nr przypomnienia"),
    "run_pass": ("Run a pass now", "Uruchom przebieg teraz"),
    "done_retry": (
        "Retried {0}: {1} delivered, {2} failed.",
        "Ponowiono {0}: dostarczono {1}, nieudanych {2}.",
    ),
    "done_redrive": ("{0} entries moved back to pending.", "Przywrócono {0} wpisów do oczekujących."),
    "done_purge": ("{0} entries deleted.", "Usunięto {0} wpisów."),
    "done_reset": ("Breaker {0} reset.", "Bezpiecznik {0} zresetowany."),
    "done_followups": (
        "Sent {0}, already sent {1}, no consent {2}, deferred {3}.",
        "Wysłano {0}, już wysłanych {1}, bez zgody {2}, odłożonych {3}.",
    ),
    "action_failed": ("The action failed: {0}", "Czynność nie powiodła się: {0}"),
    "language": ("Język: polski", "Language: English"),
}

MESSAGES = {lang: {key: pair[i] for key, pair in _PAIRS.items()} for i, lang in enumerate(LANGUAGES)}


def choose(query_lang: str | None, cookie_lang: str | None, accept_language: str) -> str:
    for candidate in (query_lang, cookie_lang):
        if candidate in LANGUAGES:
            return candidate
    first = accept_language.split(",", 1)[0].strip().lower()
    return "pl" if first.startswith("pl") else "en"


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._messages = MESSAGES[lang]

    def __call__(self, key: str, *args: object) -> str:
        text = self._messages.get(key, key)
        return text.format(*args) if args else text
