"""Starts a deployment's services as containers on this host and stops them again.

Every container runs with host networking (as the smoke tests do: no dependence on the
engine's bridge or iptables) and mounts the deployment's own Docker volume at /deploy. The
runner removes what it created, and only that: the containers and the volume whose IDs it
recorded, when the block ends, on Ctrl-C (SIGINT) or on SIGTERM.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dynamo_deploy_runner.spec import WORKDIR, Container, Spec, containers, deployment_values, fill

LABEL = "ai.dynamo.deploy"
STOP_GRACE_S = 3


class DeployError(RuntimeError):
    pass


class Stopped(Exception):
    """Raised in the main thread by SIGTERM (SIGINT raises KeyboardInterrupt)."""


def docker_cli() -> str:
    # The client Pants builds with (pants.toml [docker].executable_search_paths) first.
    for candidate in ("/usr/bin/docker", "docker"):
        if os.path.isabs(candidate) and not os.access(candidate, os.X_OK):
            continue
        return candidate
    return "docker"


def docker(*args: str, check: bool = True, input: bytes | None = None, timeout: float = 300):
    result = subprocess.run(
        [docker_cli(), *args], capture_output=True, input=input, timeout=timeout
    )
    if check and result.returncode != 0:
        raise DeployError(
            f"docker {' '.join(args[:3])} ... failed (exit {result.returncode}): "
            + result.stderr.decode(errors="replace").strip()
        )
    return result


def free_port() -> int:
    """A port nothing listens on, below 32768: Dynamo 1.4.2 reads DYN_SYSTEM_PORT as an i16
    ("invalid value unsigned int `44531`, expected i16"), and the kernel's own choice of a
    free port comes from 32768-60999."""
    for _ in range(200):
        port = random.randint(20000, 32767)
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise DeployError("no free port found in 20000-32767")


def image_ids_from_info(addresses: list[str], info_root: str) -> dict[str, str]:
    """Each address's image ID from the docker-info.json Pants wrote when it packaged it:
    `<spec path with / as .>/<name>.docker-info.json` under `info_root` (dist/, or the
    sandbox of `./pants run` and of tests with runtime_package_dependencies); a generated
    per-platform image (`containers/dynamo:runtime#amd64`) writes `<name>-<arch>`."""
    ids = {}
    for address in addresses:
        spec_path, name = address.split(":")
        name = name.replace("#", "-")
        info = Path(info_root) / spec_path.replace("/", ".") / f"{name}.docker-info.json"
        if not info.exists():
            raise DeployError(
                f"{info} is missing: package {address} first (`./pants package {address}`), "
                "or start the deployment with `./pants run`, which does"
            )
        ids[address] = json.loads(info.read_text())["image_id"]
    return ids


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, ""
    except (OSError, ValueError):
        return 0, ""


def tiny_model_source() -> bytes:
    from gpu_smoke_checks import tiny_model

    return Path(tiny_model.__file__).read_bytes()


@dataclass
class Running:
    container: Container
    name: str
    container_id: str


class Deployment:
    """`with Deployment(spec, image_ids) as d:` starts every service, waits until the
    deployment answers, and removes its containers and volume when the block ends."""

    def __init__(
        self,
        spec: Spec,
        image_ids: Mapping[str, str],
        http_port: int | None = None,
        startup_timeout: float = 240,
        log=print,
    ):
        missing = [i for i in spec.images() if i not in image_ids]
        if missing:
            raise DeployError(f"no image ID for {', '.join(missing)}")
        self.spec = spec
        self.image_ids = dict(image_ids)
        self.http_port = http_port or free_port()
        self.startup_timeout = startup_timeout
        self.log = log
        self.run_id = uuid.uuid4().hex[:8]
        self.volume: str | None = None
        self.running: list[Running] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def _labels(self) -> list[str]:
        return [
            "--label", f"{LABEL}.name={self.spec.name}",
            "--label", f"{LABEL}.run={self.run_id}",
            "--label", f"{LABEL}.owner={socket.gethostname()}:{os.getpid()}",
        ]  # fmt: skip

    def __enter__(self) -> Deployment:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        prefix = f"dynamo-deploy-{self.spec.name}-{self.run_id}"
        self.volume = prefix
        docker("volume", "create", *self._labels(), self.volume)
        first_image = self.image_ids[self.spec.images()[0]]
        # The volume belongs to root; open it to the images' non-root user (a new volume
        # copies no ownership from the image: /deploy does not exist there). No container
        # gets `-w /deploy`: Docker 20.10 then resets the mount point to root, mode 755.
        docker("run", "--rm", "--network", "none", "--user", "0", "-v", f"{self.volume}:{WORKDIR}",
               "--entrypoint", "chmod", first_image, "1777", WORKDIR)  # fmt: skip
        if self.spec.model.write_tiny_model:
            path = f"{WORKDIR}/{self.spec.model.path}"
            self.log(f"writing the tiny model into {path}")
            docker("run", "--rm", "-i", "--network", "none", "-v", f"{self.volume}:{WORKDIR}",
                   first_image, "python", "-", path, input=tiny_model_source())  # fmt: skip
        for c in containers(self.spec, self.http_port, free_port):
            name = f"{prefix}-{c.service}-{c.replica}"
            health = (
                ["-e", f"DYNAMO_HEALTH_URL={c.health}", "--health-interval=2s"]
                if c.health
                else ["--no-healthcheck"]
            )
            env = [arg for k, v in c.env.items() for arg in ("-e", f"{k}={v}")]
            # create, record, then start: a container that fails to start is still removed.
            container_id = docker(
                "create", "--name", name, *self._labels(),
                "--label", f"{LABEL}.service={c.service}",
                "--network", "host", "-v", f"{self.volume}:{WORKDIR}",
                *env, *health, self.image_ids[c.image], *c.argv,
            ).stdout.decode().strip()  # fmt: skip
            self.running.append(Running(c, name, container_id))
            docker("start", container_id)
            self.log(f"started {name} ({c.image}): {' '.join(c.argv)}")
        self.wait_ready()

    def state(self, r: Running) -> dict:
        out = docker("inspect", "-f", "{{json .State}}", r.container_id, check=False)
        return json.loads(out.stdout) if out.returncode == 0 else {}

    def logs(self, r: Running, tail: int = 40) -> str:
        out = docker("logs", "--tail", str(tail), r.container_id, check=False)
        return (out.stdout + out.stderr).decode(errors="replace")

    def check_running(self) -> None:
        for r in self.running:
            state = self.state(r)
            if not state.get("Running"):
                raise DeployError(
                    f"{r.name} ({r.container.service}) exited with code {state.get('ExitCode')}:"
                    f"\n{self.logs(r)}"
                )

    def wait_ready(self) -> None:
        """Every container running, every health check healthy, the `ready` URL answering."""
        ready = self.spec.ready
        url = contains = None
        if ready:
            values = deployment_values(self.spec, self.http_port)
            url, contains = fill(ready.url, values, "ready.url"), ready.contains
        deadline = time.monotonic() + self.startup_timeout
        waiting = "starting"
        while time.monotonic() < deadline:
            self.check_running()
            unhealthy = [
                r.name
                for r in self.running
                if r.container.health
                and self.state(r).get("Health", {}).get("Status") != "healthy"
            ]
            if unhealthy:
                waiting = "health checks of " + ", ".join(unhealthy)
            elif url:
                status, body = http_get(url)
                if status == 200 and contains in body:
                    return
                waiting = f"{url} to answer 200 with {contains!r}"
            else:
                return
            time.sleep(1)
        logs = "\n".join(f"--- {r.name} ---\n{self.logs(r)}" for r in self.running)
        raise DeployError(
            f"timed out after {self.startup_timeout:.0f}s waiting for {waiting}\n{logs}"
        )

    def stop(self) -> None:
        """Removes this run's containers and volume, by the IDs recorded at creation."""
        ids = [r.container_id for r in self.running]
        if ids:
            # SIGTERM, then SIGKILL after STOP_GRACE_S; all in one call, so the whole stop fits
            # in the grace `pants run` gives its process on Ctrl-C before it kills it
            # ([GLOBAL].process_execution_graceful_shutdown_timeout in pants.toml).
            docker("stop", "--time", str(STOP_GRACE_S), *ids, check=False, timeout=120)
            docker("rm", "-f", *ids, check=False, timeout=120)
            self.log(f"removed {len(ids)} containers of {self.spec.name}")
        self.running = []
        if self.volume:
            docker("volume", "rm", "-f", self.volume, check=False)
            self.volume = None


