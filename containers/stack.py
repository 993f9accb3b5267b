# The image family's single source of truth (a Pants BUILD-file prelude, see pants.toml).
#
# Versions of everything the images contain, the base-image profiles, and the contents of
# each stage live here. BUILD files under 3rdparty/ and containers/ only call the macros
# below; Dockerfiles are rendered from the stage templates, never copied per backend.

# One consistent, installable set (docs/versions.md says why this set and not the seed's).
# (Prelude globals must be hashable, hence tuples of pairs; read them through versions().)
_VERSIONS = (
    ("python", "3.11"),
    ("dynamo", "1.4.2"),
    ("nixl", "1.3.2"),
    ("vllm", "0.26.0"),
    ("sglang", "0.5.16"),
    ("nixl_sglang", "1.3.0"),
    ("tensorrt_llm", "1.3.0rc22"),
    ("torch", "2.11.0"),
    ("cuda", "13.0.2"),
    ("debian", "bookworm"),
    ("ubuntu", "22.04"),
    # glibc of the production base (Ubuntu 22.04); first-party wheels must not need newer.
    ("production_glibc", "2.35"),
)


def versions():
    return dict(_VERSIONS)


def version(name):
    """One version from _VERSIONS; a missing one fails naming this file and the known names."""
    known = versions()
    if name not in known:
        _data_error(
            "no version named {!r} in _VERSIONS (it has: {})".format(name, ", ".join(sorted(known))),
            'add ("{}", "<version>") to _VERSIONS'.format(name),
        )
    return known[name]


def _data_error(problem, fix):
    """A mistake in this file's data, raised while BUILD files are read (whichever BUILD file
    was being read when it surfaced, the mistake is here)."""
    raise ValueError("containers/stack.py: {}. Fix: {}.".format(problem, fix))


# Developer tools of the dev stage, resolved with each backend's stack so that shared
# packages agree.
DEV_TOOLS = ("pytest>=8,<9", "ipython>=8,<9", "py-spy>=0.4,<1")


# The backends: one image family each (runtime, dev, ci). Adding a backend is an entry here,
# a resolve in pants.toml (`images-<name>`, its lockfile) and `containers/<name>/BUILD`.
#   requirements  what its runtime venv installs, hash-locked in 3rdparty/python/images-<name>.lock
#                 (a resolve per backend: their pins conflict, e.g. NIXL 1.3.0 for SGLang, and a
#                 pin change then changes one lockfile, so only that family rebuilds);
#   nixl          the NIXL version that resolve holds (labels, build args);
#   framework     (distribution, import name, version) of the framework, or None;
#   heavy         its images are too big for every CI run: its family tests carry the `heavy`
#                 tag, which CI leaves out (the images still build with `./pants package`);
#   unavailable   why it cannot be built here: its targets fail at once with this message.
# key -> required
BACKEND_KEYS = (
    ("requirements", True),
    ("nixl", True),
    ("framework", True),
    ("heavy", False),
    ("unavailable", False),
)
# The versions backends() reads.
_BACKEND_VERSIONS = ("dynamo", "nixl", "nixl_sglang", "torch", "vllm", "sglang", "tensorrt_llm")


def backends():
    v = {name: version(name) for name in _BACKEND_VERSIONS}
    dynamo = "ai-dynamo==" + v["dynamo"]
    return {
        "dynamo": dict(
            requirements=(dynamo, "nixl[cu13]==" + v["nixl"], "torch==" + v["torch"]),
            nixl=v["nixl"],
            framework=None,
        ),
        # Dynamo's own `vllm` extra pins vLLM, NIXL and (through vLLM) PyTorch.
        "vllm": dict(
            requirements=(
                dynamo,
                "ai-dynamo[vllm]==" + v["dynamo"],
                "nixl[cu13]==" + v["nixl"],
                "torch==" + v["torch"],
                "vllm==" + v["vllm"],
            ),
            nixl=v["nixl"],
            framework=("vllm", "vllm", v["vllm"]),
        ),
        # Dynamo's `sglang` extra pins SGLang (with its diffusion extra) and NIXL 1.3.0.
        "sglang": dict(
            requirements=(
                dynamo,
                "ai-dynamo[sglang]==" + v["dynamo"],
                "nixl[cu13]==" + v["nixl_sglang"],
                "torch==" + v["torch"],
                "sglang[diffusion]==" + v["sglang"],
            ),
            nixl=v["nixl_sglang"],
            framework=("sglang", "sglang", v["sglang"]),
            heavy=True,
        ),
        "trtllm": dict(
            requirements=("ai-dynamo[trtllm]==" + v["dynamo"],),
            nixl=v["nixl"],
            framework=("tensorrt-llm", "tensorrt_llm", v["tensorrt_llm"]),
            unavailable=(
                "tensorrt-llm=={} (the pin of ai-dynamo[trtllm]=={}) is only a stub on PyPI: "
                "its sdist downloads the real wheel from NVIDIA's index (pypi.nvidia.com), which "
                "this machine cannot reach, so it cannot be locked or installed here. Build the "
                "TensorRT-LLM images where pypi.nvidia.com is reachable, after adding that "
                "index to [python-repos] and locking the `images-trtllm` resolve "
                "(docs/images.md)."
            ).format(v["tensorrt_llm"], v["dynamo"]),
        ),
    }


