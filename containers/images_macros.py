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


def _is_host(platform):
    return platform == IMAGE_PLATFORM


def _arch_name(name, platform):
    """A per-arch sibling's name: `name` on IMAGE_PLATFORM (its address unchanged since the
    family was amd64 only), `name-arm64` on another. For the targets no manifest list
    publishes (PEXes, base:torch, stacks); the published stages use multiarch_docker_image."""
    return name if _is_host(platform) else "{}-{}".format(name, arch_of(platform))


def _arch_tags(platform):
    """Pants tags of a target built for `platform`: the arch's (`arm64`, which pants.toml
    leaves out of `::`) when it is emulated here, none on IMAGE_PLATFORM."""
    return [] if _is_host(platform) else [arch_of(platform)]


def _pex(name, requirements, resolve, platform, requirement_target, description):
    """A packed PEX (`<dir>/<name>.pex`, a venv PEX with its tools) of `requirements` from
    `resolve`'s lockfile: an image_pex on IMAGE_PLATFORM; on another platform the same PEX,
    resolved for PEX_COMPLETE_PLATFORMS' complete platform, built by
    containers/build-inputs/foreign_pex.sh (Pants 2.17's Pex cannot: the script says
    why), tagged with the arch."""
    if _is_host(platform):
        # Packed, not loose: a loose PEX is twice the bytes and thousands of files to store,
        # send to the engine and cache, and measured slower (docs/performance.md: "Loose or
        # packed PEX for the stack image"). Stored, not deflated (image_pex).
        image_pex(
            name=name,
            dependencies=[requirement_target],
            resolve=resolve,
            description=description,
        )
        return
    complete_platform = dict(PEX_COMPLETE_PLATFORMS)[platform][0]  # a .json file
    directory, _, filename = complete_platform.rpartition("/")
    lockfile = "3rdparty/python/{}.lock".format(resolve)
    output = "{}/{}.pex".format(str(build_file_dir()).replace("/", "."), name)
    shell_command(
        name=name,
        command="bash containers/build-inputs/foreign_pex.sh {} {} {} {}".format(
            lockfile,
            complete_platform,
            output,
            " ".join('"{}"'.format(r) for r in requirements),
        ),
        execution_dependencies=[
            "containers/build-inputs:foreign-pex",
            "{}:{}".format(directory, filename.rsplit(".", 1)[0]),
            _lockfile_target(resolve),
        ],
        tools=["bash", "grep", "rm"],
        extra_env_vars=["PANTS_PEX_CLI_URL_TEMPLATE", "PANTS_CA_CERTS_PATH"],
        output_directories=[output],
        timeout=3600,
        workdir="/",
        tags=_arch_tags(platform),
        description=description,
    )


def _stage_wheel(target, platform):
    """A STAGE_WHEELS target's build for `platform` (NATIVE_WHEELS have one per arch)."""
    if _is_host(platform) or target not in NATIVE_WHEELS:
        return target
    return target + dict(PEX_COMPLETE_PLATFORMS)[platform][1]


def _wheel_dir(stage, platform):
    """Where the build context holds the stage's wheels for `platform` (one directory per
    stage: images_data.py's check_data)."""
    native = any(target in NATIVE_WHEELS for target, _ in dict(STAGE_WHEELS)[stage])
    if _is_host(platform) or not native:
        return WHEEL_DIR
    return dict(PEX_COMPLETE_PLATFORMS)[platform][2]


def _stage_wheel_targets(stage, platform):
    return [_stage_wheel(target, platform) for target, _ in dict(STAGE_WHEELS)[stage]] + [
        "containers/build-inputs:install-wheels"
    ]


