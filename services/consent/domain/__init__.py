"""Consent rules, free of storage and transport."""