def image_resolve(backend):
    return "images-" + backend


# Base image profiles. `local` builds a stand-in from Debian's packages on this host
# (debootstrap, no registry); `production` uses NVIDIA's CUDA images.
BASE_PROFILES = ("local", "production")
CUDA_IMAGE = "nvcr.io/nvidia/cuda:{cuda}-{flavour}-ubuntu{ubuntu}"
# Debian packages of the local stand-in base: the Python of the production base plus what
# the Python stack loads at run time. No compilers: runtime images must not carry them.
LOCAL_BASE_PACKAGES = (
    "python3",
    "ca-certificates",
    "passwd",
    "libgomp1",
    "libnuma1",
    "tini",
    "procps",
)
# The base flavours: `runtime` (what every image runs on) and `devel` (a build base with
# compilers and Python headers, for compiling against CUDA under the production profile;
# no image builds on it yet).
# name -> (CUDA image flavour, packages added to the runtime's, platforms built).
# More than one platform makes a multiarch_docker_image (plugins/dynamo_images): one image
# per platform (`containers/base:runtime#arm64`) and a manifest list (`#manifest`).
BASE_FLAVOURS = (
    ("runtime", ("runtime", (), ("linux/amd64", "linux/arm64"))),
    ("devel", ("devel", ("build-essential", "pkg-config", "python{python}-dev"), ("linux/amd64",))),
)
# The platform of the backend images: their Python stack is resolved for this host only
# (an arm64 image needs an aarch64 resolve of the images lockfile and aarch64 wheels).
IMAGE_PLATFORM = "linux/amd64"

# Size budgets (uncompressed, `docker image inspect`): packaging an image over its budget
# fails with both figures. The measured sizes are in docs/images.md; budgets leave ~5%.
# backend -> budgets of its STAGES, in order.
SIZE_BUDGETS = (
    ("dynamo", ("6.4GB", "6.5GB", "6.5GB")),
    ("vllm", ("10.1GB", "10.2GB", "10.2GB")),
    ("sglang", ("11.4GB", "11.5GB", "11.5GB")),
)
BASE_SIZE_BUDGETS = (("runtime", "160MB"), ("devel", "480MB"))

# The stages of every backend's family, each built on the one before it:
# runtime (on base:runtime) -> dev -> ci.
STAGES = ("runtime", "dev", "ci")

IMAGE_USER = "dynamo"
IMAGE_UID = "1000"
VENV = "/opt/dynamo/venv"
DEV_VENV = "/opt/dynamo/dev-venv"
SOURCE_URL = "https://github.com/ai-dynamo/dynamo"
# Every image this repo builds carries its Pants address under this label: what
# build-support/clean_images.py goes by (it never touches an image without it).
BUILT_BY_LABEL = "ai.dynamo.build.target"

# --- stage templates ------------------------------------------------------------------
# {placeholders} are filled by the macros; ${ARGS} are Docker build args.

_BASE_COMMON = """
ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH={venv}/bin:$PATH
RUN useradd --uid {uid} --create-home --shell /bin/bash {user}
ENTRYPOINT ["/usr/bin/tini", "--"]
"""

_BASE_LOCAL = """
FROM scratch
ADD {rootfs} /
RUN ln -s /usr/bin/python3 /usr/local/bin/python{python}
"""

