# Two commands for a newcomer: `make demo` and `make test`. Both create .venv from the lock file first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup demo test bench simulate lint lock clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# The lock is complete (every transitive pin, hashed), so pip installs it as is, without resolving.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements.lock
	$(BIN)/python -m pip check --disable-pip-version-check
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $@

demo: setup  ## run the whole program on the sample data (no credentials, SQLite, local files)
	$(BIN)/mentorflow demo

test: setup  ## the whole test suite (SQLite, plus PostgreSQL when MENTORFLOW_TEST_POSTGRES_URL is set)
	$(BIN)/python -m pytest

bench: setup  ## matching benchmark against the tools programs use today
	$(BIN)/python benchmarks/matching.py

simulate: setup  ## the program simulation: 10 seeds x 12 weeks, 10% connector faults -> benchmarks/results/simulation.*
	$(BIN)/python benchmarks/simulation.py --seeds 10 --weeks 12 --mentees 100 --mentors 30 --faults 0.1

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy domain connectors store config tasks flows mentorflow

lock:  ## re-resolve requirements.lock from pyproject.toml (needs uv: pip install uv)
	uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements.lock

clean:
	rm -rf $(VENV) demo-output .pytest_cache
