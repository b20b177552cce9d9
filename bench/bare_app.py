"""The gateway's floor: a bare Starlette app on the same uvicorn settings that answers
POST /api/unsubscribe with the gateway's JSON and calls nothing. Gateway CPU per request divided by
this app's is what the routing, limits, translation and the gRPC call add.

Run as `python -m bench.bare_app <port>`.
"""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = json.dumps(
    {
        "success": True,
        "message": "Successfully unsubscribed from marketing emails",
        "email": "bench@example.com",
    },
    separators=(",", ":"),
).encode()


async def unsubscribe(request: Request) -> Response:
    await request.body()
    return Response(BODY, media_type="application/json")


async def health(_request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(routes=[Route("/api/unsubscribe", unsubscribe, methods=["POST"]), Route("/health", health)])


def main() -> None:
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="auto",
        http="auto",
        access_log=False,
        server_header=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