def orphans() -> tuple[list[str], list[str]]:
    """Containers and volumes of earlier runs on this host whose runner is gone (SIGKILL)."""
    found: tuple[list[str], list[str]] = ([], [])
    owner = f'{{{{.Label "{LABEL}.owner"}}}}'
    listings = (("ps", "-a", "--format", "{{.Names}} " + owner),
                ("volume", "ls", "--format", "{{.Name}} " + owner))  # fmt: skip
    for kind, listing in enumerate(listings):
        out = docker(*listing, "--filter", f"label={LABEL}.owner", check=False)
        for line in out.stdout.decode().splitlines():
            name, _, who = line.partition(" ")
            host, _, pid = who.rpartition(":")
            gone = pid.isdigit() and not os.path.exists(f"/proc/{pid}")
            if host == socket.gethostname() and gone:
                found[kind].append(name)
    return found


def serve_forever(deployment: Deployment, parent: int) -> None:
    """Blocks until SIGINT or SIGTERM, until the parent process is gone (`pants run` killed
    with SIGTERM exits at once and leaves its child behind), or until a container exits (an
    error)."""
    while True:
        if os.getppid() != parent:
            raise Stopped(f"parent process {parent} exited")
        deployment.check_running()
        time.sleep(1)


def install_signal_handlers() -> None:
    def on_term(signum, frame):
        raise Stopped(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)


def ignore_signals() -> None:
    """While cleaning up, a second Ctrl-C must not leave containers behind."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


def run(spec: Spec, image_ids: Mapping[str, str], http_port: int | None) -> int:
    parent = os.getppid()
    install_signal_handlers()
    containers_left, volumes_left = orphans()
    if containers_left or volumes_left:
        remove = [f"docker rm -f {' '.join(containers_left)}"] if containers_left else []
        remove += [f"docker volume rm {' '.join(volumes_left)}"] if volumes_left else []
        print(
            "note: earlier deployments whose runner was killed left containers "
            f"{containers_left} and volumes {volumes_left}; remove them with: "
            + " && ".join(remove),
            file=sys.stderr,
        )
    deployment = Deployment(spec, image_ids, http_port=http_port)
    try:
        deployment.start()
        print(
            f"{spec.name} is up: {deployment.base_url}/v1 serves model {spec.model.name!r} "
            f"({len(deployment.running)} containers). Ctrl-C or SIGTERM stops it.",
            flush=True,
        )
        serve_forever(deployment, parent)
    except (KeyboardInterrupt, Stopped) as e:
        print(f"stopping {spec.name} ({type(e).__name__} {e})".rstrip(), flush=True)
        return 0
    except DeployError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        ignore_signals()
        deployment.stop()
    return 0
