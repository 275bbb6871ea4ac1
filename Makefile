# Loomworks: `make run` serves the app on SQLite with demo data; `make test` runs the suite on PostgreSQL.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO_PASSWORD ?= loomworks-demo
# The tests run on PostgreSQL: TEST_DATABASE_URL, else a postgres DATABASE_URL, else the local socket.
TEST_DATABASE_URL ?= $(if $(filter postgres%,$(DATABASE_URL)),$(DATABASE_URL),postgres:///loomworks)

.PHONY: run test lint format bench check-ledger clean

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

check-ledger: $(VENV)/.installed
	$(BIN)/python manage.py check_ledger

clean:
	rm -rf $(VENV) var/*.sqlite3 staticfiles
