# Anker — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
FRONTEND_SOURCES := $(shell find frontend/src frontend/index.html frontend/package.json frontend/vite.config.ts -type f 2>/dev/null)

.PHONY: run test test-backend test-frontend lint fmt bench up down frontend venv clean-data schema

$(STAMP): requirements/base.txt requirements/dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements/dev.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
	touch $(STAMP)

venv: $(STAMP)

.data/secret_key:
	mkdir -p -m 700 .data
	umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@
	chmod 600 $@

frontend/node_modules/.package-lock.json: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund

frontend/dist/index.html: frontend/node_modules/.package-lock.json $(FRONTEND_SOURCES)
	cd frontend && npm run build

# Builds the web app when its sources changed (needs Node 20 and npm; only the npm registry is used).
frontend:
	@if [ -f frontend/package.json ]; then $(MAKE) --no-print-directory frontend/dist/index.html; fi

## Start Anker on this machine: SQLite, private Redis and Mongo-compatible server, web, worker, beat, Flower.
run: $(STAMP) .data/secret_key frontend
	$(PY) -m anker_project.embedded

## The tests: backend (pytest) and, when Node is present, the web app's.
test: test-frontend test-backend

test-backend: $(STAMP)
	$(PY) -m pytest
	@# The agent's web flows once more on local jails (the embedded default's sandboxes) when the
	@# first pass used Docker containers.
	if [ -n "$$DOCKER_HOST" ] || [ -S /run/anker-docker.sock ]; then \
	  ANKER_E2E_BACKEND=local $(PY) -m pytest -q tests/e2e/test_web_agent.py; fi

test-frontend:
	@if [ -f frontend/package.json ]; then $(MAKE) --no-print-directory frontend/node_modules/.package-lock.json && cd frontend && npm run check:types && npm test; fi

# mypy's Django plugin and manage.py load the settings, which need a secret key.
lint: export DJANGO_SECRET_KEY ?= lint-only-not-secret
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy agents jobs sessions sandboxes anker_project
	$(PY) manage.py export_event_schema --check
	@if [ -f frontend/package.json ]; then cd frontend && npm run lint && npm run typecheck; fi

fmt: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

## The event schema the web app's types are generated from.
schema: $(STAMP)
	$(PY) manage.py export_event_schema

## Benchmarks (bench/run.py); `make bench BENCH_ARGS=--full` adds the long modes.
bench: $(STAMP)
	$(PY) bench/run.py $(BENCH_ARGS)

## Production stack (Docker Compose).
up:
	docker compose up --build -d

down:
	docker compose down
