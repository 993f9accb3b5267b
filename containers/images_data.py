# The image family's data: the one file a version bump or a new backend edits.
#
# One of three BUILD-file preludes (pants.toml: build_file_prelude_globs) that Pants shares
# globals between: this file (versions, backends, base flavours, size budgets, what each stage
# installs, and check_data()), images_templates.py (the Dockerfile templates) and
# images_macros.py (the macros BUILD files call). It is plain data and validation: no Pants
# name, no import, so ruff lints it and tests load it as an ordinary Python module
# (tests/python/build_graph/images_data_test.py).

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

# How this file names itself in its errors (and how other files point at it).
IMAGES_DATA = "containers/images_data.py"


def versions():
    return dict(_VERSIONS)


def version(name):
    """One version from _VERSIONS; a missing one fails naming this file and the known names."""
    known = versions()
    if name not in known:
        _data_error(
            f"no version named {name!r} in _VERSIONS (it has: {', '.join(sorted(known))})",
            f'add ("{name}", "<version>") to _VERSIONS',
        )
    return known[name]


def _data_error(problem, fix):
    """A mistake in this file's data, raised while BUILD files are read (whichever BUILD file
    was being read when it surfaced, the mistake is here)."""
    raise ValueError(f"{IMAGES_DATA}: {problem}. Fix: {fix}.")


# Developer tools of the dev stage, resolved with each backend's requirements so that shared
# packages agree.
DEV_TOOLS = ("pytest>=8,<9", "ipython>=8,<9", "py-spy>=0.4,<1")


