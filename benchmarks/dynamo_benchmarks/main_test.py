from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dynamo_benchmarks.main import (
    Edit,
    cpp_edit,
    path_without_this_venv,
    python_edit,
    repository_prefix,
)


def test_an_edit_is_one_new_line_and_restores_the_file(tmp_path: Path) -> None:
    source = tmp_path / "report.py"
    source.write_text("X = 1\n")
    edit = Edit(tmp_path, "report.py", python_edit("abc"))
    assert source.read_text() == "X = 1\nBENCHMARK_EDIT = 'abc'\n"
    compile(source.read_text(), "report.py", "exec")
    edit.restore()
    assert source.read_text() == "X = 1\n"


@pytest.mark.skipif(shutil.which("g++") is None, reason="no g++ on this machine")
def test_the_cpp_edit_lands_in_the_object_code(tmp_path: Path) -> None:
    source = tmp_path / "x.cpp"
    source.write_text("int f() { return 1; }\n" + cpp_edit("nonce123"))
    subprocess.run(
        [
            "g++",
            "-std=c++17",
            "-O2",
            "-Wall",
            "-Werror",
            "-c",
            str(source),
            "-o",
            str(tmp_path / "x.o"),
        ],
        check=True,
    )
    assert b"nonce123" in (tmp_path / "x.o").read_bytes()


def test_the_nested_builds_see_the_path_of_the_shell() -> None:
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join([venv_bin, "/usr/local/bin", "/usr/bin"])
    assert path_without_this_venv(path) == os.pathsep.join(["/usr/local/bin", "/usr/bin"])


def test_the_family_repositories_are_those_of_the_base_image_tag() -> None:
    assert repository_prefix("127.0.0.1:5000/dynamo/base:local-3.11-amd64") == (
        "127.0.0.1:5000/dynamo/"
    )
    assert repository_prefix("dynamo/base:local") == "dynamo/"