def _install_wheels(stage, venv, platform):
    """The RUN line installing the stage's wheels from the build context, offline."""
    files = ["{}/{}-*.whl".format(WHEEL_MOUNT, dist) for _, dist in dict(STAGE_WHEELS)[stage]]
    return INSTALL_WHEELS_TEMPLATE.format(
        wheel_dir=_wheel_dir(stage, platform),
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


def _shared_specs():
    """SHARED_DISTS as `name==version` requirements."""
    return ["{}=={}".format(name, pin) for name, pin in shared_dists()]


def _shared_torch_image():
    """containers/base:torch, the layer of torch and its CUDA wheels that every backend's
    stack builds on (images_data.py: SHARED_DISTS): on IMAGE_PLATFORM from the locked wheels
    (`image_wheels`), on another platform from a PEX (`_pex`)."""
    for platform in image_platforms():
        name = _arch_name("torch", platform)
        description = "torch and its CUDA wheels ({}), installed into {}".format(
            arch_of(platform), SHARED_VENV
        )
        if _is_host(platform):
            instructions, dependencies, installs = _wheels_venv(
                "containers.base/shared-torch-wheels",
                "3rdparty/python:shared-torch",
                SHARED_RESOLVE,
                description,
                base=_base_address("runtime", platform),
                into=SHARED_VENV,
                check="import torch",
            )
        else:
            inputs = _arch_name("shared-torch-env", platform)
            _pex(
                inputs,
                shared_requirements(),
                SHARED_RESOLVE,
                platform,
                "3rdparty/python:shared-torch",
                description,
            )
            pex = "containers.base/{}.pex".format(inputs)
            instructions = _render(
                SHARED_TORCH_PEX_TEMPLATE,
                base=_base_address("runtime", platform),
                pex=pex,
                shared_venv=SHARED_VENV,
            )
            dependencies = [":" + inputs]
            installs = [pex]
        docker_image(
            name=name,
            instructions=instructions,
            dependencies=dependencies,
            sbom=True,
            sbom_installs={_shared_site(): installs},
            # No commit in its tags or labels: a new commit alone never rebuilds it.
            image_tags=[_arch_name("torch-{}".format(version("torch")), platform)],
            image_labels={BUILT_BY_LABEL: "containers/base:" + name},
            skip_push=True,
            build_network="none",
            build_platform=platform,
            tags=_arch_tags(platform),
            description="torch {} and its CUDA wheels in {} ({}): the one layer every "
            "backend's stack shares (not published)".format(
                version("torch"), SHARED_VENV, arch_of(platform)
            ),
        )


def _wheels_venv(wheels, requirement, resolve, description, base, into, check, exclude=(),
                 shared=""):
    """A venv of `requirement`'s locked wheels (less `exclude`) on the image `base`: declares
    the `image_wheels` target whose output is the directory `wheels` (`<dir.with.dots>/<name>`)
    and returns the image's instructions, dependencies and `sbom_installs` paths
    (WHEELS_VENV_TEMPLATE, which says how). `shared` is the installer's `--shared SITE `."""
    name = wheels.rpartition("/")[2]
    image_wheels(
        name=name,
        dependencies=[requirement],
        resolve=resolve,
        exclude=list(exclude) or None,
        description=description,
    )
    instructions = _render(
        WHEELS_VENV_TEMPLATE,
        base=base,
        wheels=wheels,
        wheel_mount=WHEEL_MOUNT,
        installer=WHEEL_INSTALLER,
        installer_mount=INSTALLER_MOUNT,
        into=into,
        shared=shared,
        check=check,
    )
    return instructions, [":" + name, "containers/build-inputs:install-wheels"], [wheels + "/*.whl"]


def _stage_installs(stage, venv, platform, pex=None):
    """The stage's `sbom_installs`: the dev-tools PEX (dev) and the stage's wheels, installed
    into `venv`, as the build context holds them."""
    wheel_dir = _wheel_dir(stage, platform)
    wheels = ["{}/{}-*.whl".format(wheel_dir, dist) for _, dist in dict(STAGE_WHEELS)[stage]]
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
    return address + "#" + arch_of(platform) if len(platforms) > 1 else address


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
                arch = arch_of(platform)
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
    platforms = backend_platforms(backend)
    for platform in platforms:
        _backend_stack(backend, platform)
    version_args = ["DYNAMO_VERSION=" + version("dynamo"), "NIXL_VERSION=" + spec["nixl"]]
    if spec["framework"]:
        version_args.append("FRAMEWORK_VERSION=" + spec["framework"][2])
    for stage in STAGES:
        fields = {p: _stage_fields(backend, stage, p) for p in platforms}
        common = dict(
            name=stage,
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
            sbom=True,
            size_budget=dict(SIZE_BUDGETS)[backend][STAGES.index(stage)],
            description="Dynamo {} {} image".format(backend, stage),
        )
        if len(platforms) == 1:
            docker_image(build_platform=IMAGE_PLATFORM, **dict(common, **fields[IMAGE_PLATFORM]))
            continue
        # One image per platform and a manifest list (`#amd64`, `#arm64`, `#manifest`): the
        # host's fields as the template, each other platform's differences as its overrides.
        # The manifest list is untagged: `publish` on it builds its emulated images too.
        host = fields[IMAGE_PLATFORM]
        overrides = {
            arch_of(p): {key: value for key, value in fields[p].items() if value != host[key]}
            for p in platforms
            if not _is_host(p)
        }
        multiarch_docker_image(
            platforms=list(platforms), overrides=overrides, **dict(common, **host)
        )


def _backend_stack(backend, platform):
    """One platform's Python environment and `stack` image of a backend, and its dev tools'
    PEX (`dev-tools`). On IMAGE_PLATFORM the environment is its locked wheels less what the
    shared torch layer holds (`python-wheels`), installed as that layer is; on another platform
    a PEX of them all (`python-env-arm64`: _pex says why). Tagged with the arch, off the host."""
    resolve = image_resolve(backend)
    here = "containers/" + backend
    pex_dir = here.replace("/", ".")
    tags = _arch_tags(platform)
    requirements = "3rdparty/python:{}-requirements".format(backend)
    description = "The {} runtime's Python environment ({}), installed into {}".format(
        backend, arch_of(platform), VENV
    )
    _pex(
        _arch_name("dev-tools", platform),
        DEV_TOOLS,
        resolve,
        platform,
        "3rdparty/python:{}-dev-tools".format(backend),
        "The dev stage's tools ({}), installed into {}".format(arch_of(platform), DEV_VENV),
    )
    base = "containers/base:" + _arch_name("torch", platform)
    check = STACK_CHECK.format(shared_site=_shared_site())
    if _is_host(platform):
        instructions, dependencies, installs = _wheels_venv(
            pex_dir + "/python-wheels",
            requirements,
            resolve,
            description,
            base=base,
            into=VENV,
            check=check,
            # What the shared torch layer under the stack holds.
            exclude=_shared_specs(),
            shared="--shared {} ".format(_shared_site()),
        )
    else:
        env = _arch_name("python-env", platform)
        _pex(env, backends()[backend]["requirements"], resolve, platform, requirements,
             description)  # fmt: skip
        pex = "{}/{}.pex".format(pex_dir, env)
        instructions = _render(
            STACK_PEX_TEMPLATE,
            base=base,
            pex=pex,
            dropper=SHARED_DROPPER,
            dropper_mount=DROPPER_MOUNT,
            installer=WHEEL_INSTALLER,
            installer_mount=INSTALLER_MOUNT,
            shared_site=_shared_site(),
            shared=" ".join(_shared_specs()),
            check=check,
        )
        dependencies = [
            ":" + env,
            "containers/build-inputs:drop-shared-dists",
            "containers/build-inputs:install-wheels",
        ]
        # The PEX holds the shared distributions, which drop_shared_dists.py leaves out.
        installs = [pex] + [
            "!{}/.deps/{}-{}-*.whl".format(pex, dist.replace("-", "_"), pin)
            for dist, pin in shared_dists()
        ]
    name = _arch_name("stack", platform)
    docker_image(
        name=name,
        instructions=instructions,
        dependencies=dependencies,
        # Its SBOM (which the runtime's derives from) is the base's plus its own
        # distributions, made on the host, no container run; the shared ones are base:torch's.
        sbom=True,
        sbom_installs={_site_packages(VENV): installs},
        # No commit in its tags or labels: a new commit alone never rebuilds it.
        image_tags=[_arch_name("stack-{}".format(version("dynamo")), platform)],
        image_labels={BUILT_BY_LABEL: here + ":" + name},
        skip_push=True,
        build_network="none",
        build_platform=platform,
        tags=tags,
        description="Dynamo {} Python stack on the base ({}; what the runtime image builds "
        "on; not published)".format(backend, arch_of(platform)),
    )


def _stage_fields(backend, stage, platform):
    """The fields of one stage's image that depend on the platform: its base (the stage
    below, or the stack), its template's values and its wheels' builds."""
    pex_dir = "containers/{}".format(backend).replace("/", ".")
    index = STAGES.index(stage)
    # Each stage builds on the one before it; the first on the backend's stack image.
    if index:
        base = image_address(backend, STAGES[index - 1], platform)
    else:
        base = "containers/{}:{}".format(backend, _arch_name("stack", platform))
    # stage -> (its dependencies, its template's values); a stage not named here has neither.
    dev_tools = _arch_name("dev-tools", platform)
    deps, values = {
        "runtime": ([], dict(backend=backend)),
        "dev": ([":" + dev_tools], dict(pex="{}/{}.pex".format(pex_dir, dev_tools))),
    }.get(stage, ([], {}))
    # dev and ci tools live in the dev venv, which sees the runtime venv.
    venv = VENV if stage == "runtime" else DEV_VENV
    return dict(
        instructions=_render(
            dict(STAGE_TEMPLATES)[stage],
            base=base,
            wheels=_install_wheels(stage, venv, platform),
            **values
        ),
        dependencies=deps + _stage_wheel_targets(stage, platform),
        # What the stage's template installs on the image before it: its SBOM is derived
        # from that image's, with no container run.
        sbom_installs=_stage_installs(stage, venv, platform, values.get("pex")),
        tags=_arch_tags(platform),
    )
