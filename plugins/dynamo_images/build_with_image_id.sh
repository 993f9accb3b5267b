# `docker build`, then its image ID where Pants reads it (reuse.py).
# Usage: build_with_image_id.sh IIDFILE DOCKER build --iidfile=IIDFILE OPTION... CONTEXT
# The recorded result must name its image: BuildKit's progress output does not always carry
# the "writing image" line Pants' parse_image_id_from_docker_build_output reads, --iidfile
# always does.
iidfile="$1"; shift
"$@" || exit $?
echo "writing image $(cat "$iidfile") done" >&2
