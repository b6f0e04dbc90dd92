# The Anker backend image: web (daphne), worker, beat and flower all run from it.
#   docker build .                                   python:3.11-slim-bookworm + node:20 (a registry)
#   docker build --build-arg BASE_IMAGE=anker-base:bookworm --build-arg NODE_IMAGE=anker-base:bookworm \
#                --build-arg FRONTEND_BUILD=prebuilt .          no registry: Debian's Python 3.11 and
#                                                                the web app built by `make frontend`
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS frontend
# npm: build the web app here (needs Node 20). prebuilt: take frontend/dist from the build context.
ARG FRONTEND_BUILD=npm
WORKDIR /frontend
COPY frontend/ ./
RUN if [ "$FRONTEND_BUILD" = prebuilt ]; then \
      test -f dist/index.html || { echo "FRONTEND_BUILD=prebuilt needs frontend/dist: run make frontend" >&2; exit 1; }; \
    elif [ -f package.json ]; then npm ci --no-audit --no-fund && npm run build; \
    else mkdir -p dist; fi

FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PATH=/opt/venv/bin:$PATH

# An optional extra CA for builds behind a TLS-intercepting proxy: put *.crt in docker/certs/.
# A base without Python (a plain Debian) gets Debian's Python 3.11.
COPY docker/certs/ /usr/local/share/ca-certificates/
RUN python_pkgs=""; command -v python3 >/dev/null 2>&1 || python_pkgs="python3 python3-venv"; \
    apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl tini $python_pkgs \
 && update-ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 anker \
 && python3 -m venv /opt/venv

WORKDIR /app
COPY requirements/ requirements/
RUN pip install -r requirements/base.txt

COPY --chown=anker:anker . .
COPY --from=frontend --chown=anker:anker /frontend/dist/ frontend/dist/
RUN DJANGO_SECRET_KEY=build-only python manage.py collectstatic --noinput -v 0

USER anker
EXPOSE 8000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "anker_project.asgi:application"]
