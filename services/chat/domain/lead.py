"""A conversation's lead: its contact details, what else is known, and whether it was announced."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.chat.domain.leads import LeadSignals


@dataclass
class Lead:
    conversation_id: int
    signals: LeadSignals
    id: int | None = None
    alerted_at: dt.datetime | None = None

    @property
    def score(self) -> int:
        return self.signals.score

    def should_announce(self, threshold: int) -> bool:
        """A hot lead is announced once: the first time its score reaches the threshold."""
        return self.alerted_at is None and self.score >= threshold
