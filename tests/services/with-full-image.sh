#!/usr/bin/env bash
# Run a command with the full project image (docker/Dockerfile.full: SageMath, R, LaTeX)
# on the first test Docker Engine:
#   SMCHUB_TEST_FULL_IMAGE  smchub/project-full:<hash of its inputs>
# Run it inside tests/services/with-docker.sh, whose first engine builds it (the engines
# reach PyPI and Debian only through builds):
#   tests/services/with-docker.sh tests/services/with-full-image.sh .venv/bin/pytest ...
# The image stays in that engine's data folder, so it is built once per machine and after
# that only when its inputs change; a change to smchub's code rebuilds only its last layer.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
docker_dir=$(cd "$here/../../docker" && pwd)

read -r -a docker_hosts <<<"${SMCHUB_TEST_DOCKER_HOSTS:-}"
if ((${#docker_hosts[@]} == 0)); then
    echo "with-full-image: run inside tests/services/with-docker.sh, which starts the engines" >&2
    exit 1
fi
image=$("$docker_dir/build-images.sh" -H "${docker_hosts[0]}" --only full)
echo "Full image for the tests: $image on ${docker_hosts[0]}"
SMCHUB_TEST_FULL_IMAGE="$image" "$@"
