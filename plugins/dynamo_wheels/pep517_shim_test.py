from __future__ import annotations

import os

import pytest

from dynamo_wheels import pep517_shim


@pytest.fixture(autouse=True)
def restore_environ():
    # configure_env writes os.environ directly, as it does in the build process.
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_split_tag() -> None:
    assert pep517_shim.split_tag("manylinux_2_34_x86_64") == ("manylinux_2_34", "x86_64")
    assert pep517_shim.split_tag("manylinux_2_28_aarch64") == ("manylinux_2_28", "aarch64")
    with pytest.raises(SystemExit, match="not of the form manylinux_X_Y_ARCH"):
        pep517_shim.split_tag("linux_x86_64")


def test_glibc_of() -> None:
    assert pep517_shim.glibc_of("manylinux_2_17_x86_64") == (2, 17)
    assert pep517_shim.glibc_of("linux_x86_64") is None


@pytest.mark.parametrize(
    "backend, variable, value",
    [
        ("maturin", "MATURIN_PEP517_ARGS", "--compatibility manylinux_2_34"),
        ("mesonpy", "_PYTHON_HOST_PLATFORM", "manylinux_2_34-x86_64"),
    ],
)
def test_configure_env_sets_the_policy_per_backend(
    monkeypatch, backend: str, variable: str, value: str
) -> None:
    for name in ("MATURIN_PEP517_ARGS", "_PYTHON_HOST_PLATFORM", "SOURCE_DATE_EPOCH"):
        monkeypatch.delenv(name, raising=False)
    pep517_shim.configure_env(backend, "manylinux_2_34_x86_64")
    assert os.environ[variable] == value
    # Fixed archive timestamps, unless the caller chose one.
    assert os.environ["SOURCE_DATE_EPOCH"] == "315532800"


def test_missing_host_compiler_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SystemExit, match=r"maturin needs cargo, rustc on the PATH.*rustup"):
        pep517_shim.check_host_tools("maturin")
    with pytest.raises(SystemExit, match=r"mesonpy needs c\+\+ .*apt-get install g\+\+"):
        pep517_shim.check_host_tools("mesonpy")


