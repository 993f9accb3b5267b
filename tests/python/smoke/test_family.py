"""One backend's image family (runtime -> dev -> ci): structure, versions, serving, soak.

tests/python/smoke/BUILD makes one target of this file per buildable backend (from
containers/images_data.py), with the backend in FAMILY_BACKEND, its framework's import name in
FAMILY_FRAMEWORK (empty for Dynamo alone), the stages, in build order, in FAMILY_STAGES and
their images' addresses in FAMILY_IMAGES (the host platform's, of a multi-arch backend).
The images' size budgets and SBOMs are enforced and written when they are packaged
(plugins/dynamo_images); the SBOMs are checked here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import openai
import pytest

from smoke.docker_helpers import built_image, docker, package_stem
from smoke.dynamo_serving import MODEL, dynamo_serving

BACKEND = os.environ["FAMILY_BACKEND"]
FRAMEWORK = os.environ.get("FAMILY_FRAMEWORK", "")
# containers/images_data.py's STAGES: a stage added there is built and tested here.
STAGES = tuple(os.environ["FAMILY_STAGES"].split(","))
# Each stage's image address (images_data.image_address: `containers/dynamo:runtime#amd64`).
IMAGES = dict(zip(STAGES, os.environ["FAMILY_IMAGES"].split(",")))
COMPILERS = ("gcc", "g++", "cc", "c++", "clang", "rustc", "nvcc")
# What each stage adds: modules importable from the stage's PATH python, commands on PATH.
STAGE_MODULES = {
    "runtime": ("dynamo.frontend", "dynamo.mocker", "nixl", "dynamo_imagekit"),
    "dev": ("pytest", "IPython", "dynamo_hostxfer"),
    "ci": ("dynamo_ci_tools",),
}


def image(stage: str):
    return built_image(IMAGES[stage])


@pytest.fixture(scope="module", params=STAGES)
def stage(request) -> str:
    return request.param


def modules_of(stage: str) -> tuple[str, ...]:
    """A stage has its own modules and those of every stage below it."""
    return tuple(m for s in STAGES[: STAGES.index(stage) + 1] for m in STAGE_MODULES[s])


def test_every_stage_has_its_contents_listed_here():
    assert set(STAGE_MODULES) == set(STAGES), "list what a new stage adds in STAGE_MODULES"


def test_runs_as_the_non_root_user_under_tini(stage):
    built = image(stage)
    config = built.inspect()["Config"]
    assert config["User"] == "1000"  # numeric: Kubernetes' runAsNonRoot can check it
    assert config["Entrypoint"] == ["/usr/bin/tini", "--"]
    uid, user = built.run("sh", "-c", "id -u; id -un").split()
    assert (uid, user) == ("1000", "dynamo")


def test_labels_and_environment_name_the_image(stage):
    built = image(stage)
    labels, env = built.labels(), built.env()
    assert labels["org.opencontainers.image.title"] == f"dynamo {BACKEND} {stage}"
    for key in ("version", "revision", "source", "created"):
        assert labels.get(f"org.opencontainers.image.{key}"), (key, labels)
    assert labels["org.opencontainers.image.version"] == env["DYNAMO_VERSION"]
    assert labels["ai.dynamo.nixl.version"] == env["NIXL_VERSION"]
    assert (env["DYNAMO_BACKEND"], env["DYNAMO_STAGE"]) == (BACKEND, stage)


def test_stage_contents(stage):
    modules = modules_of(stage)
    script = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\nprint('ok')"
    out = image(stage).run("python", "-c", script, *modules, timeout=600)
    assert out.strip().splitlines()[-1] == "ok", out


def test_runtime_carries_no_compilers_and_no_dev_tools():
    runtime = image("runtime")
    lookup = f"for c in {' '.join(COMPILERS)}; do command -v $c || true; done"
    found = runtime.run("sh", "-c", lookup)
    assert found.strip() == "", f"compilers in a runtime image: {found.split()}"
    # A dev tool may be there only because the serving stack itself requires it (SGLang
    # requires IPython); the dev stage's tools never leak into runtime.
    leaked = runtime.run("python", "-c", DEV_TOOLS_NOT_REQUIRED_BY_THE_STACK)
    assert leaked.strip() == "", f"dev tools in a runtime image: {leaked.split()}"


DEV_TOOLS_NOT_REQUIRED_BY_THE_STACK = """
import importlib.metadata as md, re
installed = {d.metadata["Name"].lower(): d for d in md.distributions()}
required = {
    re.split(r"[ ;<>=!~\\[(]", r, maxsplit=1)[0].lower().replace("_", "-")
    for d in installed.values() for r in (d.requires or []) if "extra ==" not in r
}
print(" ".join(t for t in ("pytest", "ipython", "py-spy") if t in installed and t not in required))
"""


@pytest.mark.parametrize("upper, lower", list(zip(STAGES[1:], STAGES)))
def test_each_stage_is_built_on_the_one_below(upper, lower):
    below = image(lower).inspect()["RootFS"]["Layers"]
    above = image(upper).inspect()["RootFS"]["Layers"]
    assert above[: len(below)] == below and len(above) > len(below)


def test_ci_runs_the_transfer_benchmark_between_two_processes():
    out = image("ci").run(
        "python", "-m", "dynamo_hostxfer", "bench", "--size", str(1 << 20), "--iterations", "3",
        "--json",
    )  # fmt: skip
    result = json.loads(out)
    assert result["verified"] is True and result["write_gbps"] > 0, result


def test_report_shows_the_pinned_versions():
    built = image("runtime")
    env = built.env()
    report = json.loads(built.run("python", "-m", "dynamo_imagekit", "report", "--json"))
    assert report["packages"]["ai-dynamo"] == env["DYNAMO_VERSION"]
    assert report["packages"]["nixl"] == env["NIXL_VERSION"]
    assert report["image"]["dynamo_backend"] == BACKEND
    assert report["python"].startswith("3.11.")


@pytest.mark.skipif(not FRAMEWORK, reason="Dynamo alone: no framework")
def test_framework_imports_and_reports_the_pinned_version():
    built = image("runtime")
    out = built.run(
        "python", "-c", f"import {FRAMEWORK}; print({FRAMEWORK}.__version__)", timeout=900
    )
    assert out.strip().splitlines()[-1] == built.env()["FRAMEWORK_VERSION"], out


def test_sbom_lists_the_images_packages(stage):
    sbom_file = Path(f"{package_stem(IMAGES[stage])}.sbom.cdx.json")
    sbom = json.loads(sbom_file.read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    versions = {c["name"]: c.get("version") for c in sbom["components"]}
    env = image(stage).env()
    assert versions["ai-dynamo"] == env["DYNAMO_VERSION"]
    assert "python3" in versions  # a Debian package of the base
    if FRAMEWORK:
        framework_dist = {"tensorrt_llm": "tensorrt-llm"}.get(FRAMEWORK, FRAMEWORK)
        assert versions[framework_dist] == env["FRAMEWORK_VERSION"]


def test_runtime_serves_a_chat_completion_with_the_mocker_engine():
    with dynamo_serving(image("runtime")) as serving:
        client = openai.OpenAI(base_url=serving.base_url + "/v1", api_key="unused", timeout=60)
        completion = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
    assert completion.choices[0].message.content.strip(), completion
    assert 1 <= completion.usage.completion_tokens <= 4, completion


def test_ci_image_serves_and_its_soak_client_reports_percentiles():
    """Frontend + mocker in the ci image; its soak client drives it from inside."""
    with dynamo_serving(image("ci")) as serving:
        port = serving.base_url.rsplit(":", 1)[1]
        soak = docker(
            "exec", serving.container,
            "python", "-m", "dynamo_ci_tools", "soak", "--url", f"http://127.0.0.1:{port}",
            "--model", MODEL, "--requests", "24", "--concurrency", "4", "--max-tokens", "8",
            "--json", "/tmp/soak.json",
        )  # fmt: skip
        print(soak.stdout.decode())
        result = json.loads(docker("exec", serving.container, "cat", "/tmp/soak.json").stdout)
        docker(
            "exec", serving.container,
            "python", "-m", "dynamo_ci_tools", "metrics", "snapshot",
            "--url", f"http://127.0.0.1:{port}/metrics", "--label", BACKEND,
            "--out", "/tmp/metrics.json",
        )  # fmt: skip
        snapshot = json.loads(docker("exec", serving.container, "cat", "/tmp/metrics.json").stdout)
        # Streaming: TTFT/ITL from the SSE chunks, and the frontend's /metrics over the window.
        stream = docker(
            "exec", serving.container,
            "python", "-m", "dynamo_ci_tools", "soak", "--url", f"http://127.0.0.1:{port}",
            "--model", MODEL, "--stream", "--requests", "24", "--concurrency", "4",
            "--max-tokens", "8", "--label", BACKEND, "--json", "/tmp/stream/soak.json",
        )  # fmt: skip
        print(stream.stdout.decode())
        cat = docker("exec", serving.container, "cat", "/tmp/stream/soak.json")
        streamed = json.loads(cat.stdout)
        print(json.dumps(streamed))  # a result `dynamo_ci_tools.report` reads (--output=all)
        files = docker("exec", serving.container, "ls", "/tmp/stream").stdout.decode().split()
    assert result["requests"] == {"total": 24, "ok": 24, "failed": 0}, result
    latency = result["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"], latency
    assert result["requests_per_s"] > 0 and result["completion_tokens"] > 0, result
    assert snapshot["label"] == BACKEND
    assert any(name.startswith("dynamo_") for name in snapshot["families"]), snapshot

    assert streamed["stream"] is True and streamed["label"] == BACKEND
    assert streamed["requests"] == {"total": 24, "ok": 24, "failed": 0}, streamed["errors"]
    assert set(streamed["errors_by_kind"].values()) == {0}, streamed["errors_by_kind"]
    ttft, itl, e2e = streamed["ttft_ms"], streamed["itl_ms"], streamed["latency_ms"]
    assert 0 < ttft["p50"] <= ttft["p90"] <= ttft["p99"] and ttft["p50"] < e2e["p50"], streamed
    assert 0 < itl["p50"] <= itl["p90"] <= itl["p99"] < e2e["max"], streamed
    # The mocker generates max_tokens tokens; every one decodes to text (tiny_model.py).
    tokens = streamed["output_tokens"]
    assert tokens["usage"] == 24 * 8 and 0 < tokens["content_chunks"] <= tokens["usage"], tokens
    assert streamed["output_tokens_per_s"]["usage"] > 0 and streamed["requests_per_s"] > 0
    # The frontend's own counters over the soak's window agree with what the client counted.
    window = streamed["frontend_metrics"]
    assert "error" not in window, window
    rows = {row["figure"]: row for row in window["vs_measured"]}
    assert rows["requests"]["reported"] == 24 and rows["requests"]["difference_pct"] == 0
    assert rows["output tokens (usage)"]["reported"] == 24 * 8, rows
    assert 0 < rows["mean TTFT ms"]["reported"] < e2e["max"], rows
    assert 0 < rows["mean ITL ms"]["reported"] < e2e["max"], rows
    assert sorted(files) == ["soak.json", "soak.metrics-after.json", "soak.metrics-before.json"]
