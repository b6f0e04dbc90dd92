# CI stand-in for the official mongo:7 image: the MIT-licensed Mongo wire-protocol server nx-27017
# (the embedded default's, from PyPI) on the local base, data in /data/db, port 27017. `mongosh`
# here answers only the compose health check's ping (see ci/mongosh).
ARG BASE_IMAGE=anker-base:bookworm
FROM ${BASE_IMAGE}
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY certs/ /usr/local/share/ca-certificates/
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates python3 python3-venv \
 && update-ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/nx \
 && /opt/nx/bin/pip install nx-27017==0.8.1 pymongo==4.20.0
COPY ci/mongosh /usr/local/bin/mongosh
VOLUME /data/db
EXPOSE 27017
CMD ["/opt/nx/bin/nx-27017", "--data-dir", "/data/db", "--host", "0.0.0.0", "-p", "27017", \
     "--log-file", "/tmp/nx-27017.log", "--pid-file", "/tmp/nx-27017.pid"]
