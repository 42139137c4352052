#!/usr/bin/env bash
# Build smchub's images on a Docker Engine, without Docker Hub:
#
#   smchub/base:bookworm      Debian bookworm (minbase) from debootstrap, via `docker import`
#   smchub/project:<hash>     a project's Jupyter server (docker/Dockerfile.project)
#   smchub/hub:<hash>         the hub and configurable-http-proxy (docker/Dockerfile.hub)
#   smchub/project-full:<hash> the project image with SageMath, R, LaTeX and the scientific
#                             Python stack (docker/Dockerfile.full); only with --only full
#
# <hash> is a hash of the image's inputs (its Dockerfile, this script, the files that make
# the smchub wheel, the versions pinned from the hub's environment, the proxy's version), so
# an image whose inputs did not change is found on the daemon and reused, not rebuilt. The
# base image is built once per daemon and reused (copy it with docker/load-image.sh).
#
# Usage: docker/build-images.sh [-H DOCKER_HOST] [--only base|project|hub|full]... [--rebuild]
#                               [--print-names]
#   -H, --host URL    the daemon to build on (default: $DOCKER_HOST, else Docker's default)
#   --only NAME       build only this image (repeatable, or comma-separated); its base is
#                     built too when the daemon lacks it. Without --only: base, project and
#                     hub; `full` (its first build takes many minutes) only when named
#   --rebuild         build even if an image with the same tag exists
#   --print-names     print the image names the inputs give, build nothing
# Prints the requested image names, one per line, on stdout; progress goes to stderr.
#
# Environment: SMCHUB_HUB_PYTHON (the hub's interpreter, whose installed versions are pinned
# in the images and which builds the wheel; default .venv/bin/python of the repository),
# SMCHUB_DEBIAN_MIRROR / SMCHUB_DEBIAN_SECURITY_MIRROR (default: read from apt's sources),
# DOCKER (CLI, default `docker`).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
DOCKER=${DOCKER:-docker}
HUB_PYTHON=${SMCHUB_HUB_PYTHON:-$REPO/.venv/bin/python}
BASE_IMAGE=smchub/base:bookworm
SUITE=bookworm
# The classic builder: Debian's dockerd 20.10 has BuildKit built in, but a newer docker CLI
# only drives it through the buildx plugin, which is not installed. The classic builder
# honours --network host, which builds need here (test daemons have no bridge).
export DOCKER_BUILDKIT=0

log() {
    echo "build-images: $*" >&2
}

die() {
    log "$*"
    exit 1
}

usage() {
    # the comment block at the top of this file
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
}

# --- options --------------------------------------------------------------------------------

want=()
rebuild=0
print_only=0
while (($#)); do
    case "$1" in
        -H | --host)
            [[ $# -ge 2 ]] || usage
            export DOCKER_HOST=$2
            shift 2
            ;;
        --only)
            [[ $# -ge 2 ]] || usage
            IFS=, read -r -a names <<<"$2"
            want+=("${names[@]}")
            shift 2
            ;;
        --rebuild) rebuild=1; shift ;;
        --print-names) print_only=1; shift ;;
        -h | --help) usage ;;
        *) usage ;;
    esac