# Runs only under the production profile, on a machine that can pull from nvcr.io.
_BASE_PRODUCTION = """
FROM {cuda_image}
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      python{python} ca-certificates libgomp1 libnuma1 tini procps{packages} \\
 && rm -rf /var/lib/apt/lists/*
"""

# The backend's Python stack: its Pants-built PEX installed as a venv on the base. The PEX
# is bind-mounted, not copied, so it never lands in a layer; the build runs with no network.
# An image of its own (`<backend>:stack`, not published) so that the runtime image's build
# context holds only the first-party wheels: the PEX is gigabytes, which every runtime build
# would otherwise send to the engine. It is rebuilt only when its lockfile or the base changes.
_STACK = """
ARG BASE_IMAGE={base}
FROM $BASE_IMAGE
RUN --mount=type=bind,source={pex},target=/tmp/python-env.pex \\
    PEX_TOOLS=1 python{python} /tmp/python-env.pex venv --collisions-ok --compile {venv} \\
 && {venv}/bin/python -c "import dynamo" \\
 && chown -R root:root {venv}
"""

_RUNTIME = """
ARG BASE_IMAGE={base}
FROM $BASE_IMAGE
# First-party wheels (src/) in a layer of their own: changing one rebuilds this layer only.
{wheels}
# Docker's health check: the Rust probe, no Python start-up. Point DYNAMO_HEALTH_URL at the
# frontend (default http://127.0.0.1:8000/health) or at a worker's system status server.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \\
    CMD ["dynamo-imagekit", "probe"]
# Declared after the install so that a version label never invalidates its cache.
ARG DYNAMO_VERSION
ARG NIXL_VERSION
ARG FRAMEWORK_VERSION
ENV DYNAMO_BACKEND={backend} DYNAMO_STAGE=runtime DYNAMO_VERSION=$DYNAMO_VERSION \\
    NIXL_VERSION=$NIXL_VERSION FRAMEWORK_VERSION=$FRAMEWORK_VERSION
# A numeric user: Kubernetes' runAsNonRoot cannot verify a name (hadolint DL3066).
USER {uid}
WORKDIR /home/{user}
"""

# Developer tools in their own venv that also sees the runtime venv's packages (.pth).
_DEV = """
ARG BASE_IMAGE={base}
FROM $BASE_IMAGE
USER 0
RUN --mount=type=bind,source={pex},target=/tmp/dev-tools.pex \\
    PEX_TOOLS=1 python{python} /tmp/dev-tools.pex venv --collisions-ok {dev_venv} \\
 && {dev_venv}/bin/python -c "import site; print(site.getsitepackages()[0])" > /tmp/sp \\
 && {venv}/bin/python -c "import site; print(site.getsitepackages()[0])" > "$(cat /tmp/sp)/dynamo-runtime.pth" \\
 && rm /tmp/sp
{wheels}
ENV PATH={dev_venv}/bin:$PATH DYNAMO_STAGE=dev
USER {uid}
"""

# Test and benchmark tools (the soak client, the metrics collector) on top of dev, which
# already has the host-transfer benchmark.
_CI = """
ARG BASE_IMAGE={base}
FROM $BASE_IMAGE
USER 0
{wheels}
ENV DYNAMO_STAGE=ci
USER {uid}
"""


# Each stage's template, by name: every name in STAGES needs one.
STAGE_TEMPLATES = (("runtime", _RUNTIME), ("dev", _DEV), ("ci", _CI))

# First-party wheels (native_wheel targets under src/) each stage installs into its venv:
# stage -> ((target, distribution), ...). The dev stage inherits runtime's.
STAGE_WHEELS = (
    ("runtime", (("src/rust/imagekit:wheel", "dynamo_imagekit"),)),
    ("dev", (("src/cpp/hostxfer:wheel", "dynamo_hostxfer"),)),
    ("ci", (("src/python/dynamo_ci_tools:wheel", "dynamo_ci_tools"),)),
)
WHEEL_DIR = "wheels"  # the native_wheel targets' output_path, in the build context
WHEEL_INSTALLER = "build-support/install_wheels.py"  # stdlib only: runtime venvs have no pip
# Where a stage's RUN sees them (bind mounts inside the build; nothing lands in a layer).
WHEEL_MOUNT = "/tmp/wheels"
INSTALLER_MOUNT = "/tmp/install_wheels.py"


