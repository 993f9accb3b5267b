# BUILD-file prelude (pants.toml: build_file_prelude_globs) for the first-party wheels.


def first_party_wheel(description):
    """The targets of one wheel under src/ (pyproject.toml and python/ beside the BUILD file).

    :wheel          what images install (containers/images_data.py: STAGE_WHEELS) and tests test
    :lib            its Python half, for lint
    :wheel-rebuild  a second, independent build (another sandbox, another time, never through
                    sccache); the reproducibility test compares it with :wheel byte for byte
    :wheel-aarch64  the aarch64 cross build with Debian's toolchain (docs/wheels.md): /usr/bin
                    first, for Debian's rustc with its aarch64 std (rustup cannot fetch it
                    offline). In `::` (./pants provisions the toolchain): it is how every
                    `./pants test ::` exercises the arm64 path on something small. Not tagged
                    `arm64`: that tag is kept for the heavy arm64 images (pants.toml).
    """
    native_wheel(name="wheel", description=description)
    python_sources(name="lib", sources=["python/**/*.py"])
    # Never through sccache: a rebuild served from the first build's compiles would agree with
    # it whatever the compiler did.
    native_wheel(
        name="wheel-rebuild",
        output_path="wheels-rebuild",
        env_vars=["DYNAMO_REBUILD=1"],
        sccache=False,
    )
    native_wheel(
        name="wheel-aarch64",
        platform_tag="manylinux_2_34_aarch64",
        output_path="wheels-aarch64",
        env_vars=["PATH=/usr/bin:/bin"],
    )
