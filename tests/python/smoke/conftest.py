import pytest

from smoke.docker_helpers import DockerUnavailable, require_engine


@pytest.fixture(scope="session", autouse=True)
def docker_engine():
    """Smoke tests need the engine: fail loudly (never skip) when it is unreachable."""
    try:
        require_engine()
    except DockerUnavailable as e:
        pytest.fail(str(e), pytrace=False)
