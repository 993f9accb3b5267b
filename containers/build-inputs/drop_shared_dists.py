"""Removes from the running interpreter's venv the distributions that the shared torch layer
already holds, and points the venv at that layer with a `.pth` file.

A backend's `stack` image builds on `containers/base:torch`, whose SHARED_VENV holds torch and
its CUDA wheels (containers/images_data.py: SHARED_DISTS). The stack installs its whole PEX
(pex 2.1.137, which Pants 2.17 pins, has no `--exclude`) and then, in the same RUN, runs

    /opt/dynamo/venv/bin/python drop_shared_dists.py SHARED_SITE_PACKAGES NAME==VERSION...

so that those files never land in the stack's layer. Each named distribution must be in both
venvs at that version, with the same RECORD (the same files, byte for byte): anything else
fails naming the distribution, since the lockfiles then disagree with SHARED_DISTS. Entry-point
scripts (outside site-packages) stay: they are small and carry this venv's shebang.

Standard library only; reads and deletes files, imports nothing it removes.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
import sysconfig

PTH = "dynamo-shared-venv.pth"


def canonical(name: str) -> str:
    return "".join("-" if c in "_." else c for c in name.lower())


def dist_infos(site: str) -> dict[tuple[str, str], str]:
    """{(canonical name, version): dist-info directory} of a site-packages directory."""
    found = {}
    for entry in os.listdir(site):
        if entry.endswith(".dist-info"):
            name, _, version = entry[: -len(".dist-info")].partition("-")
            found[(canonical(name), version)] = os.path.join(site, entry)
    return found


def fail(message: str) -> None:
    sys.exit(f"drop_shared_dists.py: {message}")


def drop(site: str, dist_info: str) -> int:
    """Deletes the files RECORD lists inside `site` (and their byte-code); returns bytes freed."""
    freed = 0
    dirs = set()
    with open(os.path.join(dist_info, "RECORD"), newline="") as f:
        paths = [row[0] for row in csv.reader(f) if row]
    for relative in paths:
        path = os.path.normpath(os.path.join(site, relative))
        if not path.startswith(site + os.sep):
            continue  # bin/ scripts: kept (this venv's shebang)
        directory, filename = os.path.split(path)
        victims = [path]
        if filename.endswith(".py"):
            cache = os.path.join(directory, "__pycache__")
            stem = filename[:-3] + "."
            if os.path.isdir(cache):
                victims += [os.path.join(cache, c) for c in os.listdir(cache) if c.startswith(stem)]
                dirs.add(cache)
        for victim in victims:
            if os.path.lexists(victim):
                freed += os.lstat(victim).st_size
                os.remove(victim)
        dirs.add(directory)
    shutil.rmtree(dist_info, ignore_errors=True)  # whatever RECORD did not list
    # Empty directories, deepest first (a namespace such as nvidia/ goes once all are gone).
    for directory in sorted(dirs, key=len, reverse=True):
        while directory.startswith(site + os.sep) and os.path.isdir(directory):
            if os.listdir(directory):
                break
            os.rmdir(directory)
            directory = os.path.dirname(directory)
    return freed


def main(shared_site: str, specs: list[str]) -> None:
    site = os.path.realpath(sysconfig.get_path("purelib"))
    mine, shared = dist_infos(site), dist_infos(shared_site)
    freed = 0
    for spec in specs:
        name, _, version = spec.partition("==")
        key = (canonical(name), version)
        if key not in shared:
            fail(f"{name} {version} is not in the shared venv ({shared_site}); Fix: build "
                 "containers/base:torch from the SHARED_DISTS of containers/images_data.py.")
        if key not in mine:
            have = [v for (n, v) in mine if n == key[0]] or ["nothing"]
            fail(f"this stack's PEX installs {name} {', '.join(have)}, not {version} as the "
                 "shared torch layer does. Fix: align its lockfile with SHARED_DISTS "
                 "(containers/images_data.py; tests/python/build_graph/images_data_test.py).")
        with open(os.path.join(mine[key], "RECORD"), "rb") as a, open(
            os.path.join(shared[key], "RECORD"), "rb"
        ) as b:
            if a.read() != b.read():
                fail(f"{name} {version} differs between this stack's PEX and the shared venv "
                     "(their RECORDs differ: another build of the same version). Fix: lock "
                     "the same artifact in both resolves.")
        freed += drop(site, mine[key])
    with open(os.path.join(site, PTH), "w") as f:
        f.write(shared_site + "\n")
    print(f"drop_shared_dists.py: {len(specs)} distributions left to {shared_site} "
          f"({freed / 1e9:.2f} GB not written to this layer)")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        fail("usage: drop_shared_dists.py SHARED_SITE_PACKAGES NAME==VERSION...")
    main(sys.argv[1], sys.argv[2:])
