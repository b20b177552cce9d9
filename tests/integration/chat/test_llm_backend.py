"""The optional OpenAI-compatible backend: used when it answers, the rules when it does not."""

from __future__ import annotations

import pytest

from novahouse.chat.v1 import chat_pb2 as pb
from tests.support.fake_sinks import FakeHttpSink
from tests.support.stack import ChatStack


@pytest.fixture
def llm():
    sink = FakeHttpSink("llm")
    yield sink
    sink.close()


@pytest.fixture
def llm_stack(databases, tmp_path, sinks_environ, llm):
    running = ChatStack(
        databases,
        str(tmp_path),
        sinks_environ,
        LLM_API_URL=llm.url,
        LLM_API_KEY="sk-test",
        LLM_MODEL="test-model",
        LLM_TIMEOUT_SECONDS="0.5",
        CB_FAIL_MAX="2",
        CB_RESET_TIMEOUT="60",
    )
    yield running
    running.close()


def ask(stack, text: str) -> str:
    return stack.chat.SendMessage(pb.SendMessageRequest(session_id="llm-1", message=text)).reply


def test_the_llm_answers_with_the_conversation_so_far(llm_stack, llm):
    assert ask(llm_stack, "Dzień dobry") == "LLM: Dzień dobry, w czym pomóc?"
    ask(llm_stack, "Ile to kosztuje?")
    request = llm.received[-1]
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.body["model"] == "test-model"
    roles = [m["role"] for m in request.body["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert request.body["messages"][-1]["content"] == "Ile to kosztuje?"


def test_a_failing_llm_falls_back_to_the_rules_and_its_breaker_opens(llm_stack, llm):
    llm.answer("error")
    assert "Jestem asystentem NovaHouse" in ask(llm_stack, "Dzień dobry")
    assert "zł za m²" in ask(llm_stack, "Ile kosztuje wykończenie?")
    hits = llm.hits()
    assert hits == 2
    ask(llm_stack, "Czy działacie w Krakowie?")  # the breaker is open: the LLM is not even asked
    assert llm.hits() == hits
