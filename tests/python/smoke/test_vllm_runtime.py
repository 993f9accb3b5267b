"""Smoke tests of containers/vllm:runtime."""

from smoke.docker_helpers import built_image

IMAGE = "containers/vllm:runtime"


def test_vllm_imports_and_reports_the_pinned_version():
    image = built_image(IMAGE)
    out = image.run("python", "-c", "import vllm; print('vllm', vllm.__version__)", timeout=600)
    reported = out.strip().splitlines()[-1]
    assert reported == f"vllm {image.env()['FRAMEWORK_VERSION']}", out
