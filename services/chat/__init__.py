"""The chat service: conversations, the bot's replies, lead capture and scoring, idempotent follow-ups
that respect consent, and the session cache."""
