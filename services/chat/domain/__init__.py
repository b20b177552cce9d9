"""Conversations, leads, follow-ups and the responder's rules, free of storage and transport."""
