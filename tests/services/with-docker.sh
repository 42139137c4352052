#!/usr/bin/env bash
# Run a command with two Docker Engines for the tests (two fake compute nodes), the
# project image built on the first and copied to the second:
#   SMCHUB_TEST_DOCKER_HOSTS  "unix://.../d0/docker.sock unix://.../d1/docker.sock"
#   SMCHUB_TEST_PROJECT_IMAGE smchub/project:<hash of its inputs>
#   SMCHUB_TEST_DOCKER_STATE  the engines' state folder, where tests keep the data of
#                             the engines they start themselves (tests/hubsite.py)
# The daemons are stopped afterwards whatever the command does; their data folders stay
# (in SMCHUB_DOCKER_STATE, default /tmp/smchub-docker) so unchanged images are reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
docker_dir=$(cd "$here/../../docker" && pwd)
state=${SMCHUB_DOCKER_STATE:-/tmp/smchub-docker}

"$docker_dir/ensure-engine.sh"
trap '"$docker_dir/test-daemons.sh" stop "$state"' EXIT
mapfile -t hosts < <("$docker_dir/test-daemons.sh" start 2 "$state")
image=$("$docker_dir/build-images.sh" -H "${hosts[0]}" --only project)
"$docker_dir/load-image.sh" "${hosts[0]}" "${hosts[1]}" "$image"
echo "Docker nodes for the tests: ${hosts[*]} with $image"
SMCHUB_TEST_DOCKER_HOSTS="${hosts[*]}" SMCHUB_TEST_PROJECT_IMAGE="$image" \
    SMCHUB_TEST_DOCKER_STATE="$state" "$@"
