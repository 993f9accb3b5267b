"""The image family's macros (containers/images_macros.py) with its data and templates, evaluated
by Pants' own BUILD parser."""

from __future__ import annotations

from pathlib import Path

import pytest
from pants.backend.docker.target_types import (
    DockerImageBuildArgsField,
    DockerImageInstructionsField,
)
from pants.backend.docker.target_types import (
    DockerImageBuildImageLabelsOptionField as Labels,
)
from pants.backend.python.target_types import PythonRequirementsField, PythonResolveField
from pants.backend.shell.target_types import ShellCommandCommandField
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.engine.target import AllTargets, Dependencies, Tags
from pants.testutil.rule_runner import RuleRunner

from build_graph.family_runner import (
    BACKENDS,
    BUILDABLE,
    DATA,
    IMAGES_DATA,
    IMAGES_TEMPLATES,
    PRELUDE_OPTION,
    STAGES,
    family_rule_runner,
    image,
    with_prelude,
)
from dynamo_images.image_wheels import ImageWheelsExcludeField
from dynamo_images.target_types import DockerImageBuildNetworkField, DockerImageBuildPlatformField
from dynamo_images.unavailable import (
    UnavailableImageFieldSet,
    UnavailableImageReasonField,
    UnavailableImageTarget,
)


@pytest.fixture
def rule_runner() -> RuleRunner:
    return family_rule_runner(
        [QueryRule(BuiltPackage, [UnavailableImageFieldSet]), QueryRule(AllTargets, [])]
    )


def instructions(runner: RuleRunner, address: Address) -> str:
    return "\n".join(runner.get_target(address)[DockerImageInstructionsField].value or ())


def test_backend_images_are_rendered_from_the_shared_templates(rule_runner: RuleRunner) -> None:
    with_prelude(rule_runner)
    stack = instructions(rule_runner, Address("containers/vllm", target_name="stack"))
    runtime = instructions(rule_runner, image("vllm", "runtime"))
    dev = instructions(rule_runner, image("vllm", "dev"))
    # Every stack is on the one shared torch layer, itself on the runtime base.
    assert "ARG BASE_IMAGE=containers/base:torch" in stack
    # Each stack unpacks its own locked wheels as the torch layer does (no PEX).
    assert "source=containers.vllm/python-wheels,target=/tmp/wheels" in stack
    assert ".pex" not in stack
    torch = instructions(rule_runner, Address("containers/base", target_name="torch"))
    assert "ARG BASE_IMAGE=containers/base:runtime#amd64" in torch
    # torch's layer unpacks its locked wheels (no PEX), checked by the wheels' RECORDs.
    assert "source=containers.base/shared-torch-wheels,target=/tmp/wheels" in torch
    assert "/tmp/install_wheels.py --locked /tmp/wheels/*.whl" in torch and ".pex" not in torch
    wheels = rule_runner.get_target(Address("containers/base", target_name="shared-torch-wheels"))
    assert wheels[Dependencies].value == ("3rdparty/python:shared-torch",)
    # The runtime image's build context holds no PEX: the stack is an image of its own.
    assert "ARG BASE_IMAGE=containers/vllm:stack" in runtime
    assert ".pex" not in runtime
    runtime_deps = rule_runner.get_target(image("vllm", "runtime"))[Dependencies].value
    assert not any("python-wheels" in d for d in runtime_deps or ())
    assert "ARG BASE_IMAGE=containers/vllm:runtime#amd64\n" in dev
    assert "source=containers.vllm/dev-tools.pex" in dev
    # No version literal in the templates: versions arrive as build args.
    target = rule_runner.get_target(image("vllm", "runtime"))
    build_args = dict(a.split("=", 1) for a in target[DockerImageBuildArgsField].value or ())
    assert set(build_args) >= {"DYNAMO_VERSION", "NIXL_VERSION", "FRAMEWORK_VERSION"}


