#!/usr/bin/env bash
# Run N independent Docker Engines side by side, one per fake compute node, for tests and
# benchmarks of the Docker backend.
#
#   docker/test-daemons.sh start N STATE_DIR   start (or reuse) daemons d0..d(N-1); prints one
#                                              docker host URL per line (also in STATE_DIR/hosts)
#   docker/test-daemons.sh status STATE_DIR    prints URL and dockerd pid of each running daemon
#   docker/test-daemons.sh stop STATE_DIR      stops exactly those daemons, their containerd,
#                                              shims and containers; leaves nothing running
#
# Each daemon lives in STATE_DIR/dK/: docker.sock (its API), data/ (images, containers,
# volumes: kept across stop/start, so built images are reused), x/ (exec root, with the
# containerd that dockerd starts and supervises for itself), dockerd.pid, dockerd.log.
# Daemons have no default bridge and touch no iptables (but see SMCHUB_DOCKERD_IPTABLES).
# smchub's Docker backend puts projects on a bridge network of their own; daemon dK hands
# out such networks only from 203.0.113.(32K)/27 (TEST-NET-3, in /28 pieces), so no test
# network ever takes a private range; tests that give a network an explicit subnet use
# 203.0.113.128/25.
#
# Images are never pulled: a pull fails at once (see PULL_PROXY); build images on a daemon
# with docker/build-images.sh and copy them to the others with docker/load-image.sh.
#
# Environment: DOCKER (CLI, default `docker`), SMCHUB_DOCKER_STORAGE_DRIVER (default overlay2;
# vfs works everywhere but copies every layer), SMCHUB_DOCKERD_START_TIMEOUT (seconds, 60),
# SMCHUB_DOCKERD_PULL_PROXY (default http://127.0.0.1:9, a closed port; empty: allow pulls),
# SMCHUB_DOCKERD_IPTABLES (default 0; 1: the daemons manage iptables, for NAT, published
# ports and enable_icc=false; refused unless this runs in a network namespace of its own,
# as docker/test-swarm.sh's machines do: iptables rules belong to a network namespace, and
# the host's own firewall is never touched), SMCHUB_DOCKERD_TLS_ADDRESS (ADDRESS:PORT: the
# daemon also answers there over TCP, clients verified by TLS, as a compute node on another
# machine answers the hub; STATE_DIR/dK/tls/ holds ca.pem, cert.pem and key.pem, the
# caller's, for one daemon started in a network namespace of its own).
set -euo pipefail

