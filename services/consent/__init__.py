"""The consent service: marketing and RODO/GDPR consent per email, with an append-only audit log."""