def test_stages_install_their_first_party_wheels(rule_runner: RuleRunner) -> None:
    with_prelude(rule_runner)
    for stage, wheel, distribution in (
        ("runtime", "src/rust/imagekit:wheel", "dynamo_imagekit"),
        ("dev", "src/cpp/hostxfer:wheel", "dynamo_hostxfer"),
    ):
        address = image("vllm", stage)
        target = rule_runner.get_target(address)
        # A dependency, so a change in the wheel's sources rebuilds this image.
        assert wheel in (target[Dependencies].value or ()), stage
        assert f"/tmp/wheels/{distribution}-*.whl" in instructions(rule_runner, address)
    runtime = instructions(rule_runner, image("vllm", "runtime"))
    assert 'CMD ["dynamo-imagekit", "probe"]' in runtime


def test_image_builds_are_hermetic_and_name_their_platform(rule_runner: RuleRunner) -> None:
    with_prelude(rule_runner)
    for name in ("runtime", "dev"):
        target = rule_runner.get_target(image("vllm", name))
        assert target[DockerImageBuildNetworkField].value == "none"
        assert target[DockerImageBuildPlatformField].value == "linux/amd64"


@pytest.mark.parametrize("backend", ["dynamo", "vllm"])
def test_a_family_is_built_for_amd64_and_arm64(rule_runner: RuleRunner, backend: str) -> None:
    """backends()' `platforms`: the arm64 images build on their own stack, torch layer and
    base, install the aarch64 wheels and PEXes, and carry the `arm64` tag (out of `::`)."""
    with_prelude(rule_runner)
    arm64 = "linux/arm64"
    here, pex_dir = f"containers/{backend}", f"containers.{backend}"
    assert DATA.backend_platforms(backend) == ("linux/amd64", arm64)
    runtime = rule_runner.get_target(image(backend, "runtime", arm64))
    assert runtime.address.spec == f"{here}:runtime#arm64"
    assert runtime[DockerImageBuildPlatformField].value == arm64
    assert runtime[Tags].value == ("arm64",)
    assert "src/rust/imagekit:wheel-aarch64" in runtime[Dependencies].value
    text = instructions(rule_runner, runtime.address)
    assert f"ARG BASE_IMAGE={here}:stack-arm64\n" in text
    assert "source=wheels-aarch64,target=/tmp/wheels" in text
    dev = instructions(rule_runner, image(backend, "dev", arm64))
    assert f"ARG BASE_IMAGE={here}:runtime#arm64\n" in dev
    assert f"source={pex_dir}/dev-tools-arm64.pex" in dev
    assert "source=wheels-aarch64," in dev
    # The ci stage's wheel is pure Python: the same wheel on both platforms.
    ci = rule_runner.get_target(image(backend, "ci", arm64))
    assert "src/python/dynamo_ci_tools:wheel" in ci[Dependencies].value
    assert "source=wheels,target=/tmp/wheels" in instructions(rule_runner, ci.address)
    # Untagged, so in `./pants publish containers/<backend>:runtime`: publish builds arm64 too.
    manifest = Address(here, target_name="runtime", generated_name="manifest")
    assert not rule_runner.get_target(manifest)[Tags].value
    stack = instructions(rule_runner, Address(here, target_name="stack-arm64"))
    assert "ARG BASE_IMAGE=containers/base:torch-arm64\n" in stack
    assert f"source={pex_dir}/python-env-arm64.pex" in stack
    torch = instructions(rule_runner, Address("containers/base", target_name="torch-arm64"))
    assert "ARG BASE_IMAGE=containers/base:runtime#arm64\n" in torch
    # The aarch64 PEXes: the resolve's lockfile, for the complete platform of the data.
    pex = rule_runner.get_target(Address(here, target_name="python-env-arm64"))
    command = pex[ShellCommandCommandField].value
    assert command.startswith("bash containers/build-inputs/foreign_pex.sh ")
    assert f"3rdparty/python/images-{backend}.lock " in command
    assert dict(DATA.PEX_COMPLETE_PLATFORMS)[arm64][0] in command
    assert pex[Tags].value == ("arm64",)
    # The host's images keep their PEXes, untagged.
    amd64 = rule_runner.get_target(image(backend, "runtime"))
    assert amd64.address.spec == f"{here}:runtime#amd64"
    assert not amd64[Tags].value
    assert f"ARG BASE_IMAGE={here}:stack\n" in instructions(rule_runner, amd64.address)


