# metamorph-admin: `make run` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# The first Python >= 3.12 on PATH (pyenv honours .python-version = 3.12).
PYTHON ?= $(shell for p in python3.12 python3.13 python3.14 python3 python; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' \
	>/dev/null 2>&1 && echo $$p && break; done)

.PHONY: run test check bench dist install install-test browser borg borg-test postgres clean-venv

$(PY):
	@test -n "$(PYTHON)" || { echo "metamorph-admin needs Python 3.12 or newer on PATH (pyenv install 3.12)."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed-run: requirements.txt | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements.txt requirements-test.txt | $(PY)
	$(PY) -m pip install -q -r requirements-test.txt
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run

install-test: $(VENV)/.installed-test browser borg-test

# Debian's Chromium for the browser tests (Playwright's own download does not work here).
# scripts/apt-install waits (bounded) for another apt-get or dpkg instead of failing at once.
browser:
	@[ -x /usr/bin/chromium ] || scripts/apt-install chromium

# BorgBackup keeps the off-host repository (docs/backups-offsite.md); the tests also start a
# throw-away OpenSSH server of their own on 127.0.0.1 (never the system's sshd or port 22).
borg:
	@command -v borg >/dev/null || scripts/apt-install borgbackup
borg-test: borg
	@[ -x /usr/sbin/sshd ] || scripts/apt-install openssh-server

.env:
	@echo "SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env
	@chmod 600 .env
	@echo "Wrote .env with a new SECRET_KEY (see .env.example for every setting)."

run: install .env borg
	$(BYTECODE) >/dev/null
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py ensuredemodb
	$(PY) manage.py ensurelogin
	@echo "Starting an agent per Metamorph database and gunicorn on http://$${BIND:-127.0.0.1:8000}/ (Ctrl-C stops them)."
	@# Stop exactly our two children, once. (`trap 'kill 0' … TERM` signalled this shell
	@# too, re-entered its own TERM trap without end and crashed bash: "Segmentation fault".)
	@trap 'trap - EXIT INT TERM; kill $$worker $$web 2>/dev/null; wait' EXIT INT TERM; \
	$(PY) manage.py agent --all & worker=$$!; \
	$(VENV)/bin/gunicorn -c gunicorn.conf.py metamorph_admin.wsgi & web=$$!; \
	wait $$web

# A real PostgreSQL for the second test run (Debian's postgresql, installed where missing).
PG_TEST_URL ?= postgres://metamorph_admin_test:metamorph-admin-test@127.0.0.1:5432/metamorph_admin_test
postgres:
	@scripts/test-postgres

# Every test on SQLite (the 15 slowest printed), then every test that touches the dashboard's
# own database again on PostgreSQL (one of the two data shapes: conftest.py). Test files run
# on 3 workers: most tests wait on real processes, a browser or SQLite's locks, not the CPU.
PYTEST := $(PY) -m pytest -q -p no:cacheprovider -n 3 --dist loadfile
# Bytecode compiled first: some images set PYTHONDONTWRITEBYTECODE=1 (this one does), and every
# `manage.py` a test starts would otherwise compile our ~300 modules again (~0.2 s each time).
BYTECODE := $(PY) -m compileall -q -j 2 metamorph metamorph_admin vaults migrations_ui rollouts
test: install-test check postgres
	$(BYTECODE) >/dev/null
	env -u DATABASE_URL METAMORPH_TEST_BACKEND=sqlite $(PYTEST) --durations=15
	DATABASE_URL=$(PG_TEST_URL) METAMORPH_TEST_BACKEND=postgresql $(PYTEST) --dashboard-db-only

# Lint, format, types and the import contract (layers, no Django in metamorph/, no cycles).
check: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

# A wheel for a Metamorph host without a checkout: `pip install dist/metamorph_admin-*.whl`
# gives the `metamorph-admin` command (the same commands as manage.py, `agent` among them).
dist: | $(PY)
	rm -rf build dist
	$(PY) -m pip wheel --no-deps -q -w dist .
	rm -rf build *.egg-info
	@ls dist/*.whl

bench: install
	$(BYTECODE) >/dev/null
	$(PY) bench/run.py

clean-venv:
	rm -rf $(VENV)
