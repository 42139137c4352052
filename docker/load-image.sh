#!/usr/bin/env bash
# Copy images from one Docker Engine to others without a registry:
# `docker save` on the source streamed into `docker load` on each destination.
#
# Usage: docker/load-image.sh SRC_HOST DST_HOST[,DST_HOST...] IMAGE...
#   SRC_HOST, DST_HOST  docker host URLs (unix:///tmp/smc-docker/d0/docker.sock, tcp://…)
#   IMAGE               name:tag; copied with all its layers and that tag
# A destination that already has the image (same image id) is skipped.
# Environment: DOCKER (CLI, default `docker`).
set -euo pipefail

DOCKER=${DOCKER:-docker}

die() {
    echo "load-image: $*" >&2
    exit 1
}

(($# >= 3)) || {
    # the comment block at the top of this file
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
}
src=$1
IFS=, read -r -a dsts <<<"$2"
shift 2

image_id() {
    "$DOCKER" -H "$1" image inspect --format '{{.Id}}' "$2" 2>/dev/null
}

for image in "$@"; do
    id=$(image_id "$src" "$image") || die "$src has no image $image"
    for dst in "${dsts[@]}"; do
        if [[ "$(image_id "$dst" "$image" || true)" == "$id" ]]; then
            echo "load-image: $dst already has $image" >&2
            continue
        fi
        start=$SECONDS
        # pipefail makes a failed save fail the copy even if load read a partial stream.
        "$DOCKER" -H "$src" save "$image" | "$DOCKER" -H "$dst" load >/dev/null
        [[ "$(image_id "$dst" "$image")" == "$id" ]] ||
            die "$image reached $dst with a different id"
        echo "load-image: $image copied to $dst in $((SECONDS - start))s" >&2
    done
done
