# The image family's macros: what BUILD files call (a BUILD-file prelude; pants.toml:
# build_file_prelude_globs). The data they read is in images_data.py, the Dockerfile
# templates in images_templates.py.
#
# Pants 2.17 executes every prelude file and then shares all their globals: a function here
# may use the names of images_data.py and images_templates.py when it is called (from a BUILD
# file), but no top-level statement may use another prelude file's names. This file also uses
# what Pants injects into BUILD files (env, build_file_dir, docker_image, ...), which is why
# it is the one prelude ruff does not lint (ruff.toml).


def _check_prelude():
    """images_data.py's own checks, then that each stage has its template: a mistake fails
    while BUILD files are read, naming the file to fix."""
    check_data()
    if set(dict(STAGE_TEMPLATES)) != set(STAGES):
        raise ValueError(
            "containers/images_templates.py: STAGES ({}) is ({}) but STAGE_TEMPLATES has ({}). "
            "Fix: give each stage one template, under the same name.".format(
                IMAGES_DATA, ", ".join(STAGES), _names(STAGE_TEMPLATES)
            )
        )


def _stage_wheel_targets(stage):
    return [target for target, _ in dict(STAGE_WHEELS)[stage]] + [
        "containers/build-inputs:install-wheels"
    ]


def _install_wheels(stage, venv):
    """The RUN line installing the stage's wheels from the build context, offline."""
    files = ["{}/{}-*.whl".format(WHEEL_MOUNT, dist) for _, dist in dict(STAGE_WHEELS)[stage]]
    return INSTALL_WHEELS_TEMPLATE.format(
        wheel_dir=WHEEL_DIR,
        wheel_mount=WHEEL_MOUNT,
        installer=WHEEL_INSTALLER,
        installer_mount=INSTALLER_MOUNT,
        venv=venv,
        files=" ".join(files),
    )


def _site_packages(venv):
    """Where a venv of the family's Python keeps its distributions."""
    return "{}/lib/python{}/site-packages".format(venv, version("python"))


def _shared_site():
    return _site_packages(SHARED_VENV)


def _shared_torch_image():
    """containers/base:torch, the layer of torch and its CUDA wheels that every backend's
    stack builds on (images_data.py: SHARED_DISTS)."""
    pex_binary(
        name="shared-torch-env",
        dependencies=["3rdparty/python:shared-torch"],
        resolve=SHARED_RESOLVE,
        layout="packed",
        include_tools=True,
        execution_mode="venv",
        description="torch and its CUDA wheels, installed into {}".format(SHARED_VENV),
    )
    docker_image(
        name="torch",
        instructions=_render(
            SHARED_TORCH_TEMPLATE,
            base=_base_address("runtime", IMAGE_PLATFORM),
            pex="containers.base/shared-torch-env.pex",
            shared_venv=SHARED_VENV,
        ),
        dependencies=[":shared-torch-env"],
        sbom=True,
        sbom_installs={_shared_site(): ["containers.base/shared-torch-env.pex"]},
        # No commit in its tags or labels: a new commit alone never rebuilds it.
        image_tags=["torch-{}".format(version("torch"))],
        image_labels={BUILT_BY_LABEL: "containers/base:torch"},
        skip_push=True,
        build_network="none",
        build_platform=IMAGE_PLATFORM,
        description="torch {} and its CUDA wheels in {}: the one layer every backend's stack "
        "shares (not published)".format(version("torch"), SHARED_VENV),
    )


def _stage_installs(stage, venv, pex=None):
    """The stage's `sbom_installs`: the dev-tools PEX (dev) and the stage's wheels, installed
    into `venv`, as the build context holds them."""
    wheels = ["{}/{}-*.whl".format(WHEEL_DIR, dist) for _, dist in dict(STAGE_WHEELS)[stage]]
    return {_site_packages(venv): ([pex] if pex else []) + wheels}


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


def _lockfile_target(resolve):
    # Pants synthesises a target per lockfile; depending on it (as `python_requirements`
    # macros do) makes a pin change, which changes one lockfile, mark only that backend's
    # requirements and images as changed for `--changed-since`.
    return "3rdparty/python/{0}.lock:_{0}_lockfile".format(resolve)


def image_requirements():
    """3rdparty/python: each buildable backend's requirements and dev tools
    (`<backend>-requirements`, `<backend>-dev-tools`), in the backend's own resolve."""
    _check_prelude()
    for name in buildable_backends():
        resolve = image_resolve(name)
        for target, requirements in (
            (name + "-requirements", backends()[name]["requirements"]),
            (name + "-dev-tools", DEV_TOOLS),
        ):
            python_requirement(
                name=target,
                requirements=list(requirements),
                resolve=resolve,
                dependencies=[_lockfile_target(resolve)],
            )
    # The shared torch layer's requirements (containers/base:torch), in a resolve of their own.
    python_requirement(
        name="shared-torch",
        requirements=shared_requirements(),
        resolve=SHARED_RESOLVE,
        dependencies=[_lockfile_target(SHARED_RESOLVE)],
    )


