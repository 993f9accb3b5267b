"""`--changed-since` picks exactly the images whose inputs changed, in a real git repository.

A copy of the workspace (//:workspace, copied as the remote-cache tests copy it) is committed
to a fresh git repo; each case edits files the way a developer would and asks Pants which
images changed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
from pathlib import Path

import pytest
from dynamo_workspaces.workspace import Workspace

IMAGES_DATA = "containers/images_data.py"


def _images_data():
    """The image family's data, imported as an ordinary module (it needs no Pants)."""
    spec = importlib.util.spec_from_file_location("images_data", IMAGES_DATA)
    assert spec and spec.loader, IMAGES_DATA
    data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(data)
    return data


DATA = _images_data()
BACKENDS = tuple(DATA.buildable_backends())


def images(*names: str) -> set[str]:
    """Addresses of `backend:stage` names; a published stage of a multi-arch backend is its
    host-platform image (`containers/dynamo:runtime#amd64`: the arm64 ones carry the `arm64`
    tag, which `list` leaves out)."""
    return {
        DATA.image_address(backend, stage)
        if stage in DATA.STAGES
        else f"containers/{backend}:{stage}"
        for backend, stage in (n.split(":") for n in names)
    }


def every(stage: str) -> set[str]:
    return images(*(f"{backend}:{stage}" for backend in BACKENDS))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = Workspace.copy_of(Path.cwd(), tmp_path_factory.mktemp("changed")).root
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    yield root
    # The copy's pantsd (it keeps the graph warm between the cases) goes with it.
    for pid_file in root.glob(".pids/*/pantsd/pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True
    )


def changed_images(root: Path) -> set[str]:
    out = subprocess.run(
        ["./pants", "--changed-since=HEAD", "--changed-dependents=transitive",
         "--filter-target-type=docker_image", "list"],
        cwd=root, capture_output=True, text=True, timeout=900,
        env={**os.environ, "DYNAMO_SKIP_PROVISION": "1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-4000:]
    return set(out.stdout.split())


@pytest.fixture
def edit(repo: Path):
    """Edits files in the repo; undoes every edit afterwards."""
    yield lambda path, old, new: _replace(repo / path, old, new)
    git(repo, "checkout", "-q", "--", ".")


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_nothing_changed_builds_nothing(repo: Path) -> None:
    assert changed_images(repo) == set()


def test_a_vllm_pin_change_marks_only_the_vllm_images(repo: Path, edit) -> None:
    # A pin change is an edit of containers/images_data.py (which Pants does not track: it is
    # a prelude) and the regenerated lockfile of that backend's resolve. Regenerating it would
    # download gigabytes; the edit of one locked version stands in for it.
    edit(IMAGES_DATA, '("vllm", "0.26.0")', '("vllm", "0.26.1")')
    edit("3rdparty/python/images-vllm.lock", '"vllm==0.26.0"', '"vllm==0.26.1"')
    assert changed_images(repo) == images("vllm:stack", "vllm:runtime", "vllm:dev", "vllm:ci")


def test_a_dynamo_lockfile_change_leaves_the_shared_torch_layer_and_other_backends(
    repo: Path, edit
) -> None:
    # containers/base:torch is locked in images-torch, not in any backend's resolve.
    edit("3rdparty/python/images-dynamo.lock", '"ai-dynamo==1.4.2"', '"ai-dynamo==1.4.3"')
    assert changed_images(repo) == images(
        "dynamo:stack", "dynamo:runtime", "dynamo:dev", "dynamo:ci"
    )


def test_a_shared_torch_lockfile_change_marks_the_torch_layer_and_every_stack(
    repo: Path, edit
) -> None:
    edit("3rdparty/python/images-torch.lock", '"torch==2.11.0"', '"torch==2.11.1"')
    assert changed_images(repo) == {"containers/base:torch"} | every("stack") | every(
        "runtime"
    ) | every("dev") | every("ci")


def test_a_runtime_wheel_source_change_marks_every_family_image(repo: Path, edit) -> None:
    edit("src/rust/imagekit/src/main.rs", "fn main", "// a one-line change\nfn main")
    assert changed_images(repo) == every("runtime") | every("dev") | every("ci")


def test_a_dev_wheel_source_change_marks_dev_and_ci_images_only(repo: Path, edit) -> None:
    edit("src/cpp/hostxfer/src/transfer.cpp", "#include", "// a one-line change\n#include")
    assert changed_images(repo) == every("dev") | every("ci")


def test_a_ci_tool_change_marks_ci_images_only(repo: Path, edit) -> None:
    edit("src/python/dynamo_ci_tools/__init__.py", '"""', '"""A one-line change.\n', )
    assert changed_images(repo) == every("ci")
