# The project's commands. `make run` installs and starts the server on its
# SQLite default; `make test` runs every test tier.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.PHONY: install run test lint typecheck check bench bench-smoke clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The server alone, with the PostgreSQL driver: no test tools.
$(RUN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[postgres]"
	touch $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/accepted serve

# --durations: every run's log names its slowest tests, so CI time can be
# followed from one run to the next without a separate profiling run.
test: install
	$(BIN)/python -m pytest --durations=25

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src bench

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

bench: install
	$(BIN)/python -m bench

# CI's few-second check that every benchmark workload still runs (no figures).
bench-smoke: install
	$(BIN)/python -m bench --smoke

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