def _stage_wheel_targets(stage):
    return [target for target, _ in dict(STAGE_WHEELS)[stage]] + [
        "build-support:install-wheels-script"
    ]


def _install_wheels(stage, venv):
    """A RUN line installing the stage's wheels from the build context, offline."""
    files = ["{}/{}-*.whl".format(WHEEL_MOUNT, dist) for _, dist in dict(STAGE_WHEELS)[stage]]
    return (
        "RUN --mount=type=bind,source={},target={} --mount=type=bind,source={},target={} "
        "{}/bin/python {} {}".format(
            WHEEL_DIR,
            WHEEL_MOUNT,
            WHEEL_INSTALLER,
            INSTALLER_MOUNT,
            venv,
            INSTALLER_MOUNT,
            " ".join(files),
        )
    )


def _render(template, **values):
    fields = dict(
        python=version("python"),
        venv=VENV,
        dev_venv=DEV_VENV,
        user=IMAGE_USER,
        uid=IMAGE_UID,
    )
    fields.update(values)
    return [line for line in template.format(**fields).strip().splitlines()]


def _oci_labels(target, title, with_revision=True, nixl=None):
    labels = {
        BUILT_BY_LABEL: target,
        "org.opencontainers.image.title": title,
        "org.opencontainers.image.version": version("dynamo"),
        "org.opencontainers.image.source": SOURCE_URL,
        "ai.dynamo.python": version("python"),
        "ai.dynamo.nixl.version": nixl or version("nixl"),
    }
    if with_revision:
        # Commit and commit date (not wall-clock time) keep labels reproducible.
        labels["org.opencontainers.image.revision"] = "{build_args.DYNAMO_GIT_SHA}"
        labels["org.opencontainers.image.created"] = "{build_args.DYNAMO_GIT_DATE}"
    return labels


def base_profile():
    """The base profile in force: DYNAMO_BASE_PROFILE, default `local`."""
    profile = env("DYNAMO_BASE_PROFILE", "local")
    if profile not in BASE_PROFILES:
        raise ValueError(
            "DYNAMO_BASE_PROFILE={!r} is not a base profile. Use one of: {}.".format(
                profile, ", ".join(BASE_PROFILES)
            )
        )
    return profile


def buildable_backends():
    return [name for name, backend in backends().items() if "unavailable" not in backend]


def _names(pairs):
    return ", ".join(name for name, _ in pairs) or "none"


def check_data():
    """Every cross-reference in this file's data, checked while BUILD files are read: a
    mistake fails naming this file, the bad value and what it may be, not a KeyError in
    whichever BUILD file happened to hit it first."""
    allowed = dict(BACKEND_KEYS)
    for name, spec in backends().items():
        unknown = sorted(set(spec) - set(allowed))
        if unknown:
            _data_error(
                "backends()[{!r}] has unknown key(s) {}; the keys are: {}".format(
                    name, ", ".join(unknown), _names(BACKEND_KEYS)
                ),
                "rename or remove them (the keys are explained above backends())",
            )
        missing = [key for key, required in BACKEND_KEYS if required and key not in spec]
        if missing:
            _data_error(
                "backends()[{!r}] lacks {}".format(name, ", ".join(missing)),
                "add them (framework=None for Dynamo alone)",
            )
    if len(set(STAGES)) != len(STAGES) or not STAGES:
        _data_error("STAGES {} is empty or names a stage twice".format(STAGES), "list each stage once")
    for what, names in (("STAGE_TEMPLATES", STAGE_TEMPLATES), ("STAGE_WHEELS", STAGE_WHEELS)):
        if set(dict(names)) != set(STAGES):
            _data_error(
                "STAGES is ({}) but {} has ({})".format(", ".join(STAGES), what, _names(names)),
                "use the same stage names in both",
            )
    budgets = dict(SIZE_BUDGETS)
    for name in buildable_backends():
        if name not in budgets:
            _data_error(
                "SIZE_BUDGETS has no entry for the backend {!r} (it has: {})".format(
                    name, _names(SIZE_BUDGETS)
                ),
                'add ("{}", (<one budget per stage: {}>)) to SIZE_BUDGETS'.format(
                    name, ", ".join(STAGES)
                ),
            )
        if len(budgets[name]) != len(STAGES):
            _data_error(
                "SIZE_BUDGETS[{!r}] has {} budgets {} for {} stages ({})".format(
                    name, len(budgets[name]), budgets[name], len(STAGES), ", ".join(STAGES)
                ),
                "give one budget per stage, in the order of STAGES",
            )
    unknown = sorted(set(budgets) - set(buildable_backends()))
    if unknown:
        _data_error(
            "SIZE_BUDGETS names {}, not a buildable backend (those are: {})".format(
                ", ".join(unknown), ", ".join(buildable_backends())
            ),
            "remove it, or add the backend to backends()",
        )
    if set(dict(BASE_SIZE_BUDGETS)) != set(dict(BASE_FLAVOURS)):
        _data_error(
            "BASE_SIZE_BUDGETS has ({}) but BASE_FLAVOURS has ({})".format(
                _names(BASE_SIZE_BUDGETS), _names(BASE_FLAVOURS)
            ),
            "give each base flavour one budget",
        )


