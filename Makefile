# The two commands a new user types: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

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
	$(BIN)/pytest -q -ra

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(BIN)/hadolint deploy/Dockerfile

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

unit: install
	$(BIN)/pytest -q tests/unit

integration: install
	$(BIN)/pytest -q tests/integration

e2e: install
	$(BIN)/pytest -q tests/e2e

## Refresh the README's screenshots (docs/screenshots/) from the browser tests.
screenshots: install
	RELAY_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/pytest -q tests/e2e/test_console_browser.py

clean:
	rm -rf var .pytest_cache .ruff_cache
