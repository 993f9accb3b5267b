#!/usr/bin/env bash
# Builds a packed PEX (--venv, --include-tools, --no-compress: what `image_pex` builds for the
# host, plugins/dynamo_images/image_pex.py) of some of a resolve's requirements for another
# platform, from the resolve's lockfile, with Pants' own pex tool run by the images' CPython
# (3.11) instead of Pants' (3.9).
#
# Why not `pex_binary(complete_platforms=...)`: Pex 2.1.137 (Pants 2.17's) downloads a foreign
# platform's locked wheels with a pip run by the interpreter that runs Pex, and checks their
# Requires-Python against it: every `>=3.10` wheel fails under Pants' 3.9 ("Package 'torch'
# requires a different Python: 3.9.18 not in '>=3.10'"). Run by 3.11, the same lock subset works.
#
# usage: foreign_pex.sh LOCKFILE COMPLETE_PLATFORM_JSON OUTPUT REQUIREMENT...
set -euo pipefail
lock="$1" platform="$2" out="$3"
shift 3
pex_cli="${PANTS_PEX_CLI_URL_TEMPLATE:-}"
pex_cli="${pex_cli#file://}"
if [[ -z "$pex_cli" || ! -f "$pex_cli" ]]; then
  echo "foreign_pex.sh: no pex tool at PANTS_PEX_CLI_URL_TEMPLATE='${PANTS_PEX_CLI_URL_TEMPLATE:-}'." \
    "Run this through ./pants, which builds it and sets the variable." >&2
  exit 1
fi
# The images' CPython: Debian's (./pants provisions python3.11), as in the local base image.
python=/usr/bin/python3.11
[[ -x "$python" ]] || { echo "foreign_pex.sh: no $python (the images' CPython): apt-get install python3.11" >&2; exit 1; }
# As Pants runs Pex: no host pip configuration, the host's CA bundle, a PEX_ROOT of its own.
export XDG_CONFIG_DIRS=/nonexistent PEX_ROOT="$PWD/.pex-root"
cert=()
[[ -n "${PANTS_CA_CERTS_PATH:-}" ]] && cert=(--cert "$PANTS_CA_CERTS_PATH")
# Pants' lockfiles start with a `//` metadata header, which Pants strips before Pex reads them.
grep -v '^//' "$lock" > "$PEX_ROOT.lock.json"
"$python" "$pex_cli" --lock "$PEX_ROOT.lock.json" --complete-platform "$platform" "${cert[@]}" \
  --layout packed --include-tools --venv --no-compress --no-emit-warnings -o "$out" "$@"
rm -rf "$PEX_ROOT" "$PEX_ROOT.lock.json"
