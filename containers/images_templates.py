# The image family's Dockerfile templates (a BUILD-file prelude beside images_data.py and
# images_macros.py; pants.toml: build_file_prelude_globs). The macros fill {placeholders}
# and pass the result to docker_image(instructions=...); ${ARGS} are Docker build args.
#
# String constants, not template files read at parse time: a prelude may open() files, but
# the path is relative to the process's working directory (`../pants --no-pantsd` run from a
# subdirectory fails with FileNotFoundError), Pants does not see the read (no file target,
# no invalidation of its own: it relies on BUILD files being re-parsed every run) and the
# tests' RuleRunner, which writes the preludes into its own build root, could not replace them.
# Plain strings, so ruff lints this file.

BASE_COMMON_TEMPLATE = """
ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH={venv}/bin:$PATH
RUN useradd --uid {uid} --create-home --shell /bin/bash {user}
ENTRYPOINT ["/usr/bin/tini", "--"]
"""

BASE_LOCAL_TEMPLATE = """
FROM scratch
ADD {rootfs} /
RUN ln -s /usr/bin/python3 /usr/local/bin/python{python}
"""

# Runs only under the production profile, on a machine that can pull from nvcr.io.
BASE_PRODUCTION_TEMPLATE = """
FROM {cuda_image}
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      python{python} ca-certificates libgomp1 libnuma1 tini procps{packages} \\
 && rm -rf /var/lib/apt/lists/*
"""

# A venv of locked wheels on the image below (`image_wheels`, checked against the lockfile's
# sha256), bind-mounted, never copied, and unpacked once by the stdlib installer, then compiled
# on every core; the build runs with no network and no PEX is zipped and unzipped on the way.
# Two images use it:
# - the shared torch layer (`containers/base:torch`): torch and its CUDA wheels (SHARED_DISTS,
#   images_data.py) in a venv of their own on the runtime base, which every backend's `stack`
#   builds on, so that all stacks share this one layer;
# - a backend's `stack`: its own wheels, less what the shared layer holds, in /opt/dynamo/venv;
#   `--shared` first writes the `.pth` file that puts the shared venv after this one on
#   sys.path (so this layer never stores torch again) and wrappers for its console scripts.
#   An image of its own (not published) so that the runtime image's build context holds only
#   the first-party wheels, not the stack's gigabytes; rebuilt only when its lockfile or the
#   image below changes.
WHEELS_VENV_TEMPLATE = """
ARG BASE_IMAGE={base}
FROM $BASE_IMAGE
RUN --mount=type=bind,source={wheels},target={wheel_mount} \\
    --mount=type=bind,source={installer},target={installer_mount} \\
    python{python} -m venv --without-pip {into} \\
 && {into}/bin/python {installer_mount} --locked {shared}{wheel_mount}/*.whl \\
 && {into}/bin/python -m compileall -q -j 0 {into} \\
 && {into}/bin/python -c "{check}" \\
 && chown -R root:root {into}
"""  # noqa: E501

# The same layer on another arch, from its packed PEX (containers/build-inputs/foreign_pex.sh).
# The PEX is bind-mounted, never copied. PEX_ROOT is a temporary directory, removed in the same
# RUN: pex venv hard-links the venv's files to the PEX_ROOT's unpacked wheels, and a PEX_ROOT
# left in /root/.pex would keep in the layer whatever the venv no longer holds.
SHARED_TORCH_PEX_TEMPLATE = """
ARG BASE_IMAGE={base}
FROM $BASE_IMAGE
RUN --mount=type=bind,source={pex},target=/tmp/shared-torch.pex \\
    PEX_ROOT=/tmp/pex-root PEX_TOOLS=1 python{python} /tmp/shared-torch.pex \\
      venv --collisions-ok --compile {shared_venv} \\
 && rm -rf /tmp/pex-root \\
 && {shared_venv}/bin/python -c "import torch" \\
 && chown -R root:root {shared_venv}
"""  # noqa: E501

