# One place for the commands a newcomer and CI run. `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Prefect's servers phone home unless told not to.
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: setup demo test lint format lock

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)  ## Create .venv with the locked dependencies.

demo: $(STAMP)  ## Build the demo payroll (SQLite) and run Sync from Payroll on it.
	$(BIN)/ess-sync demo

test: $(STAMP)  ## Run the whole test suite: three workers on two cores.
	$(BIN)/python -m pytest -n 3 --dist loadgroup

lint: $(STAMP)  ## ruff (lint and format check) and mypy.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock:  ## Re-resolve requirements.lock from pyproject.toml.
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock
