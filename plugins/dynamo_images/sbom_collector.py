"""Lists an image's installed packages as CycloneDX components (JSON on stdout).

Run inside the image by its own python3 (`docker run ... python3 -I - < sbom_collector.py`,
see gates.py), with no network: standard library only, Python 3.6+ (the production base has
Ubuntu's 3.10, the local one Debian's 3.11). Reads files only; imports nothing it lists.
"""

import email.parser
import glob
import json
import os
import re
import sys
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


def python_distributions():
    components = []
    for site in site_dirs():
        # The environment's prefix: <prefix>/lib/python3.X/site-packages.
        prefix = os.path.dirname(os.path.dirname(os.path.dirname(site)))
        for entry in sorted(os.listdir(site)):
            path = os.path.join(site, entry)
            if entry.endswith(".dist-info"):
                metadata = read_metadata(os.path.join(path, "METADATA"))
            elif entry.endswith(".egg-info"):
                is_dir = os.path.isdir(path)
                metadata = read_metadata(os.path.join(path, "PKG-INFO") if is_dir else path)
            else:
                continue
            if metadata is None or not metadata.get("Name") or not metadata.get("Version"):
                continue
            name, version = metadata["Name"].strip(), metadata["Version"].strip()
            normalized = re.sub(r"[-_.]+", "-", name).lower()
            purl = f"pkg:pypi/{quote(normalized)}@{quote(version)}"
            component = {
                "type": "library",
                # One distribution may be in several environments: the ref names its place.
                "bom-ref": f"{purl}#{path}",
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
                component["licenses"] = found_licenses
            components.append(component)
    return components


def main():
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
