"""The request flow and its rules; no Starlette, no grpc.aio channel, no Redis client in here."""
