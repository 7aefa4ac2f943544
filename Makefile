# The two commands a new user types: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# Tests run on one worker more than there are CPUs (they mostly wait on brokers,
# databases and processes; WORKERS=0: in this process), a file at a time on a worker so
# a module's fixtures start once; each worker has its own broker and databases
# (tests/conftest.py).
WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')
PYTEST := $(BIN)/pytest -n $(WORKERS) --dist loadfile

.PHONY: install run test lint format unit integration e2e screenshots clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## Start everything on the embedded default, with demo data (Ctrl-C stops).
run: install
	$(BIN)/relay up --demo

## Lint, then every test (unit, integration on real components, end to end).
test: install lint
	$(PYTEST) -q -ra

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(BIN)/hadolint deploy/Dockerfile

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

unit: install
	$(PYTEST) -q tests/unit

integration: install
	$(PYTEST) -q tests/integration

e2e: install
	$(PYTEST) -q tests/e2e

## Refresh the README's screenshots (docs/screenshots/) from the browser tests.
screenshots: install
	RELAY_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/pytest -q tests/e2e/test_console_browser.py tests/e2e/test_console_panel_browser.py

clean:
	rm -rf var .pytest_cache .ruff_cache
