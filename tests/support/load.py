"""A small, steady load on the gateway: a few threads posting chat messages, each on sessions of its
own, recording when every answer came and its status (0: no HTTP answer at all). With
`consent_every=n` every n-th message also gives marketing consent for the session's email, which chat
hands to the consent service through its outbox."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

import httpx

from tests.support.widget import WidgetClient

CONSENT_MARK = " (zgoda)"  # in the text of every message that gave consent


@dataclass(frozen=True)
class Outcome:
    at: float  # time.monotonic() when the answer came
    status: int
    session_id: str
    text: str


class ChatLoad:
    def __init__(
        self,
        url: str,
        *,
        threads: int = 3,
        pause_seconds: float = 0.05,
        label: str = "load",
        consent_every: int = 0,
    ) -> None:
        self._url = url
        self._consent_every = consent_every
        self._pause = pause_seconds
        self._label = label
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.outcomes: list[Outcome] = []
        self._threads = [
            threading.Thread(target=self._run, args=(n,), name=f"{label}-{n}", daemon=True)
            for n in range(threads)
        ]

    def __enter__(self) -> ChatLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, worker: int) -> None:
        with WidgetClient(base_url=self._url, timeout=10) as client:
            sent = 0
            while not self._stop.is_set():
                # A handful of sessions per worker: new conversations and continued ones alike.
                session = f"{self._label}-{worker}-{sent % 5}"
                text = f"Pytanie {sent} o wykończenie mieszkania"
                try:
                    status = client.post(
                        "/api/chatbot/chat", json={"message": text, "session_id": session}
                    ).status_code
                except httpx.TransportError:
                    status = 0
                with self._lock:
                    self.outcomes.append(Outcome(time.monotonic(), status, session, text))
                sent += 1
                self._stop.wait(self._pause)

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> Counter:
        with self._lock:
            return Counter(o.status for o in self.outcomes if since <= o.at < until)

    def wait_for_answers(self, count: int, status: int = 200, timeout: float = 20.0) -> None:
        """Waits until `count` more answers with `status` have come."""
        target = self.statuses()[status] + count
        deadline = time.monotonic() + timeout
        while self.statuses()[status] < target:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"fewer than {count} answers {status} within {timeout}s: {self.statuses()}"
                )
            time.sleep(0.05)
