"""Properties every runtime image must have: non-root, no compilers, OCI labels, versions."""

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


def test_installed_versions_match_the_pins(image):
    env = image.env()
    out = image.run(
        "python",
        "-c",
        "import importlib.metadata as m; print(m.version('ai-dynamo'), m.version('nixl'))",
    )
    assert out.split() == [env["DYNAMO_VERSION"], env["NIXL_VERSION"]]
