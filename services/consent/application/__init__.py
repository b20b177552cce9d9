"""Consent use cases: each one a transaction over the repositories of a unit of work."""
