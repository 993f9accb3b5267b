import itertools
from pathlib import Path

import pytest
import yaml

from dynamo_deploy_runner.spec import SpecError, containers, parse

MINIMAL = {
    "name": "t",
    "model": {"name": "tiny"},
    "env": {"DYN_FILE_KV": "${workdir}/kv"},
    "services": {
        "worker": {
            "componentType": "worker",
            "image": "containers/dynamo:runtime",
            "replicas": 2,
            "command": ["python", "-m", "dynamo.mocker"],
            "args": ["--model-path", "${model_path}", "--model-name", "${model_name}"],
            "env": {"DYN_SYSTEM_PORT": "${system_port}"},
            "health": "http://127.0.0.1:${system_port}/health",
        },
        "Frontend": {
            "componentType": "frontend",
            "image": "//containers/dynamo:runtime",
            "command": ["python", "-m", "dynamo.frontend", "--http-port", "${http_port}"],
        },
    },
}


def test_containers_fill_placeholders_per_replica():
    spec = parse(MINIMAL)
    ports = itertools.count(20001)
    cs = list(containers(spec, 8123, lambda: next(ports)))
    assert [(c.service, c.replica) for c in cs] == [("worker", 0), ("worker", 1), ("Frontend", 0)]
    w0, w1, fe = cs
    assert w0.argv == (
        "python", "-m", "dynamo.mocker", "--model-path", "/deploy/tiny", "--model-name", "tiny"
    )  # fmt: skip
    assert w0.env == {"DYN_FILE_KV": "/deploy/kv", "DYN_SYSTEM_PORT": "20001"}
    assert w1.env["DYN_SYSTEM_PORT"] == "20002"
    assert w1.health == "http://127.0.0.1:20002/health"
    assert fe.argv[-1] == "8123" and fe.health is None
    assert spec.images() == ["containers/dynamo:runtime"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"services": {"x": {"componentType": "frontend", "image": "nope", "command": []}}},
         "must be the Pants address"),
        ({"services": {"x": {**MINIMAL["services"]["worker"]}}},
         "no service has componentType frontend"),
        ({"services": {"x": {**MINIMAL["services"]["Frontend"], "componentType": "router"}}},
         "componentType must be one of"),
        ({"services": {"x": {**MINIMAL["services"]["Frontend"], "ports": [1]}}},
         "unknown keys ['ports']"),
        ({"model": {}}, "`model` needs at least a `name`"),
    ],
)  # fmt: skip
def test_invalid_specs_say_what_is_wrong(change, message):
    with pytest.raises(SpecError) as e:
        parse({**MINIMAL, **change})
    assert message in str(e.value)


def test_unknown_placeholder_names_the_known_ones():
    spec = parse({**MINIMAL, "env": {"X": "${nope}"}})
    with pytest.raises(SpecError, match=r"unknown placeholder \$\{nope\}.*http_port"):
        list(containers(spec, 1, lambda: 2))


@pytest.mark.parametrize("name", ["agg", "disagg"])
def test_the_repo_specs_parse(name):
    spec = parse(yaml.safe_load(Path(f"deploy/{name}.yaml").read_text()))
    assert spec.images() == ["containers/dynamo:runtime#amd64"]
    kinds = sorted((s.component_type, s.sub_component_type, s.replicas) for s in spec.services)
    if name == "agg":
        assert kinds == [("frontend", None, 1), ("worker", None, 2)]
    else:
        assert kinds == [("frontend", None, 1), ("worker", "decode", 1), ("worker", "prefill", 1)]
