"""A single-host deployment described in YAML, the way Dynamo's recipes describe one.

Dynamo's recipes are `DynamoGraphDeployment` resources: `spec.services` maps a service name
to a `componentType` (frontend, worker), an optional `subComponentType` (prefill, decode),
`replicas`, and a container with `image`, `command`, `args` and `env`. A spec here keeps
those keys, flattened (no pods), with `image` a Pants address of a `docker_image`:

    name: agg
    model: {name: tiny, path: tiny, write_tiny_model: true}
    env: {DYN_FILE_KV: /deploy/kv}          # every service
    ready: {url: "http://127.0.0.1:${http_port}/v1/models", contains: '"tiny"'}
    services:
      decode:
        componentType: worker
        image: containers/dynamo:runtime#amd64
        replicas: 1
        command: [python, -m, dynamo.mocker]
        args: [--model-path, "${model_path}", ...]
        env: {DYN_SYSTEM_PORT: "${system_port}"}
        health: "http://127.0.0.1:${system_port}/health"

Strings in `command`, `args`, `env`, `health` and `ready` may use ${http_port} (the
frontend's port: free, or --http-port), ${system_port} (a free port per container),
${model_name}, ${model_path} and ${workdir} (the directory every container shares).
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# Every container mounts the deployment's own volume here: file-based discovery (DYN_FILE_KV)
# and the model live in it, shared by all services. ${model_path} is `model.path` in it.
WORKDIR = "/deploy"
COMPONENT_TYPES = ("frontend", "worker")
SUB_COMPONENT_TYPES = ("prefill", "decode")
SERVICE_KEYS = {
    "componentType", "subComponentType", "image", "replicas", "command", "args", "env", "health",
}  # fmt: skip
TOP_KEYS = {"name", "model", "env", "ready", "services"}


class SpecError(ValueError):
    pass


@dataclass(frozen=True)
class Model:
    name: str
    path: str
    write_tiny_model: bool = False


@dataclass(frozen=True)
class Service:
    name: str
    component_type: str
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    replicas: int = 1
    sub_component_type: str | None = None
    health: str | None = None


@dataclass(frozen=True)
class Ready:
    url: str
    contains: str = ""


@dataclass(frozen=True)
class Spec:
    name: str
    model: Model
    services: tuple[Service, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    ready: Ready | None = None

    def images(self) -> list[str]:
        """The Pants addresses of the images the services run, each once, in spec order."""
        return list(dict.fromkeys(s.image for s in self.services))


@dataclass(frozen=True)
class Container:
    """One replica of one service, with every ${...} filled in."""

    service: str
    replica: int
    image: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    health: str | None


def load(path: str) -> Spec:
    import yaml

    with open(path) as f:
        return parse(yaml.safe_load(f), origin=path)


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise SpecError(f"{where} must be a list of strings, got {value!r}")
    return tuple(str(v) for v in value)


def _str_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"{where} must be a mapping of names to strings, got {value!r}")
    return {str(k): str(v) for k, v in value.items()}


def _unknown(keys: Any, allowed: set[str], where: str) -> None:
    extra = sorted(set(keys) - allowed)
    if extra:
        raise SpecError(f"{where}: unknown keys {extra} (allowed: {sorted(allowed)})")


def parse(data: Any, origin: str = "<spec>") -> Spec:
    if not isinstance(data, dict):
        raise SpecError(f"{origin}: a deployment spec is a mapping, got {type(data).__name__}")
    _unknown(data, TOP_KEYS, origin)
    for key in ("name", "model", "services"):
        if key not in data:
            raise SpecError(f"{origin}: `{key}` is required")
    model = data["model"]
    if not isinstance(model, dict) or "name" not in model:
        raise SpecError(f"{origin}: `model` needs at least a `name`")
    _unknown(model, {"name", "path", "write_tiny_model"}, f"{origin}: model")
    services_data = data["services"]
    if not isinstance(services_data, dict) or not services_data:
        raise SpecError(f"{origin}: `services` must map service names to services")
    services = []
    for name, s in services_data.items():
        where = f"{origin}: services.{name}"
        if not isinstance(s, dict):
            raise SpecError(f"{where} must be a mapping")
        _unknown(s, SERVICE_KEYS, where)
        for key in ("componentType", "image", "command"):
            if key not in s:
                raise SpecError(f"{where}: `{key}` is required")
        if s["componentType"] not in COMPONENT_TYPES:
            raise SpecError(f"{where}: componentType must be one of {COMPONENT_TYPES}")
        sub = s.get("subComponentType")
        if sub is not None and sub not in SUB_COMPONENT_TYPES:
            raise SpecError(f"{where}: subComponentType must be one of {SUB_COMPONENT_TYPES}")
        if ":" not in str(s["image"]):
            raise SpecError(
                f"{where}: image {s['image']!r} must be the Pants address of a docker_image, "
                "e.g. containers/dynamo:runtime#amd64"
            )
        replicas = s.get("replicas", 1)
        if not isinstance(replicas, int) or replicas < 0:
            raise SpecError(f"{where}: replicas must be a whole number >= 0")
        services.append(
            Service(
                name=str(name),
                component_type=s["componentType"],
                sub_component_type=sub,
                image=str(s["image"]).lstrip("/"),
                command=_str_list(s["command"], f"{where}.command"),
                args=_str_list(s.get("args"), f"{where}.args"),
                env=_str_map(s.get("env"), f"{where}.env"),
                replicas=replicas,
                health=str(s["health"]) if s.get("health") else None,
            )
        )
    if not any(s.component_type == "frontend" for s in services):
        raise SpecError(f"{origin}: no service has componentType frontend")
    ready = data.get("ready")
    if ready is not None:
        if not isinstance(ready, dict) or "url" not in ready:
            raise SpecError(f"{origin}: `ready` needs a `url`")
        _unknown(ready, {"url", "contains"}, f"{origin}: ready")
        ready = Ready(url=str(ready["url"]), contains=str(ready.get("contains", "")))
    return Spec(
        name=str(data["name"]),
        model=Model(
            name=str(model["name"]),
            path=str(model.get("path", model["name"])),
            write_tiny_model=bool(model.get("write_tiny_model", False)),
        ),
        env=_str_map(data.get("env"), f"{origin}: env"),
        ready=ready,
        services=tuple(services),
    )


def fill(text: str, values: Mapping[str, str], where: str) -> str:
    try:
        return string.Template(text).substitute(values)
    except KeyError as e:
        raise SpecError(
            f"{where}: unknown placeholder ${{{e.args[0]}}} in {text!r} "
            f"(known: {', '.join(sorted(values))})"
        ) from None
    except ValueError as e:
        raise SpecError(f"{where}: {e} in {text!r} (write $$ for a literal $)") from None


def deployment_values(spec: Spec, http_port: int) -> dict[str, str]:
    return {
        "http_port": str(http_port),
        "model_name": spec.model.name,
        "model_path": f"{WORKDIR}/{spec.model.path}",
        "workdir": WORKDIR,
    }


def containers(spec: Spec, http_port: int, free_port) -> Iterator[Container]:
    """Every replica of every service, in spec order, with its placeholders filled in.

    `free_port()` gives each container its own ${system_port}.
    """
    base = deployment_values(spec, http_port)
    for service in spec.services:
        for replica in range(service.replicas):
            values = {**base, "system_port": str(free_port())}
            where = f"services.{service.name}"
            env = {k: fill(v, values, f"{where}.env") for k, v in spec.env.items()}
            env.update({k: fill(v, values, f"{where}.env") for k, v in service.env.items()})
            yield Container(
                service=service.name,
                replica=replica,
                image=service.image,
                argv=tuple(fill(a, values, where) for a in (*service.command, *service.args)),
                env=env,
                health=fill(service.health, values, f"{where}.health") if service.health else None,
            )
