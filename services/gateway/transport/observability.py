"""The gateway's HTTP metrics and server span, labelled with the route template.

Off-the-shelf Starlette middleware would see only the one default handler every path goes to, and so
label each request `__unknown__` or with its raw path (which can hold an email address). Here the
template the gateway's router matched (`/api/unsubscribe/status/{email}`) is the `route` label and the
span name; a path that matched nothing is `route="unmatched"`.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.runtime import tracing
from services.runtime.recording import recording

UNMATCHED = "unmatched"
_TRACE_HEADERS = (b"traceparent", b"tracestate")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "http_requests", "HTTP requests answered, by route template and status.", ("method", "route", "status")
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request's arrival to its answer, by route template.",
    ("method", "route"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def route_of(scope: Scope, template_key: str) -> str | None:
    """The template the gateway's router matched, else the path of the Starlette route that answered
    (the console's pages under /admin: `root_path` holds the mount's prefix), else None."""
    template = scope.get(template_key)
    if template:
        return str(template)
    path = getattr(scope.get("route"), "path", None)
    return f"{scope.get('root_path', '')}{path}" if isinstance(path, str) else None


def method_label(method: str) -> str:
    return method if method in _METHODS else "other"


_children: dict[tuple[str, str | None, int], tuple[Counter, Histogram]] = {}


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    """Counts one answered request; the labelled children are looked up once per combination (the
    combinations are bounded: known methods, route templates, status codes). Nothing with metrics off."""
    if not recording():
        return
    key = (method_label(method), route, status)  # a client's made-up method must not grow the cache
    children = _children.get(key)
    if children is None:
        labels = (key[0], route or UNMATCHED)
        children = _children[key] = (
            HTTP_REQUESTS.labels(*labels, str(status)),
            HTTP_DURATION.labels(*labels),
        )
    children[0].inc()
    children[1].observe(seconds)


class TracingMiddleware:
    """Outermost (so the access log line is inside it): one SERVER span per request, continuing a W3C
    `traceparent` the client sent (or starting a trace); current while the gateway calls upstream,
    whose gRPC interceptor passes it on."""

    def __init__(self, app: ASGIApp, template_key: str) -> None:
        self.app = app
        self._template_key = template_key
        self._tracer = trace.get_tracer("novahouse.gateway")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parent = tracing.extract_headers(
            {name.decode("latin-1"): value for name, value in scope["headers"] if name in _TRACE_HEADERS}
        )
        method = scope["method"]
        status = 500
        with self._tracer.start_as_current_span(
            f"{method_label(method)} {UNMATCHED}", context=parent, kind=SpanKind.SERVER
        ) as span:

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, send_status)
            finally:
                route = route_of(scope, self._template_key) or UNMATCHED
                span.update_name(f"{method_label(method)} {route}")
                span.set_attribute("http.request.method", method_label(method))
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
