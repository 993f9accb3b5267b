"""Installs another arch's packed PEX of a backend into its venv without the distributions
that the shared torch layer already holds.

A backend's `stack` image builds on `containers/base:torch`, whose SHARED_VENV holds torch and
its CUDA wheels (containers/images_data.py: SHARED_DISTS). On the host the stack installs its
locked wheels, which leave those out (`image_wheels(exclude=...)`); another arch's PEX
(containers/build-inputs/foreign_pex.sh) has them all. Its RUN calls, with the base's Python,

    python drop_shared_dists.py PEX VENV SHARED_SITE_PACKAGES NAME==VERSION...

This makes a copy of the packed PEX (symlinks) whose PEX-INFO and `.deps/` leave out whatever
of them it holds, installs that with pex's own `venv` tool (PEX_IGNORE_ERRORS: the requirements
it leaves out are met by the shared venv, which pex does not see), and checks that the venv
then holds every other distribution of the PEX. So the gigabytes of torch and CUDA are never
unzipped, compiled or written by a stack. (pex 2.1.137, which Pants 2.17 pins, has no
`--exclude`.) The RUN then points the venv at the shared one (install_wheels.py --shared).

Each named distribution must be in the shared venv at that version, and in the PEX at that
version or not at all, or this fails naming it: the lockfiles then disagree with SHARED_DISTS.
That both lock the same files (the same wheel hashes) is checked before any build, by
tests/python/build_graph/images_data_test.py.

Standard library only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

def canonical(name: str) -> str:
    return "".join("-" if c in "_." else c for c in name.lower())


def wheel_key(filename: str) -> tuple[str, str]:
    """(canonical name, version) of a wheel's file name (PEP 427: name-version-...)."""
    name, version = filename.split("-")[:2]
    return canonical(name), version


def dist_infos(site: str) -> dict[tuple[str, str], str]:
    """{(canonical name, version): dist-info directory} of a site-packages directory."""
    found = {}
    for entry in os.listdir(site) if os.path.isdir(site) else ():
        if entry.endswith(".dist-info"):
            name, _, version = entry[: -len(".dist-info")].partition("-")
            found[(canonical(name), version)] = os.path.join(site, entry)
    return found


def fail(message: str) -> None:
    sys.exit(f"drop_shared_dists.py: {message}")


def site_packages(venv: str) -> str:
    return os.path.join(venv, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}",
                        "site-packages")


def without(pex: str, dropped: set[str], into: str) -> str:
    """A copy of the packed PEX at `pex` (symlinks to its files) without the `.deps` wheels
    named in `dropped`; returns its path. Every wheel it keeps is one of its requirements too:
    pex resolves from them, and one only a dropped distribution requires (torch's jinja2)
    would be left out otherwise."""
    copy = os.path.join(into, os.path.basename(pex.rstrip("/")))
    os.makedirs(os.path.join(copy, ".deps"))
    for entry in os.listdir(pex):
        if entry not in ("PEX-INFO", ".deps"):
            os.symlink(os.path.join(pex, entry), os.path.join(copy, entry))
    for wheel in os.listdir(os.path.join(pex, ".deps")):
        if wheel not in dropped:
            os.symlink(os.path.join(pex, ".deps", wheel), os.path.join(copy, ".deps", wheel))
    with open(os.path.join(pex, "PEX-INFO")) as f:
        info = json.load(f)
    info["distributions"] = {
        wheel: digest for wheel, digest in info["distributions"].items() if wheel not in dropped
    }
    info["requirements"] = info["requirements"] + [
        "{}=={}".format(*wheel_key(wheel)) for wheel in info["distributions"]
    ]
    with open(os.path.join(copy, "PEX-INFO"), "w") as f:
        json.dump(info, f)
    return copy


def main(pex: str, venv: str, shared_site: str, specs: list[str]) -> None:
    with open(os.path.join(pex, "PEX-INFO")) as f:
        wheels = {wheel_key(w): w for w in json.load(f)["distributions"]}
    shared = dist_infos(shared_site)
    keys = []
    for spec in specs:
        name, _, version = spec.partition("==")
        key = (canonical(name), version)
        if key not in shared:
            fail(f"{name} {version} is not in the shared venv ({shared_site}). Fix: build "
                 "containers/base:torch from the SHARED_DISTS of containers/images_data.py.")
        have = [v for (n, v) in wheels if n == key[0] and v != version]
        if have:
            fail(f"this stack's PEX locks {name} {', '.join(have)}, not {version} as the "
                 "shared torch layer does. Fix: align its lockfile with SHARED_DISTS "
                 "(containers/images_data.py; tests/python/build_graph/images_data_test.py).")
        keys.append(key)
    dropped = {key: wheels[key] for key in keys if key in wheels}
    scratch = tempfile.mkdtemp(prefix="stack-pex-")
    try:
        rest = without(pex, set(dropped.values()), scratch)
        env = {**os.environ, "PEX_TOOLS": "1", "PEX_IGNORE_ERRORS": "1"}
        subprocess.run([sys.executable, rest, "venv", "--collisions-ok", "--compile", venv],
                       env=env, check=True)
    finally:
        shutil.rmtree(scratch)
    site = site_packages(venv)
    installed = set(dist_infos(site))
    missing = sorted(set(wheels) - set(dropped) - installed)
    if missing:
        fail(f"pex installed the PEX without {', '.join(n + ' ' + v for n, v in missing)}")
    print(f"drop_shared_dists.py: installed {len(installed)} distributions into {venv}; "
          f"{len(keys)} left to {shared_site} ({len(dropped)} of them dropped from the PEX)")


if __name__ == "__main__":
    if len(sys.argv) < 5:
        fail("usage: drop_shared_dists.py PEX VENV SHARED_SITE_PACKAGES NAME==VERSION...")
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
