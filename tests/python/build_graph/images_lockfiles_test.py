"""The images lockfiles cover linux aarch64 as well as x86_64 (issue 18.1): every locked
distribution that the arm64 images install has an artifact pip can install there.

A lockfile (3rdparty/python/images-<backend>.lock) is Pex's universal lock: one version per
distribution, with every artifact PyPI has for it, hash-locked. Whether the arm64 images can
install it is then a question of artifacts: a distribution with linux x86_64 wheels needs a
manylinux aarch64 wheel (within the production glibc), a pure `any` wheel or an sdist too,
unless the requirement markers keep it off aarch64 altogether (walked from the lockfile's own
requirements, with their extras, for CPython 3.11 on linux aarch64).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import Marker  # pants: no-infer-dep (Pants' own dependency)
from packaging.requirements import Requirement  # pants: no-infer-dep
from packaging.tags import Tag, compatible_tags, cpython_tags  # pants: no-infer-dep
from packaging.utils import canonicalize_name, parse_wheel_filename  # pants: no-infer-dep

from build_graph.family_runner import DATA, IMAGES_DATA
from dynamo_images.testutil import read_lockfile

PYTHON = tuple(int(part) for part in DATA.version("python").split("."))


def environment(machine: str) -> dict[str, str]:
    """PEP 508 marker environment of the images' CPython on linux `machine`."""
    version = ".".join(map(str, PYTHON))
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{version}.0",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{version}.0",
        "python_version": version,
        "sys_platform": "linux",
    }


AARCH64 = environment("aarch64")
X86_64 = environment("x86_64")


def aarch64_tags(glibc: tuple[int, int]) -> frozenset[Tag]:
    """The wheel tags the images' CPython installs on linux aarch64 with this glibc: manylinux
    (aarch64 starts at 2.17, alias manylinux2014) up to it, and `any`."""
    platforms = [f"manylinux_{glibc[0]}_{minor}_aarch64" for minor in range(glibc[1], 16, -1)]
    platforms.append("manylinux2014_aarch64")
    abi = f"cp{PYTHON[0]}{PYTHON[1]}"
    return frozenset(
        [
            *cpython_tags(PYTHON, abis=[abi], platforms=platforms),
            *compatible_tags(PYTHON, abi, platforms=platforms),
        ]
    )


PRODUCTION_GLIBC = tuple(int(part) for part in DATA.version("production_glibc").split("."))
USABLE_ON_AARCH64 = aarch64_tags(PRODUCTION_GLIBC)  # type: ignore[arg-type]


def is_linux_x86_64(filename: str) -> bool:
    return filename.endswith(".whl") and any(
        tag.platform.endswith("_x86_64") and "linux" in tag.platform
        for tag in parse_wheel_filename(filename)[3]
    )


def is_usable_on_aarch64(filename: str) -> bool:
    if not filename.endswith(".whl"):
        return True  # an sdist: pip builds it on the target
    return bool(parse_wheel_filename(filename)[3] & USABLE_ON_AARCH64)


@dataclass(frozen=True)
class Locked:
    name: str
    version: str
    files: tuple[str, ...]
    requires: tuple[str, ...]


def locked(lock: dict) -> dict[str, Locked]:
    (resolve,) = lock["locked_resolves"]  # a universal lock has one
    return {
        canonicalize_name(req["project_name"]): Locked(
            canonicalize_name(req["project_name"]),
            req["version"],
            tuple(artifact["url"].rsplit("/", 1)[-1] for artifact in req["artifacts"]),
            tuple(req.get("requires_dists", ())),
        )
        for req in resolve["locked_requirements"]
    }


def applies(requirement: Requirement, env: dict[str, str], extra: str) -> bool:
    return requirement.marker is None or requirement.marker.evaluate({**env, "extra": extra})


@dataclass
class Walk:
    """What linux aarch64 installs from one lockfile: the distributions its requirements reach
    there, the requirements it does not lock, and the requirements (by who requires them) that
    apply on x86_64 but whose markers leave them out on aarch64."""

    reached: set[str] = field(default_factory=set)
    unlocked: list[str] = field(default_factory=list)
    kept_off: dict[str, list[str]] = field(default_factory=dict)


def walk_aarch64(lock: dict) -> Walk:
    dists = locked(lock)
    walk = Walk()
    todo: list[tuple[str, str, str]] = []  # (name, extra or "", who asked)

    def want(requirements: Iterable[str], env_extra: str, who: str) -> None:
        for text in requirements:
            requirement = Requirement(text)
            name = canonicalize_name(requirement.name)
            if applies(requirement, AARCH64, env_extra):
                todo.extend((name, extra, who) for extra in ("", *requirement.extras))
            elif applies(requirement, X86_64, env_extra):
                walk.kept_off.setdefault(name, []).append(f"{who} requires {text!r}")

    want(lock["requirements"], "", "the lockfile")
    seen: set[tuple[str, str]] = set()
    while todo:
        name, extra, who = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        if name not in dists:
            walk.unlocked.append(f"{name}, required by {who} there,")
            continue
        walk.reached.add(name)
        requirer = f"{name}[{extra}]" if extra else name
        want(dists[name].requires, extra, requirer)
    return walk


def image_lockfiles() -> list[Path]:
    """Every images lockfile (images_data_test checks they are the buildable backends')."""
    paths = sorted(Path("3rdparty/python").glob("images-*.lock"))
    assert paths, "no 3rdparty/python/images-*.lock"
    return paths


