"""The signed links in emails: RFC 8058 one-click unsubscribe and the consent confirmation.

These two routes are the only ones that take a non-JSON body and answer HTML. GET renders a small page
(Polish; English by Accept-Language) with a button and changes nothing, since mail scanners follow
links. POST takes a form (`application/x-www-form-urlencoded` or `multipart/form-data`, as mail
providers send it); the unsubscribe POST must carry `List-Unsubscribe=One-Click`. The token is checked
by the consent service (constant time, every UNSUBSCRIBE_SECRET); a forged or expired one is 403, a
malformed one 400, consent unreachable 503; nothing changes in any of these cases. Rate limited like
every other route. The pages send no Referer (the token is in the URL) and are not cached.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from urllib.parse import parse_qsl

from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from services.gateway.application.contracts import HttpBinding
from services.gateway.application.errors import Violation, bad_request, unsupported_media_type
from services.gateway.application.policies import RoutePolicy
from services.gateway.application.ratelimit import policy_header

UNSUBSCRIBE_RPC = "novahouse.consent.v1.ConsentService.UnsubscribeOneClick"
CONFIRM_RPC = "novahouse.consent.v1.ConsentService.ConfirmConsent"
LINK_RPCS = (UNSUBSCRIBE_RPC, CONFIRM_RPC)
ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
HTML = "text/html; charset=utf-8"
PAGE_HEADERS = [
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Robots-Tag", "noindex"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"),
]

# (title, text, button) per route, language and step.
_TEXTS: dict[tuple[str, str, str], tuple[str, str, str]] = {
    (UNSUBSCRIBE_RPC, "pl", "ask"): (
        "Rezygnacja z wiadomości marketingowych",
        "Kliknij przycisk, aby nie otrzymywać więcej wiadomości marketingowych od NovaHouse.",
        "Wypisz mnie",
    ),
    (UNSUBSCRIBE_RPC, "en", "ask"): (
        "Unsubscribe from marketing emails",
        "Press the button to receive no more marketing emails from NovaHouse.",
        "Unsubscribe",
    ),
    (UNSUBSCRIBE_RPC, "pl", "done"): (
        "Wypisano",
        "Nie wyślemy Ci więcej wiadomości marketingowych.",
        "",
    ),
    (UNSUBSCRIBE_RPC, "en", "done"): ("Unsubscribed", "We will send you no more marketing emails.", ""),
    (CONFIRM_RPC, "pl", "ask"): (
        "Potwierdzenie zgody marketingowej",
        "Kliknij przycisk, aby potwierdzić zgodę na wiadomości marketingowe od NovaHouse "
        "(np. przypomnienia o wycenie). Możesz ją wycofać w każdej chwili linkiem w każdej wiadomości.",
        "Potwierdzam zgodę",
    ),
    (CONFIRM_RPC, "en", "ask"): (
        "Confirm your marketing consent",
        "Press the button to confirm that NovaHouse may send you marketing emails (such as quote "
        "reminders). You can withdraw it at any time through the link in every email.",
        "Confirm",
    ),
    (CONFIRM_RPC, "pl", "done"): ("Dziękujemy", "Zgoda na wiadomości marketingowe jest potwierdzona.", ""),
    (CONFIRM_RPC, "en", "done"): ("Thank you", "Your consent to marketing emails is confirmed.", ""),
}
_ERROR_TITLE = {"pl": "Nie udało się", "en": "That did not work"}


@dataclass(frozen=True)
class LinkRoute:
    """One signed-link path: GET shows its page, POST (a form) calls the consent service."""

    binding: HttpBinding
    policy: RoutePolicy
    policy_header: str

    @classmethod
    def build(cls, binding: HttpBinding, policy: RoutePolicy) -> LinkRoute:
        return cls(binding, policy, policy_header(policy.rate_policies))

    @property
    def one_click(self) -> bool:
        return self.binding.rpc_name == UNSUBSCRIBE_RPC

    def request_message(self, token: str) -> Message:
        return GetMessageClass(self.binding.method.input_type)(token=token)


def language(headers: Mapping[str, bytes]) -> str:
    """'en' when Accept-Language prefers English to Polish, else 'pl'."""
    best, best_q = "pl", -1.0
    for part in headers.get("accept-language", b"").decode("latin-1").split(","):
        tag, _, parameters = part.strip().partition(";")
        q = 1.0
        if parameters.strip().startswith("q="):
            try:
                q = float(parameters.strip()[2:])
            except ValueError:
                continue
        code = tag.strip().lower()[:2]
        if code in ("pl", "en") and q > best_q:
            best, best_q = code, q
    return best


def page(route: LinkRoute, step: str, lang: str) -> bytes:
    """The page before ("ask", with the button) or after ("done") the POST."""
    title, text, button = _TEXTS[(route.binding.rpc_name, lang, step)]
    form = ""
    if button:
        hidden = (
            f'<input type="hidden" name="{ONE_CLICK_FIELD}" value="{ONE_CLICK_VALUE}">'
            if route.one_click
            else '<input type="hidden" name="confirm" value="yes">'
        )
        form = f'<form method="post">{hidden}<button type="submit">{html.escape(button)}</button></form>'
    return _document(lang, title, text, form)


def error_page(message: str, lang: str) -> bytes:
    return _document(lang, _ERROR_TITLE[lang], message, "")


def _document(lang: str, title: str, text: str, form: str) -> bytes:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em}"
        "button{font-size:1.1em;padding:.5em 1.2em}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{form}</body></html>"
    ).encode()


def form_media_type(content_type: bytes | None) -> str:
    """The form's media type; raises GatewayError 415 for anything but the two form types."""
    media_type = (content_type or b"").decode("latin-1").partition(";")[0].strip().lower()
    if media_type not in FORM_TYPES:
        raise unsupported_media_type(
            "Content-Type must be application/x-www-form-urlencoded or multipart/form-data"
        )
    return media_type


