"""build-support/clean_images.py against the real engine, on tiny images of the test's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import clean_images
import pytest

DOCKER = "/usr/bin/docker"
SHA = "{:040x}"


def build(tmp_path: Path, tag: str | None, label: str | None) -> str:
    """A one-file image of its own (content unique to this call); its ID."""
    context = tmp_path / uuid.uuid4().hex
    context.mkdir()
    (context / "f").write_text(context.name)
    (context / "Dockerfile").write_text("FROM scratch\nCOPY f /f\n")
    args = [DOCKER, "build", "--quiet", *(["--label", label] if label else [])]
    args += ["--tag", tag] if tag else []
    out = subprocess.run(
        [*args, str(context)], capture_output=True, text=True, check=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )  # fmt: skip
    return out.stdout.strip()


def tags_of(image_id: str) -> list[str] | None:
    """The image's tags, or None once it is gone."""
    out = subprocess.run(
        [DOCKER, "image", "inspect", "--format", "{{json .RepoTags}}", image_id],
        capture_output=True, text=True,
    )  # fmt: skip
    return None if out.returncode else sorted(json.loads(out.stdout))


def clean(*args: str) -> subprocess.CompletedProcess:
    """Runs the script as `python3 build-support/clean_images.py ARGS` would."""
    script = clean_images.__file__
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True)


@pytest.fixture
def family(tmp_path: Path):
    """A fake target's images, oldest first: three that only hold old commits' tags, one
    with no tag, and the current one; plus an image without the label that looks the same."""
    run = uuid.uuid4().hex[:8]
    target = f"tests/clean-{run}:runtime"
    repo = f"dynamo-clean-test-{run}/x"
    label = f"ai.dynamo.build.target={target}"
    images = {
        "old-1": build(tmp_path, f"{repo}:runtime-1.4.2-{SHA.format(1)}", label),
        "old-2": build(tmp_path, f"{repo}:runtime-1.4.2-{SHA.format(2)}", label),
        "untagged": build(tmp_path, None, label),
        "old-3": build(tmp_path, f"{repo}:runtime-1.4.2-{SHA.format(3)}", label),
        "current": build(tmp_path, f"{repo}:runtime", label),
        "not-ours": build(tmp_path, f"{repo}-unlabelled:runtime-1.4.2-{SHA.format(4)}", None),
    }
    subprocess.run([DOCKER, "tag", images["current"], f"{repo}:runtime-1.4.2-{SHA.format(5)}"])
    yield target, images
    for image_id in images.values():
        subprocess.run([DOCKER, "rmi", "--force", image_id], capture_output=True)


def test_dry_run_is_the_default_and_removes_nothing(family) -> None:
    target, images = family
    result = clean("--target", target, "--keep", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    removals = [line for line in lines if line.startswith("would remove")]
    assert len(removals) == 3 and all(
        any(images[n][7:19] in line for line in removals) for n in ("old-1", "old-2", "untagged")
    )
    assert any(
        line.startswith("keep") and images["current"][7:19] in line and "current tag" in line
        for line in lines
    )
    assert "nothing removed (dry run)" in lines[-1]
    assert all(tags_of(image_id) is not None for image_id in images.values())


def test_apply_keeps_the_current_and_the_newest_and_never_touches_unlabelled(family) -> None:
    target, images = family
    result = clean("--target", target, "--keep", "1", "--apply")
    assert result.returncode == 0, result.stderr
    assert "removed 3 image(s)" in result.stdout
    # Kept: the current image (with its old commit tag too) and the newest older one.
    assert tags_of(images["current"]) is not None
    assert tags_of(images["old-3"]) is not None
    # Removed: the older ones, tagged or not.
    assert [tags_of(images[name]) for name in ("old-1", "old-2", "untagged")] == [None] * 3
    # An image without the label is never a candidate, whatever its tags say.
    assert tags_of(images["not-ours"]) is not None


def test_without_a_target_only_labelled_images_are_listed(family) -> None:
    _, images = family
    result = clean()  # the whole engine, dry run
    assert result.returncode == 0, result.stderr
    assert images["not-ours"][7:19] not in result.stdout
    assert images["current"][7:19] in result.stdout


def test_a_negative_keep_is_refused() -> None:
    result = clean("--keep", "-1")
    assert result.returncode == 2 and "--keep -1: give 0 or more" in result.stderr