done
((${#want[@]})) || want=(base project hub)
for name in "${want[@]}"; do
    case "$name" in
        base | project | hub | full) ;;
        *) die "unknown image '$name': choose base, project, hub or full" ;;
    esac
done

wanted() {
    local name
    for name in "${want[@]}"; do
        [[ "$name" == "$1" ]] && return 0
    done
    return 1
}

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/smchub-images.XXXXXX")
cleanup() {
    # debootstrap mounts /proc and /sys in the target; an interrupted run can leave them.
    awk -v d="$WORK/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- inputs and tags ------------------------------------------------------------------------

# The files the wheel is made of, as git sees them (tracked or new, not ignored), so build
# leftovers (build/, *.egg-info, __pycache__) neither enter the wheel nor change the tag.
wheel_sources() {
    local roots=(setup.py setup.cfg pyproject.toml MANIFEST.in README.md LICENSE
        smchub spawners authenticators extensions share)
    if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$REPO" ls-files --cached --others --exclude-standard -z -- "${roots[@]}" |
            tr '\0' '\n' | while read -r f; do [[ -f "$REPO/$f" ]] && echo "$f"; done
    else
        (cd "$REPO" && find "${roots[@]}" -type f ! -path '*/__pycache__/*' 2>/dev/null)
    fi | LC_ALL=C sort -u
}

# Copy the wheel's sources to $WORK/src and print their hash (paths and contents).
stage_sources() {
    local f
    mkdir -p "$WORK/src"
    wheel_sources >"$WORK/sources.txt"
    [[ -s "$WORK/sources.txt" ]] || die "found no smchub sources under $REPO"
    while read -r f; do
        mkdir -p "$WORK/src/$(dirname "$f")"
        cp -p "$REPO/$f" "$WORK/src/$f"
    done <"$WORK/sources.txt"
    (cd "$WORK/src" && tr '\n' '\0' <"$WORK/sources.txt" | xargs -0 sha256sum) |
        sha256sum | cut -c1-64
}

# Pin every package the images install to the version in the hub's environment, so hub and
# project servers speak the same JupyterHub and the images are reproducible.
write_constraints() {
    [[ -x "$HUB_PYTHON" ]] ||
        die "no hub environment at $HUB_PYTHON: create the repository's .venv first (its versions are pinned in the images) or set SMCHUB_HUB_PYTHON"
    "$HUB_PYTHON" -m pip freeze --exclude-editable 2>/dev/null |
        grep -E '^[A-Za-z0-9._-]+==[^ ]+$' | grep -viE '^smchub==' |
        LC_ALL=C sort >"$WORK/constraints.txt"
    grep -qi '^jupyterhub==6\.' "$WORK/constraints.txt" ||
        die "$HUB_PYTHON has no JupyterHub 6 installed; install the hub (pip install -e .) first"
}

chp_version() {
    python3 -c '
import json, sys
lock = json.load(open(sys.argv[1]))
print(lock["packages"]["node_modules/configurable-http-proxy"]["version"])
' "$REPO/package-lock.json"
}

# tag_of KIND EXTRA...: the first 12 hex digits of a hash over everything that goes in.
tag_of() {
    local kind=$1
    shift
    {
        echo "$kind"
        cat "$HERE/Dockerfile.$kind" "$HERE/build-images.sh" "$WORK/constraints.txt"
        printf '%s\n' "$BASE_IMAGE" "$@"
    } | sha256sum | cut -c1-12
}

# --- docker helpers -------------------------------------------------------------------------

image_exists() {
    "$DOCKER" image inspect "$1" >/dev/null 2>&1
}

image_size() {
    "$DOCKER" image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'
}

# The Debian mirrors apt uses on this machine (deb822 .sources or one-line .list files);
# the image's apt must reach the same ones.
apt_mirror() {
    local suite=$1
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        # one stanza per paragraph; print its first URI when its Suites name $suite
        awk -v s="$suite" '
            function stanza_end() { if (match_ && uri) print uri; uri = ""; match_ = 0 }
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) match_ = 1 }
            /^[ \t]*$/ { stanza_end() }
            END { stanza_end() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        awk -v s="$suite" '$1 == "deb" && $3 == s { print $2 }' "$f"
    done
}

# mirror_for SUITE DEFAULT: the first mirror apt uses for SUITE, else DEFAULT.
mirror_for() {
    local found
    found=$(apt_mirror "$1")
    found=${found%%$'\n'*}
    echo "${found:-$2}"
}

# --- base image -----------------------------------------------------------------------------

# debootstrap instead of `FROM debian:bookworm`: Docker Hub is not reachable, the Debian
# mirror is, and an imported root file system needs no registry at all.
build_base() {
    local mirror security rootfs="$WORK/rootfs" start=$SECONDS
    mirror=${SMCHUB_DEBIAN_MIRROR:-$(mirror_for "$SUITE" http://deb.debian.org/debian)}
    security=${SMCHUB_DEBIAN_SECURITY_MIRROR:-$(mirror_for "$SUITE-security" http://deb.debian.org/debian-security)}
    command -v debootstrap >/dev/null || die "debootstrap is missing: run docker/ensure-engine.sh"
    [[ $EUID -eq 0 ]] || die "debootstrap needs root"
    log "debootstrap --variant=minbase $SUITE from $mirror"
    debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 || {
        tail -n 20 "$WORK/debootstrap.log" >&2
        die "debootstrap failed"
    }
    # apt inside the image: the same mirror, with updates and security fixes.
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # Package scripts must not try to start services while an image is built.
    printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
    chmod 755 "$rootfs/usr/sbin/policy-rc.d"
    # As Debian's official images do: apt keeps no downloaded .debs nor its ~80 MB binary
    # caches in image layers, and fetches no translations.
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
EOF
    # Docker provides these per container; the copies debootstrap took from this host must
    # not end up in the image.
    rm -f "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log \
        "$rootfs"/var/cache/ldconfig/aux-cache
    log "debootstrap took $((SECONDS - start))s"
    tar --numeric-owner --xattrs -C "$rootfs" \
        --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
        "$DOCKER" import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'CMD ["bash"]' \
            --change "LABEL org.smchub.image=base org.smchub.debian-mirror=$mirror" \
            --message "debootstrap --variant=minbase $SUITE $mirror" \
            - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
}

base_ready=0
ensure_base() {
    ((base_ready)) && return
    if image_exists "$BASE_IMAGE" && { ((rebuild == 0)) || ! wanted base; }; then
        log "$BASE_IMAGE is there, reused"
    else
        build_base
        log "built $BASE_IMAGE ($(image_size "$BASE_IMAGE"))"
    fi
    base_ready=1
}

# --- derived images -------------------------------------------------------------------------

build_wheel() {
    [[ -f "$WORK/wheels/done" ]] && return
    local start=$SECONDS
    log "building the smchub wheel"
    mkdir -p "$WORK/wheels"
    "$HUB_PYTHON" -m build --wheel --outdir "$WORK/wheels" "$WORK/src" >"$WORK/wheel.log" 2>&1 || {
        tail -n 30 "$WORK/wheel.log" >&2
        die "building the smchub wheel failed"
    }
    ls "$WORK"/wheels/smchub-*.whl >/dev/null 2>&1 || die "the build made no smchub wheel"
    touch "$WORK/wheels/done"
    log "wheel $(basename "$WORK"/wheels/smchub-*.whl) built in $((SECONDS - start))s"
}

# wheel_requirements [EXTRA...]: the smchub wheel's Requires-Dist, with the named extras'
# requirements (their markers dropped) and without the other extras', for the dependency
# layer that comes before the wheel's own.
wheel_requirements() {
    "$HUB_PYTHON" - "$WORK"/wheels/smchub-*.whl "$@" <<'PY'
import re, sys, zipfile
wheel, extras = sys.argv[1], set(sys.argv[2:])
with zipfile.ZipFile(wheel) as zf:
    meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
    lines = zf.read(meta).decode().splitlines()
for line in lines:
    if not line.startswith("Requires-Dist:"):
        continue
    req = line.split(":", 1)[1].strip()
    extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", req)
    if extra is None:
        print(req)
    elif extra.group(1) in extras:
        print(req.split(";", 1)[0].strip())
PY
}

# build_image KIND IMAGE [BUILD-ARG...]
build_image() {
    local kind=$1 image=$2 ctx="$WORK/ctx-$1" start=$SECONDS arg
    shift 2
    if image_exists "$image" && ((rebuild == 0)); then
        log "$image is there, reused"
        return
    fi
    ensure_base
    build_wheel
    mkdir -p "$ctx/wheels"
    cp "$HERE/Dockerfile.$kind" "$ctx/Dockerfile"
    cp "$WORK"/wheels/smchub-*.whl "$ctx/wheels/"
    cp "$WORK/constraints.txt" "$ctx/constraints.txt"
    if [[ "$kind" == hub ]]; then
        wheel_requirements postgres >"$ctx/requirements.txt"
    else
        # autograde: nbgrader, which grades notebooks inside project servers
        wheel_requirements autograde >"$ctx/requirements.txt"
    fi
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/build-ca.crt"
    local build_args=()
    for arg in "$@"; do
        build_args+=(--build-arg "$arg")
    done
    log "building $image"
    "$DOCKER" build --network host --pull=false --force-rm \
        --label "org.smchub.image=$kind" --label "org.smchub.inputs=${image##*:}" \
        "${build_args[@]}" -t "$image" "$ctx" >"$WORK/build-$kind.log" 2>&1 || {
        tail -n 40 "$WORK/build-$kind.log" >&2
        die "building $image failed"
    }
    log "built $image in $((SECONDS - start))s ($(image_size "$image"))"
}

# --- main -----------------------------------------------------------------------------------

src_hash=$(stage_sources)
write_constraints
chp=$(chp_version)
project_image="smchub/project:$(tag_of project "$src_hash")"
hub_image="smchub/hub:$(tag_of hub "$src_hash" "chp=$chp")"
full_image="smchub/project-full:$(tag_of full "$src_hash")"

names=()
wanted base && names+=("$BASE_IMAGE")
wanted project && names+=("$project_image")
wanted hub && names+=("$hub_image")
wanted full && names+=("$full_image")

if ((print_only)); then
    printf '%s\n' "${names[@]}"
    exit 0
fi

"$DOCKER" info >/dev/null 2>&1 ||
    die "no Docker Engine answers at ${DOCKER_HOST:-the default socket}; start one (docker/test-daemons.sh) or pass -H"

wanted base && ensure_base
wanted project && build_image project "$project_image"
wanted hub && build_image hub "$hub_image" "CHP_VERSION=$chp"
wanted full && build_image full "$full_image"

printf '%s\n' "${names[@]}"