def form_fields(content_type: bytes, body: bytes) -> dict[str, str]:
    """The POSTed form's fields; raises GatewayError 400 for a body that does not parse."""
    if form_media_type(content_type) == FORM_TYPES[0]:
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict"))
        except UnicodeDecodeError:
            raise bad_request([Violation("body", "is not valid UTF-8")]) from None
    return _multipart(content_type, body)


def _multipart(content_type: bytes, body: bytes) -> dict[str, str]:
    document = b"Content-Type: " + content_type + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    message = BytesParser(policy=policy.HTTP).parsebytes(document)
    if not message.is_multipart():
        if body.strip() == f"--{message.get_boundary()}--".encode():
            return {}  # a form with no field: only the closing delimiter
        raise bad_request([Violation("body", "is not a multipart/form-data body")])
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            try:
                fields[name] = payload.decode("utf-8")
            except UnicodeDecodeError:
                raise bad_request([Violation(name, "is not valid UTF-8")]) from None
    return fields


def check_one_click(fields: Mapping[str, str]) -> None:
    if fields.get(ONE_CLICK_FIELD) != ONE_CLICK_VALUE:
        raise bad_request([Violation(ONE_CLICK_FIELD, f"must be {ONE_CLICK_VALUE} (RFC 8058)")])


_PAGE_TOKEN = {"type": "string", "minLength": 1}


def link_operation(method: str, route: LinkRoute, token: dict) -> dict:
    """The route in the OpenAPI document: a form in, an HTML page out; `token` is the schema of the
    path's token (its contract's rules)."""
    name = route.binding.rpc_name.rsplit(".", 1)[-1]
    html_page = {"content": {"text/html": {"schema": {"type": "string"}}}}
    operation: dict = {
        "operationId": f"{name}_{'Page' if method == 'GET' else 'Submit'}",
        "summary": "Signed email link: "
        + ("the page with the button (changes nothing)" if method == "GET" else "acts on the link"),
        "parameters": [
            # The page (GET) shows the button for any token; the POST checks it as the contract says.
            {
                "name": "token",
                "in": "path",
                "required": True,
                "schema": _PAGE_TOKEN if method == "GET" else token,
            }
        ],
        "responses": {
            "200": {"description": "The page", **html_page},
            "400": {"description": "A malformed token or form", **html_page},
            "403": {"description": "A forged or expired link; nothing changed", **html_page},
            "429": {"description": "Rate limited", **html_page},
            "503": {"description": "The consent service is unavailable; nothing changed", **html_page},
        },
    }
    if method != "GET":
        # Refused before the form is read, in the gateway's JSON error shape like every other route.
        operation["responses"]["413"] = {"description": "The body is larger than MAX_BODY_BYTES"}
        operation["responses"]["415"] = {"description": "A body that is not a form"}
        fields = {ONE_CLICK_FIELD: {"type": "string", "enum": [ONE_CLICK_VALUE]}} if route.one_click else {}
        schema = {"type": "object", "properties": fields, "required": list(fields)}
        operation["requestBody"] = {
            "required": True,  # a form, even when it has no field the route reads
            "content": {media_type: {"schema": schema} for media_type in FORM_TYPES},
        }
    return operation
