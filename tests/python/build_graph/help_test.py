"""`./pants help` works for everything this repo's plugins add: IDE integrations and docs
tools read `help-all`, and a field whose type hint cannot be evaluated (`X | None` under
Pants' Python 3.9) crashes both."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import tomllib

# The in-repo plugins: the backends pants.toml enables that are folders of plugins/.
PLUGINS = tuple(
    backend
    for backend in tomllib.loads(Path("pants.toml").read_text())["GLOBAL"]["backend_packages"]
    if Path("plugins", backend).is_dir()
)


def pants(root: Path, *args: str) -> str:
    out = subprocess.run(
        ["./pants", *args], cwd=root, capture_output=True, text=True, timeout=600,
        env={**os.environ, "DYNAMO_SKIP_PROVISION": "1"},
    )  # fmt: skip
    assert out.returncode == 0, f"./pants {' '.join(args)} failed:\n{out.stderr[-4000:]}"
    return out.stdout


@pytest.fixture(scope="module")
def help_all() -> dict:
    root = Path.cwd()  # the workspace (//:workspace) in the test's sandbox
    try:
        yield json.loads(pants(root, "help-all"))
    finally:
        for pid_file in root.glob(".pids/*/pantsd/pid"):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)


def ours(infos: dict) -> dict:
    return {name: info for name, info in infos.items() if info.get("provider") in PLUGINS}


def test_every_plugin_target_field_shows_its_type_and_help(help_all: dict) -> None:
    assert len(PLUGINS) == 4, PLUGINS
    targets = ours(help_all["name_to_target_type_info"])
    assert {info["provider"] for info in targets.values()} == set(PLUGINS), sorted(targets)
    fields = [(t, f) for t, info in targets.items() for f in info["fields"]]
    assert fields
    for target, field in fields:
        assert field["type_hint"], (target, field["alias"])
        assert field["description"], (target, field["alias"])
    # The fields the images plugin adds to Pants' own docker_image are shown too.
    docker_image = {
        f["alias"]: f for f in help_all["name_to_target_type_info"]["docker_image"]["fields"]
    }
    for alias in ("build_network", "build_platform", "sbom", "sbom_installs", "size_budget"):
        assert docker_image[alias]["provider"] in PLUGINS and docker_image[alias]["type_hint"]


def test_help_names_each_plugin_target_and_subsystem(help_all: dict) -> None:
    names = [
        *ours(help_all["name_to_target_type_info"]),
        *(scope for scope in ours(help_all["scope_to_help_info"]) if scope),
    ]
    expected = {"native_wheel", "gpu_smoke_test", "dynamo_deployment", "image-reuse", "gpu-smoke"}
    assert expected <= set(names)
    for name in names:
        text = pants(Path.cwd(), "help", name)
        assert f"`{name}`" in text, text[:500]
