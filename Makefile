# signalgate — `make` prints this help.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.DEFAULT_GOAL := help
.PHONY: help setup lock run test lint bench soak clean

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# The locked dependencies first (hash-checked, as Heroku installs them), then signalgate itself and
# its dev tools: pip keeps the locked versions, which satisfy pyproject.toml's ranges.
$(BIN)/.installed: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -U pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

setup: $(BIN)/.installed ## create .venv and install signalgate with its dev tools

LOCK_ARGS ?=
lock: setup ## pin requirements.txt (exact versions, hashes) to pyproject.toml; LOCK_ARGS=--upgrade for the newest
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command 'make lock' --quiet --output-file requirements.txt $(LOCK_ARGS)
	$(MAKE) setup

run: setup ## run the service locally (settings from .env too): Redis, SQLite, every process; sends a sample alert
	$(BIN)/signalgate run

lint: setup ## ruff, ruff format, mypy --strict, import-linter contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Bytecode first: the suite starts hundreds of processes, and where PYTHONDONTWRITEBYTECODE is
# set (as on the CI machines) each would compile signalgate's modules again.
# The timing runs marked `quiet` (a web restart within a client's retries), in QUIET_TESTS, run
# after the rest with the machine to themselves.
QUIET_TESTS := tests/e2e/test_web_restart.py
test: lint ## lint, then the whole test suite (unit, integration, e2e), four files at a time
	$(BIN)/python -m compileall -q -j 0 app workers tests bench > /dev/null
	$(BIN)/pytest -n 4 --dist loadfile --durations=25 -m "not quiet"
	$(BIN)/pytest -m quiet $(QUIET_TESTS)

bench: setup ## benchmarks: print figures (feed, paper venue, routing, ingest, execution, strategy engine, backtest, web start, notifications, order streams, price streams)
	$(BIN)/python -m bench.feed
	$(BIN)/python -m bench.paper
	$(BIN)/python -m bench.routing
	$(BIN)/python -m bench.paper_remote
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.execution
	$(BIN)/python -m bench.strategy
	$(BIN)/python -m bench.backtest
	$(BIN)/python -m bench.web_start
	$(BIN)/python -m bench.notify
	$(BIN)/python -m bench.streams
	$(BIN)/python -m bench.price_streams

SOAK_ARGS ?=
soak: setup ## soak: 10 min at 100 alerts/s through the Procfile's processes on PostgreSQL (memory, errors); SOAK_ARGS="--minutes 1"
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean: ## remove the virtualenv and local state
	rm -rf $(VENV) .signalgate signalgate.db signalgate.db-* .pytest_cache .mypy_cache .ruff_cache
