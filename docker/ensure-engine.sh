#!/usr/bin/env bash
# Make sure Debian's Docker Engine (docker.io, with its containerd, runc, iptables and tini)
# and debootstrap (for the base image, since Docker Hub is out of reach) are installed.
#
# Idempotent and quick: when every package is already installed it only asks dpkg and exits.
# It never starts a daemon: test daemons are started by docker/test-daemons.sh, and a
# production node's dockerd is the admin's business (see docker/README.md).
#
# Usage: docker/ensure-engine.sh            (as root)
set -euo pipefail

# docker.io pulls containerd, runc, iptables and tini (its docker-init) as dependencies; they are
# listed anyway so a half-removed installation is repaired. debian-archive-keyring lets
# debootstrap check the mirror's signatures; ca-certificates lets dockerd and pip speak TLS.
PACKAGES=(docker.io containerd runc iptables tini debootstrap debian-archive-keyring ca-certificates)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]})); then
    if ((EUID != 0)); then
        echo "ensure-engine: missing ${missing[*]}; run this script as root to install them" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists only when apt does not know a missing package yet
    # (a machine that never ran apt-get update knows none of them).
    for pkg in "${missing[@]}"; do
        if ! apt-cache show --no-all-versions "$pkg" >/dev/null 2>&1; then
            apt-get update -qq
            break
        fi
    done
    # The package's maintainer script would start a system-wide dockerd on
    # /var/run/docker.sock; nothing here wants one, so forbid service starts during the
    # install unless the machine already has a policy (Debian's policy-rc.d convention).
    created_policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    echo "ensure-engine: installing ${missing[*]}" >&2
    # Recommends are left out: apparmor, needrestart and cgroupfs-mount do nothing useful here.
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        # Stale lists give 404s for superseded .debs: refresh once and retry.
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if [[ -n "$created_policy" ]]; then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
fi

# dockerd needs the cgroup controllers that enforce --memory and --cpus; say so clearly
# instead of letting the first `docker run --memory` fail obscurely.
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    # pure cgroup v2 (unified) hierarchy
    for ctl in memory cpu; do
        grep -qw "$ctl" /sys/fs/cgroup/cgroup.controllers ||
            echo "ensure-engine: warning: cgroup v2 controller '$ctl' is not available" >&2
    done
else
    # cgroup v1 (or hybrid): one mounted hierarchy per controller
    for ctl in memory cpu; do
        [[ -d "/sys/fs/cgroup/$ctl" ]] ||
            echo "ensure-engine: warning: cgroup v1 hierarchy /sys/fs/cgroup/$ctl is not mounted" >&2
    done
fi

echo "ensure-engine: $(dockerd --version)" >&2
