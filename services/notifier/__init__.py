"""The notifier service: Slack, Monday.com and email alerts behind circuit breakers, with a durable
dead-letter queue, retries with backoff, and escalation."""
