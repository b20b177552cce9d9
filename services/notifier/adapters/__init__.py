"""The notifier's edges: SQL storage and migrations, and the real sinks (Slack, Monday.com, SMTP)."""
