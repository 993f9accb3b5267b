"""Installs wheels into the running interpreter's venv with the standard library only.

Runtime venvs carry no pip (and Debian's Python has no ensurepip), so image stages install
wheels checked by Pants (the first-party wheels of src/; the shared torch layer's locked
wheels, `image_wheels`) with this instead:

    /opt/dynamo/venv/bin/python install_wheels.py WHEEL...

It does what those wheels need and nothing more: checks every file against the wheel's RECORD
as it unpacks it (one pass: torch's wheels are gigabytes) into a staging directory in the venv,
moved into place only once the whole wheel matched, so a mismatch leaves nothing behind; it
unpacks purelib/platlib into site-packages, `.data/data` into the venv, `.data/scripts` into
the venv's bin (rewriting a `#!python` shebang), and records the installer. Anything else is refused. It compiles nothing:
the image runs `compileall` after it.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import shutil
import sys
import sysconfig
import zipfile

CHUNK = 1 << 20


def target_of(name: str, data_dir: str, wheel_path: str) -> tuple[str, int]:
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
    sys.exit(f"{wheel_path}: unsupported wheel data directory {kind!r}")


def install(wheel_path: str) -> None:
    staging = os.path.join(sys.prefix, ".installing")
    shutil.rmtree(staging, ignore_errors=True)
    placed = []  # (staged, target, mode)
    with zipfile.ZipFile(wheel_path) as wheel:
        names = wheel.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        data_dir = dist_info[: -len(".dist-info")] + ".data"
        record = wheel.read(f"{dist_info}/RECORD").decode()
        expected = {
            path: digest.split("=", 1)
            for path, digest, _size in csv.reader(io.StringIO(record))
            if digest
        }
        for name in names:
            if name.endswith("/"):
                continue
            target, mode = target_of(name, data_dir, wheel_path)
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
                shutil.rmtree(staging)
                sys.exit(f"{wheel_path}: {name} does not match the wheel's RECORD")
            placed.append((staged, target, mode))
    for staged, target, mode in placed:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(staged, target)
        os.chmod(target, mode)
    shutil.rmtree(staging)
    with open(os.path.join(sysconfig.get_path("purelib"), dist_info, "INSTALLER"), "w") as f:
        f.write("dynamo-install-wheels\n")
    print(f"installed {os.path.basename(wheel_path)}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python install_wheels.py WHEEL...")
    for path in sys.argv[1:]:
        install(path)