def test_a_backend_without_platforms_is_built_for_the_host_alone(
    rule_runner: RuleRunner,
) -> None:
    with_prelude(rule_runner)
    assert DATA.backend_platforms("sglang") == (DATA.IMAGE_PLATFORM,)
    arm64 = "linux/arm64"
    assert image("sglang", "runtime", arm64) == Address("containers/sglang", target_name="runtime")
    with pytest.raises(ExecutionError):
        rule_runner.get_target(Address("containers/sglang", target_name="stack-arm64"))


def base(name: str, arch: str | None = None) -> Address:
    return Address("containers/base", target_name=name, generated_name=arch)


def test_the_runtime_base_is_built_for_amd64_and_arm64(rule_runner: RuleRunner) -> None:
    with_prelude(rule_runner)
    for arch in ("amd64", "arm64"):
        image = rule_runner.get_target(base("runtime", arch))
        assert image[DockerImageBuildPlatformField].value == f"linux/{arch}"
        assert instructions(rule_runner, base("runtime", arch)).startswith(
            f"FROM scratch\nADD containers/base/rootfs-{arch}.tar /"
        )
        rootfs = rule_runner.get_target(Address("containers/base", target_name=f"rootfs-{arch}"))
        assert rootfs[ShellCommandCommandField].value.endswith(f" {arch}")
    rule_runner.get_target(base("runtime", "manifest"))


def test_local_profile_builds_the_base_from_a_debian_rootfs(rule_runner: RuleRunner) -> None:
    with_prelude(rule_runner)
    # The devel base: the same rootfs recipe plus compilers; the runtime one has none.
    devel = instructions(rule_runner, base("devel"))
    assert devel.startswith("FROM scratch\nADD containers/base/rootfs-devel.tar /")
    rootfs = rule_runner.get_target(Address("containers/base", target_name="rootfs-amd64"))
    rootfs_devel = rule_runner.get_target(Address("containers/base", target_name="rootfs-devel"))
    assert "build-essential" in rootfs_devel[ShellCommandCommandField].value
    assert "build-essential" not in rootfs[ShellCommandCommandField].value
    assert rootfs[ShellCommandCommandField].value.startswith(
        "bash containers/build-inputs/base-rootfs.sh bookworm containers/base/rootfs-amd64.tar "
    )


def test_production_profile_uses_the_cuda_base(rule_runner: RuleRunner) -> None:
    with_prelude(rule_runner, env={"DYNAMO_BASE_PROFILE": "production"})
    runtime = instructions(rule_runner, base("runtime", "arm64"))
    assert runtime.startswith("FROM nvcr.io/nvidia/cuda:")
    assert "-runtime-ubuntu" in runtime.splitlines()[0]
    devel = instructions(rule_runner, base("devel"))
    assert "-devel-ubuntu" in devel.splitlines()[0]
    assert "build-essential" in devel and "python3.11-dev" in devel
    # No rootfs target: the production base is pulled, not made on this host.
    with pytest.raises(ExecutionError) as error:
        rule_runner.get_target(Address("containers/base", target_name="rootfs-amd64"))
    assert "not defined in the directory containers/base" in str(error.value)


def test_unknown_profile_names_the_allowed_values(rule_runner: RuleRunner) -> None:
    with_prelude(rule_runner, env={"DYNAMO_BASE_PROFILE": "cloud"})
    with pytest.raises(ExecutionError) as error:
        rule_runner.get_target(base("devel"))
    assert "DYNAMO_BASE_PROFILE='cloud'" in str(error.value)
    assert "local, production" in str(error.value)


def test_unknown_backend_names_the_known_ones(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"containers/tgi/BUILD": 'dynamo_backend_images("tgi")'})
    with_prelude(rule_runner)
    with pytest.raises(ExecutionError) as error:
        rule_runner.get_target(Address("containers/tgi", target_name="runtime"))
    message = str(error.value)
    assert "Unknown backend 'tgi' in containers/tgi/BUILD" in message
    assert ", ".join(sorted(BACKENDS)) in message



