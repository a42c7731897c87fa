# The README's two commands: `make run` and `make test`. Everything else here serves them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432
PG_USER ?= postgres
HOST ?= 127.0.0.1
PORT ?= 5000
VENDOR := tracker/static/vendor

.PHONY: run test lint test-sqlite test-pg test-browser e2e-cluster redis-up bench deps assets translations extract system-deps pg-up migrate seed clean

# ---- set-up ------------------------------------------------------------------------------------

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.deps-stamp: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

deps: $(VENV)/.deps-stamp

$(VENDOR)/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/bootstrap $(VENDOR)/htmx $(VENDOR)/echarts
	cp node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/dist/css/bootstrap.min.css.map $(VENDOR)/bootstrap/
	cp node_modules/bootstrap/dist/js/bootstrap.bundle.min.js node_modules/bootstrap/dist/js/bootstrap.bundle.min.js.map $(VENDOR)/bootstrap/
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx/
	cp node_modules/echarts/dist/echarts.min.js $(VENDOR)/echarts/
	touch $@

assets: $(VENDOR)/.stamp

translations: deps
	$(BIN)/pybabel compile -d tracker/translations

# Refresh the catalog from the code. --ignore-dirs: Babel skips folders starting with "_" (templates/_macros) by default.
extract: deps
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ --no-location --sort-output --ignore-dirs ".*" -o tracker/translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching -i tracker/translations/messages.pot -d tracker/translations

migrate: deps
	mkdir -p instance
	$(FLASK) db upgrade

# ---- make run: SQLite, demo data, web server and scheduler -------------------------------------

run: deps assets translations migrate
	$(FLASK) demo seed --if-empty
	@echo "Web: http://$(HOST):$(PORT)/login   (Ctrl-C stops the web server, the scheduler and the mail/webhook sink)"
	@trap 'kill 0' INT TERM EXIT; \
	  $(FLASK) alerts sink & \
	  $(FLASK) scheduler & \
	  $(FLASK) run --host $(HOST) --port $(PORT) & \
	  wait

# ---- make test: lint, pytest on SQLite, pytest on PostgreSQL, browser tests in Chromium --------

test: deps assets translations system-deps lint test-sqlite test-pg test-browser e2e-cluster

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two workers on the two cores; each has its own database.
PYTEST_PARALLEL ?= -n 2

test-sqlite: deps translations
	$(BIN)/pytest -m "not browser and not cluster" -q $(PYTEST_PARALLEL)

pg-up:
	@pg_isready -q -h $(PG_HOST) -p $(PG_PORT) || { \
	  if command -v pg_ctlcluster >/dev/null; then \
	    pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -V | tail -1) main start; \
	    for i in $$(seq 30); do pg_isready -q -h $(PG_HOST) -p $(PG_PORT) && break; sleep 1; done; \
	  fi; }
	@pg_isready -q -h $(PG_HOST) -p $(PG_PORT) || { echo "PostgreSQL is not reachable on $(PG_HOST):$(PG_PORT): install and start it (apt-get install postgresql)."; exit 1; }

test-pg: deps translations pg-up
	@db=tracker_test_$$$$; \
	  psql -q -h $(PG_HOST) -p $(PG_PORT) -U $(PG_USER) -d postgres -c "CREATE DATABASE $$db"; \
	  trap 'psql -q -h $(PG_HOST) -p $(PG_PORT) -U $(PG_USER) -d postgres -c "DROP DATABASE IF EXISTS $$db WITH (FORCE)"' EXIT; \
	  TEST_DATABASE_URL=postgresql+psycopg://$(PG_USER)@$(PG_HOST):$(PG_PORT)/$$db $(BIN)/pytest -m "not browser and not cluster" -q $(PYTEST_PARALLEL)

system-deps:
	@missing=""; \
	  [ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	  fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	      echo "installing$$missing"; apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    else echo "Browser tests need Debian packages:$$missing. Run: sudo apt-get install$$missing"; exit 1; fi; \
	  fi

test-browser: deps assets translations system-deps
	$(BIN)/pytest -m browser -q

# Two gunicorn servers and two schedulers on one PostgreSQL database, driven over HTTP (tests/cluster).
redis-up:
	@python3 -c "import socket; socket.create_connection(('127.0.0.1', 6379), 2)" 2>/dev/null || { \
	  if command -v redis-server >/dev/null; then redis-server --daemonize yes --save "" --bind 127.0.0.1 >/dev/null; sleep 1; fi; }
	@python3 -c "import socket; socket.create_connection(('127.0.0.1', 6379), 2)" 2>/dev/null || { echo "Redis is not reachable on 127.0.0.1:6379: install and start it (apt-get install redis-server)."; exit 1; }

e2e-cluster: deps translations pg-up redis-up
	CLUSTER_DATABASE_URL=postgresql+psycopg://$(PG_USER)@$(PG_HOST):$(PG_PORT)/postgres $(BIN)/pytest -m cluster -q tests/cluster

# ---- make bench: every performance target at scale, written to docs/performance.md (not in make test) --

BENCH_PROBLEMS ?= 1000000
BENCH_ARGS ?=

bench: deps translations pg-up
	$(BIN)/python -m tests.bench.suite --problems $(BENCH_PROBLEMS) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules $(VENDOR) test-output .pytest_cache .ruff_cache
