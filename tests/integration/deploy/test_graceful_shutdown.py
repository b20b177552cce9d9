"""What Kubernetes (and docker stop) does to a pod: SIGTERM while a call is in flight. The service must
announce NOT_SERVING at once (so the endpoints drop it), finish the call it has accepted, and exit 0
within its grace period, which terminationGracePeriodSeconds covers (test_kubernetes.py)."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from novahouse.chat.v1 import chat_pb2, chat_pb2_grpc
from tests.support.fake_sinks import FakeHttpSink
from tests.support.network import free_port
from tests.support.processes import ServiceProcess

LLM_DELAY_SECONDS = 2.0
GRACE_SECONDS = 10


@pytest.fixture
def llm():
    sink = FakeHttpSink("llm")
    sink.answer("ok", delay=LLM_DELAY_SECONDS)  # holds each chat reply in flight this long
    yield sink
    sink.close()


@pytest.fixture
def chat_process(llm, tmp_path):
    port = free_port()
    process = ServiceProcess(
        "chat",
        {
            "CHAT_PORT": str(port),
            "VAR_DIR": str(tmp_path),
            "CHAT_DATABASE_URL": "",
            "REDIS_URL": "",
            "CONSENT_ADDR": f"127.0.0.1:{free_port()}",
            "NOTIFIER_ADDR": f"127.0.0.1:{free_port()}",
            "LLM_API_URL": llm.url,
            "LLM_API_KEY": "sk-test",
            "LLM_TIMEOUT_SECONDS": "10",
            "SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
        },
        port=port,
    )
    yield process.start().wait_serving()
    process.close()


def test_sigterm_with_a_call_in_flight_turns_not_serving_finishes_the_call_and_exits_0(chat_process, llm):
    with grpc.insecure_channel(chat_process.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=30)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        answers: list[object] = []

        def ask() -> None:
            try:
                request = chat_pb2.SendMessageRequest(session_id="sigterm-1", message="Dzień dobry")
                answers.append(chat_pb2_grpc.ChatServiceStub(channel).SendMessage(request, timeout=20))
            except grpc.RpcError as error:
                answers.append(error)

        caller = threading.Thread(target=ask)
        caller.start()
        deadline = time.monotonic() + 10
        while llm.hits() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert llm.hits() == 1  # the call is inside the service, waiting for the LLM

        started = time.monotonic()
        chat_process.process.send_signal(15)  # SIGTERM
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        announced = time.monotonic() - started
        watch.cancel()  # a stream open until the end would hold the server for its whole grace
        caller.join(20)

    [answer] = answers
    assert isinstance(answer, chat_pb2.SendMessageResponse), answer
    assert answer.reply == "LLM: Dzień dobry, w czym pomóc?"
    assert announced < LLM_DELAY_SECONDS  # NOT_SERVING came before the call finished
    assert chat_process.wait(GRACE_SECONDS + 5) == 0
    assert time.monotonic() - started < GRACE_SECONDS  # it did not wait out the whole grace period
    output = chat_process.output()
    assert "chat received SIGTERM, shutting down" in output
    assert "chat stopped" in output