def test_missing_cross_toolchain_says_what_pants_provisions(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(pep517_shim.platform, "machine", lambda: "x86_64")
    with pytest.raises(
        SystemExit,
        match=r"maturin needs cargo, rustc, aarch64-linux-gnu-gcc .*\./pants installs the aarch64 "
        r"cross toolchain .*provision-host\.sh.*libstd-rust-dev:arm64 gcc-aarch64-linux-gnu",
    ):
        pep517_shim.check_host_tools("maturin", "manylinux_2_34_aarch64")
    # On an aarch64 host the x86_64 wheels are the cross builds: not provisioned.
    monkeypatch.setattr(pep517_shim.platform, "machine", lambda: "aarch64")
    with pytest.raises(
        SystemExit, match=r"on this aarch64 host install it by hand: .*g\+\+-x86-64-linux-gnu"
    ):
        pep517_shim.check_host_tools("mesonpy", "manylinux_2_34_x86_64")


def test_cross_maturin_build_targets_the_tag_architecture(monkeypatch) -> None:
    monkeypatch.delenv("MATURIN_PEP517_ARGS", raising=False)
    monkeypatch.delenv("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", raising=False)
    monkeypatch.setattr(pep517_shim.platform, "machine", lambda: "x86_64")
    assert pep517_shim.is_cross("manylinux_2_34_aarch64")
    assert not pep517_shim.is_cross("manylinux_2_34_x86_64")
    pep517_shim.configure_env("maturin", "manylinux_2_34_aarch64")
    assert os.environ["MATURIN_PEP517_ARGS"] == (
        "--compatibility manylinux_2_34 --target aarch64-unknown-linux-gnu"
    )
    assert os.environ["CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"] == "aarch64-linux-gnu-gcc"


def test_native_wheel_path_replaces_the_search_path(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/root/.cargo/bin:/usr/bin")
    monkeypatch.setenv("NATIVE_WHEEL_PATH", "/usr/bin:/bin")
    pep517_shim.configure_env("maturin", "manylinux_2_34_x86_64")
    assert os.environ["PATH"].split(os.pathsep)[1:] == ["/usr/bin", "/bin"]


def test_meson_cross_file_names_the_cross_toolchain(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(pep517_shim.os.path, "exists", lambda path: True)
    settings = pep517_shim.meson_cross_settings("manylinux_2_34_aarch64", str(tmp_path))
    (arg,) = settings["setup-args"]
    cross_file = arg.split("=", 1)[1]
    text = open(cross_file).read()
    assert "cpp = 'aarch64-linux-gnu-g++'" in text and "cpu_family = 'aarch64'" in text
    wrapper = text.split("python = '")[1].split("'")[0]
    assert "_sysconfigdata__linux_aarch64-linux-gnu" in open(wrapper).read()


def test_private_home_unless_the_target_passes_one(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.setenv("CARGO_HOME", "/vendor/cargo")
    pep517_shim.use_private_home(str(tmp_path))
    assert os.environ["HOME"] == str(tmp_path / "home")
    assert os.environ["CARGO_HOME"] == "/vendor/cargo"


def test_without_sccache_the_build_stays_in_the_sandbox(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pep517_shim.build_place(None) as (source, workdir):
        assert source == str(tmp_path)
        assert os.path.isdir(workdir)


def test_with_sccache_the_tree_is_built_at_a_fixed_path(tmp_path, monkeypatch) -> None:
    sandbox = tmp_path / "pants-sandbox-abc123"
    tree = sandbox / "src" / "kit"
    tree.mkdir(parents=True)
    (tree / "pyproject.toml").write_text("[build-system]\n")
    fixed = tmp_path / "fixed"
    monkeypatch.chdir(tree)
    monkeypatch.setenv("NATIVE_WHEEL_SANDBOX", str(sandbox))
    # Outputs of an earlier, interrupted build never leak into this one.
    (fixed / "src-kit" / "src" / "target").mkdir(parents=True)

    with pep517_shim.build_place(str(fixed)) as (source, workdir):
        # The same path whatever the sandbox is called: what sccache's keys need.
        assert source == str(fixed / "src-kit" / "src")
        assert sorted(os.listdir(source)) == ["pyproject.toml"]
        assert workdir == str(fixed / "src-kit" / "work")

    assert not (fixed / "src-kit").exists()  # cleaned up
    assert (fixed / "src-kit.lock").exists()  # the lock that serialises builds of the tree


def test_sccache_basedirs_are_the_build_dir_and_the_tool_venv(tmp_path, monkeypatch) -> None:
    venv = tmp_path / "venvs" / "0123abcd"
    venv.mkdir(parents=True)
    (tmp_path / "venvs" / "s").mkdir()
    (tmp_path / "venvs" / "s" / "venv").symlink_to(venv)
    monkeypatch.setattr(pep517_shim.sys, "prefix", str(tmp_path / "venvs" / "s" / "venv"))
    assert pep517_shim.sccache_basedirs("/tmp/build").split(os.pathsep) == [
        "/tmp/build",
        str(tmp_path / "venvs" / "s" / "venv"),
        str(venv),
    ]


def test_sccache_off_starts_no_server(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pep517_shim.subprocess, "run", lambda *a, **k: pytest.fail("ran"))
    with pep517_shim.sccache_server(str(tmp_path), None):
        pass


def test_without_sccache_keeps_the_bare_compilers(monkeypatch) -> None:
    monkeypatch.setenv("CC", "sccache cc")
    monkeypatch.setenv("CXX", "sccache c++")
    monkeypatch.setenv("RUSTC_WRAPPER", "sccache")
    monkeypatch.setenv("CMAKE_CXX_COMPILER_LAUNCHER", "sccache")
    pep517_shim.without_sccache()
    assert (os.environ["CC"], os.environ["CXX"]) == ("cc", "c++")
    assert "RUSTC_WRAPPER" not in os.environ
    assert "CMAKE_CXX_COMPILER_LAUNCHER" not in os.environ
