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

# Coverage of the package over the whole suite; the floor is the measured 93% less a little slack for machines
# that run fewer hardware-dependent paths.
COVERAGE_FLOOR ?= 90
COVERAGE := --cov=ttsd --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR)

test: install
	$(BIN)/pytest $(COVERAGE)

test-fast: install
	$(BIN)/pytest -m "not integration and not browser and not slow" -p no:cacheprovider -q -n auto --maxprocesses 4

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/ttsd bench

loadtest: install
	BIN=$(BIN) scripts/loadtest.sh 20 8

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info
