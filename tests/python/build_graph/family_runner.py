"""A RuleRunner that reads the image family's BUILD files through its preludes (containers/)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import toml  # pants: no-infer-dep (Pants' own dependency)
from pants.backend.python.target_types import PexBinary, PythonRequirementTarget
from pants.backend.shell.target_types import ShellCommandTarget, ShellSourceTarget
from pants.engine.addresses import Address
from pants.testutil.rule_runner import RuleRunner

from dynamo_images import register
from dynamo_images.testutil import plugin_rules

# The image family's preludes (data, templates, macros), as pants.toml lists them.
PRELUDES = tuple(
    glob
    for glob in toml.loads(Path("pants.toml").read_text())["GLOBAL"]["build_file_prelude_globs"]
    if glob.startswith("containers/")
)
IMAGES_DATA = "containers/images_data.py"
IMAGES_TEMPLATES = "containers/images_templates.py"
PRELUDE_OPTION = f"--build-file-prelude-globs={list(PRELUDES)!r}"


def images_data() -> ModuleType:
    """containers/images_data.py imported as an ordinary module (it needs nothing from Pants),
    so that tests take the backends and stages from the one place they are set."""
    spec = importlib.util.spec_from_file_location("images_data", IMAGES_DATA)
    assert spec and spec.loader, IMAGES_DATA
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DATA = images_data()
BACKENDS = tuple(DATA.backends())
BUILDABLE = tuple(DATA.buildable_backends())
STAGES = tuple(DATA.STAGES)


def image(backend: str, stage: str, platform: str | None = None) -> Address:
    """One stage's image for one platform (default: the host's), addressed as the data says:
    `containers/dynamo:runtime#amd64` for a multi-arch backend (images_data.image_address)."""
    spec = DATA.image_address(backend, stage, platform or DATA.IMAGE_PLATFORM)
    path, _, name = spec.partition(":")
    name, _, generated = name.partition("#")
    return Address(path, target_name=name, generated_name=generated or None)


def family_rule_runner(rules=(), files: dict[str, str] | None = None) -> RuleRunner:
    """The repo's preludes and the BUILD files of the base and every backend's family."""
    runner = RuleRunner(
        target_types=[
            *register.target_types(),
            PexBinary,
            PythonRequirementTarget,
            ShellCommandTarget,
            ShellSourceTarget,
        ],
        rules=[*plugin_rules(), *rules],
    )
    runner.write_files(
        {
            **{prelude: Path(prelude).read_text() for prelude in PRELUDES},
            "3rdparty/python/BUILD": "image_requirements()",
            "containers/build-inputs/BUILD": (
                "shell_source(name='base-rootfs', source='s.sh')"
            ),
            "containers/build-inputs/s.sh": "",
            "containers/base/BUILD": "dynamo_base()",
            **{f"containers/{b}/BUILD": f'dynamo_backend_images("{b}")' for b in BACKENDS},
            **(files or {}),
        }
    )
    return runner


def with_prelude(runner: RuleRunner, env: dict[str, str] | None = None) -> None:
    runner.set_options([PRELUDE_OPTION], env=env or {})