def _base_address(flavour, platform):
    """The address of a base image for one platform (`#<arch>` if it has several)."""
    address = "containers/base:" + flavour
    platforms = dict(BASE_FLAVOURS)[flavour][2]
    return address + "#" + platform.split("/")[1] if len(platforms) > 1 else address


def dynamo_base():
    """containers/base: the `runtime` and `devel` bases, and their rootfs (local profile)."""
    _check_prelude()
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
            head = _render(BASE_LOCAL_TEMPLATE, rootfs="containers/base/{}.tar".format(rootfs))
            deps = [":" + rootfs]
            for platform in platforms:
                arch = platform.split("/")[1]
                _base_rootfs(rootfs.replace("{arch}", arch), arch, extra, name)
        else:
            packages = "".join(" " + package for package in extra)
            cuda_image = CUDA_IMAGE.format(
                cuda=version("cuda"), flavour=flavour, ubuntu=version("ubuntu")
            )
            head = _render(BASE_PRODUCTION_TEMPLATE, cuda_image=cuda_image, packages=packages)
            deps = []
        tag = "{}-{}".format(profile, python) if name == "runtime" else "{}-{}-{}".format(
            name, profile, python
        )
        image = multiarch_docker_image if multiarch else docker_image
        image(
            name=name,
            instructions=head + _render(BASE_COMMON_TEMPLATE),
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
    _shared_torch_image()


def _base_rootfs(name, arch, extra_packages, flavour):
    tarball = "containers/base/{}.tar".format(name)
    shell_command(
        name=name,
        command="bash containers/build-inputs/base-rootfs.sh {} {} {} {}".format(
            version("debian"), tarball, ",".join(list(LOCAL_BASE_PACKAGES) + extra_packages), arch
        ),
        execution_dependencies=["containers/build-inputs:base-rootfs"],
        # The script runs the host's mmdebstrap with the system PATH it needs.
        tools=["bash"],
        extra_env_vars=["DEBIAN_MIRROR"],
        output_files=[tarball],
        # arm64 runs the packages' maintainer scripts under qemu emulation.
        timeout=1800,
        workdir="/",
        description="Debian {} {} rootfs (mmdebstrap) for the local {} base".format(
            version("debian"), arch, flavour
        ),
    )


def dynamo_backend_images(backend):
    """containers/<backend>: the runtime, dev and ci images of one backend."""
    _check_prelude()
    if backend not in backends():
        raise ValueError(
            "Unknown backend {!r} in {}/BUILD. Known backends: {}. Add it to backends() in "
            "{} first.".format(
                backend, build_file_dir(), ", ".join(sorted(backends())), IMAGES_DATA
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
        dependencies=["3rdparty/python:{}-requirements".format(backend)],
        resolve=resolve,
        # Packed, not loose: a loose PEX skips the zip here and the unzip in `stack`, but is
        # twice the bytes and thousands of files to store, send to the engine and cache, and
        # measured slower (docs/performance.md: "Loose or packed PEX for the stack image").
        layout="packed",
        include_tools=True,
        execution_mode="venv",
        description="The {} runtime's Python environment, installed into {}".format(backend, VENV),
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
            STACK_TEMPLATE,
            base="containers/base:torch",
            pex=pex_dir + "/python-env.pex",
            dropper=SHARED_DROPPER,
            dropper_mount=DROPPER_MOUNT,
            shared_site=_shared_site(),
            shared=" ".join("{}=={}".format(name, pin) for name, pin in shared_dists()),
        ),
        dependencies=[":python-env", "containers/build-inputs:drop-shared-dists"],
        # Its SBOM (which the runtime's derives from) is the base's plus the PEX's
        # distributions: made on the host, no container run.
        sbom=True,
        # What drop_shared_dists.py removes again is listed by containers/base:torch's SBOM.
        sbom_installs={
            _site_packages(VENV): [pex_dir + "/python-env.pex"]
            + [
                "!{}/python-env.pex/.deps/{}-{}-*.whl".format(pex_dir, name.replace("-", "_"), pin)
                for name, pin in shared_dists()
            ]
        },
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
            # What the stage's template installs on the image before it: its SBOM is derived
            # from that image's, with no container run.
            sbom_installs=_stage_installs(
                stage, VENV if stage == "runtime" else DEV_VENV, values.get("pex")
            ),
            size_budget=dict(SIZE_BUDGETS)[backend][STAGES.index(stage)],
            description="Dynamo {} {} image".format(backend, stage),
        )
