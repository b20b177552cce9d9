"""An optional OpenAI-compatible chat-completions backend, behind its own breaker, falling back to the
rule-based responder whenever it fails (an error, a timeout, or its breaker open)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import requests

from services.chat.domain.responder import Reply, RuleResponder
from services.runtime.circuit import BreakerOpen, CircuitBreaker

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are the website assistant of NovaHouse, an interior-finishing company in Poland. Answer briefly "
    "and politely in the visitor's language (Polish or English). Do not invent prices or dates beyond: "
    "turnkey finishing costs 1,200-2,500 PLN per m2; a 50-70 m2 apartment takes 6-10 weeks. When "
    "helpful, ask for an email or phone number so an advisor can prepare a free quote."
)


class LlmResponder:
    def __init__(
        self,
        url: str,
        api_key: str | None,
        model: str,
        timeout: float,
        breaker: CircuitBreaker,
        rules: RuleResponder,
        session: requests.Session | None = None,
    ) -> None:
        self._url = url
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._model = model
        self._timeout = timeout
        self._breaker = breaker
        self._rules = rules
        self._session = session or requests.Session()

    def answer(self, message: str, history: Sequence[tuple[str, str]], *, new_contact_details: bool) -> Reply:
        try:
            return Reply("llm", self._breaker.call(lambda: self._complete(message, history)))
        except (BreakerOpen, requests.RequestException, ValueError, KeyError, IndexError, TypeError) as error:
            log.warning(
                "LLM backend unavailable (%s: %s); answering from the rules", type(error).__name__, error
            )
            return self._rules.answer(message, history, new_contact_details=new_contact_details)

    def _complete(self, message: str, history: Sequence[tuple[str, str]]) -> str:
        conversation = [{"role": "system", "content": SYSTEM_PROMPT}]
        conversation += [
            {"role": "user" if role == "user" else "assistant", "content": text} for role, text in history
        ]
        conversation.append({"role": "user", "content": message})
        response = self._session.post(
            self._url,
            json={"model": self._model, "messages": conversation, "max_tokens": 400},
            headers=self._headers,
            timeout=self._timeout,
        )
        response.raise_for_status()
        text = response.json()["choices"][0]["message"]["content"].strip()
        if not text:
            raise ValueError("empty completion")
        return text
