"""The HTTP gateway: the one public surface, JSON ⇄ gRPC from the contracts' google.api.http
annotations, with per-client rate limits, admin authentication, CORS and health.

    transport/     the ASGI app: request context and access log, CORS, ASGI <-> request/reply
    application/   routing, translation, the request flow, rate-limit decisions, auth, health, OpenAPI
    adapters/      grpc.aio channels to the services, the limiter's storage, the generated stubs
    settings.py    the environment, validated at start
    bootstrap.py   wiring, and `python -m services.gateway`
"""
