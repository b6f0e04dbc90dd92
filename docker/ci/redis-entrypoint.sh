#!/bin/sh
set -eu
if [ "${1:-}" = redis-server ]; then
  chown -R redis:redis /data
  exec runuser -u redis -- "$@" --bind 0.0.0.0 --protected-mode no --dir /data
fi
exec "$@"