def aarch64_gaps(path: Path) -> tuple[list[str], dict[str, str]]:
    """(failures, {distribution: why it is left off aarch64}) of one lockfile."""
    lock = read_lockfile(path)
    resolve = path.stem
    walk = walk_aarch64(lock)
    failures = [
        f"{path}: the arm64 images need {name} not in the lockfile: it was not resolved "
        f"for linux aarch64. Fix: ./pants generate-lockfiles --resolve={resolve}"
        for name in walk.unlocked
    ]
    left_off = {}
    for name, dist in sorted(locked(lock).items()):
        x86 = [f for f in dist.files if is_linux_x86_64(f)]
        if not x86 or any(is_usable_on_aarch64(f) for f in dist.files):
            continue
        if name not in walk.reached:
            left_off[name] = "; ".join(walk.kept_off.get(name, [])) or (
                "no locked requirement asks for it on linux"
            )
            continue
        failures.append(
            f"{path}: {dist.name} {dist.version} is installed on linux aarch64 but is locked with "
            f"linux x86_64 wheels only ({', '.join(x86)}); none is manylinux aarch64 within "
            f"glibc {'.'.join(map(str, PRODUCTION_GLIBC))}, `any` or an sdist. Fix: pin a "
            f"version of {dist.name} that publishes manylinux aarch64 wheels, or keep it off "
            f'aarch64 with a marker (`; platform_machine != "aarch64"`), in {IMAGES_DATA}; '
            f"then ./pants generate-lockfiles --resolve={resolve}"
        )
    return failures, left_off


# What the requirement markers keep off the arm64 images today, and why (docs/wheels.md): a
# change here is a change in what the arm64 images lack against amd64.
LEFT_OFF_AARCH64 = {
    # sglang[diffusion]: `st_attn`/`vsa; platform_machine != "aarch64" and extra == "diffusion"`
    # (sliding-tile and video sparse attention kernels, x86_64 wheels only).
    "images-sglang": {"st-attn", "vsa"},
}


def test_every_distribution_the_arm64_images_install_has_an_aarch64_artifact() -> None:
    failures = [failure for path in image_lockfiles() for failure in aarch64_gaps(path)[0]]
    assert not failures, "\n".join(failures)


def test_what_the_markers_keep_off_aarch64_is_known() -> None:
    found = {}
    for path in image_lockfiles():
        left_off = aarch64_gaps(path)[1]
        if left_off:
            found[path.stem] = left_off
    assert {resolve: set(names) for resolve, names in found.items()} == LEFT_OFF_AARCH64, (
        "the requirement markers now keep other distributions off linux aarch64 (the arm64 "
        f"images lack them): {json.dumps(found, indent=1)}; check that the arm64 images can do "
        "without them, then update LEFT_OFF_AARCH64 here and the list in docs/wheels.md"
    )


def test_a_distribution_with_x86_64_wheels_only_fails_naming_lockfile_and_fix(
    tmp_path: Path,
) -> None:
    """The check itself, on a doctored copy of a lockfile: one distribution's aarch64 wheels
    and sdist removed."""
    source = image_lockfiles()[0]
    lock = read_lockfile(source)
    (resolve,) = lock["locked_resolves"]
    walk = walk_aarch64(lock)
    doctored = None
    for req in resolve["locked_requirements"]:
        files = [a["url"].rsplit("/", 1)[-1] for a in req["artifacts"]]
        name = canonicalize_name(req["project_name"])
        if name in walk.reached and any(is_linux_x86_64(f) for f in files):
            req["artifacts"] = [
                a for a in req["artifacts"] if not is_usable_on_aarch64(a["url"].rsplit("/", 1)[-1])
            ]
            if req["artifacts"]:
                doctored = req
                break
    assert doctored, f"{source} has no distribution with both x86_64 and aarch64 wheels"
    copy = tmp_path / source.name
    copy.write_text(json.dumps(lock))
    failures, _ = aarch64_gaps(copy)
    assert len(failures) == 1, failures
    assert f"{copy}: {doctored['project_name']} {doctored['version']}" in failures[0]
    assert f"generate-lockfiles --resolve={source.stem}" in failures[0]
    assert "pin a version" in failures[0] and IMAGES_DATA in failures[0]


def test_markers_are_read_for_aarch64() -> None:
    off = Requirement('vsa==0.0.4; platform_machine != "aarch64" and extra == "diffusion"')
    assert not applies(off, AARCH64, "diffusion") and applies(off, X86_64, "diffusion")
    assert not applies(off, X86_64, "")
    assert Marker('platform_machine == "aarch64"').evaluate(AARCH64)


def test_the_arm64_pexes_complete_platform_is_the_images_cpython_within_the_production_glibc():
    """PEX_COMPLETE_PLATFORMS (what the arm64 images' PEXes are resolved for) agrees with the
    data: CPython of _VERSIONS on linux aarch64, every manylinux tag up to production_glibc."""
    [(platform, (path, _, _))] = DATA.PEX_COMPLETE_PLATFORMS
    assert platform == "linux/arm64"
    complete = json.loads(Path(path).read_text())
    assert complete["marker_environment"] == AARCH64, path
    tags = complete["compatible_tags"]
    assert len(tags) == len(set(tags)) and set(map(str, USABLE_ON_AARCH64)) == set(tags), (
        f"{path} differs from the data's tags: regenerate it from aarch64_tags(PRODUCTION_GLIBC)"
    )
    # Pex prefers earlier tags: the newest manylinux first.
    cp = f"cp{PYTHON[0]}{PYTHON[1]}"
    assert tags[0] == f"{cp}-{cp}-manylinux_{PRODUCTION_GLIBC[0]}_{PRODUCTION_GLIBC[1]}_aarch64"
