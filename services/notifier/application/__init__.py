"""Notifier use cases: accepting, delivering, retrying and escalating notifications."""