def test_every_backend_has_every_stage_each_on_the_one_below(rule_runner: RuleRunner) -> None:
    with_prelude(rule_runner)
    for backend in BUILDABLE:
        here = Address(f"containers/{backend}", target_name="stack")
        assert "ARG BASE_IMAGE=containers/base:torch" in instructions(rule_runner, here)
        for index, stage in enumerate(STAGES):
            above = instructions(rule_runner, image(backend, stage))
            below = (
                DATA.image_address(backend, STAGES[index - 1])
                if index
                else f"containers/{backend}:stack"
            )
            assert f"ARG BASE_IMAGE={below}\n" in above
    ci = image("vllm", "ci")
    assert "src/python/dynamo_ci_tools:wheel" in (rule_runner.get_target(ci)[Dependencies].value)
    assert "/tmp/wheels/dynamo_ci_tools-*.whl" in instructions(rule_runner, ci)


def test_each_backend_resolves_its_requirements_in_its_own_resolve(
    rule_runner: RuleRunner,
) -> None:
    with_prelude(rule_runner)
    nixl = {}
    for backend in BUILDABLE:
        env = Address(f"containers/{backend}", target_name="python-wheels")
        assert rule_runner.get_target(env)[PythonResolveField].value == f"images-{backend}"
        requirements = rule_runner.get_target(
            Address("3rdparty/python", target_name=f"{backend}-requirements")
        )
        # The lockfile is a dependency: a pin change marks this backend's images changed.
        lockfile = f"3rdparty/python/images-{backend}.lock:_images-{backend}_lockfile"
        assert lockfile in (requirements[Dependencies].value or ())
        build_args = rule_runner.get_target(image(backend, "runtime"))
        args = dict(a.split("=", 1) for a in build_args[DockerImageBuildArgsField].value or ())
        nixl[backend] = args["NIXL_VERSION"]
    # Each image is labelled with the NIXL of its own resolve (SGLang's extra pins another).
    assert nixl == {b: DATA.backends()[b]["nixl"] for b in BUILDABLE}
    assert len(set(nixl.values())) > 1


    with_prelude(rule_runner)
    declared = {
        t.address.target_name[: -len("-requirements")]
        for t in rule_runner.request(AllTargets, [])
        if t.address.target_name.endswith("-requirements")
    }
    assert declared == set(BUILDABLE)


def test_a_backend_that_cannot_be_built_here_fails_at_once_naming_what_it_lacks(
    rule_runner: RuleRunner,
) -> None:
    with_prelude(rule_runner)
    for stage in STAGES:
        target = rule_runner.get_target(Address("containers/trtllm", target_name=stage))
        assert isinstance(target, UnavailableImageTarget)
        assert "tensorrt-llm==1.3.0rc22" in target[UnavailableImageReasonField].value
    field_set = UnavailableImageFieldSet.create(target)
    with pytest.raises(ExecutionError) as error:
        rule_runner.request(BuiltPackage, [field_set])
    message = str(error.value)
    assert f"containers/trtllm:{STAGES[-1]} cannot be built on this machine" in message
    assert "pypi.nvidia.com" in message



def test_every_image_is_labelled_with_its_address(rule_runner: RuleRunner) -> None:
    """What build-support/clean_images.py goes by: it never touches an image without it."""
    with_prelude(rule_runner)
    built = [t for t in rule_runner.request(AllTargets, []) if t.has_field(Labels)]
    assert len(built) >= 3 + len(BUILDABLE) * (len(STAGES) + 1)
    for target in built:
        # A multi-arch image's platforms share their generator's address.
        address = str(target.address.maybe_convert_to_target_generator())
        assert (target[Labels].value or {}).get(DATA.BUILT_BY_LABEL) == address

