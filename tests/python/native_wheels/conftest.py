"""The wheels Pants built (runtime_package_dependencies), installed into a fresh venv."""

from __future__ import annotations

import subprocess
import sys
import venv

import pytest
from native_wheels.helpers import WheelVenv, built_wheel


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory) -> WheelVenv:
    assert sys.version_info[:2] == (3, 11), "the wheels are built for the images' Python 3.11"
    root = tmp_path_factory.mktemp("wheels") / "venv"
    venv.EnvBuilder(with_pip=True).create(root)
    wheels = [str(built_wheel(d)) for d in ("dynamo_imagekit", "dynamo_hostxfer")]
    subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
        + wheels,
        check=True,
    )
    return WheelVenv(root)