def _lockfile_target(resolve):
    # Pants synthesises a target per lockfile; depending on it (as `python_requirements`
    # macros do) makes a pin change, which changes one lockfile, mark only that backend's
    # requirements and images as changed for `--changed-since`.
    return "3rdparty/python/{0}.lock:_{0}_lockfile".format(resolve)


def image_requirements():
    """3rdparty/python: each buildable backend's stack and dev tools, in its own resolve."""
    check_data()
    for name in buildable_backends():
        resolve = image_resolve(name)
        for target, requirements in (
            (name + "-stack", backends()[name]["requirements"]),
            (name + "-dev-tools", DEV_TOOLS),
        ):
            python_requirement(
                name=target,
                requirements=list(requirements),
                resolve=resolve,
                dependencies=[_lockfile_target(resolve)],
            )


def _base_address(flavour, platform):
    """The address of a base image for one platform (`#<arch>` if it has several)."""
    address = "containers/base:" + flavour
    platforms = dict(BASE_FLAVOURS)[flavour][2]
    return address + "#" + platform.split("/")[1] if len(platforms) > 1 else address


def dynamo_base():
    """containers/base: the `runtime` and `devel` bases, and their rootfs (local profile)."""
    check_data()
    profile = base_profile()
    python = version("python")
    for name, (flavour, extra_packages, platforms) in BASE_FLAVOURS:
        extra = [package.format(python=python) for package in extra_packages]
        multiarch = len(platforms) > 1
        if profile == "local":
            # {arch} is filled per platform by multiarch_docker_image.
            rootfs = ("rootfs" if name == "runtime" else "rootfs-" + name) + (
                "-{arch}" if multiarch else ""
            )
            head = _render(_BASE_LOCAL, rootfs="containers/base/{}.tar".format(rootfs))
            deps = [":" + rootfs]
            for platform in platforms:
                arch = platform.split("/")[1]
                _base_rootfs(rootfs.replace("{arch}", arch), arch, extra, name)
        else:
            packages = "".join(" " + package for package in extra)
            cuda_image = CUDA_IMAGE.format(
                cuda=version("cuda"), flavour=flavour, ubuntu=version("ubuntu")
            )
            head = _render(_BASE_PRODUCTION, cuda_image=cuda_image, packages=packages)
            deps = []
        tag = "{}-{}".format(profile, python) if name == "runtime" else "{}-{}-{}".format(
            name, profile, python
        )
        image = multiarch_docker_image if multiarch else docker_image
        image(
            name=name,
            instructions=head + _render(_BASE_COMMON),
            dependencies=deps,
            image_tags=[tag, tag + "-{build_args.DYNAMO_GIT_SHA}"],
            image_labels=_oci_labels(
                "containers/base:" + name,
                "dynamo base{} ({} profile)".format("" if name == "runtime" else " " + name, profile),
                with_revision=False,
            ),
            build_network="none" if profile == "local" else "default",
            sbom=True,
            size_budget=dict(BASE_SIZE_BUDGETS)[name],
            description="{} base: OS, Python {}, non-root user{}".format(
                name.capitalize(),
                python,
                "" if name == "runtime" else ", compilers and Python headers",
            ),
            **({"platforms": list(platforms)} if multiarch else {"build_platform": platforms[0]}),
        )


