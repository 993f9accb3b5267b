"""Installs wheels into the running interpreter's venv with the standard library only.

Runtime venvs carry no pip (and Debian's Python has no ensurepip), so image stages install
wheels checked by Pants (the first-party wheels of src/; the locked wheels of the shared torch
layer and of each stack, `image_wheels`) with this instead:

    /opt/dynamo/venv/bin/python install_wheels.py WHEEL...

It does what those wheels need and nothing more: checks every file against the wheel's RECORD
as it unpacks it (one pass: torch's wheels are gigabytes) into a staging directory in the venv,
moved into place only once the whole wheel matched, so a mismatch leaves nothing behind; it
unpacks purelib/platlib into site-packages, `.data/data` into the venv, `.data/headers` where
pip puts them, `.data/scripts` into the venv's bin (rewriting a `#!python` shebang), writes
the console scripts of the wheel's entry points into bin as pip would, and records the
installer. Anything else is refused. It compiles nothing: the image runs `compileall` after.
With `--locked` (wheels that `image_wheels` checked against their lockfile's sha256) a file
that does not match its RECORD is a warning, as the wheel is the very file locked: upstream
packaging errors (pynvvideocodec 2.0.4's) are not for the image build to fix; pip and pex
install them silently.

    python install_wheels.py [--locked] --shared SITE_PACKAGES [WHEEL...]

first points this venv at another venv's SITE_PACKAGES, after its own (a `.pth` file,
SHARED_PTH), and writes into its bin the console scripts of every distribution installed
there: a backend's stack on the shared torch layer (`torchrun`, ...), which so never stores
torch again.
"""

from __future__ import annotations

import argparse
import base64
import configparser
import csv
import hashlib
import io
import os
import shutil
import sys
import sysconfig
import zipfile

CHUNK = 1 << 20
SHARED_PTH = "dynamo-shared-venv.pth"


def headers_dir(metadata: bytes) -> str:
    """Where a distribution's `.data/headers` go in a venv, as pip puts them:
    include/site/pythonX.Y/<its Name>."""
    name = next(line[5:].strip() for line in metadata.decode().splitlines()
                if line.startswith("Name:"))  # fmt: skip
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return os.path.join(sys.prefix, "include", "site", version, name)


def target_of(name: str, data_dir: str, headers: str, wheel_path: str) -> tuple[str, int]:
    """Where a member of the wheel goes in the venv, and its mode."""
    if not name.startswith(data_dir + "/"):
        return os.path.join(sysconfig.get_path("purelib"), name), (
            0o755 if name.endswith(".so") else 0o644
        )
    kind, _, rest = name[len(data_dir) + 1 :].partition("/")
    if kind in ("purelib", "platlib"):
        return os.path.join(sysconfig.get_path("purelib"), rest), 0o644
    if kind == "scripts":
        return os.path.join(sysconfig.get_path("scripts"), rest), 0o755
    if kind == "data":
        return os.path.join(sys.prefix, rest), 0o644
    if kind == "headers":
        return os.path.join(headers, rest), 0o644
    sys.exit(f"{wheel_path}: unsupported wheel data directory {kind!r}")


