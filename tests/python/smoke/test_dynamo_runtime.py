"""Smoke tests of containers/dynamo:runtime: Dynamo serves an OpenAI request end to end."""

import json

import pytest

from smoke.docker_helpers import built_image, docker, http_get, http_post_json, wait_until
from smoke.dynamo_serving import MODEL, dynamo_serving

IMAGE = "containers/dynamo:runtime"


@pytest.fixture(scope="module")
def frontend():
    with dynamo_serving(built_image(IMAGE)) as serving:
        yield serving


def test_models_lists_the_served_model(frontend):
    status, body = http_get(frontend.base_url + "/v1/models")
    assert status == 200, body
    assert [m["id"] for m in json.loads(body)["data"]] == [MODEL]


def test_chat_completion_returns_choices_and_usage(frontend):
    status, body = http_post_json(
        frontend.base_url + "/v1/chat/completions",
        {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8},
    )
    assert status == 200, body
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["finish_reason"] in ("length", "stop")
    assert body["usage"]["completion_tokens"] > 0
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )


def test_metrics_expose_dynamo_prometheus_text(frontend):
    # After the completion above, request counters exist.
    http_post_json(
        frontend.base_url + "/v1/chat/completions",
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
    )
    status, body = http_get(frontend.base_url + "/metrics")
    assert status == 200
    metric_lines = [line for line in body.splitlines() if line.startswith("dynamo_")]
    assert metric_lines, body[:2000]
    assert any(line.startswith("# TYPE dynamo_") for line in body.splitlines())


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
