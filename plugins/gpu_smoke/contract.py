"""The checks package's contract (src/python/gpu_smoke_checks/contract.py), its one owner.

The check names, the framework names, the exit codes and the package name are facts of the
checks, which run in images where this plugin is not. Pants imports plugins from
`[GLOBAL].pythonpath`, which holds plugins/ only: with src/python there too, every edit under
it would restart pantsd. So the file is loaded by its path, next to this plugin in the repo
(or in a test's sandbox, which has the same layout), and `[GLOBAL].pantsd_invalidation_globs`
names it, so that pantsd reloads the plugin when it changes.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

# plugins/gpu_smoke/contract.py -> the build root (abspath: a sandbox may link its files).
BUILD_ROOT = Path(os.path.abspath(__file__)).parents[2]
CONTRACT_FILE = BUILD_ROOT / "src/python/gpu_smoke_checks/contract.py"


def _load():
    if not CONTRACT_FILE.is_file():
        raise FileNotFoundError(
            f"The gpu_smoke plugin needs the checks' contract at {CONTRACT_FILE}; a test of the "
            "plugin must depend on src/python/gpu_smoke_checks:files."
        )
    spec = importlib.util.spec_from_file_location("gpu_smoke_checks_contract", CONTRACT_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_contract = _load()

PACKAGE: str = _contract.PACKAGE
CHECK_NAMES: tuple[str, ...] = _contract.CHECK_NAMES
FRAMEWORKS: tuple[str, ...] = tuple(_contract.FRAMEWORK_MODULES)
EXIT_PASSED: int = _contract.EXIT_PASSED
EXIT_NO_GPU: int = _contract.EXIT_NO_GPU
CONTAINER_CHECKS: str = _contract.CONTAINER_CHECKS
