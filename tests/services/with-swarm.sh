#!/usr/bin/env bash
# Run a command with a Docker Swarm of two machines for the tests (docker/test-swarm.sh: a
# manager and a worker, each its own dockerd in its own network namespace), the project
# image copied into both machines:
#   SMCHUB_TEST_SWARM_MANAGER   unix://.../m0/d0/docker.sock, the manager's API
#   SMCHUB_TEST_SWARM_MACHINES  "m0=unix://... m1=unix://..." each machine's own engine
#   SMCHUB_TEST_SWARM_HUB_IP    where the machines reach the hub (c.JupyterHub.hub_ip)
#   SMCHUB_TEST_SWARM_STATE     the swarm's state folder
#   SMCHUB_TEST_SWARM_IMAGE     the project image, as SMCHUB_TEST_PROJECT_IMAGE
# Run it inside tests/services/with-docker.sh, whose engines build the image (the machines
# have no way out to PyPI or Debian): it is copied from the first of SMCHUB_TEST_DOCKER_HOSTS.
# The swarm is torn down afterwards whatever the command does; the machines' data folders
# stay (in SMCHUB_SWARM_STATE, default /tmp/smchub-swarm) so the image is copied only when
# it changed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
docker_dir=$(cd "$here/../../docker" && pwd)
state=${SMCHUB_SWARM_STATE:-/tmp/smchub-swarm}
machines=${SMCHUB_SWARM_MACHINES:-2}

read -r -a docker_hosts <<<"${SMCHUB_TEST_DOCKER_HOSTS:-}"
image=${SMCHUB_TEST_PROJECT_IMAGE:-}
if [[ -z "$image" || ${#docker_hosts[@]} -eq 0 ]]; then
    echo "with-swarm: run inside tests/services/with-docker.sh, which builds the project image" >&2
    exit 1
fi

trap '"$docker_dir/test-swarm.sh" stop "$state"' EXIT
"$docker_dir/test-swarm.sh" start "$state" "$machines" >/dev/null
# shellcheck source=/dev/null
source "$state/env"
# one copy per machine, side by side
loads=()
for machine in $SMCHUB_TEST_SWARM_MACHINES; do
    "$docker_dir/load-image.sh" "${docker_hosts[0]}" "${machine#*=}" "$image" &
    loads+=($!)
done
for load in "${loads[@]}"; do
    wait "$load"
done
echo "Swarm for the tests: $SMCHUB_TEST_SWARM_MACHINES with $image; hub at $SMCHUB_TEST_SWARM_HUB_IP"
SMCHUB_TEST_SWARM_MANAGER="$SMCHUB_TEST_SWARM_MANAGER" \
    SMCHUB_TEST_SWARM_MACHINES="$SMCHUB_TEST_SWARM_MACHINES" \
    SMCHUB_TEST_SWARM_HUB_IP="$SMCHUB_TEST_SWARM_HUB_IP" \
    SMCHUB_TEST_SWARM_STATE="$SMCHUB_TEST_SWARM_STATE" \
    SMCHUB_TEST_SWARM_IMAGE="$image" "$@"
