"""Lists an image's installed packages as CycloneDX components (JSON on stdout).

Two ways, one component format (gates.py):

- in the image: run by its own python3 (`docker run ... python3 -I - < sbom_collector.py`),
  with no network, it lists the Debian packages and every installed Python distribution;
- on the host: `python3 -I sbom_collector.py --installed-at SITE_PACKAGES ARCHIVE...` lists
  the distributions in wheels and packed PEX files (`.deps/*.whl`) as they are once installed
  into SITE_PACKAGES, for an image whose own layers install exactly those (`sbom_installs`).

Standard library only, Python 3.6+ (the production base has Ubuntu's 3.10, the local one
Debian's 3.11). Reads files only; imports nothing it lists.
"""

import email.parser
import glob
import json
import os
import re
import sys
import zipfile
from urllib.parse import quote

DPKG_STATUS = "/var/lib/dpkg/status"
# Where Python distributions live: the system and /usr/local Pythons, venvs under /opt, and
# per-user installs.
SITE_GLOBS = (
    "/usr/lib/python3*/site-packages",
    "/usr/lib/python3*/dist-packages",
    "/usr/local/lib/python3*/site-packages",
    "/usr/local/lib/python3*/dist-packages",
    "/root/.local/lib/python3*/site-packages",
    "/home/*/.local/lib/python3*/site-packages",
)
OPT = "/opt"
# A License field longer than this is the license's text, not its name.
MAX_LICENSE_NAME = 120


def os_release():
    values = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    key, sep, value = line.strip().partition("=")
                    if sep:
                        values[key] = value.strip().strip("\"'")
            break
        except OSError:
            continue
    return values


