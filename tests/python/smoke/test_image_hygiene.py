"""Properties every runtime image must have: non-root, no compilers, OCI labels, versions."""

import json

import pytest

from smoke.docker_helpers import built_image

RUNTIME_IMAGES = ["containers/dynamo:runtime", "containers/vllm:runtime"]
COMPILERS = ["gcc", "g++", "cc", "c++", "clang", "rustc", "nvcc"]


@pytest.fixture(scope="module", params=RUNTIME_IMAGES)
def image(request):
    return built_image(request.param)


def test_runs_as_non_root_user(image):
    uid, user = image.run("sh", "-c", "id -u; id -un").split()
    assert uid != "0" and user == "dynamo"


def test_carries_no_compilers(image):
    found = image.run("sh", "-c", f"for c in {' '.join(COMPILERS)}; do command -v $c || true; done")
    assert found.strip() == "", f"compilers in a runtime image: {found.split()}"


def test_oci_labels(image):
    labels = image.labels()
    for key in ("version", "revision", "source", "created"):
        assert labels.get(f"org.opencontainers.image.{key}"), (key, labels)
    assert labels["org.opencontainers.image.version"] == image.env()["DYNAMO_VERSION"]


def test_sanity_report_shows_the_pinned_stack(image):
    # The imagekit wheel's report, as an image's first command would print it.
    env = image.env()
    report = json.loads(image.run("python", "-m", "dynamo_imagekit", "report", "--json"))
    assert report["packages"]["ai-dynamo"] == env["DYNAMO_VERSION"]
    assert report["packages"]["nixl"] == env["NIXL_VERSION"]
    assert report["image"]["dynamo_backend"] == env["DYNAMO_BACKEND"]
    assert report["python"].startswith("3.11.")
    assert report["gpu"]["devices"] == 0  # no GPU on the build machines


def test_healthcheck_is_the_rust_probe(image):
    check = image.inspect()["Config"]["Healthcheck"]
    assert check["Test"] == ["CMD", "dynamo-imagekit", "probe"], check
