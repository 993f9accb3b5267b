"""SBOM and size budget of `docker_image`, run by Pants' rules against the real engine.

The images are tiny: the local base image (Debian's python3) plus a fake Python distribution,
an image on that one installing a small wheel (a derived SBOM), or `FROM scratch` with one
file. Built with no network.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pants.backend.docker.goals.package_image import DockerPackageFieldSet
from pants.backend.docker.package_types import BuiltDockerImage
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from dynamo_images.disk import MARGIN, DiskNeed, NotEnoughDisk, check_disk, sent_to_builder
from dynamo_images.gates import (
    SIZE_BUDGETS_HOME,
    BuiltImageSbom,
    ImageSbom,
    ImageSbomRequest,
    sbom_path,
)
from dynamo_images.target_types import (
    DockerImageSbomField,
    DockerImageSizeBudgetField,
    format_size,
    parse_size,
)
from dynamo_images.testutil import (
    REAL_DOCKER,
    docker_rule_runner,
    new_session,
    owned_copy,
)

# The local runtime base, a runtime_package_dependency of this test (plugins/dynamo_images/BUILD).
BASE_INFO = Path("containers.base/runtime-amd64.docker-info.json")
REPOSITORY = "dynamo-gates-test"

# The base image plus a fake distribution in a venv-like prefix under /opt.
APP = """
docker_image(
    name="app",
    instructions=[
        "FROM {base}",
        "RUN d=/opt/fake-venv/lib/python3.11/site-packages/Fake_Dist-1.2.3.dist-info"
        " && mkdir -p $d"
        " && printf 'Metadata-Version: 2.1\\\\nName: Fake_Dist\\\\nVersion: 1.2.3\\\\n"
        "License: MIT\\\\n' > $d/METADATA",
    ],
    build_network="none",
    {fields}
)
"""
SCRATCH = """
file(name="data", source="data.txt")
docker_image(
    name="app",
    instructions=["FROM scratch", "COPY img/data.txt /data.txt"],
    dependencies=[":data"],
    {fields}
)
"""


@pytest.fixture
def rule_runner(tmp_path: Path) -> Iterator[RuleRunner]:
    queries = [QueryRule(DigestContents, [Digest]), QueryRule(ImageSbom, [ImageSbomRequest])]
    with docker_rule_runner(tmp_path, REPOSITORY, queries) as runner:
        # A copy of the base under this test's own tag: another clone rebuilding the base and
        # moving its tags meanwhile changes nothing here, and removing ours removes only ours.
        base_id = json.loads(BASE_INFO.read_text())["image_id"]
        runner.base = owned_copy(base_id, f"{runner.repository}-base:latest")  # type: ignore[attr-defined]
        yield runner


def app(runner: RuleRunner, fields: str = "") -> str:
    return APP.format(base=runner.base, fields=fields)  # type: ignore[attr-defined]


def package(runner: RuleRunner) -> tuple[BuiltPackage, dict[str, bytes], list[str]]:
    """`package` img:app in a new session: the package, its files and the docker commands."""
    new_session(runner, runner.options)  # type: ignore[attr-defined]
    log: Path = runner.docker_log  # type: ignore[attr-defined]
    before = log.read_text() if log.exists() else ""
    target = runner.get_target(Address("img", target_name="app"))
    built = runner.request(BuiltPackage, [DockerPackageFieldSet.create(target)])
    files = {f.path: f.content for f in runner.request(DigestContents, [built.digest])}
    ran = log.read_text()[len(before):].splitlines()
    print("package:", *ran, sep="\n  ")  # shown when a test fails
    return built, files, ran


def image_of(built: BuiltPackage) -> BuiltDockerImage:
    return next(a for a in built.artifacts if isinstance(a, BuiltDockerImage))


def test_sbom_lists_debian_packages_and_python_distributions(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"img/BUILD": app(rule_runner, "sbom=True,")})
    built, files, ran = package(rule_runner)
    image = image_of(built)
    assert [a.relpath for a in built.artifacts] == [
        "img/app.docker-info.json",
        "img/app.sbom.cdx.json",
    ]
    bom = json.loads(files["img/app.sbom.cdx.json"])
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.5")
    component = bom["metadata"]["component"]
    assert component["type"] == "container" and component["bom-ref"] == image.image_id
    properties = {(p["name"], p["value"]) for p in component["properties"]}
    assert ("dynamo:image:platform", "linux/amd64") in properties
    assert ("dynamo:image:tag", image.tags[0]) in properties

    by_name = {c["name"]: c for c in bom["components"]}
    python3 = by_name["python3"]
    assert python3["purl"].startswith("pkg:deb/debian/python3@3.11")
    assert python3["purl"].endswith("?arch=amd64")
    fake = by_name["Fake_Dist"]
    assert fake["purl"] == "pkg:pypi/fake-dist@1.2.3"
    assert fake["licenses"] == [{"license": {"name": "MIT"}}]
    assert {"name": "dynamo:python:environment", "value": "/opt/fake-venv"} in fake["properties"]
    sbom = built.artifacts[1]
    assert isinstance(sbom, BuiltImageSbom)
    # Pants' Docker publish rule reads the tags of every artifact of an image's package.
    assert sbom.tags == ()
    assert any(line.startswith("build ") for line in ran)
    assert any(line.startswith("run ") for line in ran)

    # A no-op package: no build, and the SBOM comes from Pants' cache (no `docker run`).
    again, again_files, ran_again = package(rule_runner)
    assert again_files == files
    gates_and_build = [
        line for line in ran_again if line.startswith(("build ", "run ")) or '"size"' in line
    ]
    assert gates_and_build == []


def test_sbom_of_a_reused_image(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"img/BUILD": app(rule_runner, "")})
    first, files, _ = package(rule_runner)
    assert list(files) == ["img/app.docker-info.json"]
    # `sbom` is no input of the build: the image is reused, and its SBOM written.
    rule_runner.write_files({"img/BUILD": app(rule_runner, "sbom=True,")})
    second, files, ran = package(rule_runner)
    assert image_of(second).image_id == image_of(first).image_id
    assert not any(line.startswith("build ") for line in ran)
    bom = json.loads(files["img/app.sbom.cdx.json"])
    assert bom["metadata"]["component"]["bom-ref"] == image_of(first).image_id
    assert "Fake_Dist" in {c["name"] for c in bom["components"]}


def test_sbom_of_an_image_without_python_fails_naming_the_fix(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"img/BUILD": SCRATCH.format(fields="sbom=True,"), "img/data.txt": "x"})
    with pytest.raises(ExecutionError) as error:
        package(rule_runner)
    message = str(error.value)
    assert "img:app has `sbom=True`, but its image" in message
    assert "has no python3" in message and "Set `sbom=False` on img:app" in message


# An in-repo image on the app image (its base, with an SBOM) that installs a wheel from its
# build context into the same site-packages, and says so in `sbom_installs`.
SITE = "/opt/fake-venv/lib/python3.11/site-packages"
WHEEL = "img/wheels/other_dist-2.0-py3-none-any.whl"
_INSTALL = (
    "RUN --mount=type=bind,source=img/wheels,target=/tmp/w python3 -c "
    f"\"import zipfile; zipfile.ZipFile('/tmp/w/{WHEEL.rsplit('/', 1)[1]}').extractall('{SITE}')\""
)
CHILD = f"""
file(name="wheel", source="{WHEEL.split('/', 1)[1]}")
docker_image(
    name="child",
    instructions=["ARG BASE_IMAGE=img:app", "FROM $BASE_IMAGE", {json.dumps(_INSTALL)}],
    dependencies=[":wheel"],
    build_network="none",
    sbom=True,
    sbom_installs={{"{SITE}": ["img/wheels/other_dist-*.whl"]}},
)
"""


def wheel() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("other_dist/__init__.py", "")
        archive.writestr(
            "other_dist-2.0.dist-info/METADATA",
            "Metadata-Version: 2.4\nName: Other_Dist\nVersion: 2.0\n"
            "License-Expression: Apache-2.0\n",
        )
        archive.writestr("other_dist-2.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    return buffer.getvalue()


def test_sbom_of_an_image_on_an_in_repo_image_is_derived_with_no_container_run(
    rule_runner: RuleRunner,
) -> None:
    rule_runner.write_files(
        {"img/BUILD": app(rule_runner, "sbom=True,") + CHILD, WHEEL: wheel()}
    )
    new_session(rule_runner, rule_runner.options)  # type: ignore[attr-defined]
    log: Path = rule_runner.docker_log  # type: ignore[attr-defined]
    target = rule_runner.get_target(Address("img", target_name="child"))
    built = rule_runner.request(BuiltPackage, [DockerPackageFieldSet.create(target)])
    files = {f.path: f.content for f in rule_runner.request(DigestContents, [built.digest])}
    child_id, tags = image_of(built).image_id, image_of(built).tags
    bom = json.loads(files["img/child.sbom.cdx.json"])
    base_id = next(
        p["value"] for p in bom["metadata"]["properties"] if p["name"] == "dynamo:sbom:base-image"
    )
    runs = [line for line in log.read_text().splitlines() if line.startswith("run ")]
    # The base's SBOM was collected in a container; the child's needed none.
    assert len(runs) == 1 and base_id in runs[0] and child_id not in runs[0], runs
    assert {"name": "dynamo:sbom:method", "value": "derived"} in bom["metadata"]["properties"]
    assert bom["metadata"]["component"]["bom-ref"] == child_id
    by_name = {c["name"]: c for c in bom["components"]}
    other = by_name["Other_Dist"]
    assert other["bom-ref"] == f"pkg:pypi/other-dist@2.0#{SITE}/other_dist-2.0.dist-info"
    assert other["licenses"] == [{"expression": "Apache-2.0"}]
    assert {"Fake_Dist", "python3"} <= set(by_name)

    # The very components a container run of the collector lists in the child image.
    collected = rule_runner.request(
        ImageSbom, [ImageSbomRequest(target.address, child_id, tags, "collected.sbom.cdx.json")]
    )
    collected_bom = json.loads(
        rule_runner.request(DigestContents, [collected.digest])[0].content
    )
    assert {"name": "dynamo:sbom:method", "value": "collector"} in collected_bom["metadata"][
        "properties"
    ]
    assert bom["components"] == collected_bom["components"]
    assert bom["metadata"]["component"] == collected_bom["metadata"]["component"]


def test_an_image_not_built_on_its_in_repo_image_gets_its_sbom_from_a_container_run(
    rule_runner: RuleRunner,
) -> None:
    # img:app is only a build stage; the image itself is built on the (external) base.
    child = CHILD.replace(
        '"FROM $BASE_IMAGE",', f'"FROM $BASE_IMAGE AS app", "FROM {rule_runner.base}",'  # type: ignore[attr-defined]
    )
    rule_runner.write_files({"img/BUILD": app(rule_runner, "sbom=True,") + child, WHEEL: wheel()})
    new_session(rule_runner, rule_runner.options)  # type: ignore[attr-defined]
    target = rule_runner.get_target(Address("img", target_name="child"))
    built = rule_runner.request(BuiltPackage, [DockerPackageFieldSet.create(target)])
    files = {f.path: f.content for f in rule_runner.request(DigestContents, [built.digest])}
    bom = json.loads(files["img/child.sbom.cdx.json"])
    assert {"name": "dynamo:sbom:method", "value": "collector"} in bom["metadata"]["properties"]
    names = {c["name"] for c in bom["components"]}
    assert "Other_Dist" in names and "Fake_Dist" not in names


def test_sbom_installs_on_a_base_without_sbom_fails_naming_the_fix(
    rule_runner: RuleRunner,
) -> None:
    rule_runner.write_files({"img/BUILD": app(rule_runner, "") + CHILD, WHEEL: wheel()})
    new_session(rule_runner, rule_runner.options)  # type: ignore[attr-defined]
    target = rule_runner.get_target(Address("img", target_name="child"))
    with pytest.raises(ExecutionError) as error:
        rule_runner.request(BuiltPackage, [DockerPackageFieldSet.create(target)])
    message = str(error.value)
    assert "img:child has `sbom_installs`" in message and "has no SBOM in its build" in message
    assert "Set `sbom=True` on the base image's target" in message


def test_an_image_within_its_budget_is_packaged(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"img/BUILD": app(rule_runner, "size_budget='1GB',")})
    built, files, _ = package(rule_runner)
    assert list(files) == ["img/app.docker-info.json"]
    lines = image_of(built).extra_log_lines
    assert any(line.startswith("Image size: ") and "within its budget of 1 GB" in line
               for line in lines), lines


def test_an_image_over_its_budget_fails_with_both_sizes(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"img/BUILD": app(rule_runner, "size_budget=100,")})
    with pytest.raises(ExecutionError) as error:
        package(rule_runner)
    message = str(error.value)
    tag = f"{rule_runner.repository}/app:latest"  # type: ignore[attr-defined]
    inspect = [REAL_DOCKER, "image", "inspect", "--format", "{{.Size}}", tag]
    size = int(subprocess.run(inspect, capture_output=True, text=True, check=True).stdout)
    assert size > 100_000_000
    assert f"The image of img:app is {format_size(size)} ({size:,} bytes)" in message
    assert "over its size budget of 100 MB (100,000,000 bytes)" in message
    assert SIZE_BUDGETS_HOME in message


@pytest.mark.parametrize("budget", ["'lots'", "'650'", "0", "'-5MB'", "True", "'9.5 TB'"])
def test_a_bad_budget_fails_when_build_files_are_read(
    rule_runner: RuleRunner, budget: str
) -> None:
    rule_runner.write_files({"img/BUILD": SCRATCH.format(fields=f"size_budget={budget},")})
    with pytest.raises(ExecutionError) as error:
        rule_runner.get_target(Address("img", target_name="app"))
    message = str(error.value)
    assert "The `size_budget` field in target img:app must be" in message
    assert "'650MB' or '9.5GB'" in message and "integer number of MB" in message


def test_multiarch_images_carry_the_fields(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "img/BUILD": """
multiarch_docker_image(
    name="base",
    platforms=["linux/amd64", "linux/arm64"],
    instructions=["FROM scratch"],
    sbom=True,
    size_budget="9.5GB",
)
"""
        }
    )
    target = rule_runner.get_target(Address("img", target_name="base", generated_name="arm64"))
    assert target[DockerImageSbomField].value is True
    assert target[DockerImageSizeBudgetField].value == 9_500_000_000
    assert sbom_path("img/base-arm64.docker-info.json") == "img/base-arm64.sbom.cdx.json"


def test_sizes() -> None:
    assert parse_size("650MB") == parse_size("650 mb") == parse_size(650) == 650_000_000
    assert parse_size("9.5GB") == 9_500_000_000
    assert [parse_size(v) for v in ("650", "", "1.5TB", 0, -1, True, None)] == [None] * 7
    assert (format_size(650_000_000), format_size(9_620_000_000)) == ("650 MB", "9.62 GB")
    assert sbom_path("x/out.json") == "x/out.sbom.cdx.json"


def test_a_build_the_disk_cannot_hold_fails_before_it_starts(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"img/BUILD": app(rule_runner, "size_budget='9000GB',")})
    with pytest.raises(ExecutionError) as error:
        package(rule_runner)
    message = str(error.value)
    assert "Not enough free disk to build img:app: it needs about 9" in message
    assert "its size budget 9000 GB less the" in message and " is free." in message
    assert "./pants run build-support:clean-images -- --apply" in message
    log: Path = rule_runner.docker_log  # type: ignore[attr-defined]
    assert not any(line.startswith("build ") for line in log.read_text().splitlines())


def test_the_disk_need_counts_an_image_built_in_the_same_session_as_the_base(
    rule_runner: RuleRunner,
) -> None:
    """img:app is built in the session that then checks img:child: the engine's listing, made
    once per session before, lacks it, and its size is asked for (not taken as 0 bytes)."""
    child = CHILD.replace("sbom=True,", "size_budget='9000GB',")
    rule_runner.write_files({"img/BUILD": app(rule_runner) + child, WHEEL: wheel()})
    new_session(rule_runner, rule_runner.options)  # type: ignore[attr-defined]
    target = rule_runner.get_target(Address("img", target_name="child"))
    with pytest.raises(ExecutionError) as error:
        rule_runner.request(BuiltPackage, [DockerPackageFieldSet.create(target)])
    found = re.search(r"size budget 9000 GB less the ([0-9.]+ [MG]B) image it builds on", str(
        error.value
    ))
    # The base (a Debian rootfs) is over 50 MB; an unlisted one used to count as 0 MB.
    assert found and (parse_size(found.group(1)) or 0) > 50_000_000, error.value


def test_a_no_op_package_needs_no_disk(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"img/BUILD": app(rule_runner, "size_budget='1GB',")})
    first, _, _ = package(rule_runner)
    # The budget is no input of the build: the image is reused, so no disk is needed for it.
    rule_runner.write_files({"img/BUILD": app(rule_runner, "size_budget='9000GB',")})
    again, _, ran = package(rule_runner)
    assert image_of(again).image_id == image_of(first).image_id
    assert not any(line.startswith("build ") for line in ran)


def test_the_disk_need_and_where_it_is_not_checked() -> None:
    need = DiskNeed(budget=10_000_000_000, base_size=2_000_000_000, context_size=3_000_000_000)
    assert need.bytes == 8_000_000_000 + 3_000_000_000 + MARGIN
    tight = lambda path: need.bytes - 1  # noqa: E731
    with pytest.raises(NotEnoughDisk, match="needs about 12 GB on /var/lib/docker"):
        check_disk("x:y", need, "/var/lib/docker", None, free=tight)
    check_disk("x:y", need, "/var/lib/docker", None, free=lambda path: need.bytes)
    # A remote engine's disk is not this machine's; an unknown data root is not checked.
    check_disk("x:y", need, "/var/lib/docker", "tcp://builder:2376", free=tight)
    check_disk("x:y", need, "", None, free=tight)


CONTEXT = [
    "containers.dynamo/python-env.pex/.deps/torch.whl",
    "containers.base/shared-torch-env.pex/.deps/torch.whl",
    "wheels/dynamo_imagekit-1.0-py3-none-any.whl",
    "containers/dynamo/Dockerfile.runtime",
]


def test_only_the_context_the_dockerfile_names_is_counted() -> None:
    # A stack image: its own PEX by a bind mount, not the torch layer's PEX below it that
    # Pants also puts in the context.
    stack = (
        "ARG BASE_IMAGE=containers/base:torch\nFROM $BASE_IMAGE\n"
        "RUN --mount=type=bind,source=containers.dynamo/python-env.pex,target=/tmp/p.pex \\\n"
        "    python3 /tmp/p.pex venv /opt/venv\n"
    )
    assert sent_to_builder(stack, CONTEXT) == {CONTEXT[0]}
    # A runtime image: a directory of wheels (no PEX at all).
    runtime = "FROM x\nRUN --mount=type=bind,source=wheels,target=/tmp/wheels pip install\n"
    assert sent_to_builder(runtime, CONTEXT) == {CONTEXT[2]}
    assert sent_to_builder("FROM x\nCOPY wheels/*.whl /tmp/\n", CONTEXT) == {CONTEXT[2]}
    # What this reading cannot resolve counts the whole context, as before it.
    for whole in ("FROM x\nCOPY . /src\n", "FROM x\nCOPY ${WHEEL} /tmp/\n",
                  "FROM x\nRUN --mount=type=bind,source=$DIR,target=/d true\n"):  # fmt: skip
        assert sent_to_builder(whole, CONTEXT) == set(CONTEXT), whole
    # A stage's files: not the context.
    assert sent_to_builder("FROM x AS a\nFROM y\nCOPY --from=a . /a\n", CONTEXT) == set()
