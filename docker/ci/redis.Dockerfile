# CI stand-in for the official redis:7 image: Debian's Redis 7 on the local base, data in /data,
# and (as the official entrypoint does when no config file is given) protected mode off, so the
# other services on the compose network can connect.
ARG BASE_IMAGE=anker-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
COPY ci/redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
VOLUME /data
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