def test_a_glob_leaves_unavailable_images_out_with_one_warning(caplog) -> None:
    runner = family_rule_runner([QueryRule(BuiltPackage, [UnavailableImageFieldSet])])
    unavailable = [Address("containers/trtllm", target_name=stage) for stage in STAGES]

    def package(*specs: str, address: Address) -> BuiltPackage:
        runner.set_options([PRELUDE_OPTION, "package", *specs], env={})
        field_set = UnavailableImageFieldSet.create(runner.get_target(address))
        return runner.request(BuiltPackage, [field_set])

    # Matched by `containers::`: nothing built, nothing failed, one warning naming them all.
    for address in unavailable:
        assert package("containers::", address=address).artifacts == ()
    warnings = [r.getMessage() for r in caplog.records if r.name == "dynamo_images.unavailable"]
    assert warnings == [
        f"Left out {len(unavailable)} image(s) this machine cannot build: "
        + ", ".join(sorted(str(a) for a in unavailable))
        + " (`./pants peek <address>` says why; naming one on the command line fails with "
        "the reason)."
    ]
    # Named on the command line, even beside a glob: it fails at once with the reason.
    with pytest.raises(ExecutionError) as error:
        package("containers::", "containers/trtllm:runtime", address=unavailable[0])
    assert "containers/trtllm:runtime cannot be built on this machine" in str(error.value)


# Mistakes in the preludes' data: (the file, what is replaced, by what, what the error must say).
# The error names the file to fix.
DATA_MISTAKES = {
    "a stage typo in STAGES": (
        IMAGES_DATA,
        'STAGES = ("runtime", "dev", "ci")',
        'STAGES = ("runtme", "dev", "ci")',
        ["STAGES is (runtme, dev, ci) but STAGE_WHEELS has (runtime, dev, ci)"],
    ),
    "a stage with no installed wheels": (
        IMAGES_DATA,
        '    ("ci", (("src/python/dynamo_ci_tools:wheel", "dynamo_ci_tools"),)),\n',
        "",
        ["STAGES is (runtime, dev, ci) but STAGE_WHEELS has (runtime, dev)"],
    ),
    "a stage without a template": (
        IMAGES_TEMPLATES,
        ', ("ci", CI_TEMPLATE))',
        ")",
        [
            f"STAGES ({IMAGES_DATA}) is (runtime, dev, ci) but STAGE_TEMPLATES has (runtime, dev)",
            "give each stage one template",
        ],
    ),
    "a stage listed twice": (
        IMAGES_DATA,
        'STAGES = ("runtime", "dev", "ci")',
        'STAGES = ("runtime", "dev", "dev")',
        ["names a stage twice"],
    ),
    "a backend missing from SIZE_BUDGETS": (
        IMAGES_DATA,
        '    ("vllm", ("10.1GB", "10.2GB", "10.2GB")),\n',
        "",
        ["SIZE_BUDGETS has no entry for the backend 'vllm'", 'add ("vllm", (<one budget per'],
    ),
    "a budget too few": (
        IMAGES_DATA,
        '("vllm", ("10.1GB", "10.2GB", "10.2GB"))',
        '("vllm", ("10.1GB", "10.2GB"))',
        ["SIZE_BUDGETS['vllm'] has 2 budgets", "for 3 stages (runtime, dev, ci)"],
    ),
    "a budget for an unknown backend": (
        IMAGES_DATA,
        "SIZE_BUDGETS = (\n",
        'SIZE_BUDGETS = (\n    ("tgi", ("1GB", "1GB", "1GB")),\n',
        ["SIZE_BUDGETS names tgi, not a buildable backend"],
    ),
    "a typo in a backend's key": (
        IMAGES_DATA,
        "            heavy=True,",
        "            haevy=True,",
        ["backends()['sglang'] has unknown key(s) haevy", "the keys are: requirements, nixl"],
    ),
    "a backend without its NIXL": (
        IMAGES_DATA,
        '            nixl=v["nixl_sglang"],\n',
        "",
        ["backends()['sglang'] lacks nixl"],
    ),
    "a missing version": (
        IMAGES_DATA,
        '    ("vllm", "0.26.0"),\n',
        "",
        ["no version named 'vllm' in _VERSIONS", 'add ("vllm", "<version>") to _VERSIONS'],
    ),
    "a backend built for a platform the base is not": (
        IMAGES_DATA,
        'framework=None,\n            platforms=("linux/amd64", "linux/arm64"),',
        'framework=None,\n            platforms=("linux/amd64", "linux/riscv64"),',
        [
            "backends()['dynamo'] is built for linux/riscv64, but the runtime base "
            "(BASE_FLAVOURS) is built only for linux/amd64, linux/arm64"
        ],
    ),
    "a backend not built for the host": (
        IMAGES_DATA,
        'framework=None,\n            platforms=("linux/amd64", "linux/arm64"),',
        'framework=None,\n            platforms=("linux/arm64",),',
        ["must list each platform once, the host's (linux/amd64) among them"],
    ),
    "a stage mixing native and pure wheels": (
        IMAGES_DATA,
        '("ci", (("src/python/dynamo_ci_tools:wheel", "dynamo_ci_tools"),)),',
        '("ci", (("src/python/dynamo_ci_tools:wheel", "dynamo_ci_tools"), '
        '("src/cpp/hostxfer:wheel", "dynamo_hostxfer"))),',
        ["STAGE_WHEELS['ci'] mixes native wheels (NATIVE_WHEELS) and pure ones"],
    ),
    "a missing base budget": (
        IMAGES_DATA,
        'BASE_SIZE_BUDGETS = (("runtime", "160MB"), ("devel", "480MB"))',
        'BASE_SIZE_BUDGETS = (("runtime", "160MB"),)',
        ["BASE_SIZE_BUDGETS has (runtime) but BASE_FLAVOURS has (runtime, devel)"],
    ),
}


