"""Smoke tests of containers/dynamo:runtime#amd64: Dynamo serves an OpenAI request end to end."""

import json

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from smoke.docker_helpers import built_image, docker, http_get, wait_until
from smoke.dynamo_serving import MODEL, dynamo_serving

IMAGE = "containers/dynamo:runtime#amd64"


@pytest.fixture(scope="module")
def frontend():
    with dynamo_serving(built_image(IMAGE)) as serving:
        yield serving


def test_models_lists_the_served_model(frontend):
    status, body = http_get(frontend.base_url + "/v1/models")
    assert status == 200, body
    assert [m["id"] for m in json.loads(body)["data"]] == [MODEL]


@pytest.fixture(scope="module")
def client(frontend) -> openai.OpenAI:
    """The official OpenAI client, as users point it at a Dynamo frontend."""
    return openai.OpenAI(base_url=frontend.base_url + "/v1", api_key="unused", timeout=60)


def test_chat_completion_returns_text_and_usage(client: openai.OpenAI):
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hello"}], max_tokens=8
    )
    assert completion.object == "chat.completion"
    choice = completion.choices[0]
    assert choice.finish_reason in ("length", "stop")
    # The tiny model's vocabulary covers every token the mocker emits: real text comes back.
    assert choice.message.content and choice.message.content.strip(), completion
    usage = completion.usage
    assert 1 <= usage.completion_tokens <= 8
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streamed_completion_arrives_token_by_token(client: openai.OpenAI):
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hello"}],
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
    assert len(pieces) >= 2, pieces
    assert "".join(pieces).strip(), pieces
    # One content chunk per generated token, as the usage the stream ends with counts them.
    assert usage is not None, "the stream carried no usage (stream_options.include_usage)"
    assert usage.completion_tokens == len(pieces), (usage, pieces)


def test_metrics_expose_dynamo_prometheus_families(frontend, client: openai.OpenAI):
    # After a completion, request counters exist.
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2
    )
    status, body = http_get(frontend.base_url + "/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(body)}
    dynamo = sorted(name for name in families if name.startswith("dynamo_"))
    assert dynamo, sorted(families)
    # The requests just made are counted, labelled with the served model.
    samples = [s for name in dynamo for s in families[name].samples]
    assert any(s.labels.get("model") == MODEL and s.value > 0 for s in samples), samples[:20]


def test_docker_healthcheck_reports_the_live_frontend_healthy(frontend):
    # Docker runs the image's HEALTHCHECK (the Rust probe from the imagekit wheel).
    def health():
        out = docker("inspect", "-f", "{{json .State.Health}}", frontend.container).stdout
        return json.loads(out)

    wait_until(lambda: health()["Status"] == "healthy", 60, what="Docker health 'healthy'")
    last = health()["Log"][-1]
    assert last["ExitCode"] == 0 and last["Output"].startswith("healthy: HTTP 200"), last


def test_probe_fails_when_nothing_listens():
    out = docker("run", "--rm", "--network", "none", built_image(IMAGE).image_id,
                 "dynamo-imagekit", "probe", "--timeout", "1", check=False)  # fmt: skip
    assert out.returncode == 1 and out.stdout.startswith(b"unhealthy: cannot connect"), out


def test_nixl_creates_an_agent():
    out = built_image(IMAGE).run("python", "-c", NIXL_AGENT_SCRIPT)
    assert "nixl agent ok: smoke-agent" in out, out


NIXL_AGENT_SCRIPT = """
from nixl._api import nixl_agent, nixl_agent_config
agent = nixl_agent("smoke-agent", nixl_agent_config(backends=[]))
print("nixl agent ok:", agent.name)
"""