def install(wheel_path: str, locked: bool) -> None:
    staging = os.path.join(sys.prefix, ".installing")
    shutil.rmtree(staging, ignore_errors=True)
    placed = []  # (staged, target, mode)
    with zipfile.ZipFile(wheel_path) as wheel:
        names = wheel.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        data_dir = dist_info[: -len(".dist-info")] + ".data"
        record = wheel.read(f"{dist_info}/RECORD").decode()
        headers = headers_dir(wheel.read(f"{dist_info}/METADATA"))
        expected = {
            path: digest.split("=", 1)
            for path, digest, _size in csv.reader(io.StringIO(record))
            if digest
        }
        for name in names:
            if name.endswith("/"):
                continue
            target, mode = target_of(name, data_dir, headers, wheel_path)
            staged = os.path.join(staging, os.path.relpath(target, sys.prefix))
            os.makedirs(os.path.dirname(staged), exist_ok=True)
            algorithm, digest = expected.get(name, ("sha256", None))
            hasher = hashlib.new(algorithm)
            with wheel.open(name) as src, open(staged, "wb") as out:
                if name.startswith(f"{data_dir}/scripts/"):
                    content = src.read()
                    hasher.update(content)
                    if content.startswith(b"#!python"):
                        content = b"#!" + sys.executable.encode() + content[len(b"#!python") :]
                    out.write(content)
                else:
                    while chunk := src.read(CHUNK):
                        hasher.update(chunk)
                        out.write(chunk)
            actual = base64.urlsafe_b64encode(hasher.digest()).decode().rstrip("=")
            if digest is not None and actual != digest:
                mismatch = f"{wheel_path}: {name} does not match the wheel's RECORD"
                if not locked:
                    shutil.rmtree(staging)
                    sys.exit(mismatch)
                # Its publisher's packaging: pip and pex install such a wheel without a word.
                print(f"warning: {mismatch}; installed, as the wheel matched its lockfile's "
                      "sha256", file=sys.stderr)  # fmt: skip
            placed.append((staged, target, mode))
    for staged, target, mode in placed:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(staged, target)
        os.chmod(target, mode)
    shutil.rmtree(staging)
    installed = os.path.join(sysconfig.get_path("purelib"), dist_info)
    with open(os.path.join(installed, "INSTALLER"), "w") as f:
        f.write("dynamo-install-wheels\n")
    write_console_scripts(installed)
    print(f"installed {os.path.basename(wheel_path)}")


def write_console_scripts(dist_info: str) -> None:
    """Writes into this venv's bin a script per console (and gui) entry point of an installed
    distribution's `dist_info` directory, as pip writes them."""
    path = os.path.join(dist_info, "entry_points.txt")
    if not os.path.isfile(path):
        return
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # script names keep their case
    parser.read(path)
    for section in ("console_scripts", "gui_scripts"):
        for name, target in parser.items(section) if parser.has_section(section) else ():
            module, _, attr = target.partition(":")
            attr = attr.split("[")[0].strip()  # extras do not change the script
            head = attr.partition(".")[0]
            script = os.path.join(sysconfig.get_path("scripts"), name)
            with open(script, "w") as f:
                f.write(f"#!{sys.executable}\nimport sys\nfrom {module.strip()} import {head}\n"
                        f"if __name__ == '__main__':\n    sys.exit({attr}())\n")
            os.chmod(script, 0o755)


def share(site: str) -> None:
    """Puts another venv's site-packages `site` on this venv's sys.path, after its own, and
    writes wrappers for its distributions' console scripts."""
    if not os.path.isdir(site):
        sys.exit(f"install_wheels.py: --shared {site}: no such site-packages directory")
    with open(os.path.join(sysconfig.get_path("purelib"), SHARED_PTH), "w") as f:
        f.write(site + "\n")
    for entry in sorted(os.listdir(site)):
        if entry.endswith(".dist-info"):
            write_console_scripts(os.path.join(site, entry))


def main(args: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="install_wheels.py", description=__doc__.split("\n")[0])
    parser.add_argument("--shared", metavar="SITE_PACKAGES",
                        help="point this venv at another venv's site-packages first")
    parser.add_argument("--locked", action="store_true",
                        help="the wheels were checked against a lockfile's sha256 (image_wheels): "
                        "a file that does not match its wheel's RECORD is a warning, not an error")
    parser.add_argument("wheels", nargs="*", metavar="WHEEL")
    options = parser.parse_args(args)
    if not options.shared and not options.wheels:
        parser.error("give the wheels to install (and/or --shared)")
    if options.shared:
        share(options.shared)
    for path in options.wheels:
        install(path, options.locked)


if __name__ == "__main__":
    main(sys.argv[1:])
