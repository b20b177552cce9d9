"""The gRPC face of the chat service."""
