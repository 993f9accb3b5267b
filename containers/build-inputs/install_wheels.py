"""Installs wheels into the running interpreter's venv with the standard library only.

Runtime venvs carry no pip (and Debian's Python has no ensurepip), so image stages install
the first-party wheels (src/, built and checked by Pants) with this instead:

    /opt/dynamo/venv/bin/python install_wheels.py WHEEL...

It does what those wheels need and nothing more: verifies every file against the wheel's
RECORD, unpacks purelib/platlib into site-packages, puts `.data/scripts` into the venv's bin
(rewriting a `#!python` shebang), and records the installer. Anything else is refused.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import sys
import sysconfig
import zipfile


def install(wheel_path: str) -> None:
    site_packages = sysconfig.get_path("purelib")
    scripts_dir = sysconfig.get_path("scripts")
    with zipfile.ZipFile(wheel_path) as wheel:
        names = wheel.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        data_dir = dist_info[: -len(".dist-info")] + ".data"
        record = wheel.read(f"{dist_info}/RECORD").decode()
        for path, digest, _size in csv.reader(io.StringIO(record)):
            if not digest:
                continue  # RECORD itself
            algorithm, expected = digest.split("=", 1)
            actual = base64.urlsafe_b64encode(hashlib.new(algorithm, wheel.read(path)).digest())
            if actual.decode().rstrip("=") != expected:
                sys.exit(f"{wheel_path}: {path} does not match the wheel's RECORD")
        for name in names:
            if name.endswith("/"):
                continue
            content = wheel.read(name)
            mode = 0o644
            if name.startswith(data_dir + "/"):
                kind, _, rest = name[len(data_dir) + 1 :].partition("/")
                if kind in ("purelib", "platlib"):
                    target = os.path.join(site_packages, rest)
                elif kind == "scripts":
                    target, mode = os.path.join(scripts_dir, rest), 0o755
                    if content.startswith(b"#!python"):
                        content = b"#!" + sys.executable.encode() + content[len(b"#!python") :]
                else:
                    sys.exit(f"{wheel_path}: unsupported wheel data directory {kind!r}")
            else:
                target = os.path.join(site_packages, name)
                if name.endswith(".so"):
                    mode = 0o755
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(content)
            os.chmod(target, mode)
        with open(os.path.join(site_packages, dist_info, "INSTALLER"), "w") as f:
            f.write("dynamo-install-wheels\n")
    print(f"installed {os.path.basename(wheel_path)}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python install_wheels.py WHEEL...")
    for path in sys.argv[1:]:
        install(path)
