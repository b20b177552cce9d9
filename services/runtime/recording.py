"""Whether this process keeps metrics at all. `start_observability` turns recording off with
METRICS_ENABLED=false: the gRPC metrics interceptors are then not installed, the gateway keeps no HTTP,
rate-limit or upstream-call metrics, `grpc_call_metrics` answers UNCOUNTED_CALL, and no endpoint is
served. The services' business counters still count (an increment each, never served). This is
"instrumentation off" in the bench's observability scenario (issue 15): what the counting costs, not
only the endpoint. An empty metrics port turns the endpoint off and leaves the counting on (the tests
and the bench run so).
"""

from __future__ import annotations

_recording = True


def set_recording(enabled: bool) -> None:
    global _recording  # one switch per process, set once at start
    _recording = enabled


def recording() -> bool:
    return _recording


class _Uncounted:
    def inc(self, amount: float = 1) -> None:
        """Counts nothing."""


class UncountedCall:
    """GrpcCallMetrics's interface, counting nothing."""

    started = _Uncounted()

    def done(self, code_name: str, seconds: float) -> None:
        """Records nothing."""


UNCOUNTED_CALL = UncountedCall()
