"""The widget's routes, mounted by the gateway beside the console's: the demo page at `/`, the script,
the stylesheet and the current consent texts under `/widget/`.

Every answer carries a strict Content-Security-Policy: scripts, styles and requests from this origin
only, no inline script or style, no framing by other sites. The script itself is meant to be embedded
by other origins (NovaHouse's website), so its files may be loaded cross-origin (CORP cross-origin);
the API calls it makes are governed by CORS_ORIGINS.
"""

from __future__ import annotations

import json
from importlib import resources

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from services.gateway.widget.settings import WidgetSettings
from services.runtime.consent_texts import catalogue

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
}
# The files under /widget/, by name: (file in static/, media type). Nothing else is served.
FILES = {
    "widget.js": ("widget.js", "text/javascript; charset=utf-8"),
    "widget.css": ("widget.css", "text/css; charset=utf-8"),
}


def _read(name: str) -> bytes:
    return resources.files("services.gateway.widget").joinpath("static", name).read_bytes()


def widget_routes(settings: WidgetSettings) -> list[BaseRoute]:
    """The routes, or none when WIDGET_ENABLED is false (`/` and `/widget/…` are then unknown paths)."""
    if not settings.enabled:
        return []
    page = _read("index.html")
    files = {name: (_read(source), media) for name, (source, media) in FILES.items()}
    texts = json.dumps(catalogue().current.as_json(), ensure_ascii=False).encode()

    async def demo(_request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=_headers("no-cache"))

    async def asset(request: Request) -> Response:
        found = files.get(request.path_params["name"])
        if found is None:
            return PlainTextResponse("not found", status_code=404, headers=SECURITY_HEADERS)
        body, media = found
        headers = _headers("public, max-age=300") | {"cross-origin-resource-policy": "cross-origin"}
        return Response(body, media_type=media, headers=headers)

    async def consent_texts(_request: Request) -> Response:
        headers = _headers("no-cache") | {"access-control-allow-origin": "*"}
        return Response(texts, media_type="application/json", headers=headers)

    return [
        Route("/", demo, methods=["GET"]),
        Route("/widget/consent-texts.json", consent_texts, methods=["GET"]),
        Route("/widget/{name}", asset, methods=["GET"]),
    ]


def _headers(cache_control: str) -> dict[str, str]:
    return {**SECURITY_HEADERS, "cache-control": cache_control}
