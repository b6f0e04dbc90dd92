#!/usr/bin/env bash
# Build the Anker sandbox image, reusing every cache there is.
#
#   export DOCKER_HOST="$(sandbox-image/dockerd.sh)"   # or any reachable engine
#   sandbox-image/build.sh
#
# 1. No image registry is reachable here, so the base image is made locally:
#    debootstrap --variant=minbase bookworm, tarred and `docker import`ed as
#    anker-base:bookworm. The tarball is kept in ${ANKER_CACHE:-/var/cache/anker}
#    so a lost image is re-imported in seconds instead of re-bootstrapped.
# 2. The host CA bundle is copied into certs/ (gitignored) so apt/pip inside the
#    build trust a TLS-intercepting proxy.
# 3. docker build with BASE_IMAGE=anker-base:bookworm; the layer cache makes an
#    unchanged rebuild take seconds.
#
# Env: SANDBOX_IMAGE (default anker-sandbox:latest), ANKER_CACHE,
#      ANKER_BASE_IMAGE (default anker-base:bookworm), DEBIAN_MIRROR,
#      HOST_CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt; "" to skip).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SANDBOX_IMAGE="${SANDBOX_IMAGE:-anker-sandbox:latest}"
BASE_IMAGE="${ANKER_BASE_IMAGE:-anker-base:bookworm}"
CACHE="${ANKER_CACHE:-/var/cache/anker}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
HOST_CA_BUNDLE="${HOST_CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}"
BASE_TARBALL="$CACHE/anker-base-bookworm.tar"

log() { echo "build.sh: $*" >&2; }

if ! docker info >/dev/null 2>&1; then
    log "no Docker engine at ${DOCKER_HOST:-the default socket};"
    log "start one with: export DOCKER_HOST=\"\$($HERE/dockerd.sh)\""
    exit 1
fi

make_base_tarball() {
    command -v debootstrap >/dev/null 2>&1 || {
        log "debootstrap not found; apt-get install -y debootstrap"
        exit 1
    }
    mkdir -p "$CACHE"
    local rootfs
    rootfs="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    # Remove the half-made rootfs whatever happens; the tarball is only moved
    # into place once complete, so an interrupted run leaves no bad cache.
    trap 'rm -rf "$rootfs" "$BASE_TARBALL.tmp"' EXIT
    log "debootstrap bookworm into $rootfs (first run only, ~30 s)"
    debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >&2
    # Drop the apt lists and caches debootstrap leaves behind: the Dockerfile
    # runs apt-get update anyway.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
    tar --numeric-owner -C "$rootfs" -cf "$BASE_TARBALL.tmp" .
    mv "$BASE_TARBALL.tmp" "$BASE_TARBALL"
    rm -rf "$rootfs"
    trap - EXIT
}

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "base image $BASE_IMAGE present"
else
    [ -s "$BASE_TARBALL" ] || make_base_tarball
    log "importing $BASE_TARBALL as $BASE_IMAGE"
    docker import "$BASE_TARBALL" "$BASE_IMAGE" >/dev/null
fi

if [ -n "$HOST_CA_BUNDLE" ] && [ -s "$HOST_CA_BUNDLE" ]; then
    # Only copy when the content changed, so the COPY layer stays cached.
    if ! cmp -s "$HOST_CA_BUNDLE" "$HERE/certs/host-ca-bundle.crt"; then
        cp "$HOST_CA_BUNDLE" "$HERE/certs/host-ca-bundle.crt"
    fi
fi

log "building $SANDBOX_IMAGE from $BASE_IMAGE"
docker build \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    -t "$SANDBOX_IMAGE" \
    "$HERE"
