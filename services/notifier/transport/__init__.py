"""The gRPC face of the notifier service."""
