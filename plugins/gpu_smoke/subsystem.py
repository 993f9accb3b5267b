"""Options of the GPU smoke tests: `[gpu-smoke]` in pants.toml."""

from __future__ import annotations

from pants.option.option_types import BoolOption, SkipOption, StrListOption, StrOption
from pants.option.subsystem import Subsystem
from pants.util.strutil import softwrap


class GpuSmoke(Subsystem):
    options_scope = "gpu-smoke"
    name = "GPU smoke tests"
    help = softwrap(
        """
        Runs `gpu_smoke_test` targets: the GPU checks of src/python/gpu_smoke_checks, in an
        image with `docker run --gpus all` or with the host's Python.
        """
    )

    skip = SkipOption("test")
    require_gpu = BoolOption(
        default=False,
        help=softwrap(
            """
            Fail, rather than skip, a `gpu_smoke_test` that finds no GPU (or, in container
            mode, no NVIDIA Container Toolkit). Set it on GPU runners, where a missing GPU is
            a broken runner: `./pants test --gpu-smoke-require-gpu tests/gpu_smoke::`.
            """
        ),
    )
    checks_pex = StrOption(
        default="src/python/gpu_smoke_checks:pex",
        help=softwrap(
            """
            Address of the packaged checks: a PEX (or zip) with the `gpu_smoke_checks` package
            at its root and no third-party packages. It is put on `PYTHONPATH` and run as
            `python -m gpu_smoke_checks` with the image's (or host's) own Python.
            """
        ),
    )
    host_python = StrOption(
        default="python3",
        help=softwrap(
            """
            The Python that runs the checks on the host: for the GPU presence check before an
            image starts, and for host-mode targets (it needs torch, nixl and the framework).
            A name looked up on the `PATH` passed in `env_vars`, or an absolute path.
            """
        ),
    )
    env_vars = StrListOption(
        default=["PATH", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "HOME", "HF_HOME"],
        help=softwrap(
            """
            Environment passed to the checks on the host (`NAME` to pass Pants' own value,
            `NAME=value` to set one): where nvidia-smi, the driver libraries and the host's
            Python are found. Containers get the image's environment, not these.
            """
        ),
    )
    docker_run_args = StrListOption(
        default=["--ipc=host"],
        help=softwrap(
            """
            Extra `docker run` options in container mode (after `--rm --gpus all`). The engines
            share memory between processes, which Docker's default 64 MiB /dev/shm starves.
            The `docker` binary is the one Pants' Docker backend finds
            (`[docker].executable_search_paths`).
            """
        ),
    )
