#!/usr/bin/env bash
# Run the tool API in a bubblewrap jail (what the "local" sandbox backend does):
#
#   TOOLAPI_TOKEN=... sandbox-image/run-bwrap.sh WORKSPACE_DIR PORT [PYTHON]
#   TOOLAPI_TOKEN=... sandbox-image/run-bwrap.sh WORKSPACE_DIR /abs/path/api.sock [PYTHON]
#
# With a PORT the jail keeps the host network (--share-net) so the API can
# listen on 127.0.0.1:PORT of the host (loopback inside --unshare-net is out of
# reach) -- and so the jail can reach every loopback service of the host too.
# With a socket path the jail gets no network at all (--unshare-net: only its
# own lo): the socket's directory is bound into the jail at /run/toolapi and
# the API listens on the socket there. Everything else is unshared; / is empty except read-only /usr and
# /etc, the Python that runs the API, the package itself, and WORKSPACE_DIR
# mounted read-write at /workspace (TOOLAPI_ROOT and HOME). Inside, the
# process is uid/gid 1000 "ubuntu" (mapped to the caller's uid outside).
# The token travels in the environment, never in argv (argv is world-readable
# in ps). exec: the caller's process becomes bwrap; --die-with-parent ties
# the jail's life to the caller.
set -euo pipefail

WS="$(realpath "$1")"
LISTEN="$2"
PY="${3:-python3}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${TOOLAPI_TOKEN:?TOOLAPI_TOKEN must be set}"

# The interpreter may live outside /usr (pyenv, a venv): bind its prefixes.
read -r PREFIX BASE_PREFIX < <("$PY" -c 'import sys; print(sys.prefix, sys.base_prefix)')
PY_ABS="$(command -v "$PY")"

# passwd/group for the jail come in on fds 3 and 4 (--ro-bind-data): no
# temporary files, which matters because this script ends in exec.
exec 3< <(printf '%s\n' 'root:x:0:0:root:/root:/bin/bash' \
    'ubuntu:x:1000:1000:ubuntu:/workspace:/bin/bash' \
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin')
exec 4< <(printf '%s\n' 'root:x:0:' 'ubuntu:x:1000:' 'nogroup:x:65534:')

args=(
    --die-with-parent
    --unshare-all
    --unshare-user --uid 1000 --gid 1000
    --hostname sandbox
    --ro-bind /usr /usr
    --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin
    --ro-bind /etc /etc
    --ro-bind-data 3 /etc/passwd
    --ro-bind-data 4 /etc/group
    --proc /proc --dev /dev --tmpfs /tmp
    --ro-bind "$HERE/toolapi" /opt/anker/toolapi
    --bind "$WS" /workspace
    --chdir /opt/anker
)
case "$LISTEN" in
    /*)
        mkdir -p "$(dirname "$LISTEN")"
        args+=(--bind "$(dirname "$LISTEN")" /run/toolapi)
        listen_args=(--unix-socket "/run/toolapi/$(basename "$LISTEN")")
        ;;
    *)
        args+=(--share-net)
        listen_args=(--host 127.0.0.1 --port "$LISTEN")
        ;;
esac
for dir in "$BASE_PREFIX" "$PREFIX"; do
    case "$dir" in /usr | /usr/*) ;; *) args+=(--ro-bind "$dir" "$dir") ;; esac
done

# Run env: only what the API needs (TOOLAPI_TOKEN comes from our environment).
exec env -i \
    PATH=/usr/local/bin:/usr/bin:/bin \
    LANG=C.UTF-8 \
    HOME=/workspace \
    TOOLAPI_TOKEN="$TOOLAPI_TOKEN" \
    TOOLAPI_ROOT=/workspace \
    TOOLAPI_HOME=/workspace \
    TOOLAPI_SERVICES="${TOOLAPI_SERVICES-}" \
    bwrap "${args[@]}" "$PY_ABS" -m toolapi "${listen_args[@]}"
