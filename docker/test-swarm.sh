#!/usr/bin/env bash
# A Docker Swarm of several machines on this one, for tests of smchub's swarm backend:
# each machine is a network namespace with its own dockerd; all are joined by a bridge that
# lives in a namespace of its own, which the root namespace (where the hub and its tests
# run) also reaches through one veth pair.
#
#   docker/test-swarm.sh start STATE_DIR [N]   start (or restart) N machines (default 2): m0
#                                              is the manager, m1.. are workers; prints the
#                                              manager's URL; writes STATE_DIR/env
#   docker/test-swarm.sh status STATE_DIR      machines, their dockerd pids, the swarm's nodes
#   docker/test-swarm.sh stop STATE_DIR        leaves the swarm, stops every dockerd with its
#                                              containerd, shims and containers, deletes the
#                                              namespaces and veths; leaves nothing running
#
# The network (SUBNET below, a /24 that must be unused on this machine):
#   root namespace   ${PREFIX}-hub  .1     the hub binds its API here (c.JupyterHub.hub_ip)
#   ${PREFIX}-sw     bridge br0 (no address) with one port per veth
#   ${PREFIX}-mK     eth0  .(10+K)         machine K: its dockerd and swarm traffic; project
#                                          servers are published on ports of this address
# Only the connected /24 route exists in each namespace: no default route, and the root end
# does not forward, so nothing from the machines reaches a real network.
#
# Project containers are on the swarm's network smchub-projects (a bridge on each machine,
# made from the machine's config-only network smchub-projects-config: PROJECTS_SUBNET below,
# enable_icc=false), as an admin makes it for smchub (spawners/swarm.py). Each machine's
# dockerd manages iptables inside the machine's namespace (never the host's): it publishes
# the servers' ports, keeps containers from each other, and masquerades what they send to
# the hub as the machine's address.
#
# Each machine's dockerd is started by docker/test-daemons.sh inside the machine's network
# namespace and a UTS namespace of its own (so its swarm hostname is mK); its state lives in
# STATE_DIR/mK/d0/ (socket, data root, exec root, pid file, log). Images stay there between
# runs, so an image copied once with docker/load-image.sh is found again. Restarting a
# stopped machine is `start` again: it rejoins the swarm by itself.
#
# STATE_DIR/env holds, for tests (shell syntax):
#   SMCHUB_TEST_SWARM_MANAGER   unix://STATE_DIR/m0/d0/docker.sock
#   SMCHUB_TEST_SWARM_MACHINES  "m0=unix://... m1=unix://..." each machine's own engine
#   SMCHUB_TEST_SWARM_HUB_IP    the root namespace's address, where the machines reach the hub
#   SMCHUB_TEST_SWARM_STATE     STATE_DIR
#
# Environment: SMCHUB_SWARM_SUBNET (first three octets, default 198.51.100: TEST-NET-2 of
# RFC 5737, reserved for documentation and never routed; `start` refuses it if this machine
# already has an address or route in it), SMCHUB_SWARM_PROJECTS_SUBNET (the projects' bridge
# on each machine, default 203.0.113.192/27: TEST-NET-3 that neither the test engines'
# pools of docker/test-daemons.sh nor the tests' own subnets use; it lives inside the
# machines' namespaces only), SMCHUB_SWARM_PREFIX (namespace and interface names,
# default smcswarm, at most 10 characters), SMCHUB_SWARM_HEARTBEAT (swarm dispatcher heartbeat,
# default 1s: a stopped machine is seen down within a few seconds), DOCKER (CLI).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DOCKER=${DOCKER:-docker}
SUBNET=${SMCHUB_SWARM_SUBNET:-198.51.100}
PREFIX=${SMCHUB_SWARM_PREFIX:-smcswarm}
HEARTBEAT=${SMCHUB_SWARM_HEARTBEAT:-1s}
HUB_ADDR=$SUBNET.1
PROJECTS_SUBNET=${SMCHUB_SWARM_PROJECTS_SUBNET:-203.0.113.192/27}
PROJECTS_NET=smchub-projects
SWITCH=$PREFIX-sw
ROOT_LINK=$PREFIX-hub
READY_TIMEOUT=60
# The swarm runs a task from the image the machine has; without this, each task start first
# tries the registry (which fails at once here, and costs time).
export DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1

