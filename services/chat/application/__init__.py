"""Chat use cases: a visitor's message, follow-ups, and the outbox relay to other services."""
