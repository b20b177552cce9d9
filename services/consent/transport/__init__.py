"""The gRPC face of the consent service."""