usage() {
    # the comment block at the top of this file
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
}

die() {
    echo "test-swarm: $*" >&2
    exit 1
}

log() {
    echo "test-swarm: $*" >&2
}

machine_addr() {
    echo "$SUBNET.$((10 + ${1#m}))"
}

machine_url() {
    echo "unix://$2/$1/d0/docker.sock"
}

dockerof() {
    "$DOCKER" -H "$(machine_url "$1" "$2")" "${@:3}"
}

machines_in() {
    local state=$1 dir
    for dir in "$state"/m[0-9]*/; do
        [[ -d "$dir" ]] && basename "$dir"
    done | sort -V
    return 0
}

ns_exists() {
    [[ -e "/run/netns/$1" ]]
}

# --- the network ------------------------------------------------------------------------------

# The subnet must be ours alone: an address or route of this machine inside it would be
# shadowed by (or leak into) the test network.
check_subnet_free() {
    local clash
    [[ "$SUBNET" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
        die "SMCHUB_SWARM_SUBNET=$SUBNET: give the first three octets of a /24, e.g. 198.51.100"
    clash=$(ip -4 -o addr show | awk -v s="$SUBNET." -v own="$ROOT_LINK" \
        '$2 != own && index($4, s) == 1 { print $2 " " $4 }')
    clash+=$(ip -4 route show | awk -v s="$SUBNET." -v own="$ROOT_LINK" \
        'index($1, s) == 1 && $0 !~ ("dev " own " ") { print }')
    [[ -z "$clash" ]] ||
        die "$SUBNET.0/24 is in use on this machine ($clash); choose another with SMCHUB_SWARM_SUBNET"
}

ensure_switch() {
    if ! ns_exists "$SWITCH"; then
        ip netns add "$SWITCH"
    fi
    ip -n "$SWITCH" link set lo up
    if ! ip -n "$SWITCH" link show br0 >/dev/null 2>&1; then
        ip -n "$SWITCH" link add br0 type bridge
    fi
    ip -n "$SWITCH" link set br0 up
    if ! ip link show "$ROOT_LINK" >/dev/null 2>&1; then
        ip link add "$ROOT_LINK" type veth peer name hub netns "$SWITCH"
    fi
    ip -n "$SWITCH" link set hub master br0 up
    # The root end: packets that arrive on it are never forwarded (the machine's global
    # ip_forward may be on), and it takes no part in IPv6.
    sysctl -qw "net.ipv4.conf.$ROOT_LINK.forwarding=0" "net.ipv6.conf.$ROOT_LINK.disable_ipv6=1"
    ip addr replace "$HUB_ADDR/24" dev "$ROOT_LINK"
    ip link set "$ROOT_LINK" up
}

ensure_machine_ns() {
    local m=$1 ns=$PREFIX-$1
    if ! ns_exists "$ns"; then
        ip netns add "$ns"
    fi
    ip -n "$ns" link set lo up
    if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
        ip -n "$SWITCH" link add "$m" type veth peer name eth0 netns "$ns"
    fi
    ip -n "$SWITCH" link set "$m" master br0 up
    ip -n "$ns" addr replace "$(machine_addr "$m")/24" dev eth0
    ip -n "$ns" link set eth0 up
}

# pids_in_ns NS: processes whose network namespace is NS.
pids_in_ns() {
    local target f
    target=$(stat -L -c %i "/run/netns/$1" 2>/dev/null) || return 0
    for f in /proc/[0-9]*/ns/net; do
        [[ "$(stat -L -c %i "$f" 2>/dev/null)" == "$target" ]] || continue
        f=${f#/proc/}
        echo "${f%%/*}"
    done
    return 0
}

delete_ns() {
    local ns=$1 left
    ns_exists "$ns" || return 0
    mapfile -t left < <(pids_in_ns "$ns")
    ((${#left[@]} == 0)) || die "processes still in namespace $ns: ${left[*]}"
    ip netns del "$ns"
}

# --- the engines ------------------------------------------------------------------------------

start_engine() {
    local m=$1 state=$2
    # dockerd inherits both namespaces; test-daemons.sh returns once it answers. The UTS
    # namespace gives the machine its own hostname, which Swarm reports as the node's name.
    # shellcheck disable=SC2016 # expanded by the inner bash
    SMCHUB_DOCKERD_IPTABLES=1 nsenter --net="/run/netns/$PREFIX-$m" unshare --uts bash -c \
        'echo "$1" >/proc/sys/kernel/hostname && exec "$2" start 1 "$3" >/dev/null' \
        bash "$m" "$HERE/test-daemons.sh" "$state/$m"
}

# swarm_state M STATE: inactive, pending, active, error, locked; unknown if dockerd is down.
swarm_state() {
    local out
    out=$(dockerof "$1" "$2" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null) || out=unknown
    echo "$out"
}

# forget_old_swarm M STATE: a machine about to make or join a new swarm keeps nothing of an
# old one. A machine that left a swarm (or had its swarm state removed while stopped) with a
# task's container still attached keeps that swarm's networks as local ones (moby#30084);
# the next swarm's smchub-projects then conflicts with them on the same subnet and every
# task placed there is rejected. Its containers were all tasks, so they go too.
forget_old_swarm() {
    local m=$1 state=$2 ids net
    [[ "$(swarm_state "$m" "$state")" == inactive ]] || return 0
    mapfile -t ids < <(dockerof "$m" "$state" ps -aq)
    if ((${#ids[@]})); then
        log "$m: removing ${#ids[@]} container(s) of an old swarm"
        dockerof "$m" "$state" rm -f "${ids[@]}" >/dev/null
    fi
    for net in $(dockerof "$m" "$state" network ls --format '{{.Name}}'); do
        case "$net" in
            bridge | host | none | "$PROJECTS_NET-config") continue ;;
        esac
        log "$m: removing the network $net of an old swarm"
        dockerof "$m" "$state" network rm "$net" >/dev/null
    done
}

init_manager() {
    local state=$1 addr
    addr=$(machine_addr m0)
    [[ "$(swarm_state m0 "$state")" == active ]] && return 0
    log "swarm init on m0 ($addr)"
    dockerof m0 "$state" swarm init --advertise-addr "$addr" --listen-addr "$addr:2377" \
        --dispatcher-heartbeat "$HEARTBEAT" >/dev/null
    # The routing mesh (the "ingress" overlay network and the docker_gwbridge bridge it
    # makes on every machine) answers a service's published port on every machine; project
    # services publish theirs in host mode on their own machine, so the swarm goes without
    # it: no overlay anywhere.
    echo y | dockerof m0 "$state" network rm ingress >/dev/null
    local deadline=$((SECONDS + 10))
    while dockerof m0 "$state" network inspect ingress >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "the swarm keeps its ingress network"
        sleep 0.2
    done
}

# remove_gwbridge M STATE: the bridge a machine made for the routing mesh, once it is gone.
remove_gwbridge() {
    local m=$1 state=$2 deadline=$((SECONDS + 10))
    while dockerof "$m" "$state" network inspect docker_gwbridge >/dev/null 2>&1; do
        dockerof "$m" "$state" network rm docker_gwbridge >/dev/null 2>&1 && return 0
        ((SECONDS < deadline)) || die "$m keeps its docker_gwbridge network"
        sleep 0.5
    done
}

join_worker() {
    local m=$1 state=$2 token addr
    # a restarted machine rejoins by itself (pending, then active)
    [[ "$(swarm_state "$m" "$state")" == inactive ]] || return 0
    addr=$(machine_addr "$m")
    token=$(dockerof m0 "$state" swarm join-token -q worker)
    log "$m ($addr) joins the swarm"
    dockerof "$m" "$state" swarm join --token "$token" --advertise-addr "$addr" \
        --listen-addr "$addr:2377" "$(machine_addr m0):2377" >/dev/null
}

# wait_nodes_ready STATE N: the manager lists N nodes, all ready.
wait_nodes_ready() {
    local state=$1 n=$2 ready deadline=$((SECONDS + READY_TIMEOUT))
    while :; do
        ready=$(dockerof m0 "$state" node ls --format '{{.Status}}' 2>/dev/null | grep -c '^Ready$' || true)
        ((ready >= n)) && return 0
        ((SECONDS < deadline)) || die "only $ready of $n swarm nodes are ready after ${READY_TIMEOUT}s"
        sleep 0.5
    done
}

# ensure_projects_network STATE M...: each machine's config-only network, then the swarm's
# network made from them (a machine keeps its config-only network in its data between
# runs; the swarm's goes with the swarm).
ensure_projects_network() {
    local state=$1 m subnet
    for m in "${@:2}"; do
        subnet=$(dockerof "$m" "$state" network inspect "$PROJECTS_NET-config" \
            --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}' 2>/dev/null) || subnet=""
        [[ "$subnet" == "$PROJECTS_SUBNET" ]] && continue
        [[ -z "$subnet" ]] || dockerof "$m" "$state" network rm "$PROJECTS_NET-config" >/dev/null
        dockerof "$m" "$state" network create --config-only --subnet "$PROJECTS_SUBNET" \
            -o com.docker.network.bridge.enable_icc=false "$PROJECTS_NET-config" >/dev/null
    done
    dockerof m0 "$state" network inspect "$PROJECTS_NET" >/dev/null 2>&1 ||
        dockerof m0 "$state" network create -d bridge --scope swarm \
            --config-from "$PROJECTS_NET-config" "$PROJECTS_NET" >/dev/null
}

# Each node carries a label naming its machine, as an admin's labels would (placement can
# ask for labels; smchub shows them on its nodes).
label_nodes() {
    local state=$1 id host
    dockerof m0 "$state" node ls --format '{{.ID}} {{.Hostname}}' | while read -r id host; do
        dockerof m0 "$state" node update --label-add "machine=$host" "$id" >/dev/null
    done
}

write_env() {
    local state=$1 m machines=()
    for m in $(machines_in "$state"); do
        machines+=("$m=$(machine_url "$m" "$state")")
    done
    cat >"$state/env" <<EOF
SMCHUB_TEST_SWARM_MANAGER=$(machine_url m0 "$state")
SMCHUB_TEST_SWARM_MACHINES="${machines[*]}"
SMCHUB_TEST_SWARM_HUB_IP=$HUB_ADDR
SMCHUB_TEST_SWARM_STATE=$state
EOF
}

# --- commands ---------------------------------------------------------------------------------

state_dir_of() {
    [[ -n "${1:-}" ]] || usage
    realpath -m -- "$1"
}

cmd_start() {
    local state n m i machines=()
    state=$(state_dir_of "${1:-}")
    n=${2:-2}
    [[ "$n" =~ ^[1-9]$ ]] || die "N is the number of machines, 1 to 9"
    ((${#PREFIX} <= 10)) || die "SMCHUB_SWARM_PREFIX=$PREFIX is longer than 10 characters"
    [[ $EUID -eq 0 ]] || die "namespaces and dockerd need root"
    if ! command -v nsenter >/dev/null || ! command -v unshare >/dev/null; then
        die "nsenter and unshare are missing (Debian's util-linux)"
    fi
    for ((i = 0; i < n; i++)); do
        machines+=("m$i")
    done
    check_subnet_free
    mkdir -p "$state"
    ensure_switch
    for m in "${machines[@]}"; do
        ensure_machine_ns "$m"
        mkdir -p "$state/$m"
    done
    # An engine that is not running starts without its local network store. Docker keeps
    # a swarm-scoped bridge network in it that a worker had when its engine went down
    # with a task attached (moby#37087, moby#38318): the engine can no longer start a
    # task on that network ("network … exists"), and a later swarm's network on the same
    # subnet conflicts with it. Nothing there is worth keeping: the swarm's networks come
    # back from the manager and the config-only one is made again below.
    for m in "${machines[@]}"; do
        if ! dockerof "$m" "$state" info >/dev/null 2>&1; then
            rm -f "$state/$m/d0/data/network/files/local-kv.db"
        fi
    done
    # the engines boot in parallel; any failure stops them all
    local pids=() failed=0 pid
    for m in "${machines[@]}"; do
        start_engine "$m" "$state" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || failed=1
    done
    if ((failed)); then
        cmd_stop "$state"
        die "a machine's dockerd did not start (logs: $state/m*/d0/dockerd.log)"
    fi
    for m in "${machines[@]}"; do
        forget_old_swarm "$m" "$state"
    done
    init_manager "$state"
    for m in "${machines[@]:1}"; do
        join_worker "$m" "$state"
    done
    wait_nodes_ready "$state" "$n"
    for m in "${machines[@]}"; do
        remove_gwbridge "$m" "$state"
    done
    label_nodes "$state"
    ensure_projects_network "$state" "${machines[@]}"
    write_env "$state"
    machine_url m0 "$state"
}

cmd_status() {
    local state m
    state=$(state_dir_of "${1:-}")
    for m in $(machines_in "$state"); do
        echo "$m $(machine_addr "$m") ns=$(ns_exists "$PREFIX-$m" && echo yes || echo no)" \
            "$("$HERE/test-daemons.sh" status "$state/$m")"
    done
    dockerof m0 "$state" node ls 2>/dev/null || true
}

cmd_stop() {
    local state m ns jobs=() job failed=0
    state=$(state_dir_of "${1:-}")
    # Workers leave first, then the manager (forced: it is the last one); a machine whose
    # engine is already stopped is skipped. Leaving removes the swarm's state from the
    # data root, so the next start makes a new swarm.
    for m in $(machines_in "$state" | sort -rV); do
        case "$(swarm_state "$m" "$state")" in
            inactive | unknown) continue ;;
        esac
        # no container left on the swarm's network as it goes (moby#30084); the next
        # start checks again, for a machine that was down now
        dockerof "$m" "$state" ps -aq | xargs -r timeout 30 "$DOCKER" \
            -H "$(machine_url "$m" "$state")" rm -f >/dev/null 2>&1 || true
        timeout 30 "$DOCKER" -H "$(machine_url "$m" "$state")" swarm leave --force \
            >/dev/null 2>&1 || log "$m could not leave the swarm"
    done
    for m in $(machines_in "$state"); do
        "$HERE/test-daemons.sh" stop "$state/$m" &
        jobs+=($!)
    done
    for job in "${jobs[@]}"; do
        wait "$job" || failed=1
    done
    ((failed == 0)) || die "some engines in $state did not stop"
    # a machine that could not leave (its engine was down) forgets the swarm all the same
    for m in $(machines_in "$state"); do
        rm -rf "${state:?}/$m/d0/data/swarm"
    done
    for ns in $(ip netns list | awk -v p="$PREFIX-m" 'index($1, p) == 1 { print $1 }'); do
        delete_ns "$ns"
    done
    # the bridge and every veth go with the switch's namespace, the root end included
    delete_ns "$SWITCH"
    # (the kernel removes the root end a moment later; this does it now)
    ip link del "$ROOT_LINK" 2>/dev/null || true
    ! ip link show "$ROOT_LINK" >/dev/null 2>&1 || die "could not remove the link $ROOT_LINK"
    rm -f "$state/env"
}

case "${1:-}" in
    start) cmd_start "${2:-}" "${3:-}" ;;
    status) cmd_status "${2:-}" ;;
    stop) cmd_stop "${2:-}" ;;
    *) usage ;;
esac
