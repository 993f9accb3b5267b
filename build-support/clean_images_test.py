"""build-support/clean_images.py against the real engine, on tiny images of the test's own
(made and inspected through the Docker SDK, as the script itself talks to the engine)."""

from __future__ import annotations

import contextlib
import io
import uuid
from dataclasses import dataclass
from pathlib import Path

import clean_images
import docker
import pytest
from docker.errors import ImageNotFound

SHA = "{:040x}"


@pytest.fixture(scope="module")
def engine() -> docker.DockerClient:
    return docker.from_env()


def build(
    engine: docker.DockerClient, tmp_path: Path, tag: str | None, labels: dict | None
) -> str:
    """A one-file image of its own (content unique to this call); its ID. The SDK builds with
    the classic builder, which needs no BuildKit."""
    context = tmp_path / uuid.uuid4().hex
    context.mkdir()
    (context / "f").write_text(context.name)
    (context / "Dockerfile").write_text("FROM scratch\nCOPY f /f\n")
    image, _ = engine.images.build(path=str(context), tag=tag, labels=labels, rm=True)
    return image.id


def tags_of(engine: docker.DockerClient, image_id: str) -> list[str] | None:
    """The image's tags, or None once it is gone."""
    try:
        return sorted(engine.images.get(image_id).tags)
    except ImageNotFound:
        return None


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def clean(*args: str) -> Result:
    """Runs the script's main as `./pants run build-support:clean-images -- ARGS` does."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            returncode = clean_images.main(list(args))
        except SystemExit as exit:
            returncode = exit.code if isinstance(exit.code, int) else 1
    return Result(returncode, out.getvalue(), err.getvalue())


@pytest.fixture
def family(engine: docker.DockerClient, tmp_path: Path):
    """A fake target's images, oldest first: three that only hold old commits' tags, one
    with no tag, and the current one; plus an image without the label that looks the same."""
    run = uuid.uuid4().hex[:8]
    target = f"tests/clean-{run}:runtime"
    repo = f"dynamo-clean-test-{run}/x"
    label = {clean_images.LABEL: target}
    images = {
        "old-1": build(engine, tmp_path, f"{repo}:runtime-1.4.2-{SHA.format(1)}", label),
        "old-2": build(engine, tmp_path, f"{repo}:runtime-1.4.2-{SHA.format(2)}", label),
        "untagged": build(engine, tmp_path, None, label),
        "old-3": build(engine, tmp_path, f"{repo}:runtime-1.4.2-{SHA.format(3)}", label),
        "current": build(engine, tmp_path, f"{repo}:runtime", label),
        "not-ours": build(
            engine, tmp_path, f"{repo}-unlabelled:runtime-1.4.2-{SHA.format(4)}", None
        ),
    }
    engine.images.get(images["current"]).tag(repo, f"runtime-1.4.2-{SHA.format(5)}")
    yield target, images
    for image_id in images.values():
        with contextlib.suppress(ImageNotFound):
            engine.images.remove(image_id, force=True)


def test_dry_run_is_the_default_and_removes_nothing(engine: docker.DockerClient, family) -> None:
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
    assert all(tags_of(engine, image_id) is not None for image_id in images.values())


def test_apply_keeps_the_current_and_the_newest_and_never_touches_unlabelled(
    engine: docker.DockerClient, family
) -> None:
    target, images = family
    result = clean("--target", target, "--keep", "1", "--apply")
    assert result.returncode == 0, result.stderr
    assert "removed 3 image(s)" in result.stdout
    # Kept: the current image (with its old commit tag too) and the newest older one.
    assert tags_of(engine, images["current"]) is not None
    assert tags_of(engine, images["old-3"]) is not None
    # Removed: the older ones, tagged or not.
    assert [tags_of(engine, images[name]) for name in ("old-1", "old-2", "untagged")] == [None] * 3
    # An image without the label is never a candidate, whatever its tags say.
    assert tags_of(engine, images["not-ours"]) is not None


def test_without_a_target_only_labelled_images_are_listed(family) -> None:
    _, images = family
    result = clean()  # the whole engine, dry run
    assert result.returncode == 0, result.stderr
    assert images["not-ours"][7:19] not in result.stdout
    assert images["current"][7:19] in result.stdout


def test_a_negative_keep_is_refused() -> None:
    result = clean("--keep", "-1")
    assert result.returncode == 2 and "--keep -1: give 0 or more" in result.stderr
