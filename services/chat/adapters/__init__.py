"""The chat service's edges: SQL storage, the session cache, gRPC clients, the LLM backend."""
