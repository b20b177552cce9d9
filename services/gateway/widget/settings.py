"""The widget's own variable (documented in docs/widget.md)."""

from __future__ import annotations

from dataclasses import dataclass

from services.runtime.config import Environment


@dataclass(frozen=True)
class WidgetSettings:
    enabled: bool  # WIDGET_ENABLED: the demo page at / and the widget's files under /widget/

    @classmethod
    def from_env(cls, env: Environment) -> WidgetSettings:
        return cls(enabled=env.flag("WIDGET_ENABLED", True))
