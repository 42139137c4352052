#!/usr/bin/env bash
# Run a command with the full project image (docker/Dockerfile.full: SageMath, R, LaTeX)
# on the first test Docker Engine:
#   SMCHUB_TEST_FULL_IMAGE        smchub/project-full:<hash of its inputs>
#   SMCHUB_TEST_FULL_IMAGE_BUILD  while the image is being built: a folder whose `status`
#                                 file appears, holding the build's exit code, when it ends
#                                 (its log is `log` there); empty when the image was there
# Run it inside tests/services/with-docker.sh, whose first engine builds it (the engines
# reach PyPI and Debian only through builds):
#   tests/services/with-docker.sh tests/services/with-full-image.sh .venv/bin/pytest ...
# The image stays in that engine's data folder, so it is built once per machine and after
# that only when its inputs change; a change to smchub's code rebuilds only its last layer.
#
# Its first build takes 5 to 8 minutes, which would add to the tests' time: the command
# starts at once while the build goes on beside it, at the lowest CPU and I/O priority, and
# the tests that use the image wait for it (tests/test_full_environment.py, which runs last).
# A build still going when the command ends is stopped (its finished layers stay cached).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
docker_dir=$(cd "$here/../../docker" && pwd)

read -r -a docker_hosts <<<"${SMCHUB_TEST_DOCKER_HOSTS:-}"
if ((${#docker_hosts[@]} == 0)); then
    echo "with-full-image: run inside tests/services/with-docker.sh, which starts the engines" >&2
    exit 1
fi
host=${docker_hosts[0]}
image=$("$docker_dir/build-images.sh" -H "$host" --only full --print-names)

if DOCKER_HOST=$host docker image inspect "$image" >/dev/null 2>&1; then
    echo "Full image for the tests: $image on $host"
    SMCHUB_TEST_FULL_IMAGE="$image" SMCHUB_TEST_FULL_IMAGE_BUILD="" "$@"
    exit
fi

build=$(mktemp -d "${TMPDIR:-/tmp}/smchub-full-build.XXXXXX")
# its own process group (setsid), so that stopping it stops docker's client with it
setsid nice -n 19 ionice -c 3 bash -c \
    '"$1" -H "$2" --only full >"$3/log" 2>&1; echo $? >"$3/status.new"; mv "$3/status.new" "$3/status"' \
    build "$docker_dir/build-images.sh" "$host" "$build" &
builder=$!
stop_build() {
    if [[ ! -e "$build/status" ]]; then
        echo "with-full-image: the tests ended before the full image's build; stopping it" >&2
        kill -TERM -- "-$builder" 2>/dev/null || true
    fi
    wait "$builder" 2>/dev/null || true
    if [[ "$(cat "$build/status" 2>/dev/null)" == 0 ]]; then
        grep '^build-images: built' "$build/log" >&2 || true
        rm -rf "$build"
    fi
    return 0
}
trap stop_build EXIT
echo "Full image for the tests: $image, building on $host beside the tests (log: $build/log)"
SMCHUB_TEST_FULL_IMAGE="$image" SMCHUB_TEST_FULL_IMAGE_BUILD="$build" "$@"
