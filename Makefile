# RecDesk. `make run` sets everything up and starts the demo; `make test` runs the whole test suite.
PYTHON ?= python3
VENV := .venv
BOOT := var/bootstrap
UV := $(BOOT)/bin/uv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8
# The tests use the machine's PostgreSQL and Redis (see README, "Tests").
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/recdesk
TEST_BROKER_URL ?= redis://127.0.0.1:6379/14

.PHONY: run install migrate test test-fast lint bench messages check-deploy clean

run: install migrate
	$(PY) manage.py rundemo

$(UV):
	$(PYTHON) -m venv $(BOOT)
	$(BOOT)/bin/pip install --quiet uv==$(UV_VERSION)

# Bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set (this machine sets it), every
# process would otherwise compile Django, httpx and the rest from source as it starts (0.8 s of CPU
# per process against 0.24 s: each Celery pool process, gunicorn worker and test subprocess).
install: $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --quiet --compile-bytecode

migrate: install
	$(PY) manage.py migrate --noinput

messages: install  ## compile translations (needs GNU gettext; the .mo files are committed)
	$(PY) manage.py compilemessages --ignore=.venv --ignore=var -v 0

test: install
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) $(PY) bench/run.py

clean:
	rm -rf var/celery-broker var/sandbox staticfiles
