#!/usr/bin/env bash
# Start Anker's private Docker engine if it is not already running, then print
# the DOCKER_HOST value to use with it (only that goes to stdout):
#
#   export DOCKER_HOST="$(sandbox-image/dockerd.sh)"
#
# Idempotent: a second call finds the live daemon and only prints the address.
# There is no systemd on the dev/CI machines, so dockerd is started by hand and
# detached (setsid) so that it outlives the calling shell. Stop it with
#   kill "$(cat /run/anker-dockerd.pid)"
set -euo pipefail

DATA_ROOT="${ANKER_DOCKER_DATA_ROOT:-/var/lib/anker-docker}"
# Keep the exec root short: containerd shim sockets live under it and unix
# socket paths are limited to 108 bytes.
EXEC_ROOT="${ANKER_DOCKER_EXEC_ROOT:-/run/anker-dx}"
SOCK="${ANKER_DOCKER_SOCK:-/run/anker-docker.sock}"
PIDFILE="${ANKER_DOCKER_PIDFILE:-/run/anker-dockerd.pid}"
LOG="${ANKER_DOCKER_LOG:-/var/log/anker-dockerd.log}"
TIMEOUT_S="${ANKER_DOCKER_START_TIMEOUT:-60}"
HOST="unix://${SOCK}"

log() { echo "dockerd.sh: $*" >&2; }

ready() { DOCKER_HOST="$HOST" docker info >/dev/null 2>&1; }

if ! command -v dockerd >/dev/null 2>&1; then
    log "dockerd not found; install it first: apt-get install -y docker.io"
    exit 1
fi

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    # Already started (by us or an earlier run); just wait until it answers.
    :
else
    mkdir -p "$DATA_ROOT" "$EXEC_ROOT" "$(dirname "$LOG")"
    log "starting dockerd (data root $DATA_ROOT, log $LOG)"
    setsid -f dockerd \
        --data-root "$DATA_ROOT" \
        --exec-root "$EXEC_ROOT" \
        -H "$HOST" \
        --pidfile "$PIDFILE" \
        </dev/null >>"$LOG" 2>&1
fi

deadline=$((SECONDS + TIMEOUT_S))
until ready; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        log "dockerd did not answer on $HOST within ${TIMEOUT_S}s; last log lines:"
        tail -n 20 "$LOG" >&2 || true
        exit 1
    fi
    sleep 0.2
done
echo "$HOST"
