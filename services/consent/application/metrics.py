"""What the consent service counts (docs/observability.md)."""

from __future__ import annotations

from prometheus_client import Counter

from services.consent.domain.model import ConsentAction

CONSENT_CHANGES = Counter(
    "novahouse_consent_changes",
    "Consent changes recorded (a repeated idempotent request is not counted again).",
    ("action",),
)
for _action in ConsentAction:  # every series exists from the start, so rate() sees the first one
    CONSENT_CHANGES.labels(_action.value)
