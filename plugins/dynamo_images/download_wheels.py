"""Downloads locked wheels and checks each against the sha256 its lockfile locks: the process
of an `image_wheels` target (image_wheels.py), run by the images' Python. Standard library only.

    python download_wheels.py MANIFEST OUTPUT_DIR

MANIFEST is a JSON list of {"url", "filename", "sha256"}. $DOWNLOAD_CA_CERTS, if set, is the CA
bundle to trust (a TLS proxy's); proxies come from the usual environment variables. A transient
failure is retried; a file whose sha256 differs from the lockfile's is deleted and fails the
download, naming both.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import sys
import time
import urllib.request

ATTEMPTS = 3
CHUNK = 1 << 20


def fetch(url: str, path: str, context: ssl.SSLContext) -> str:
    """Writes `url` to `path`; returns its sha256."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            digest = hashlib.sha256()
            with urllib.request.urlopen(url, context=context, timeout=120) as response:
                with open(path, "wb") as out:
                    while chunk := response.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            return digest.hexdigest()
        except OSError as e:  # urllib's errors are OSErrors
            if attempt == ATTEMPTS:
                sys.exit(f"download_wheels.py: {url}: {e} ({ATTEMPTS} attempts)")
            print(f"download_wheels.py: {url}: {e}; retrying", file=sys.stderr)
            time.sleep(2 * attempt)
    raise AssertionError("unreachable")


def main(manifest: str, out: str) -> None:
    with open(manifest) as f:
        entries = json.load(f)
    context = ssl.create_default_context(cafile=os.environ.get("DOWNLOAD_CA_CERTS") or None)
    os.makedirs(out, exist_ok=True)
    for entry in entries:
        path = os.path.join(out, entry["filename"])
        actual = fetch(entry["url"], path, context)
        if actual != entry["sha256"]:
            os.remove(path)
            sys.exit(
                f"download_wheels.py: {entry['url']} has sha256 {actual}, but the lockfile "
                f"locks {entry['sha256']}. Nothing was installed from it. If the index really "
                "serves a new file for that version, regenerate the lockfile "
                "(`./pants generate-lockfiles`) and review the change."
            )
    print(f"download_wheels.py: {len(entries)} wheels, each matching its locked sha256")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python download_wheels.py MANIFEST OUTPUT_DIR")
    main(sys.argv[1], sys.argv[2])
