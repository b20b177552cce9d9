"""Notifications, delivery failures and the retry policy, free of storage and transport."""
