# One command per chore. `make run` sets everything up on a fresh machine and starts the service.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-fast lint bench loadtest clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=python3 to use another)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	PYTHON=$(BIN)/python scripts/install.sh --dev --editable
	touch $(STAMP)

run: install
	$(BIN)/ttsd serve

test: install
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not integration and not browser and not slow"

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src
	$(BIN)/mypy

bench: install
	$(BIN)/ttsd bench

loadtest: install
	$(BIN)/ttsd loadtest --help

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info