def dpkg_packages(distro):
    try:
        with open(DPKG_STATUS, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return []
    components = []
    for paragraph in re.split(r"\n\s*\n", text):
        fields = {}
        key = None
        for line in paragraph.splitlines():
            if line[:1] in (" ", "\t") and key:
                continue  # a continuation line (Description, Conffiles)
            key, sep, value = line.partition(":")
            if sep:
                fields[key] = value.strip()
        name, version = fields.get("Package"), fields.get("Version")
        # Removed packages whose config files remain have other states ("deinstall ok
        # config-files"): only what is installed counts.
        if not name or not version or not fields.get("Status", "").endswith(" installed"):
            continue
        arch = fields.get("Architecture", "")
        purl = f"pkg:deb/{distro}/{quote(name)}@{quote(version, safe=':')}?arch={quote(arch)}"
        properties = [{"name": "dynamo:package:type", "value": "deb"}]
        if fields.get("Source"):
            properties.append({"name": "dynamo:deb:source", "value": fields["Source"]})
        components.append(
            {
                "type": "library",
                "bom-ref": purl,
                "name": name,
                "version": version,
                "purl": purl,
                "properties": properties,
            }
        )
    return components


def site_dirs():
    found = []
    for pattern in SITE_GLOBS:
        found.extend(sorted(glob.glob(pattern)))
    # venvs and other prefixes under /opt, at any depth: <prefix>/lib/python3*/site-packages.
    for root, dirs, _ in os.walk(OPT):
        dirs.sort()
        if os.path.basename(root) in ("site-packages", "dist-packages"):
            if re.match(r"python3[.\d]*$", os.path.basename(os.path.dirname(root))):
                found.append(root)
            dirs[:] = []  # never descend into installed packages
    # Each directory once, however many symlinks lead to it.
    unique = {}
    for path in found:
        if os.path.isdir(path):
            unique.setdefault(os.path.realpath(path), path)
    return sorted(unique.values())


def read_metadata(path):
    """The headers of a METADATA or PKG-INFO file (dist-info, egg-info dir or egg-info file)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return email.parser.HeaderParser().parse(f)
    except OSError:
        return None


def licenses(metadata):
    expression = (metadata.get("License-Expression") or "").strip()
    if expression:
        return [{"expression": expression}]
    name = (metadata.get("License") or "").strip()
    if name and name.upper() != "UNKNOWN" and "\n" not in name and len(name) <= MAX_LICENSE_NAME:
        return [{"license": {"name": name}}]
    classifiers = [
        c.split("::")[-1].strip()
        for c in metadata.get_all("Classifier") or ()
        if c.startswith("License ::") and c.count("::") >= 2
    ]
    return [{"license": {"name": c}} for c in sorted(set(classifiers))]


def component(metadata, site, dist_info):
    """The component of a distribution whose METADATA is `metadata`, installed as
    `<site>/<dist_info>`; None if the metadata has no name or version."""
    if metadata is None or not metadata.get("Name") or not metadata.get("Version"):
        return None
    name, version = metadata["Name"].strip(), metadata["Version"].strip()
    normalized = re.sub(r"[-_.]+", "-", name).lower()
    purl = f"pkg:pypi/{quote(normalized)}@{quote(version)}"
    # The environment's prefix: <prefix>/lib/python3.X/site-packages.
    prefix = os.path.dirname(os.path.dirname(os.path.dirname(site)))
    found = {
        "type": "library",
        # One distribution may be in several environments: the ref names its place.
        "bom-ref": f"{purl}#{os.path.join(site, dist_info)}",
        "name": name,
        "version": version,
        "purl": purl,
        "properties": [
            {"name": "dynamo:package:type", "value": "python"},
            {"name": "dynamo:python:environment", "value": prefix},
            {"name": "dynamo:python:site-packages", "value": site},
        ],
    }
    found_licenses = licenses(metadata)
    if found_licenses:
        found["licenses"] = found_licenses
    return found


def python_distributions():
    components = []
    for site in site_dirs():
        for entry in sorted(os.listdir(site)):
            path = os.path.join(site, entry)
            if entry.endswith(".dist-info"):
                metadata = read_metadata(os.path.join(path, "METADATA"))
            elif entry.endswith(".egg-info"):
                is_dir = os.path.isdir(path)
                metadata = read_metadata(os.path.join(path, "PKG-INFO") if is_dir else path)
            else:
                continue
            found = component(metadata, site, entry)
            if found is not None:
                components.append(found)
    return components


def wheel_files(path):
    """The wheels of an archive path: a `.whl` file itself, or a packed PEX's `.deps/*.whl`."""
    if os.path.isdir(path):
        deps = os.path.join(path, ".deps")
        if not os.path.isdir(deps):
            sys.exit(f"{path}: a directory but not a packed PEX (no .deps/)")
        return [os.path.join(deps, name) for name in sorted(os.listdir(deps))]
    if path.endswith(".whl"):
        return [path]
    sys.exit(f"{path}: neither a wheel nor a packed PEX")


def archived_distributions(site, patterns):
    """The components of the distributions in the files `patterns` match (globs), once
    installed into `site`: what pip, `pex venv` and install_wheels.py (containers/build-inputs)
    install is the wheel's own `<name>-<version>.dist-info` directory, METADATA included.
    A pattern `!GLOB` leaves out the wheels GLOB matches (a packed PEX's `.deps` entries that
    the instructions remove again); it must match one."""
    components = []
    excluded = set()
    for pattern in (p[1:] for p in patterns if p.startswith("!")):
        paths = glob.glob(pattern)
        if not paths:
            sys.exit(f"!{pattern}: matches no file")
        excluded.update(os.path.normpath(path) for path in paths)
    for pattern in (p for p in patterns if not p.startswith("!")):
        paths = sorted(glob.glob(pattern))
        if not paths:
            sys.exit(f"{pattern}: matches no file")
        wheels = (wheel for path in paths for wheel in wheel_files(path))
        for wheel in (w for w in wheels if os.path.normpath(w) not in excluded):
            with zipfile.ZipFile(wheel) as archive:
                metadata_files = [
                    n for n in archive.namelist()
                    if n.count("/") == 1 and n.split("/")[0].endswith(".dist-info")
                    and n.endswith("/METADATA")
                ]
                if len(metadata_files) != 1:
                    sys.exit(f"{wheel}: expected one top-level .dist-info/METADATA, found "
                             f"{len(metadata_files)}")
                text = archive.read(metadata_files[0]).decode("utf-8", errors="replace")
            found = component(
                email.parser.HeaderParser().parsestr(text), site, metadata_files[0].split("/")[0]
            )
            if found is None:
                sys.exit(f"{wheel}: its METADATA has no Name or Version")
            components.append(found)
    return components


def main():
    if sys.argv[1:2] == ["--installed-at"]:
        if len(sys.argv) < 4:
            sys.exit("usage: sbom_collector.py --installed-at SITE_PACKAGES ARCHIVE...")
        json.dump(
            {"components": archived_distributions(sys.argv[2], sys.argv[3:])},
            sys.stdout,
            sort_keys=True,
        )
        return
    release = os_release()
    distro = release.get("ID") or "debian"
    json.dump(
        {
            "os": {"id": distro, "version_id": release.get("VERSION_ID", "")},
            "components": dpkg_packages(distro) + python_distributions(),
        },
        sys.stdout,
        sort_keys=True,
    )


if __name__ == "__main__":
    main()