DOCKER=${DOCKER:-docker}
STORAGE_DRIVER=${SMCHUB_DOCKER_STORAGE_DRIVER:-overlay2}
START_TIMEOUT=${SMCHUB_DOCKERD_START_TIMEOUT:-60}
# Where the daemons' registry traffic goes: a closed port on loopback, so nothing is pulled.
PULL_PROXY=${SMCHUB_DOCKERD_PULL_PROXY-http://127.0.0.1:9}
IPTABLES=${SMCHUB_DOCKERD_IPTABLES:-0}
TLS_ADDRESS=${SMCHUB_DOCKERD_TLS_ADDRESS:-}
# Seconds a container gets to stop when its daemon is stopped, before it is killed
# (Docker's default is 10); test containers hold nothing worth waiting for.
SHUTDOWN_TIMEOUT=3
# sun_path holds 108 bytes with the final NUL; the longest socket is containerd's ttrpc one.
SOCKET_PATH_MAX=107

usage() {
    # the comment block at the top of this file
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
}

die() {
    echo "test-daemons: $*" >&2
    exit 1
}

log() {
    echo "test-daemons: $*" >&2
}

# --- process helpers ------------------------------------------------------------------------

# pid_matches PID WORD: the process is alive and its command line contains WORD (guards
# against a stale pid file whose pid now belongs to someone else).
pid_matches() {
    local pid=$1 word=$2 cmdline
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    [[ "$cmdline" == *"$word"* ]]
}

# engine_pids DIR: dockerd, containerd and containerd shims whose command line names DIR.
# Matching on the program name too keeps this script (whose arguments also contain DIR) out.
engine_pids() {
    local dir=$1 f pid prog cmdline
    for f in /proc/[0-9]*/cmdline; do
        pid=${f#/proc/}
        pid=${pid%/cmdline}
        cmdline=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
        prog=${cmdline%% *}
        case "${prog##*/}" in
            dockerd | containerd | containerd-shim*)
                [[ "$cmdline" == *" $dir/"* ]] && echo "$pid"
                ;;
        esac
    done
    return 0
}

# container_pids DIR: processes inside the containers of the daemon in DIR, found through
# their cgroups (dockerd's default cgroup parent is /docker, with the cgroupfs driver).
# Only needed when a daemon had to be SIGKILLed and left its containers behind.
container_pids() {
    local dir=$1 id procs
    for id in "$dir"/data/containers/*/; do
        id=$(basename "$id")
        for procs in /sys/fs/cgroup/pids/docker/"$id"/cgroup.procs \
            /sys/fs/cgroup/docker/"$id"/cgroup.procs; do
            [[ -f "$procs" ]] && cat "$procs"
        done
    done
    return 0
}

# alive PID: running, not a zombie (a daemon reparented to PID 1 stays a zombie until
# init reaps it, and kill -0 would still see it).
alive() {
    local stat
    stat=$(cat 2>/dev/null "/proc/$1/stat") || return 1
    stat=${stat##*) }
    [[ "${stat%% *}" != Z ]]
}

# wait_gone TIMEOUT PID...: wait until none of the pids is alive; fails on timeout.
wait_gone() {
    local timeout=$1 deadline pid alive
    shift
    deadline=$((SECONDS + timeout))
    while :; do
        alive=0
        for pid in "$@"; do
            alive "$pid" && alive=1
        done
        ((alive)) || return 0
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# shim_socket PID: the socket a containerd shim listens on, which it removes only when it
# exits cleanly: /run/containerd/s/ + sha256("<containerd address>/<namespace>/<id>")
# (containerd 1.6, runtime/v2/shim/util_unix.go).
shim_socket() {
    local arg address="" ns="" id="" args=()
    mapfile -d '' -t args 2>/dev/null <"/proc/$1/cmdline" || return 0
    [[ "${args[0]:-}" == *containerd-shim* ]] || return 0
    for ((arg = 1; arg < ${#args[@]} - 1; arg++)); do
        case "${args[arg]}" in
            -address) address=${args[arg + 1]} ;;
            -namespace) ns=${args[arg + 1]} ;;
            -id) id=${args[arg + 1]} ;;
        esac
    done
    [[ -n "$address" && -n "$ns" && -n "$id" ]] || return 0
    echo "/run/containerd/s/$(printf '%s' "$address/$ns/$id" | sha256sum | cut -c1-64)"
}

# unmount_under DIR: a killed dockerd leaves its nsfs, overlay and shm mounts behind, which
# would make DIR impossible to delete; deepest first.
unmount_under() {
    local dir=$1 mnt
    awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r mnt; do
            umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
        done
}

# --- one daemon -----------------------------------------------------------------------------

daemon_url() {
    echo "unix://$1/docker.sock"
}

daemon_running() {
    local dir=$1
    [[ -f "$dir/dockerd.pid" ]] && pid_matches "$(cat "$dir/dockerd.pid")" "$dir/docker.sock"
}

start_daemon() {
    local dir=$1
    mkdir -p "$dir/data" "$dir/x"
    if daemon_running "$dir"; then
        return 0
    fi
    # Its own config file: /etc/docker/daemon.json (the machine's own daemon's settings,
    # if any) must not leak into test daemons. Networks made without a subnet come from
    # this daemon's slice of TEST-NET-3 (see the top of this file).
    local index=${dir##*/d}
    ((index < 4)) || die "at most 4 test daemons: each has a /27 of 203.0.113.0/25"
    printf '{"default-address-pools": [{"base": "203.0.113.%d/27", "size": 28}]}\n' \
        $((32 * index)) >"$dir/daemon.json"
    # iptables only where its rules stay inside a network namespace made for the daemon
    # (one that `ip netns` names, as test-swarm.sh's machines), never the host's own
    local firewall=(--iptables=false --ip-masq=false)
    if [[ "$IPTABLES" == 1 ]]; then
        [[ -n "$(ip netns identify 2>/dev/null)" ]] ||
            die "SMCHUB_DOCKERD_IPTABLES=1 outside a named network namespace (ip netns): refused, the host's firewall is not the tests'"
        firewall=(--iptables=true --ip-masq=true)
    fi
    # never an unauthenticated TCP socket: only clients with a certificate of the CA
    local tcp=()
    if [[ -n "$TLS_ADDRESS" ]]; then
        local f
        for f in ca cert key; do
            [[ -f "$dir/tls/$f.pem" ]] || die "SMCHUB_DOCKERD_TLS_ADDRESS: $dir/tls/$f.pem is missing"
        done
        tcp=(--host "tcp://$TLS_ADDRESS" --tlsverify --tlscacert "$dir/tls/ca.pem"
            --tlscert "$dir/tls/cert.pem" --tlskey "$dir/tls/key.pem")
    fi
    # setsid: the daemon belongs to no caller's process group, so a test runner's Ctrl-C does
    # not kill it halfway; only `stop` ends it. dockerd writes its own pid file.
    # The proxy variables make any image pull (a mistyped image name, a spawner whose pull
    # policy is not "never") fail at once on loopback instead of looking up a registry
    # out there: test daemons only ever use images built or loaded locally.
    local proxy_env=()
    if [[ -n "$PULL_PROXY" ]]; then
        proxy_env=(HTTP_PROXY="$PULL_PROXY" HTTPS_PROXY="$PULL_PROXY" http_proxy="$PULL_PROXY"
            https_proxy="$PULL_PROXY" NO_PROXY= no_proxy=)
    fi
    env "${proxy_env[@]}" setsid "$(command -v dockerd || echo /usr/sbin/dockerd)" \
        --config-file "$dir/daemon.json" \
        --host "$(daemon_url "$dir")" \
        "${tcp[@]}" \
        --data-root "$dir/data" \
        --exec-root "$dir/x" \
        --pidfile "$dir/dockerd.pid" \
        --storage-driver "$STORAGE_DRIVER" \
        --bridge none \
        "${firewall[@]}" \
        --ip6tables=false \
        --userland-proxy=false \
        --shutdown-timeout "$SHUTDOWN_TIMEOUT" \
        --log-level warn \
        </dev/null >>"$dir/dockerd.log" 2>&1 &
    echo $! >"$dir/launched.pid"
}

