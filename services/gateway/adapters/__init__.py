"""The gateway's edges to the outside: gRPC channels, rate-limit storage, generated stubs."""
