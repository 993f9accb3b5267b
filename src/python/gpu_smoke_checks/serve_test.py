import json

import pytest

from gpu_smoke_checks.context import CheckFailed
from gpu_smoke_checks.serve import (
    MODEL,
    completion_details,
    engine_argv,
    frontend_argv,
    model_listed,
    wait_for_model,
)


def test_engine_and_frontend_share_the_discovery_setup():
    engine = engine_argv("vllm", python="py")
    assert engine[:5] == ["py", "-m", "dynamo.vllm", "--model", MODEL]
    frontend = frontend_argv(8123, python="py")
    assert frontend[:5] == ["py", "-m", "dynamo.frontend", "--http-port", "8123"]
    assert engine[-6:] == frontend[-6:] == [
        "--discovery-backend", "file", "--request-plane", "tcp", "--event-plane", "zmq",
    ]  # fmt: skip


def test_a_framework_without_an_engine_command_is_named():
    with pytest.raises(CheckFailed, match="no engine command for framework 'trtllm' yet"):
        engine_argv("trtllm")


def test_model_listing_and_completion_are_read_from_the_openai_answers():
    assert model_listed(200, json.dumps({"data": [{"id": "other"}, {"id": MODEL}]}))
    assert not model_listed(200, json.dumps({"data": [{"id": "other"}]}))
    assert not model_listed(503, "")
    choice = {"finish_reason": "length", "message": {"role": "assistant", "content": "ba ku"}}
    answer = {"choices": [choice], "usage": {"completion_tokens": 8}}
    assert completion_details(200, json.dumps(answer)) == {
        "completion_tokens": 8,
        "finish_reason": "length",
        "text": "ba ku",
    }
    # Tokens that decode to nothing (a vocabulary smaller than the engine's token IDs).
    choice["message"]["content"] = None
    with pytest.raises(CheckFailed, match="8 tokens decode to no text"):
        completion_details(200, json.dumps(answer))
    with pytest.raises(CheckFailed, match="answered HTTP 500: boom"):
        completion_details(500, "boom")
    with pytest.raises(CheckFailed, match="generated nothing"):
        completion_details(200, json.dumps({"choices": [], "usage": {}}))


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_waiting_for_the_model_until_it_is_listed():
    clock = Clock()
    answers = iter([OSError("refused"), (200, '{"data": []}'), (200, '{"data": [{"id": "tiny"}]}')])

    def get(url):
        assert url == "http://x/v1/models"
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    waited = wait_for_model("http://x", lambda: None, 60, get, clock.sleep, clock)
    assert waited == 2.0


def test_waiting_stops_when_a_process_exits_or_time_runs_out():
    clock = Clock()
    with pytest.raises(CheckFailed, match="the engine \\(exit code 1\\) exited before"):
        wait_for_model("u", lambda: "the engine (exit code 1)", 60, None, clock.sleep, clock)
    with pytest.raises(CheckFailed, match="did not list 'tiny' within 5s"):
        wait_for_model("u", lambda: None, 5, lambda url: (503, ""), clock.sleep, clock)
