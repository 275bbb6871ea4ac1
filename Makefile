# Loomworks: `make run` serves the app on SQLite with demo data; `make test` runs the suite on PostgreSQL.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO_PASSWORD ?= loomworks-demo
# The tests run on PostgreSQL: TEST_DATABASE_URL, else a postgres DATABASE_URL, else the local socket.
TEST_DATABASE_URL ?= $(if $(filter postgres%,$(DATABASE_URL)),$(DATABASE_URL),postgres:///loomworks)

.PHONY: run test lint format bench bench-complete bench-trace check-ledger clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "Loomworks needs Python 3.11 ($(PYTHON) not found)."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	@mkdir -p var
	DEBUG=1 $(BIN)/python manage.py migrate --no-input
	DEBUG=1 $(BIN)/python manage.py seed_demo --password '$(DEMO_PASSWORD)'
	@echo
	@echo "  Loomworks is at http://127.0.0.1:$(PORT)/"
	@echo "  Sign in as owner, maker or viewer; password: $(DEMO_PASSWORD) (demo data only)"
	@echo
	DEBUG=1 $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: $(VENV)/.installed-test
	@sh .ci/ensure-chromium
	@DATABASE_URL='$(TEST_DATABASE_URL)' $(BIN)/python -m loomworks.pgcheck
	DATABASE_URL='$(TEST_DATABASE_URL)' SECRET_KEY=test-only-not-secret $(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.installed-test
	@DATABASE_URL='$(TEST_DATABASE_URL)' $(BIN)/python -m loomworks.pgcheck
	DATABASE_URL='$(TEST_DATABASE_URL)' SECRET_KEY=bench-only-not-secret $(BIN)/python bench/posting.py

bench-complete: $(VENV)/.installed-test
	@DATABASE_URL='$(TEST_DATABASE_URL)' $(BIN)/python -m loomworks.pgcheck
	DATABASE_URL='$(TEST_DATABASE_URL)' SECRET_KEY=bench-only-not-secret $(BIN)/python bench/complete.py

# Traces and list pages over a bulk-loaded ledger of a million movements (a few minutes).
bench-trace: $(VENV)/.installed-test
	@DATABASE_URL='$(TEST_DATABASE_URL)' $(BIN)/python -m loomworks.pgcheck
	DATABASE_URL='$(TEST_DATABASE_URL)' SECRET_KEY=bench-only-not-secret $(BIN)/python bench/trace.py

# check-ledger reads what make run serves (var/loomworks.sqlite3) unless DATABASE_URL names another
# database: make check-ledger DATABASE_URL=postgres://user:pass@host:5432/loomworks after a restore.
# It signs nothing, so a stand-in SECRET_KEY does when none is set. Nothing is echoed: the URL may
# hold a password.
LEDGER_SQLITE := $(if $(DATABASE_URL),$(patsubst sqlite:///%,%,$(filter sqlite:%,$(DATABASE_URL))),var/loomworks.sqlite3)
LEDGER_ENV := DATABASE_URL='$(DATABASE_URL)' SECRET_KEY="$${SECRET_KEY:-check-ledger-only-not-secret}"

check-ledger: $(VENV)/.installed
ifneq ($(LEDGER_SQLITE),)
	@test -f '$(LEDGER_SQLITE)' || { echo "No database at $(LEDGER_SQLITE): run make run once, or check PostgreSQL with make check-ledger DATABASE_URL=postgres://user:pass@host:5432/loomworks."; exit 1; }
else
	@DATABASE_URL='$(DATABASE_URL)' $(BIN)/python -m loomworks.pgcheck --existing
endif
	@$(LEDGER_ENV) $(BIN)/python manage.py migrate --check || { echo "The database is behind this code's migrations: run DATABASE_URL=... $(BIN)/python manage.py migrate first (docker compose runs it on start)."; exit 1; }
	@$(LEDGER_ENV) $(BIN)/python manage.py check_ledger

clean:
	rm -rf $(VENV) var/*.sqlite3 staticfiles
