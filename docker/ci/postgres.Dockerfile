# CI stand-in for the official postgres:15 image (no registry is reachable): Debian's PostgreSQL 15
# on the local base, with the same contract: POSTGRES_DB/USER/PASSWORD create the database on
# first start, data in /var/lib/postgresql/data, port 5432 on every interface, pg_isready.
ARG BASE_IMAGE=anker-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY ci/postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
