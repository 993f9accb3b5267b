"""The single-host deployments (deploy/*.yaml) on the CPU with the mocker engine.

Each starts the deployment from its spec with the image Pants built for this run (its
docker-info.json), serves requests through the frontend with the official OpenAI client and
reads the answers' text; the disaggregated one also shows, from the workers' own logs, that
each request's prefill ran on the prefill worker and its decode on the decode worker. The
last tests run the runner as `./pants run` does, stop it with SIGTERM and SIGINT, and kill
it with SIGKILL (what it left is named by the next run).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import openai
import pytest

from dynamo_deploy_runner.runner import LABEL, Deployment, image_ids_from_info, orphans
from dynamo_deploy_runner.spec import load
from smoke.docker_helpers import docker, wait_until

IMAGE = "containers/dynamo:runtime#amd64"


def deployment(name: str) -> Deployment:
    spec = load(f"deploy/{name}.yaml")
    # runtime_package_dependencies put the docker-info.json at the sandbox root.
    return Deployment(spec, image_ids_from_info(spec.images(), "."), log=lambda _: None)


def client(d: Deployment) -> openai.OpenAI:
    return openai.OpenAI(base_url=d.base_url + "/v1", api_key="unused", timeout=60)


def handled(d: Deployment, service: str, request_id: str) -> list[int]:
    """Replicas of `service` whose logs show `request_id` received on their endpoint."""
    pattern = re.compile(r"request received.*" + re.escape(request_id))
    return [
        r.container.replica
        for r in d.running
        if r.container.service == service and pattern.search(d.logs(r, tail=400))
    ]


def labelled(kind: str, run_id: str) -> list[str]:
    args = ("ps", "-a") if kind == "container" else ("volume", "ls")
    out = docker(*args, "-q", "--filter", f"label={LABEL}.run={run_id}").stdout.decode()
    return out.split()


def test_agg_serves_text_from_both_workers_behind_the_router():
    with deployment("agg") as d:
        assert sorted(r.container.service for r in d.running) == ["Frontend", "worker", "worker"]
        replicas = set()
        for i in range(4):
            completion = client(d).completions.create(
                model="tiny", prompt=f"hello {i}", max_tokens=6
            )
            assert completion.choices[0].text.strip(), completion
            assert completion.usage.completion_tokens == 6
            request_id = completion.id.split("-", 1)[1]
            served = handled(d, "worker", request_id)
            assert len(served) == 1, f"{request_id} served by replicas {served}"
            replicas.update(served)
        # The frontend runs --router-mode round-robin: four requests reach both workers.
        assert replicas == {0, 1}
        run_id = d.run_id
    assert labelled("container", run_id) == [] and labelled("volume", run_id) == []


def test_disagg_prefills_on_the_prefill_worker_and_decodes_on_the_decode_worker():
    with deployment("disagg") as d:
        completion = client(d).chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "hello there"}], max_tokens=8
        )
        text = completion.choices[0].message.content
        assert text and text.strip(), completion
        assert completion.usage.completion_tokens == 8
        request_id = completion.id.split("-", 1)[1]
        assert handled(d, "prefill", request_id) == [0]
        assert handled(d, "decode", request_id) == [0]
        frontend = next(r for r in d.running if r.container.service == "Frontend")
        routed = [line for line in d.logs(frontend, tail=400).splitlines() if request_id in line]
        assert any("prefill_worker_id" in line and "decode_worker_id" in line for line in routed)
        run_id = d.run_id
    assert labelled("container", run_id) == [] and labelled("volume", run_id) == []


def start_runner() -> tuple[subprocess.Popen, str, list[str]]:
    """`python -m dynamo_deploy_runner deploy/agg.yaml`, as `./pants run deploy:agg` starts
    it; returns once it says the deployment is up."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dynamo_deploy_runner", "deploy/agg.yaml", "--info-root", "."],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    output = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        output.append(line)
        if " is up: " in line or not line:
            break
    if " is up: " not in output[-1]:
        proc.kill()
        raise AssertionError("".join(output))
    run_id = re.search(r"dynamo-deploy-agg-([0-9a-f]{8})-", "".join(output)).group(1)
    return proc, run_id, output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_runner_removes_what_it_started_on_a_signal(sig):
    proc, run_id, output = start_runner()
    try:
        assert len(labelled("container", run_id)) == 3
        proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(output) + rest.decode()
    assert "removed 3 containers of agg" in rest.decode()
    wait_until(lambda: not labelled("container", run_id), 10, what="the containers to go")
    assert labelled("volume", run_id) == []


def test_what_a_killed_runner_left_is_named_by_the_next():
    proc, run_id, _ = start_runner()
    proc.kill()  # SIGKILL: no cleanup can run
    proc.wait()
    try:
        containers, volumes = orphans()
        ours = labelled("container", run_id)
        assert len(ours) == 3
        names = docker("inspect", "-f", "{{.Name}}", *ours).stdout.decode().split()
        assert {n.lstrip("/") for n in names} <= set(containers)
        assert f"dynamo-deploy-agg-{run_id}" in volumes
    finally:
        docker("rm", "-f", *labelled("container", run_id), check=False)
        docker("volume", "rm", f"dynamo-deploy-agg-{run_id}", check=False)