wait_ready() {
    local dir=$1 deadline=$((SECONDS + START_TIMEOUT))
    until "$DOCKER" -H "$(daemon_url "$dir")" info >/dev/null 2>&1; do
        if ! pid_matches "$(cat "$dir/launched.pid")" dockerd; then
            tail -n 20 "$dir/dockerd.log" >&2
            die "dockerd in $dir exited during start-up (log: $dir/dockerd.log)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 20 "$dir/dockerd.log" >&2
            die "dockerd in $dir did not answer within ${START_TIMEOUT}s (log: $dir/dockerd.log)"
        fi
        sleep 0.2
    done
}

stop_daemon() {
    local dir=$1 pid pids=() leftovers=() sockets=() bridges=() f
    for f in "$dir/dockerd.pid" "$dir/launched.pid"; do
        [[ -f "$f" ]] || continue
        pid=$(<"$f")
        pid_matches "$pid" "$dir/docker.sock" && pids+=("$pid")
    done
    if ((${#pids[@]})); then
        # dockerd's own shutdown gives each container its stop timeout (10 s by default)
        # whatever --shutdown-timeout says; stop them first, all at once, with a short one.
        local running
        running=$(timeout 10 "$DOCKER" -H "$(daemon_url "$dir")" ps -q 2>/dev/null || true)
        if [[ -n "$running" ]]; then
            timeout $((SHUTDOWN_TIMEOUT + 10)) "$DOCKER" -H "$(daemon_url "$dir")" \
                stop --time "$SHUTDOWN_TIMEOUT" $running >/dev/null 2>&1 || true # one id a word
        fi
        # The bridges of its networks outlive dockerd in the kernel: note them now, to
        # remove them once it is gone (the networks themselves stay in its data).
        mapfile -t bridges < <(timeout 10 "$DOCKER" -H "$(daemon_url "$dir")" network ls \
            --no-trunc --filter driver=bridge --format '{{.ID}} {{.Name}}' 2>/dev/null |
            awk '$2 != "bridge" { print "br-" substr($1, 1, 12) }' || true)
        # A clean shutdown then stops dockerd's own containerd and the shims.
        kill -TERM "${pids[@]}" 2>/dev/null || true
        wait_gone $((SHUTDOWN_TIMEOUT + 20)) "${pids[@]}" ||
            log "dockerd ${pids[*]} in $dir ignored SIGTERM; killing"
    fi
    for f in "${bridges[@]}"; do
        ip link delete "$f" 2>/dev/null || true
    done
    # Whatever is left (dockerd stuck, or a containerd/shim orphaned by an earlier crash)
    # is killed, containers included.
    mapfile -t leftovers < <(engine_pids "$dir"; container_pids "$dir")
    if ((${#leftovers[@]})); then
        log "killing leftover pids ${leftovers[*]} of $dir"
        for pid in "${leftovers[@]}"; do
            f=$(shim_socket "$pid")
            [[ -z "$f" ]] || sockets+=("$f")
        done
        kill -KILL "${leftovers[@]}" 2>/dev/null || true
        wait_gone 10 "${leftovers[@]}" || die "could not stop pids ${leftovers[*]} of $dir"
        ((${#sockets[@]} == 0)) || rm -f "${sockets[@]}"
    fi
    unmount_under "$dir"
    rm -f "$dir/launched.pid" "$dir/dockerd.pid"
}

# --- commands -------------------------------------------------------------------------------

state_dir_of() {
    [[ -n "${1:-}" ]] || usage
    realpath -m -- "$1"
}

daemon_dirs() {
    local state=$1
    ls -d "$state"/d[0-9]* 2>/dev/null | sort -V
}

cmd_start() {
    local n=${1:-} state dirs=() dir other i longest
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || usage
    state=$(state_dir_of "${2:-}")
    longest="$state/d$((n - 1))/x/containerd/containerd.sock.ttrpc"
    ((${#longest} <= SOCKET_PATH_MAX)) ||
        die "STATE_DIR $state is too long for unix sockets (${#longest} > $SOCKET_PATH_MAX chars for $longest); use a shorter path such as /tmp/smc-docker"
    [[ $EUID -eq 0 ]] || die "dockerd needs root"
    command -v dockerd >/dev/null || [[ -x /usr/sbin/dockerd ]] ||
        die "dockerd is not installed; run docker/ensure-engine.sh"
    mkdir -p "$state"
    for ((i = 0; i < n; i++)); do
        dirs+=("$state/d$i")
    done
    # Start all first, then wait: the daemons boot in parallel.
    for dir in "${dirs[@]}"; do
        start_daemon "$dir"
    done
    for dir in "${dirs[@]}"; do
        if ! (wait_ready "$dir"); then
            # no half-started set: stop every daemon this call was to start
            for other in "${dirs[@]}"; do
                stop_daemon "$other"
            done
            exit 1
        fi
    done
    for dir in "${dirs[@]}"; do
        daemon_url "$dir"
    done | tee "$state/hosts"
}

cmd_status() {
    local state dir
    state=$(state_dir_of "${1:-}")
    for dir in $(daemon_dirs "$state"); do
        if daemon_running "$dir"; then
            echo "$(daemon_url "$dir") running pid $(cat "$dir/dockerd.pid")"
        else
            echo "$(daemon_url "$dir") stopped"
        fi
    done
}

cmd_stop() {
    local state dir left=()
    state=$(state_dir_of "${1:-}")
    # In parallel: each daemon may wait for its containers.
    local jobs=() failed=0 job
    for dir in $(daemon_dirs "$state"); do
        stop_daemon "$dir" &
        jobs+=($!)
    done
    for job in "${jobs[@]}"; do
        wait "$job" || failed=1
    done
    for dir in $(daemon_dirs "$state"); do
        mapfile -t -O "${#left[@]}" left < <(engine_pids "$dir")
    done
    ((${#left[@]} == 0)) || die "still running after stop: pids ${left[*]}"
    ((failed == 0)) || die "some daemons in $state did not stop cleanly"
    rm -f "$state/hosts"
}

case "${1:-}" in
    start) cmd_start "${2:-}" "${3:-}" ;;
    status) cmd_status "${2:-}" ;;
    stop) cmd_stop "${2:-}" ;;
    *) usage ;;
esac