def _base_rootfs(name, arch, extra_packages, flavour):
    tarball = "containers/base/{}.tar".format(name)
    shell_command(
        name=name,
        command="bash build-support/debootstrap-rootfs.sh {} {} {} {}".format(
            version("debian"), tarball, ",".join(list(LOCAL_BASE_PACKAGES) + extra_packages), arch
        ),
        execution_dependencies=["build-support:debootstrap-rootfs"],
        # The script runs the host's debootstrap with the system PATH it needs.
        tools=["bash"],
        extra_env_vars=["DEBIAN_MIRROR"],
        output_files=[tarball],
        # arm64 runs debootstrap's second stage under qemu emulation.
        timeout=1800,
        workdir="/",
        description="Debian {} {} rootfs for the local {} base".format(
            version("debian"), arch, flavour
        ),
    )


def dynamo_backend_images(backend):
    """containers/<backend>: the runtime, dev and ci images of one backend."""
    check_data()
    if backend not in backends():
        raise ValueError(
            "Unknown backend {!r} in {}/BUILD. Known backends: {}. Add it to backends() in "
            "containers/stack.py first.".format(
                backend, build_file_dir(), ", ".join(sorted(backends()))
            )
        )
    spec = backends()[backend]
    if "unavailable" in spec:
        for stage in STAGES:
            unavailable_image(
                name=stage,
                reason=spec["unavailable"],
                description="Dynamo {} {} image (cannot be built here)".format(backend, stage),
            )
        return
    resolve = image_resolve(backend)
    here = "containers/" + backend
    pex_dir = here.replace("/", ".")
    pex_binary(
        name="python-env",
        dependencies=["3rdparty/python:{}-stack".format(backend)],
        resolve=resolve,
        layout="packed",
        include_tools=True,
        execution_mode="venv",
        description="The {} runtime's Python stack, installed into {}".format(backend, VENV),
    )
    pex_binary(
        name="dev-tools",
        dependencies=["3rdparty/python:{}-dev-tools".format(backend)],
        resolve=resolve,
        layout="packed",
        include_tools=True,
        execution_mode="venv",
        description="The dev stage's tools, installed into {}".format(DEV_VENV),
    )
    docker_image(
        name="stack",
        instructions=_render(
            _STACK,
            base=_base_address("runtime", IMAGE_PLATFORM),
            pex=pex_dir + "/python-env.pex",
        ),
        dependencies=[":python-env"],
        # No commit in its tags or labels: a new commit alone never rebuilds it.
        image_tags=["stack-{}".format(version("dynamo"))],
        image_labels={BUILT_BY_LABEL: here + ":stack"},
        skip_push=True,
        build_network="none",
        build_platform=IMAGE_PLATFORM,
        description="Dynamo {} Python stack on the base (what the runtime image builds on; "
        "not published)".format(backend),
    )
    version_args = ["DYNAMO_VERSION=" + version("dynamo"), "NIXL_VERSION=" + spec["nixl"]]
    if spec["framework"]:
        version_args.append("FRAMEWORK_VERSION=" + spec["framework"][2])
    # stage -> (its dependencies, its template's values); a stage not named here has neither.
    stage_inputs = {
        "runtime": ([], dict(backend=backend)),
        "dev": ([":dev-tools"], dict(pex=pex_dir + "/dev-tools.pex")),
    }
    for index, stage in enumerate(STAGES):
        deps, values = stage_inputs.get(stage, ([], {}))
        # Each stage builds on the one before it; the first on the backend's stack image.
        base = here + ":" + (STAGES[index - 1] if index else "stack")
        template = dict(STAGE_TEMPLATES)[stage]
        docker_image(
            name=stage,
            instructions=_render(
                template,
                base=base,
                # dev and ci tools live in the dev venv, which sees the runtime venv.
                wheels=_install_wheels(stage, VENV if stage == "runtime" else DEV_VENV),
                **values
            ),
            dependencies=deps + _stage_wheel_targets(stage),
            image_tags=[
                stage,
                "{}-{}".format(stage, version("dynamo")),
                "{}-{}-{{build_args.DYNAMO_GIT_SHA}}".format(stage, version("dynamo")),
            ],
            image_labels=_oci_labels(
                here + ":" + stage, "dynamo {} {}".format(backend, stage), nixl=spec["nixl"]
            ),
            extra_build_args=version_args,
            build_network="none",
            build_platform=IMAGE_PLATFORM,
            sbom=True,
            size_budget=dict(SIZE_BUDGETS)[backend][STAGES.index(stage)],
            description="Dynamo {} {} image".format(backend, stage),
        )
