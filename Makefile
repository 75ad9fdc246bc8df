# Every target creates .venv and installs the project when missing or stale.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the service's own dependencies only: `make serve` needs no test or bench tools
RUNTIME_STAMP := $(VENV)/.installed-runtime
EXTRAS ?= dev

.PHONY: test test-fast serve lint bench clean docs

$(RUNTIME_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

$(STAMP): pyproject.toml $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

# the browser tests drive Debian's chromium (never a browser download by a test tool)
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# the edit loop: everything but the tests that start servers, fuzz, build demo ledgers or run the CUDA simulator
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not slow"

docs: $(STAMP)
	$(BIN)/chip-ledger docs

# SERVE_ARGS=--port 8001 (say) to serve elsewhere
SERVE_ARGS ?=
serve: $(RUNTIME_STAMP)
	$(BIN)/chip-ledger serve --demo $(SERVE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# the benchmarks also want the `bench` extra (polars, matplotlib); BENCH_ARGS=--quick for 1M lines
BENCH_STAMP := $(VENV)/.bench-installed
BENCH_ARGS ?=

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS),bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/chip-ledger bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