# What a stack's RUN checks last: its Python imports dynamo, and torch from the shared venv.
STACK_CHECK = "import dynamo, torch; assert torch.__file__.startswith('{shared_site}/')"

# A backend's `stack` on another arch, from its packed PEX (containers/build-inputs/
# foreign_pex.sh), which holds every distribution: drop_shared_dists.py installs it without what
# the shared layer holds (never unzipped here), then `--shared` as in WHEELS_VENV_TEMPLATE. The
# PEX is bind-mounted.
STACK_PEX_TEMPLATE = """
ARG BASE_IMAGE={base}
FROM $BASE_IMAGE
RUN --mount=type=bind,source={pex},target=/tmp/python-env.pex \\
    --mount=type=bind,source={dropper},target={dropper_mount} \\
    --mount=type=bind,source={installer},target={installer_mount} \\
    PEX_ROOT=/tmp/pex-root python{python} {dropper_mount} /tmp/python-env.pex {venv} \\
      {shared_site} {shared} \\
 && rm -rf /tmp/pex-root \\
 && {venv}/bin/python {installer_mount} --shared {shared_site} \\
 && {venv}/bin/python -c "{check}" \\
 && chown -R root:root {venv}
"""  # noqa: E501

RUNTIME_TEMPLATE = """
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

# Developer tools in their own venv that also sees the runtime venv's packages: its .pth runs
# site.addsitedir() on the runtime's site-packages, so that the runtime's own .pth (the shared
# torch venv) is read too (a plain path line would not read it).
# (One of its shell lines is longer than ruff's limit, hence the noqa.)
DEV_TEMPLATE = """
ARG BASE_IMAGE={base}
FROM $BASE_IMAGE
USER 0
RUN --mount=type=bind,source={pex},target=/tmp/dev-tools.pex \\
    PEX_TOOLS=1 python{python} /tmp/dev-tools.pex venv --collisions-ok {dev_venv} \\
 && {dev_venv}/bin/python -c "import site; print(site.getsitepackages()[0])" > /tmp/sp \\
 && {venv}/bin/python -c "import site; print('import site; site.addsitedir(%r)' % site.getsitepackages()[0])" > "$(cat /tmp/sp)/dynamo-runtime.pth" \\
 && rm /tmp/sp
{wheels}
ENV PATH={dev_venv}/bin:$PATH DYNAMO_STAGE=dev
USER {uid}
"""  # noqa: E501

# Test and benchmark tools (the soak client, the metrics collector) on top of dev, which
# already has the host-transfer benchmark.
CI_TEMPLATE = """
ARG BASE_IMAGE={base}
FROM $BASE_IMAGE
USER 0
{wheels}
ENV DYNAMO_STAGE=ci
USER {uid}
"""

# Each stage's template, by name: every name in STAGES (images_data.py) needs one.
STAGE_TEMPLATES = (("runtime", RUNTIME_TEMPLATE), ("dev", DEV_TEMPLATE), ("ci", CI_TEMPLATE))

# The {wheels} line of a stage: installs its STAGE_WHEELS (images_data.py) from the build
# context, offline, with a stdlib-only installer (runtime venvs have no pip). Both are bind
# mounts inside the build; nothing lands in a layer.
INSTALL_WHEELS_TEMPLATE = (
    "RUN --mount=type=bind,source={wheel_dir},target={wheel_mount} "
    "--mount=type=bind,source={installer},target={installer_mount} "
    "{venv}/bin/python {installer_mount} {files}"
)
WHEEL_DIR = "wheels"  # the native_wheel targets' output_path, in the build context
# stdlib only: runtime venvs have no pip
WHEEL_INSTALLER = "containers/build-inputs/install_wheels.py"
WHEEL_MOUNT = "/tmp/wheels"
INSTALLER_MOUNT = "/tmp/install_wheels.py"
# The stack's installer, which leaves the shared distributions to the shared torch layer.
SHARED_DROPPER = "containers/build-inputs/drop_shared_dists.py"
DROPPER_MOUNT = "/tmp/drop_shared_dists.py"
