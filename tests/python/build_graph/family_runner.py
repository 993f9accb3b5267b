"""A RuleRunner that reads the image family's BUILD files through containers/stack.py."""

from __future__ import annotations

from pathlib import Path

from pants.backend.python.target_types import PexBinary, PythonRequirementTarget
from pants.backend.shell.target_types import ShellCommandTarget, ShellSourceTarget
from pants.testutil.rule_runner import RuleRunner

from dynamo_images import register
from dynamo_images.testutil import plugin_rules

PRELUDE = "containers/stack.py"


def prelude_data() -> dict:
    """The prelude's globals (its data and functions), read as Pants reads them, so that tests
    take the backends and stages from the one place they are set."""
    namespace: dict = {}
    exec(compile(Path(PRELUDE).read_text(), PRELUDE, "exec"), namespace)
    return namespace


DATA = prelude_data()
BACKENDS = tuple(DATA["backends"]())
BUILDABLE = tuple(DATA["buildable_backends"]())
STAGES = tuple(DATA["STAGES"])


def family_rule_runner(rules=(), files: dict[str, str] | None = None) -> RuleRunner:
    """The repo's prelude and the BUILD files of the base and every backend's family."""
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
            PRELUDE: Path(PRELUDE).read_text(),
            "3rdparty/python/BUILD": "image_requirements()",
            "build-support/BUILD": "shell_source(name='debootstrap-rootfs', source='s.sh')",
            "build-support/s.sh": "",
            "containers/base/BUILD": "dynamo_base()",
            **{f"containers/{b}/BUILD": f'dynamo_backend_images("{b}")' for b in BACKENDS},
            **(files or {}),
        }
    )
    return runner


def with_prelude(runner: RuleRunner, env: dict[str, str] | None = None) -> None:
    runner.set_options([f"--build-file-prelude-globs=['{PRELUDE}']"], env=env or {})