@pytest.mark.parametrize("mistake", sorted(DATA_MISTAKES))
def test_a_data_mistake_fails_when_build_files_are_read_naming_its_file(mistake: str) -> None:
    path, old, new, expected = DATA_MISTAKES[mistake]
    text = Path(path).read_text()
    assert text.count(old) == 1, f"the test's anchor is no longer in {path}: {old!r}"
    runner = family_rule_runner(files={path: text.replace(old, new)})
    with_prelude(runner)
    # Whichever BUILD file is read first, the error names the file and the bad value.
    for address in (Address("containers/dynamo", target_name="runtime"), base("devel")):
        with pytest.raises(ExecutionError) as error:
            runner.get_target(address)
        message = str(error.value)
        assert f"{path}: " in message and "Fix: " in message, message
        for fragment in expected:
            assert fragment in message, message


def test_each_stack_leaves_the_shared_distributions_to_the_torch_layer(
    rule_runner: RuleRunner,
) -> None:
    """The stacks' wheels leave out what containers/base:torch holds (on another arch the
    stack drops it, in the same RUN, from a PEX that has it) and point the venv at the shared
    one; the torch layer is locked in a resolve of its own (images_data.py: SHARED_RESOLVE), so
    a backend's lockfile changes nothing under the other stacks."""
    with_prelude(rule_runner)
    shared = " ".join(f"{name}=={pin}" for name, pin in DATA.shared_dists())
    shared_site = f"{DATA.SHARED_VENV}/lib/python3.11/site-packages"
    for backend in BUILDABLE:
        stack = Address(f"containers/{backend}", target_name="stack")
        text = instructions(rule_runner, stack)
        assert f"/tmp/install_wheels.py --locked --shared {shared_site} /tmp/wheels/*.whl" in text
        env = Address(f"containers/{backend}", target_name="python-wheels")
        assert rule_runner.get_target(env)[ImageWheelsExcludeField].value == tuple(shared.split())
        if len(DATA.backend_platforms(backend)) > 1:
            arm64_stack = Address(f"containers/{backend}", target_name="stack-arm64")
            arm64 = instructions(rule_runner, arm64_stack)
            assert f"/tmp/drop_shared_dists.py /tmp/python-env.pex {DATA.VENV}" in arm64
            assert f"{shared_site} {shared}" in arm64
            assert f"/tmp/install_wheels.py --shared {shared_site} \\" in arm64
    requirement = rule_runner.get_target(Address("3rdparty/python", target_name="shared-torch"))
    assert requirement[PythonResolveField].value == DATA.SHARED_RESOLVE == "images-torch"
    assert requirement[PythonRequirementsField].value[0].project_name == "torch"
