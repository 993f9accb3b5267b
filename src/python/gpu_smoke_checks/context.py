"""What every check gets (Context) and how it fails (CheckFailed).

Its own module so that checks.py (the registry of checks) and serve.py (the serve check, which
checks.py registers) both import it and not each other.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any

from gpu_smoke_checks.contract import FRAMEWORK_MODULES


class CheckFailed(Exception):
    def __init__(self, reason: str, details: dict[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.details = details or {}


@dataclass(frozen=True)
class Context:
    expect_gpus: int = 1
    # None: read the image's DYNAMO_BACKEND (containers/images_templates.py sets it in every image).
    framework: str | None = None
    workdir: str = "/tmp/gpu-smoke-checks"
    serve_timeout_s: float = 600.0
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def resolved_framework(self) -> str:
        framework = self.framework or self.environ.get("DYNAMO_BACKEND", "")
        if framework in FRAMEWORK_MODULES:
            return framework
        raise CheckFailed(
            f"no framework to check: --framework is unset and DYNAMO_BACKEND is "
            f"{framework or 'unset'!r}; pass --framework ({', '.join(FRAMEWORK_MODULES)}) or "
            "leave the framework and serve checks out for an image without a framework"
        )


def import_or_fail(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise CheckFailed(f"cannot import {module}: {e}") from e