# The backends: one image family each (runtime, dev, ci). Adding a backend is an entry here,
# a resolve in pants.toml (`images-<name>`, its lockfile;
# tests/python/build_graph/images_data_test.py fails until they agree) and
# `containers/<name>/BUILD`.
#   requirements  what its runtime venv installs (3rdparty/python:<name>-requirements),
#                 hash-locked in 3rdparty/python/images-<name>.lock (a resolve per backend: their
#                 pins conflict, e.g. NIXL 1.3.0 for SGLang, and a pin change then changes one
#                 lockfile, so only that family rebuilds);
#   nixl          the NIXL version that resolve holds (labels, build args);
#   framework     (distribution, import name, version) of the framework, or None;
#   heavy         its images are too big for every CI run: its family tests carry the `heavy`
#                 tag, which CI leaves out (the images still build with `./pants package`);
#   platforms     the platforms its images are built for (default: IMAGE_PLATFORM alone).
#                 More than one makes each stage a multiarch_docker_image (`runtime#amd64`,
#                 `runtime#arm64`, `runtime#manifest`: image_address()); each platform must be
#                 one the runtime base is built for (BASE_FLAVOURS), IMAGE_PLATFORM among them,
#                 and one other than IMAGE_PLATFORM needs a PEX_COMPLETE_PLATFORMS entry. Its
#                 images for another platform carry that arch's tag (`arm64`), which pants.toml
#                 leaves out of `::` (emulated builds: docs/images.md); the manifest list is
#                 untagged, and `publish` on it builds and pushes every platform's image;
#   unavailable   why it cannot be built here: its targets fail at once with this message.
# key -> required
BACKEND_KEYS = (
    ("requirements", True),
    ("nixl", True),
    ("framework", True),
    ("heavy", False),
    ("platforms", False),
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
            platforms=("linux/amd64", "linux/arm64"),
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
            # vLLM publishes a manylinux aarch64 wheel of the pin (in images-vllm.lock).
            platforms=("linux/amd64", "linux/arm64"),
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


def buildable_backends():
    return [name for name, backend in backends().items() if "unavailable" not in backend]


def image_resolve(backend):
    """The backend's resolve in pants.toml's [python.resolves]."""
    return "images-" + backend


# Base image profiles. `local` builds a stand-in from Debian's packages on this host
# (mmdebstrap, no registry); `production` uses NVIDIA's CUDA images.
BASE_PROFILES = ("local", "production")
CUDA_IMAGE = "nvcr.io/nvidia/cuda:{cuda}-{flavour}-ubuntu{ubuntu}"
# Debian packages of the local stand-in base: the Python of the production base plus what
# the Python environment loads at run time. No compilers: runtime images must not carry them.
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
# The host's platform: every backend's images are built for it, with PEXes resolved for this
# host and the first-party wheels of `:wheel`. A backend's `platforms` (backends()) may add
# others, built under qemu.
IMAGE_PLATFORM = "linux/amd64"
# platform -> what its images are built from, for a platform other than IMAGE_PLATFORM:
#   complete platform  the Pex complete platform (JSON) its PEXes are resolved for, a `file`
#                      target named as the file less `.json`: the images' CPython, manylinux
#                      tags up to production_glibc (images_lockfiles_test.py checks it);
#   wheel suffix       the native wheels' cross builds: `<target>-aarch64`
#                      (src/first_party_wheels.py), in the build context under `wheel dir`.
PEX_COMPLETE_PLATFORMS = (
    (
        "linux/arm64",
        (
            "containers/build-inputs/complete-platform-linux-arm64.json",
            "-aarch64",
            "wheels-aarch64",
        ),
    ),
)
# The STAGE_WHEELS targets that are native (built per arch: a cross build beside them); the
# others are pure Python and serve every platform. A stage's wheels are all one or the other.
NATIVE_WHEELS = ("src/rust/imagekit:wheel", "src/cpp/hostxfer:wheel")


def arch_of(platform):
    """Docker's arch of a platform (`linux/arm64` -> `arm64`): generated names and tags."""
    return platform.split("/")[1]


def backend_platforms(backend):
    """The platforms a backend's images are built for, IMAGE_PLATFORM first."""
    return tuple(backends()[backend].get("platforms", (IMAGE_PLATFORM,)))


def image_platforms():
    """Every platform some buildable backend is built for: those of containers/base:torch."""
    found = [IMAGE_PLATFORM]
    for name in buildable_backends():
        found += [p for p in backend_platforms(name) if p not in found]
    return tuple(found)


def image_address(backend, stage, platform=IMAGE_PLATFORM):
    """The address of one stage's image for one platform: `containers/dynamo:runtime#amd64`
    for a multi-arch backend, `containers/sglang:runtime` otherwise."""
    address = f"containers/{backend}:{stage}"
    if len(backend_platforms(backend)) > 1:
        return address + "#" + arch_of(platform)
    return address

# Size budgets (uncompressed, `docker image inspect`): packaging an image over its budget
# fails with both figures. The measured sizes are in docs/images.md; budgets leave ~5%.
# backend -> budgets of its STAGES, in order; a multi-arch backend's arm64 images are held to
# the same (dynamo's arm64 runtime is 90 MB smaller: docs/images.md, "arm64 images").
SIZE_BUDGETS = (
    ("dynamo", ("6.4GB", "6.5GB", "6.5GB")),
    ("vllm", ("10.1GB", "10.2GB", "10.2GB")),
    ("sglang", ("11.4GB", "11.5GB", "11.5GB")),
)
BASE_SIZE_BUDGETS = (("runtime", "160MB"), ("devel", "480MB"))

# The stages of every backend's family, each built on the one before it:
# runtime (on the backend's `stack` image) -> dev -> ci. Each needs a template in
# images_templates.py (STAGE_TEMPLATES) and an entry in STAGE_WHEELS below.
STAGES = ("runtime", "dev", "ci")

# First-party wheels (native_wheel targets under src/) each stage installs into its venv:
# stage -> ((target, distribution), ...). The dev stage inherits runtime's.
STAGE_WHEELS = (
    ("runtime", (("src/rust/imagekit:wheel", "dynamo_imagekit"),)),
    ("dev", (("src/cpp/hostxfer:wheel", "dynamo_hostxfer"),)),
    ("ci", (("src/python/dynamo_ci_tools:wheel", "dynamo_ci_tools"),)),
)

# One copy of torch and its CUDA wheels for the whole family: `containers/base:torch` installs
# them (a PEX of shared_requirements(), locked in a resolve of their own, SHARED_RESOLVE) into
# SHARED_VENV, on the runtime base, and every backend's `stack` builds FROM that image. Its
# layer is then the same layer (the same digest) under every stack: a machine stores it once
# and a pull of a second backend skips it. Each stack's venv sees it through a `.pth` file
# and never writes those distributions into its own layer (it installs its PEX without
# them: containers/build-inputs/drop_shared_dists.py).
# So every backend's lockfile, and SHARED_RESOLVE's, must pin each of SHARED_DISTS at the
# version listed here: tests/python/build_graph/images_data_test.py fails naming the
# lockfile, the distribution and both versions otherwise (shared_pin_errors() below). The
# shared layer's lockfile is its own, so a pin bump in one backend rebuilds only that backend
# (not base:torch under every stack); bumping one of these is a bump for every backend.
SHARED_RESOLVE = "images-torch"
SHARED_VENV = "/opt/dynamo/shared-venv"
# SHARED_DISTS, read through shared_dists(): (distribution, version) of torch, triton and the
# CUDA wheels torch 2.11 pins (4.7-5.7 GB of every image). Distributions whose versions
# differ between the lockfiles (cuda-bindings, cuda-pathfinder, filelock) stay in each
# stack's venv, which comes first on sys.path.
_SHARED_DISTS = (
    ("triton", "3.6.0"),
    ("nvidia-cublas", "13.1.0.3"),
    ("nvidia-cuda-cupti", "13.0.85"),
    ("nvidia-cuda-nvrtc", "13.0.88"),
    ("nvidia-cuda-runtime", "13.0.96"),
    ("nvidia-cudnn-cu13", "9.19.0.56"),
    ("nvidia-cufft", "12.0.0.61"),
    ("nvidia-cufile", "1.15.1.6"),
    ("nvidia-curand", "10.4.0.35"),
    ("nvidia-cusolver", "12.0.4.66"),
    ("nvidia-cusparse", "12.6.3.3"),
    ("nvidia-cusparselt-cu13", "0.8.0"),
    ("nvidia-nccl-cu13", "2.28.9"),
    ("nvidia-nvjitlink", "13.0.88"),
    ("nvidia-nvshmem-cu13", "3.4.5"),
    ("nvidia-nvtx", "13.0.85"),
    # torch's own pure-Python dependencies (100 MB with byte-code): the same in every lockfile.
    # General-purpose ones (jinja2, fsspec, setuptools, typing-extensions) are left to each
    # backend, so that bumping one never touches the shared layer.
    ("sympy", "1.14.0"),
    ("mpmath", "1.3.0"),
    ("networkx", "3.6.1"),
)


def shared_dists():
    """SHARED_DISTS: torch and cuda-toolkit at the versions of _VERSIONS, then _SHARED_DISTS.
    (A function: a prelude's top-level statements cannot call its functions.)"""
    return (("torch", version("torch")), ("cuda-toolkit", version("cuda"))) + _SHARED_DISTS


def _canonical(name):
    """A distribution name as lockfiles and dist-info directories compare (PEP 503)."""
    return "".join("-" if c in "_." else c for c in name.lower())


def shared_requirements():
    """The requirements of SHARED_RESOLVE (3rdparty/python:shared-torch): each of SHARED_DISTS
    pinned, so that its lockfile cannot drift from the backends' (torch pins its CUDA wheels
    exactly, but not sympy or networkx). The CUDA wheels only exist for Linux."""
    return ["torch==" + version("torch")] + [
        f"{name}=={pin}; platform_system == 'Linux'"
        for name, pin in shared_dists()
        if name != "torch"
    ]


def image_resolves():
    """Every images resolve in pants.toml's [python.resolves]: one per buildable backend, and
    the shared torch layer's."""
    return [image_resolve(backend) for backend in buildable_backends()] + [SHARED_RESOLVE]


def shared_pin_errors(resolve, pins):
    """Why `resolve`'s lockfile (`pins`: {distribution: version}) disagrees with SHARED_DISTS:
    one message per distribution, naming both versions and the fix; empty when it agrees."""
    pins = {_canonical(name): pinned for name, pinned in pins.items()}
    lockfile = f"3rdparty/python/{resolve}.lock"
    errors = []
    for name, shared in shared_dists():
        pinned = pins.get(_canonical(name))
        if pinned != shared:
            errors.append(
                f"{lockfile} pins {name} {pinned or '(nothing)'} but the shared torch layer "
                f"({IMAGES_DATA}: SHARED_DISTS) has {shared}. Fix: bump SHARED_DISTS (every "
                f"images resolve then needs it: pin it in backends()' requirements), or pin "
                f"{name}=={shared} in the resolve's requirements; then run "
                f"./pants generate-lockfiles --resolve={resolve}"
            )
    return errors


IMAGE_USER = "dynamo"
IMAGE_UID = "1000"
VENV = "/opt/dynamo/venv"
DEV_VENV = "/opt/dynamo/dev-venv"
SOURCE_URL = "https://github.com/ai-dynamo/dynamo"
# Every image this repo builds carries its Pants address under this label: what
# build-support/clean_images.py goes by (it never touches an image without it).
BUILT_BY_LABEL = "ai.dynamo.build.target"


def _names(pairs):
    return ", ".join(name for name, _ in pairs) or "none"


def check_data():
    """Every cross-reference in this file's data, checked while BUILD files are read: a
    mistake fails naming this file, the bad value and what it may be, not a KeyError in
    whichever BUILD file happened to hit it first. (The stage templates are checked against
    STAGES by images_macros.py, which names images_templates.py.)"""
    allowed = dict(BACKEND_KEYS)
    for name, spec in backends().items():
        unknown = sorted(set(spec) - set(allowed))
        if unknown:
            _data_error(
                f"backends()[{name!r}] has unknown key(s) {', '.join(unknown)}; "
                f"the keys are: {_names(BACKEND_KEYS)}",
                "rename or remove them (the keys are explained above backends())",
            )
        missing = [key for key, required in BACKEND_KEYS if required and key not in spec]
        if missing:
            _data_error(
                f"backends()[{name!r}] lacks {', '.join(missing)}",
                "add them (framework=None for Dynamo alone)",
            )
    if len(set(STAGES)) != len(STAGES) or not STAGES:
        _data_error(f"STAGES {STAGES} is empty or names a stage twice", "list each stage once")
    if set(dict(STAGE_WHEELS)) != set(STAGES):
        _data_error(
            f"STAGES is ({', '.join(STAGES)}) but STAGE_WHEELS has ({_names(STAGE_WHEELS)})",
            "use the same stage names in both",
        )
    budgets = dict(SIZE_BUDGETS)
    for name in buildable_backends():
        if name not in budgets:
            _data_error(
                f"SIZE_BUDGETS has no entry for the backend {name!r} "
                f"(it has: {_names(SIZE_BUDGETS)})",
                f'add ("{name}", (<one budget per stage: {", ".join(STAGES)}>)) to SIZE_BUDGETS',
            )
        if len(budgets[name]) != len(STAGES):
            _data_error(
                f"SIZE_BUDGETS[{name!r}] has {len(budgets[name])} budgets {budgets[name]} "
                f"for {len(STAGES)} stages ({', '.join(STAGES)})",
                "give one budget per stage, in the order of STAGES",
            )
    unknown = sorted(set(budgets) - set(buildable_backends()))
    if unknown:
        _data_error(
            f"SIZE_BUDGETS names {', '.join(unknown)}, not a buildable backend "
            f"(those are: {', '.join(buildable_backends())})",
            "remove it, or add the backend to backends()",
        )
    shared = [_canonical(name) for name, _ in shared_dists()]
    if len(set(shared)) != len(shared) or "torch" not in shared:
        _data_error(
            f"SHARED_DISTS ({_names(shared_dists())}) names a distribution twice or lacks torch",
            "list torch and each distribution of its CUDA closure once",
        )
    _check_platforms()
    if set(dict(BASE_SIZE_BUDGETS)) != set(dict(BASE_FLAVOURS)):
        _data_error(
            f"BASE_SIZE_BUDGETS has ({_names(BASE_SIZE_BUDGETS)}) "
            f"but BASE_FLAVOURS has ({_names(BASE_FLAVOURS)})",
            "give each base flavour one budget",
        )


def _check_platforms():
    base = dict(BASE_FLAVOURS)["runtime"][2]
    for name in buildable_backends():
        platforms = backend_platforms(name)
        if len(set(platforms)) != len(platforms) or IMAGE_PLATFORM not in platforms:
            _data_error(
                f"backends()[{name!r}]['platforms'] is {platforms}: it must list each platform "
                f"once, the host's ({IMAGE_PLATFORM}) among them",
                f'list each once, e.g. ("{IMAGE_PLATFORM}", "linux/arm64")',
            )
        for platform in platforms:
            if platform not in base:
                _data_error(
                    f"backends()[{name!r}] is built for {platform}, but the runtime base "
                    f"(BASE_FLAVOURS) is built only for {', '.join(base)}",
                    f"add {platform} to the runtime base's platforms, or remove it here",
                )
            if platform != IMAGE_PLATFORM and platform not in dict(PEX_COMPLETE_PLATFORMS):
                _data_error(
                    f"backends()[{name!r}] is built for {platform}, which has no entry in "
                    f"PEX_COMPLETE_PLATFORMS (it has: {_names(PEX_COMPLETE_PLATFORMS)})",
                    f"add ({platform!r}, (<complete platform target>, <wheel suffix>, "
                    "<wheel dir>)) to PEX_COMPLETE_PLATFORMS",
                )
    for stage, wheels in STAGE_WHEELS:
        native = {target in NATIVE_WHEELS for target, _ in wheels}
        if len(native) > 1:
            _data_error(
                f"STAGE_WHEELS[{stage!r}] mixes native wheels (NATIVE_WHEELS) and pure ones: "
                "a stage installs its wheels from one directory of the build context",
                "move the pure wheels to another stage",
            )
